"""Creates what a dbt task needs in a running moto server, with boto3, and prints the ids as
JSON: a VPC with DNS hostnames (moto's Fargate tasks need it), a subnet, a security group,
an ECS cluster, a Fargate task definition whose dbt container logs with awslogs, and its log
group.

Usage: python moto_setup.py ENDPOINT_URL REGION [REVISIONS]
(REVISIONS: register the task definition that many times; the last revision's ARN is printed.)
"""
import json
import sys

import boto3


def main():
    endpoint, region = sys.argv[1], sys.argv[2]
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
    revisions = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    for _ in range(revisions):
        definition = register(ecs, group, region)
    print(json.dumps({"vpc": vpc, "subnet": subnet, "security_group": sg, "cluster": cluster,
                      "task_definition": definition, "log_group": group,
                      "container": "dbt-aws-project", "stream_prefix": "dbt"}))


def register(ecs, group, region):
    return ecs.register_task_definition(
        family="dbt-models-building",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="1024",
        memory="2048",
        executionRoleArn="arn:aws:iam::123456789012:role/dbt-execution",
        taskRoleArn="arn:aws:iam::123456789012:role/dbt-task",
        containerDefinitions=[{
            "name": "dbt-aws-project",
            "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/dbt-aws-project:latest",
            "essential": True,
            "memory": 2048,
            "command": ["dbt", "build", "--target", "prod"],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": group,
                    "awslogs-region": region,
                    "awslogs-stream-prefix": "dbt",
                },
            },
        }],
    )["taskDefinition"]["taskDefinitionArn"]


if __name__ == "__main__":
    main()
