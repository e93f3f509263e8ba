"""Running the dbt project against a test warehouse, without touching the repository's
target directory (tests run in parallel processes, each with its own target path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO_ROOT / "dbt_project"


def dbt_executable() -> str:
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(args: list[str], warehouse: Path, work_dir: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run `dbt <args>` on the project with the warehouse at `warehouse`; target and log
    paths live in `work_dir`."""
    env = {**os.environ, "PILOTMONITOR_WAREHOUSE": str(warehouse), "DO_NOT_TRACK": "1"}
    command = [
        dbt_executable(), *args,
        "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT),
        "--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs"),
    ]
    result = subprocess.run(command, cwd=DBT_PROJECT, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}")
    return result


def run_results(work_dir: Path) -> list[dict]:
    return json.loads((work_dir / "target" / "run_results.json").read_text())["results"]


def read_table(warehouse: Path, relation: str, order_by: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return conn.execute(f"select * from {relation} order by {order_by}").df()
