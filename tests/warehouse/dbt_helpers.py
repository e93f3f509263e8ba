"""Running the dbt project against a test warehouse, without touching the repository's
target directory (tests run in parallel processes, each with its own target path)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pandas as pd

from pilotmonitor.dbt_project import DBT_PROJECT_DIR as DBT_PROJECT
from pilotmonitor.dbt_project import TARGET_DIR, dbt_env, dbt_executable


def run_dbt(
    args: list[str],
    warehouse: Path,
    work_dir: Path,
    check: bool = True,
    project_parse: bool = True,
    project_dir: Path = DBT_PROJECT,
) -> subprocess.CompletedProcess:
    """Run `dbt <args>` on the project (or a changed copy at `project_dir`) with the
    warehouse at `warehouse`; target and log paths live in `work_dir`. A new target starts
    from the project's parse state, as dagster-dbt's do (a partial parse instead of a full
    one), unless `project_parse` is False or the project is a copy."""
    env = {**os.environ, **dbt_env(warehouse)}
    parsed = TARGET_DIR / "partial_parse.msgpack"
    target = work_dir / "target"
    project_parse = project_parse and project_dir == DBT_PROJECT
    if project_parse and parsed.is_file() and not (target / parsed.name).exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(parsed, target / parsed.name)
    command = [
        dbt_executable(),
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(target),
        "--log-path",
        str(work_dir / "logs"),
    ]
    result = subprocess.run(command, cwd=project_dir, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
        )
    return result


def run_results(work_dir: Path, target: str = "target") -> list[dict]:
    """The results of the last dbt invocation whose target path is `work_dir/target`."""
    return json.loads((work_dir / target / "run_results.json").read_text())["results"]


def read_table(warehouse: Path, relation: str, order_by: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return conn.execute(f"select * from {relation} order by {order_by}").df()
