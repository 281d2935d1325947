"""Checks a release bundle (scripts/package) as someone who only deploys would use it, on a
PATH that holds the SAM CLI and cfn-lint but no cargo, rustc, cargo-lambda or zig:

- each zip holds a `bootstrap`, executable, an arm64 (aarch64) ELF;
- the template passes cfn-lint and `sam validate --lint`;
- `sam package` uploads the zips (to moto's S3) and the packaged template deploys in moto's
  CloudFormation (after SAM's translator, deploy_stack.py) with each zip as its function's code
  (Lambda's CodeSha256 is the zip's).

Usage: python3 tests/support/check_bundle.py BUNDLE_DIR   (scripts/test runs it)
"""
import base64
import hashlib
import json
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "fixtures"))
from dbt_venv import moto_python, sam_python  # noqa: E402

REGION = "eu-west-1"
BUILD_TOOLS = ("cargo", "rustc", "cargo-lambda", "zig", "python-zig")


def deploy_only_path(tmp):
    """A PATH with sam and cfn-lint alone (their scripts run the venv's python by its full
    path) before the system's: no Rust toolchain or cross-compiler on it."""
    tools = tmp / "bin"
    tools.mkdir()
    sam_bin = Path(sam_python()).parent
    for tool in ("sam", "cfn-lint"):
        (tools / tool).symlink_to(sam_bin / tool)
    path = f"{tools}:/usr/bin:/bin"
    found = [t for t in BUILD_TOOLS if shutil.which(t, path=path)]
    if found:
        raise SystemExit(f"the deploy-only PATH has build tools: {found}")
    return path


def check_zip(path):
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("bootstrap")
        head = z.read("bootstrap")[:20]
    (machine,) = struct.unpack_from("<H", head, 18)
    if head[:4] != b"\x7fELF" or head[4] != 2 or machine != 183:
        raise SystemExit(f"{path}: bootstrap is not an arm64 (aarch64) ELF")
    if not (info.external_attr >> 16) & 0o111:
        raise SystemExit(f"{path}: bootstrap is not executable")
    with open(path, "rb") as f:
        return base64.b64encode(hashlib.sha256(f.read()).digest()).decode()


def run(args, env):
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def start_moto():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(moto_python()), str(REPO / "tests/support/moto_server.py"),
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2)
            return server, endpoint
        except OSError:
            if server.poll() is not None:
                raise SystemExit("moto exited at start")
            time.sleep(0.1)
    server.kill()
    raise SystemExit("moto did not answer within 30 s")


def main():
    bundle = Path(sys.argv[1]).resolve()
    zips = sorted(bundle.glob("*.zip"))
    if len(zips) != 2:
        raise SystemExit(f"{bundle}: expected the two functions' zips, found {zips}")
    hashes = {z.stem: check_zip(z) for z in zips}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {"PATH": deploy_only_path(tmp), "HOME": str(tmp), "SAM_CLI_TELEMETRY": "0",
               "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "LANG": "C.UTF-8"}
        run(["cfn-lint", bundle / "template.yaml"], env)
        run(["sam", "validate", "--lint", "--template-file", bundle / "template.yaml"], env)
        server, endpoint = start_moto()
        try:
            aws = dict(env, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="test",
                       AWS_SECRET_ACCESS_KEY="test")
            run([sam_python(), "-c", "import boto3; boto3.client('s3').create_bucket(Bucket="
                 "'dbt-rerun-bundle', CreateBucketConfiguration={'LocationConstraint': "
                 f"'{REGION}'}})"], aws)
            packaged = tmp / "packaged.yaml"
            run(["sam", "package", "--template-file", bundle / "template.yaml", "--s3-bucket",
                 "dbt-rerun-bundle", "--output-template-file", packaged], aws)
            params = ["ClusterName=dbt", "TaskDefinitionFamily=dbt-build",
                      "DbtLogGroupName=/ecs/dbt", "Subnets=subnet-0123",
                      "SecurityGroups=sg-0123",
                      "ExecutionRoleArn=arn:aws:iam::123456789012:role/dbt-execution"]
            out = run([sam_python(), REPO / "tests/support/deploy_stack.py", endpoint, REGION,
                       "dbt-rerun", packaged, *[f"--param={p}" for p in params]], aws)
        finally:
            server.kill()
            server.wait()
    functions = json.loads(out)["functions"]
    deployed = {f["name"].removeprefix("dbt-rerun-"): f["code_sha256"] for f in functions.values()}
    if deployed != hashes:
        raise SystemExit(f"the deployed code is not the bundle's zips: {deployed} != {hashes}")
    print(f"{bundle}: arm64 bootstraps, cfn-lint and sam validate clean, deployed from the zips "
          "with no Rust on the PATH")


if __name__ == "__main__":
    main()
