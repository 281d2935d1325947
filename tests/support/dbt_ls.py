"""Expands node selections with real `dbt ls`, for the planner's tests.

Run with the python of a dbt venv (tests/fixtures/dbt_venv.py):
    python dbt_ls.py VERSION OUT.json < requests.json
requests.json is a JSON list of {"id": str, "args": [selection flags...]}; OUT.json gets
{id: {"ok": bool, "nodes": [[unique_id, resource_type], ...], "error": str}}.
The fixture project is parsed once and every `ls` reuses the manifest, so hundreds of
selections take seconds. Logs go to stderr; only OUT.json carries results.
"""
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

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
        os.environ.update(DBT_PROFILES_DIR=str(project), SHOP_DUCKDB_PATH=str(Path(tmp) / "ls.duckdb"),
                          DBT_SEND_ANONYMOUS_USAGE_STATS="false")
        os.chdir(project)
        sys.stdout = sys.stderr  # dbt prints its logs to stdout
        from dbt.cli.main import dbtRunner

        parsed = dbtRunner().invoke(["parse"])
        if not parsed.success:
            raise SystemExit(f"dbt parse failed: {parsed.exception}")
        runner = dbtRunner(manifest=parsed.result)
        results = {}
        for request in requests:
            res = runner.invoke(["ls", "--output", "json", *request["args"]])
            if not res.success:
                results[request["id"]] = {"ok": False, "nodes": [], "error": str(res.exception)}
                continue
            nodes = []
            for line in res.result or []:
                node = json.loads(line)
                nodes.append([node["unique_id"], node["resource_type"]])
            results[request["id"]] = {"ok": True, "nodes": nodes, "error": ""}
    Path(out_path).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
