"""moto's server, patched for the AWS SDK for Rust, on 127.0.0.1:PORT.

Usage: python moto_server.py PORT   (with the python of the `moto` venv, see dbt_venv.py)

moto 5.2 reports an ECS task's container `cpu` and `memory` as JSON numbers where the ECS
API (and so aws-sdk-ecs) has strings, so the Rust SDK cannot parse moto's RunTask and
DescribeTasks answers ("expected string"), although moto created the task. Wrapping
`Container.__init__` to keep them as strings fixes that and changes nothing else.

moto runs no containers, so every container "exits" 0. A test that needs a task whose dbt
container exited N stops it with StopTask reason `exitCode=N`: the patched `stop_task` sets
the containers' exit code to N.

moto 5.2 answers ListTasks with every task at once; ECS pages it: at most `maxResults` (1 to
100, default 100) task ARNs per answer, with a `nextToken` while more remain. The patched
`list_tasks` pages moto's answer that way (the token is the offset), so a family with more than
100 running tasks needs every page read, as on ECS.

moto 5.2's DescribeStacks shows a `List<AWS::EC2::Subnet::Id>` parameter as the Python list
it split the value into (`['subnet-1']`); CloudFormation shows the value as given
(`subnet-1`). The patched `parameter_list` joins it back. And its GetRolePolicy shows an
inline policy CloudFormation created as a Python dict, not JSON: the patched `get_role_policy`
writes it as JSON. Its CloudFormation roles leave out the ManagedPolicyArns: the patched
`create_from_cloudformation_json` attaches them.
"""
import json
import re
import sys

from moto.cloudformation import models as cloudformation
from moto.core.responses import ActionResult
from moto.ecs import models, responses
from moto.iam import models as iam
from moto.server import main

_init = models.Container.__init__


def _init_with_string_sizes(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    for field in ("cpu", "memory"):
        value = getattr(self, field, None)
        if value is not None:
            setattr(self, field, str(value))


models.Container.__init__ = _init_with_string_sizes

_stop_task = models.EC2ContainerServiceBackend.stop_task


def _stop_task_with_exit_code(self, cluster_str, task_str, reason):
    task = _stop_task(self, cluster_str, task_str, reason)
    played = re.fullmatch(r"exitCode=(\d+)", reason or "")
    if played:
        for container in task.containers:
            container.exitCode = int(played.group(1))
    return task


models.EC2ContainerServiceBackend.stop_task = _stop_task_with_exit_code

_list_tasks = responses.EC2ContainerServiceResponse.list_tasks


def _list_tasks_paged(self):
    arns = _list_tasks(self).result["taskArns"]
    size = max(1, min(100, int(self._get_param("maxResults") or 100)))
    start = int(self._get_param("nextToken") or 0)
    page = {"taskArns": arns[start : start + size]}
    if start + size < len(arns):
        page["nextToken"] = str(start + size)
    return ActionResult(page)


responses.EC2ContainerServiceResponse.list_tasks = _list_tasks_paged

_parameter_list = cloudformation.Stack.parameter_list.fget


def _parameter_list_as_cloudformation(self):
    """DescribeStacks as CloudFormation answers it: a List<...> parameter's value is the
    comma-separated list it was given (moto shows the Python list it split it into)."""
    return [
        dict(p, ParameterValue=",".join(map(str, p["ParameterValue"])))
        if isinstance(p["ParameterValue"], list)
        else p
        for p in _parameter_list(self)
    ]


cloudformation.Stack.parameter_list = property(_parameter_list_as_cloudformation)

_get_role_policy = iam.IAMBackend.get_role_policy


def _get_role_policy_as_json(self, role_name, policy_name):
    """GetRolePolicy's document as JSON, as IAM answers it (moto shows the Python dict of a
    policy CloudFormation created)."""
    name, document = _get_role_policy(self, role_name, policy_name)
    return name, document if isinstance(document, str) else json.dumps(document)


iam.IAMBackend.get_role_policy = _get_role_policy_as_json

_create_role = iam.Role.create_from_cloudformation_json.__func__


def _create_role_with_managed_policies(cls, resource_name, cloudformation_json, account_id,
                                       region_name, **kwargs):
    """A role CloudFormation creates with the policies of its ManagedPolicyArns attached, as
    CloudFormation attaches them (moto leaves them out). AWS's own managed policies, which
    moto does not load by default, are left out still."""
    role = _create_role(cls, resource_name, cloudformation_json, account_id, region_name,
                        **kwargs)
    backend = iam.iam_backends[account_id][iam.get_partition(region_name)]
    for arn in cloudformation_json["Properties"].get("ManagedPolicyArns", []):
        if ":iam::aws:policy/" not in arn:
            backend.attach_role_policy(arn, role.name)
    return role


iam.Role.create_from_cloudformation_json = classmethod(_create_role_with_managed_policies)

if __name__ == "__main__":
    main(["-H", "127.0.0.1", "-p", sys.argv[1]])
