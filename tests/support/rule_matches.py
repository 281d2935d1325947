"""Which events the template's EventBridge rule lets through.

Usage: python rule_matches.py TEMPLATE [--param NAME=VALUE]... EVENT.json...
(prints {"file": true|false, ...})

moto's EventBridge matcher does not descend into arrays of objects, so this implements the
part of EventBridge's documented matching the rule uses: exact values, `anything-but`,
`exists`, `prefix` (string values only, case-sensitive; or `{"equals-ignore-case": ...}`),
nested objects, `$or`, and arrays in the event (a field matches when any element does;
`anything-but` and `prefix` need the field to exist, `exists: false` needs it absent from
every element). The rule's `!Sub` placeholders take the sample events' account, region,
cluster and family. The pattern's `!If`s are decided as CloudFormation would: by the
template's Conditions over its parameters (their defaults, or `--param` values), and an
`!Ref AWS::NoValue` branch drops the element it stands for.
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


def _intrinsic(loader, suffix, node):
    """`!Ref X` -> {"Ref": "X"}, `!Condition X` -> {"Condition": "X"}, `!If [...]` ->
    {"Fn::If": [...]}: the template's JSON form, resolved later where it matters."""
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    key = suffix if suffix in ("Ref", "Condition") else "Fn::" + suffix
    return {key: value}


Loader.add_multi_constructor("!", _intrinsic)
Loader.add_constructor("!Sub", _sub)

NO_VALUE = object()


class Resolver:
    """CloudFormation's condition functions, `Fn::If` and `Ref` over the template's
    parameters: enough to resolve the rule's pattern."""

    def __init__(self, template, params):
        self.conditions = template.get("Conditions", {})
        self.params = {name: str(p.get("Default", "")) for name, p in
                       template.get("Parameters", {}).items()}
        unknown = set(params) - set(self.params)
        if unknown:
            raise SystemExit(f"unknown parameters {sorted(unknown)}")
        self.params.update(params)

    def condition(self, name):
        return bool(self.resolve(self.conditions[name]))

    def resolve(self, node):
        if isinstance(node, list):
            items = [self.resolve(n) for n in node]
            return [i for i in items if i is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return NO_VALUE if arg == "AWS::NoValue" else self.params[arg]
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::If":
                name, then, other = arg
                return self.resolve(then if self.condition(name) else other)
            if key == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if key == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if key.startswith("Fn::"):
                raise SystemExit(f"unsupported intrinsic {key} in the pattern")
        items = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in items.items() if v is not NO_VALUE}


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
    template = yaml.load(open(sys.argv[1]), Loader=Loader)
    rule = template["Resources"]["OnTaskStoppedFunction"]["Properties"]["Events"]["DbtTaskFailed"]
    pattern = Resolver(template, params).resolve(rule["Properties"]["Pattern"])
    print(json.dumps({path: matches(pattern, json.load(open(path))) for path in events}))


if __name__ == "__main__":
    main()
