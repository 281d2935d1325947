"""CloudFormation's template language, as far as the tests need it: the YAML short forms
(`!Ref`, `!Sub`, `!If`, ...) loaded as their JSON form, and a Resolver that evaluates
conditions and the intrinsics `Ref`, `Fn::Sub` (with or without a variable map), `Fn::Join`,
`Fn::Split`, `Fn::Select`, `Fn::If` and the condition functions over the template's
parameters. Used by rule_matches.py and dashboard_body.py.
"""
import re

import yaml

PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333",
          "AWS::StackName": "dbt-rerun", "AWS::URLSuffix": "amazonaws.com",
          "AWS::NoValue": None}


class Loader(yaml.SafeLoader):
    pass


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


def load(path):
    with open(path) as f:
        return yaml.load(f, Loader=Loader)


NO_VALUE = object()


class Resolver:
    """CloudFormation's condition functions and the intrinsics the rule uses, over the
    template's parameters: enough to resolve the rule's pattern."""

    def __init__(self, template, params, samples=None):
        """`samples`: values for parameters the caller plays (over the defaults); `params`:
        the ones given (over both)."""
        self.conditions = template.get("Conditions", {})
        self.params = {name: str(p.get("Default", "")) for name, p in
                       template.get("Parameters", {}).items()}
        unknown = set(params) - set(self.params)
        if unknown:
            raise SystemExit(f"unknown parameters {sorted(unknown)}")
        self.params.update(samples or {})
        self.params.update(params)

    def condition(self, name):
        return bool(self.resolve(self.conditions[name]))

    def ref(self, name, variables=None):
        if variables and name in variables:
            return variables[name]
        if name in PSEUDO:
            return NO_VALUE if PSEUDO[name] is None else PSEUDO[name]
        return self.params[name]

    def sub(self, arg):
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        variables = {k: self.resolve(v) for k, v in variables.items()}

        def value(match):
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            return str(self.ref(name, variables))
        return re.sub(r"\$\{([^}]+)\}", value, text)

    def function(self, key, arg):
        if key == "Ref":
            return self.ref(arg)
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
        if key == "Fn::Sub":
            return self.sub(arg)
        if key == "Fn::Join":
            delimiter, items = arg
            return delimiter.join(str(i) for i in self.resolve(items))
        if key == "Fn::Split":
            delimiter, text = arg
            return str(self.resolve(text)).split(delimiter)
        if key == "Fn::Select":
            index, items = arg
            return self.resolve(items)[int(index)]
        raise SystemExit(f"unsupported intrinsic {key}")

    def resolve(self, node):
        if isinstance(node, list):
            items = [self.resolve(n) for n in node]
            return [i for i in items if i is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key in ("Ref", "Condition") or key.startswith("Fn::"):
                return self.function(key, arg)
        items = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in items.items() if v is not NO_VALUE}
