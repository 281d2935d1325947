"""The template's CloudWatch dashboards, their `!Sub` bodies filled in as CloudFormation would.

Usage: python dashboard_body.py TEMPLATE [--param NAME=VALUE]...
(prints [{"resource": NAME, "body": "...", "references": [...]}, ...])

Each `${X}` of a body must name a parameter, a pseudo parameter, a resource (its `Ref`), a
resource's attribute (`${R.Attr}`) or a variable of the `!Sub`'s map; it is replaced by a
sample value of that kind (a parameter: its `--param` value, else its default, else
`sample-NAME`), so the body can be parsed as JSON and checked (tests/integration/dashboard.rs).
The map's variables are evaluated as CloudFormation would (cfn.py), with the same parameter
values. A reference to anything else is an error, as it would be when CloudFormation creates
the stack.
"""
import json
import re
import sys

from cfn import PSEUDO, Resolver, load


def main():
    args, given = sys.argv[2:], {}
    while args:
        flag, param = args.pop(0), args.pop(0)
        if flag != "--param":
            raise SystemExit(f"unknown argument {flag}")
        name, _, value = param.partition("=")
        given[name] = value
    template = load(sys.argv[1])
    params = template.get("Parameters", {})
    resources = template.get("Resources", {})

    def parameter(name):
        if name in given:
            return given[name]
        return str(params[name].get("Default") or f"sample-{name}")

    # The singular cluster and family have no default: the samples stand for them.
    samples = {n: parameter(n) for n in ("ClusterName", "TaskDefinitionFamily") if n in params}
    resolver = Resolver(template, given, samples)
    out = []
    for name, res in resources.items():
        if res.get("Type") != "AWS::CloudWatch::Dashboard":
            continue
        body = res["Properties"]["DashboardBody"]
        if not isinstance(body, dict) or "Fn::Sub" not in body:
            raise SystemExit(f"{name}: DashboardBody is not a !Sub string")
        text, variables = body["Fn::Sub"], {}
        if isinstance(text, list):
            text, variables = text
            variables = {k: str(resolver.resolve(v)) for k, v in variables.items()}
        refs = sorted(set(re.findall(r"\$\{([^}!]+)\}", text)))

        def value(ref):
            if ref in variables:
                return variables[ref]
            if ref in PSEUDO:
                return PSEUDO[ref]
            if ref in params:
                return parameter(ref)
            base, _, attr = ref.partition(".")
            if base in resources:
                return f"dbt-rerun-{base}" + (f"-{attr}" if attr else "")
            raise SystemExit(f"{name}: ${{{ref}}} names no parameter, pseudo parameter or resource")

        filled = re.sub(r"\$\{([^}!]+)\}", lambda m: value(m.group(1)), text)
        out.append({"resource": name, "body": filled, "references": refs})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
