"""Creates what a dbt task needs in a running moto server, with boto3, and prints the ids as
JSON: a VPC with DNS hostnames (moto's Fargate tasks need it), a subnet, a security group,
an ECS cluster, a Fargate task definition whose dbt container logs with awslogs, and its log
group.

Usage: python moto_setup.py ENDPOINT_URL REGION [REVISIONS] [--entry-point JSON] [--command JSON]
       [--log-configuration JSON] [--family NAME]...
(REVISIONS: register the task definition that many times; the last revision's ARN is printed.
--entry-point and --command: the dbt container's entryPoint and command, JSON arrays, e.g.
`--entry-point '["sh", "-c"]' --command '["dbt deps && dbt build"]'`; without them it has no
entryPoint and the command `dbt build --target prod`. --log-configuration: the dbt container's
logConfiguration instead of awslogs, e.g. `{"logDriver": "awsfirelens", "options": {"Name":
"cloudwatch_logs", "log_group_name": "/ecs/dbt-firelens", ...}}`; with awsfirelens the task gets
a Fluent Bit log router container, and the group its options name is created. --family: one
more task family with the same dbt container (NAME), or with another command, entry point or
log configuration (NAME={"command": [...], "entry_point": [...], "log_configuration": {...}}),
printed under "families" with its ARN.)
"""
import argparse
import json

import boto3


DEFAULT_COMMAND = ["dbt", "build", "--target", "prod"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint")
    parser.add_argument("region")
    parser.add_argument("revisions", nargs="?", type=int, default=1)
    parser.add_argument("--entry-point", type=json.loads, default=None)
    parser.add_argument("--command", type=json.loads, default=DEFAULT_COMMAND)
    parser.add_argument("--log-configuration", type=json.loads, default=None)
    # More task families in the same cluster: NAME (the same dbt container) or NAME=JSON with
    # what differs ("command", "entry_point", "log_configuration").
    parser.add_argument("--family", action="append", default=[])
    args = parser.parse_args()
    endpoint, region = args.endpoint, args.region
    kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id="test",
              aws_secret_access_key="test")
    ec2 = boto3.client("ec2", **kw)
    ecs = boto3.client("ecs", **kw)
    logs = boto3.client("logs", **kw)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="dbt", Description="dbt tasks", VpcId=vpc)["GroupId"]
    cluster = ecs.create_cluster(clusterName="dbt-project-cluster")["cluster"]["clusterArn"]
    group = "/ecs/dbt-models-building"
    logs.create_log_group(logGroupName=group)
    log_configuration = args.log_configuration or {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": group,
            "awslogs-region": region,
            "awslogs-stream-prefix": "dbt",
        },
    }
    options = log_configuration.get("options", {})
    if log_configuration["logDriver"] == "awsfirelens" and "log_group_name" in options:
        group = options["log_group_name"]
        logs.create_log_group(logGroupName=group)
    for _ in range(args.revisions):
        definition = register(ecs, region, args.entry_point, args.command, log_configuration)
    families = {}
    for spec in args.family:
        family, _, changes = spec.partition("=")
        changes = json.loads(changes or "{}")
        own_log = changes.get("log_configuration", log_configuration)
        families[family] = register(ecs, region, changes.get("entry_point", args.entry_point),
                                    changes.get("command", args.command), own_log, family)
    print(json.dumps({"vpc": vpc, "subnet": subnet, "security_group": sg, "cluster": cluster,
                      "task_definition": definition, "families": families, "log_group": group,
                      "container": "dbt-aws-project", "stream_prefix": "dbt",
                      "entry_point": args.entry_point, "command": args.command}))


def register(ecs, region, entry_point, command, log_configuration,
             family="dbt-models-building"):
    container = {
        "name": "dbt-aws-project",
        "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/dbt-aws-project:latest",
        "essential": True,
        "memory": 2048,
        "command": command,
        "logConfiguration": log_configuration,
        # A variable the profile reads: rerun-task must not let a caller point it elsewhere.
        "environment": [{"name": "DBT_HOST", "value": "warehouse.internal"}],
    }
    if entry_point is not None:
        container["entryPoint"] = entry_point
    containers = [container]
    if log_configuration["logDriver"] == "awsfirelens":
        # FireLens's log router, as AWS's examples define it: its own log goes to awslogs.
        containers.append({
            "name": "log_router",
            "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
            "essential": True,
            "memory": 128,
            "firelensConfiguration": {"type": "fluentbit"},
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "/ecs/dbt-models-building",
                    "awslogs-region": region,
                    "awslogs-stream-prefix": "firelens",
                },
            },
        })
    return ecs.register_task_definition(
        family=family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="1024",
        memory="2048",
        executionRoleArn="arn:aws:iam::123456789012:role/dbt-execution",
        taskRoleArn="arn:aws:iam::123456789012:role/dbt-task",
        containerDefinitions=containers,
    )["taskDefinition"]["taskDefinitionArn"]


if __name__ == "__main__":
    main()
