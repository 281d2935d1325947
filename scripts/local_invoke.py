#!/usr/bin/env python3
"""Invoke on-task-stopped locally, as Lambda would, on a sample event: no AWS account needed.

    scripts/local_invoke.py [EVENT]     (default: events/rerun-transient-model-error.json)

Starts moto's server (the local AWS, from .venvs/moto) with the dbt task's resources and the
event's sample log (events/logs/<name>.log) in CloudWatch, starts `cargo lambda watch
--only-lambda-apis` (the Lambda runtime emulator, from .venvs/sam) and the function's binary as
`cargo test --workspace` builds it (built first if needed) pointed at moto, sends the event with
`cargo lambda invoke --data-file`, prints the decision record and exits 0 when the
decision is the one the event's name promises (<decision>-<case>.json). Launches for real in
moto unless DBT_RERUN_DRY_RUN=true.
"""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "fixtures"))
from dbt_venv import moto_python, sam_python  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, what, proc, seconds=300):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited ({proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{what} did not listen on port {port} within {seconds} s")


def built_function(name):
    """The function's binary as `cargo test --workspace` builds it (built here if missing or stale)."""
    build = subprocess.run(["cargo", "test", "--workspace", "--no-run", "--message-format=json"],
                           cwd=REPO, stdout=subprocess.PIPE, text=True)
    if build.returncode != 0:
        sys.exit("cargo test --workspace --no-run failed")
    for line in build.stdout.splitlines():
        message = json.loads(line)
        target = message.get("target", {})
        if (message.get("reason") == "compiler-artifact" and target.get("name") == name
                and "bin" in target.get("kind", []) and not message["profile"]["test"]):
            return message["executable"]
    sys.exit(f"cargo built no binary named {name}")


def main():
    event = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "events/rerun-transient-model-error.json")
    promised = event.stem.split("-")[0]
    python = moto_python()
    bin_dir = sam_python().parent
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    moto_port, invoke_port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    moto = subprocess.Popen([str(python), str(REPO / "tests/support/moto_server.py"), str(moto_port)],
                            env=dict(env, MOTO_ACCOUNT_ID="111122223333"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watch = function = None
    try:
        wait_for_port(moto_port, "moto", moto, 30)
        setup = json.loads(subprocess.run(
            [str(python), str(REPO / "tests/support/moto_setup.py"), endpoint, "eu-west-1", "2"],
            check=True, capture_output=True, text=True).stdout)
        detail = json.loads(event.read_text())["detail"]
        log = REPO / "events" / "logs" / f"{event.stem}.log"
        if log.exists():
            subprocess.run([str(python), "-c", WRITE_LOG, endpoint, setup["log_group"],
                            f"dbt/{setup['container']}/{detail['taskArn'].rsplit('/', 1)[-1]}", str(log)],
                           check=True)
        function_env = {
            "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test", "DBT_RERUN_SECURITY_GROUPS": setup["security_group"],
            "DBT_RERUN_SUBNETS": setup["subnet"], "DBT_RERUN_LOG_WAIT_SECONDS": "2",
            "DBT_RERUN_DRY_RUN": os.environ.get("DBT_RERUN_DRY_RUN", "false"),
        }
        # The binary the test suite built (a no-op after `cargo test --workspace`), served by
        # `cargo lambda watch --only-lambda-apis`: the emulator without its own debug build,
        # which would compile the AWS SDK a second time with other features.
        binary = built_function("on-task-stopped")
        watch = subprocess.Popen(
            ["cargo", "lambda", "watch", "--only-lambda-apis", "-P", str(invoke_port), "-A", "127.0.0.1"],
            cwd=REPO / "functions" / "on-task-stopped", env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(invoke_port, "cargo lambda watch", watch)
        function = subprocess.Popen(
            [str(binary)], cwd=REPO,
            env=dict(env, **function_env, AWS_LAMBDA_RUNTIME_API=f"http://127.0.0.1:{invoke_port}/.rt",
                     AWS_LAMBDA_FUNCTION_NAME="_", AWS_LAMBDA_FUNCTION_VERSION="1",
                     AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256"),
            stdout=sys.stderr)
        out = subprocess.run(
            ["cargo", "lambda", "invoke", "_", "--data-file", str(event),
             "-P", str(invoke_port), "-A", "127.0.0.1", "--output-format", "json"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            sys.exit(f"cargo lambda invoke failed:\n{out.stdout}{out.stderr}")
        record = json.loads(out.stdout)
        print(json.dumps(record, indent=2))
        if record.get("decision") != promised:
            sys.exit(f"decision {record.get('decision')!r}, {event.name} promises {promised!r}")
    finally:
        for proc in (function, watch, moto):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()


WRITE_LOG = """
import sys, time, boto3
endpoint, group, stream, path = sys.argv[1:5]
logs = boto3.client("logs", endpoint_url=endpoint, region_name="eu-west-1",
                    aws_access_key_id="test", aws_secret_access_key="test")
logs.create_log_stream(logGroupName=group, logStreamName=stream)
lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
now = int(time.time() * 1000)
for i in range(0, len(lines), 1000):
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": now, "message": l or " "} for l in lines[i:i + 1000]])
"""

if __name__ == "__main__":
    main()
