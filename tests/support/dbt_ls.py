"""Expands node selections with real `dbt ls`, for the planner's tests.

Run with the python of a dbt venv (tests/fixtures/dbt_venv.py):
    python dbt_ls.py VERSION OUT.json < requests.json
requests.json is a JSON list of {"id": str, "args": [selection flags...]}; OUT.json gets
{id: {"ok": bool, "nodes": [[unique_id, resource_type], ...], "error": str}}.
The fixture project is parsed once per distinct set of model switches among the requests'
`--vars` (the vars named `*_models`, which enable models in dbt_project.yml; the others only
change SQL, which `ls` does not see) and every `ls` reuses that manifest, so hundreds of
selections take seconds. An ephemeral model is listed with resource_type
`ephemeral_model`: dbt compiles it into the models built on it and never executes it itself.
Logs go to stderr; only OUT.json carries results.
"""
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent / "fixtures" / "dbt_project"


def main():
    version, out_path = sys.argv[1], sys.argv[2]
    requests = json.load(sys.stdin)
    with tempfile.TemporaryDirectory(prefix="dbt-ls-") as tmp:
        project = Path(tmp) / "project"
        shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"))
        major, minor = (int(p) for p in version.split(".")[:2])
        if (major, minor) < (1, 8):
            (project / "models" / "marts" / "unit_tests.yml").unlink()
        if (major, minor) < (1, 11):  # as generate.fresh_project does
            shutil.rmtree(project / "functions")
            shutil.rmtree(project / "models" / "udf")
        os.environ.update(DBT_PROFILES_DIR=str(project), SHOP_DUCKDB_PATH=str(Path(tmp) / "ls.duckdb"),
                          DBT_SEND_ANONYMOUS_USAGE_STATS="false")
        os.chdir(project)
        sys.stdout = sys.stderr  # dbt prints its logs to stdout
        from dbt.cli.main import dbtRunner

        runners = {}

        def runner_for(args):
            """A runner over the manifest parsed with the model switches of `args`' `--vars`."""
            at = args.index("--vars") if "--vars" in args[:-1] else None
            given = yaml.safe_load(args[at + 1]) if at is not None else {}
            switches = {k: v for k, v in sorted((given or {}).items()) if k.endswith("_models")}
            key = json.dumps(switches)
            if key not in runners:
                extra = ["--vars", key] if switches else []
                parsed = dbtRunner().invoke(["parse", *extra])
                if not parsed.success:
                    raise SystemExit(f"dbt parse {extra} failed: {parsed.exception}")
                runners[key] = dbtRunner(manifest=parsed.result)
            return runners[key]

        results = {}
        for request in requests:
            res = runner_for(request["args"]).invoke(["ls", "--output", "json", *request["args"]])
            if not res.success:
                results[request["id"]] = {"ok": False, "nodes": [], "error": str(res.exception)}
                continue
            nodes = []
            for line in res.result or []:
                node = json.loads(line)
                kind = node["resource_type"]
                if kind == "model" and (node.get("config") or {}).get("materialized") == "ephemeral":
                    kind = "ephemeral_model"
                nodes.append([node["unique_id"], kind])
            results[request["id"]] = {"ok": True, "nodes": nodes, "error": ""}
    Path(out_path).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
