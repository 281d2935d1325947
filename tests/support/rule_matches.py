"""Which events the template's EventBridge rule lets through.

Usage: python rule_matches.py TEMPLATE [--param NAME=VALUE]... EVENT.json...
(prints {"file": true|false, ...})

moto's EventBridge matcher does not descend into arrays of objects, so this implements the
part of EventBridge's documented matching the rule uses: exact values, `anything-but`,
`exists`, `prefix` (string values only, case-sensitive; or `{"equals-ignore-case": ...}`),
nested objects, `$or`, and arrays in the event (a field matches when any element does;
`anything-but` and `prefix` need the field to exist, `exists: false` needs it absent from
every element). The rule's pattern is resolved as CloudFormation would: `Ref`, `Fn::Sub`
(with or without a variable map), `Fn::Join`, `Fn::Split`, `Fn::Select`, and `Fn::If` over
the template's Conditions, with the template's parameters (their defaults, the sample events'
account, region, cluster and family, or `--param` values); an `!Ref AWS::NoValue` drops the
element or key it stands for (cfn.py).
"""
import json
import sys

from cfn import Resolver, load

# The cluster and family of the sample events in events/.
SAMPLES = {"ClusterName": "dbt-project-cluster", "TaskDefinitionFamily": "dbt-models-building"}


def values(event, path):
    """Leaf values at `path`, arrays flattened."""
    found = [event]
    for key in path:
        nxt = []
        for item in found:
            items = item if isinstance(item, list) else [item]
            for it in items:
                if isinstance(it, dict) and key in it:
                    nxt.append(it[key])
        found = nxt
    leaves = []
    for item in found:
        leaves.extend(item if isinstance(item, list) else [item])
    return leaves


def leaf_matches(alternatives, leaves):
    for alt in alternatives:
        if isinstance(alt, dict):
            (op, arg), = alt.items()
            if op == "exists":
                if bool(leaves) == arg:
                    return True
            elif op == "anything-but":
                excluded = arg if isinstance(arg, list) else [arg]
                if any(v not in excluded for v in leaves):
                    return True
            elif op == "prefix":
                # Strings only, case-sensitive; `{"equals-ignore-case": P}` ignores case.
                if isinstance(arg, dict) and list(arg) == ["equals-ignore-case"]:
                    want = arg["equals-ignore-case"].casefold()
                    fold = str.casefold
                elif isinstance(arg, str):
                    want, fold = arg, (lambda v: v)
                else:
                    raise SystemExit(f"unsupported prefix {arg!r}")
                if any(isinstance(v, str) and fold(v).startswith(want) for v in leaves):
                    return True
            else:
                raise SystemExit(f"unsupported operator {op}")
        elif alt in leaves:
            return True
    return False


def matches(pattern, event, path=()):
    for key, value in pattern.items():
        if key == "$or":
            if not any(matches(p, event, path) for p in value):
                return False
        elif isinstance(value, dict):
            if not matches(value, event, path + (key,)):
                return False
        elif not leaf_matches(value, values(event, path + (key,))):
            return False
    return True


def main():
    args = sys.argv[2:]
    params, events = {}, []
    while args:
        arg = args.pop(0)
        if arg == "--param":
            name, _, value = args.pop(0).partition("=")
            params[name] = value
        else:
            events.append(arg)
    template = load(sys.argv[1])
    rule = template["Resources"]["OnTaskStoppedFunction"]["Properties"]["Events"]["DbtTaskFailed"]
    pattern = Resolver(template, params, SAMPLES).resolve(rule["Properties"]["Pattern"])
    print(json.dumps({path: matches(pattern, json.load(open(path))) for path in events}))


if __name__ == "__main__":
    main()
