"""Deploys a SAM template into a running moto server as CloudFormation would: SAM's own
translator (the AWS::Serverless-2016-10-31 transform, which moto does not run) turns it into
a plain template, then moto's CloudFormation creates the stack.

Usage: python deploy_stack.py ENDPOINT_URL REGION STACK TEMPLATE [--param NAME=VALUE]...
       [--code ZIP | --placeholder-code]
(with the python of the `sam` venv, see dbt_venv.py: it holds samtranslator and boto3)

A function whose CodeUri is not an s3:// URI (the repository's template says `.`, which `sam
build` fills in) gets --code, uploaded to moto's S3 first (--placeholder-code: a zip whose
`bootstrap` only says it is a placeholder, for tests that run the function binary themselves);
a packaged template's s3:// URIs (`sam package`, `aws cloudformation package`) are kept. Prints JSON: the stack's status and
reason, its resources (logical id -> physical id), and each function's environment as Lambda
reports it (values as strings, as the functions read them), and each EventBridge rule's
pattern as deployed.
"""
import argparse
import io
import json
import os
import sys
import uuid
import zipfile

import boto3
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template names no AWS managed policy: nothing to look up."""

    def load(self):
        return {}


def with_code(template, s3, code):
    """Points every function whose CodeUri is local at `code`, uploaded to moto's S3."""
    functions = [r for r in template["Resources"].values()
                 if r.get("Type") == "AWS::Serverless::Function"]
    default = template.get("Globals", {}).get("Function", {}).get("CodeUri")
    local = [f for f in functions
             if not str(f.get("Properties", {}).get("CodeUri", default)).startswith("s3://")]
    if not local:
        return
    if code is None:
        raise SystemExit("the template's functions have local CodeUris: give --code ZIP")
    bucket, key = "dbt-rerun-test-code", f"{uuid.uuid4()}.zip"
    try:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={
            "LocationConstraint": s3.meta.region_name})
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_object(Bucket=bucket, Key=key, Body=code)
    for function in local:
        function.setdefault("Properties", {})["CodeUri"] = f"s3://{bucket}/{key}"


def code_zip(args):
    """The bytes of --code, of a placeholder zip, or None."""
    if args.code:
        with open(args.code, "rb") as f:
            return f.read()
    if not args.placeholder_code:
        return None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\necho 'placeholder: the test runs the function binary'\n")
    return buffer.getvalue()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint")
    parser.add_argument("region")
    parser.add_argument("stack")
    parser.add_argument("template")
    parser.add_argument("--param", action="append", default=[])
    parser.add_argument("--code")
    parser.add_argument("--placeholder-code", action="store_true")
    args = parser.parse_args()
    kw = dict(endpoint_url=args.endpoint, region_name=args.region,
              aws_access_key_id="test", aws_secret_access_key="test")
    params = dict(p.split("=", 1) for p in args.param)
    with open(args.template) as f:
        template = yaml_parse(f.read())
    with_code(template, boto3.client("s3", **kw), code_zip(args))
    # samtranslator reads the region (for the ARNs it builds) from a new boto session.
    os.environ["AWS_DEFAULT_REGION"] = args.region
    plain = transform(template, params, NoManagedPolicies())
    cloudformation = boto3.client("cloudformation", **kw)
    cloudformation.create_stack(
        StackName=args.stack, TemplateBody=json.dumps(plain),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"])
    stack = cloudformation.describe_stacks(StackName=args.stack)["Stacks"][0]
    resources = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(
            StackName=args.stack):
        for r in page["StackResourceSummaries"]:
            # moto lists the types it does not model with no logical id: not ours to check.
            if r.get("LogicalResourceId"):
                resources[r["LogicalResourceId"]] = r.get("PhysicalResourceId")
    lam = boto3.client("lambda", **kw)
    functions = {}
    for logical, resource in plain["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function" and logical in resources:
            config = lam.get_function_configuration(FunctionName=resources[logical])
            env = config.get("Environment", {}).get("Variables", {})
            functions[logical] = {
                "name": config["FunctionName"],
                "code_sha256": config.get("CodeSha256"),
                # moto keeps numbers from the template as numbers; Lambda has strings only.
                "environment": {k: str(v) for k, v in env.items()},
            }
    events = boto3.client("events", **kw)
    rules = {logical: json.loads(events.describe_rule(Name=resources[logical])["EventPattern"])
             for logical, resource in plain["Resources"].items()
             if resource["Type"] == "AWS::Events::Rule" and logical in resources}
    json.dump({"status": stack["StackStatus"], "reason": stack.get("StackStatusReason"),
               "resources": resources, "functions": functions, "rules": rules}, sys.stdout)


if __name__ == "__main__":
    main()
