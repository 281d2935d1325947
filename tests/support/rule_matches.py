"""Which events the template's EventBridge rule lets through.

Usage: python rule_matches.py TEMPLATE EVENT.json...   (prints {"file": true|false, ...})

moto's EventBridge matcher does not descend into arrays of objects, so this implements the
part of EventBridge's documented matching the rule uses: exact values, `anything-but`,
`exists`, `prefix`, nested objects, `$or`, and arrays in the event (a field matches when any
element does; `anything-but` and `prefix` need the field to exist, `exists: false` needs it
absent from every element). The rule's `!Sub` placeholders take the sample events' account,
region, cluster and family.
"""
import json
import sys

import yaml

SUBS = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333",
        "ClusterName": "dbt-project-cluster", "TaskDefinitionFamily": "dbt-models-building"}


class Loader(yaml.SafeLoader):
    pass


def _sub(loader, node):
    text = loader.construct_scalar(node)
    for key, value in SUBS.items():
        text = text.replace("${" + key + "}", value)
    return text


# Every other intrinsic function (!Ref, !If, !Condition, ...) is irrelevant to the pattern.
Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
Loader.add_constructor("!Sub", _sub)


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
                if any(isinstance(v, str) and v.startswith(arg) for v in leaves):
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
    template = yaml.load(open(sys.argv[1]), Loader=Loader)
    rule = template["Resources"]["OnTaskStoppedFunction"]["Properties"]["Events"]["DbtTaskFailed"]
    pattern = rule["Properties"]["Pattern"]
    print(json.dumps({path: matches(pattern, json.load(open(path))) for path in sys.argv[2:]}))


if __name__ == "__main__":
    main()
