"""moto's server, patched for the AWS SDK for Rust, on 127.0.0.1:PORT.

Usage: python moto_server.py PORT   (with the python of the `moto` venv, see dbt_venv.py)

moto 5.2 reports an ECS task's container `cpu` and `memory` as JSON numbers where the ECS
API (and so aws-sdk-ecs) has strings, so the Rust SDK cannot parse moto's RunTask and
DescribeTasks answers ("expected string"), although moto created the task. Wrapping
`Container.__init__` to keep them as strings fixes that and changes nothing else.

moto runs no containers, so every container "exits" 0. A test that needs a task whose dbt
container exited N stops it with StopTask reason `exitCode=N`: the patched `stop_task` sets
the containers' exit code to N.
"""
import re
import sys

from moto.ecs import models
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

if __name__ == "__main__":
    main(["-H", "127.0.0.1", "-p", sys.argv[1]])
