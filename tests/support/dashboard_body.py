"""The template's CloudWatch dashboards, their `!Sub` bodies filled in as CloudFormation would.

Usage: python dashboard_body.py TEMPLATE
(prints [{"resource": NAME, "body": "...", "references": [...]}, ...])

Each `${X}` of a body must name a parameter, a pseudo parameter, a resource (its `Ref`) or a
resource's attribute (`${R.Attr}`); it is replaced by a sample value of that kind, so the
body can be parsed as JSON and checked (tests/integration/dashboard.rs). A reference to
anything else is an error, as it would be when CloudFormation creates the stack.
"""
import json
import re
import sys

import yaml


class Loader(yaml.SafeLoader):
    pass


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    key = suffix if suffix in ("Ref", "Condition") else "Fn::" + suffix
    return {key: value}


Loader.add_multi_constructor("!", _intrinsic)

PSEUDO = {"AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333", "AWS::Partition": "aws",
          "AWS::StackName": "dbt-rerun", "AWS::URLSuffix": "amazonaws.com"}


def main():
    with open(sys.argv[1]) as f:
        template = yaml.load(f, Loader=Loader)
    params = template.get("Parameters", {})
    resources = template.get("Resources", {})
    out = []
    for name, res in resources.items():
        if res.get("Type") != "AWS::CloudWatch::Dashboard":
            continue
        body = res["Properties"]["DashboardBody"]
        if not isinstance(body, dict) or "Fn::Sub" not in body:
            raise SystemExit(f"{name}: DashboardBody is not a !Sub string")
        text = body["Fn::Sub"]
        refs = sorted(set(re.findall(r"\$\{([^}!]+)\}", text)))

        def value(ref):
            if ref in PSEUDO:
                return PSEUDO[ref]
            if ref in params:
                return str(params[ref].get("Default") or f"sample-{ref}")
            base, _, attr = ref.partition(".")
            if base in resources:
                return f"dbt-rerun-{base}" + (f"-{attr}" if attr else "")
            raise SystemExit(f"{name}: ${{{ref}}} names no parameter, pseudo parameter or resource")

        filled = re.sub(r"\$\{([^}!]+)\}", lambda m: value(m.group(1)), text)
        out.append({"resource": name, "body": filled, "references": refs})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
