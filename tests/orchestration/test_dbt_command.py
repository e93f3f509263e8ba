"""`pilotmonitor-dbt` (pilotmonitor/dbt_command.py): a warehouse at a new path starts from
another path's parse state without parsing the project again, and gets the manifest a
full parse gives."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from pilotmonitor.dbt_project import DBT_PROJECT_DIR, dbt_env, dbt_executable


def _parse(warehouse: Path, target: Path, executable: str) -> dict:
    env = {**os.environ, **dbt_env(warehouse), "DBT_LOG_LEVEL_FILE": "info"}
    done = subprocess.run(
        [executable, "parse", "--project-dir", str(DBT_PROJECT_DIR)]
        + ["--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target)]
        + ["--log-path", str(target)],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((target / "perf_info.json").read_text())


def _nodes(target: Path) -> dict:
    manifest = json.loads((target / "manifest.json").read_text())
    nodes = {}
    for kind in ("nodes", "sources", "macros", "unit_tests", "parent_map", "child_map"):
        for unique_id, node in manifest[kind].items():
            if isinstance(node, dict):
                node = {key: value for key, value in node.items() if key != "created_at"}
            nodes[f"{kind}:{unique_id}"] = node
    return nodes


def test_a_new_warehouse_path_reuses_the_parse_state_and_its_manifest_is_a_full_parse(tmp_path):
    launcher = dbt_executable()
    assert Path(launcher).name == "pilotmonitor-dbt"
    first, second = tmp_path / "first", tmp_path / "second"
    full = _parse(tmp_path / "a" / "pilotmonitor.duckdb", first, launcher)
    assert full["parsed_path_count"] == full["path_count"] > 0

    second.mkdir()
    shutil.copyfile(first / "partial_parse.msgpack", second / "partial_parse.msgpack")
    again = _parse(tmp_path / "b" / "pilotmonitor.duckdb", second, launcher)
    log = (second / "dbt.log").read_text(encoding="utf-8")
    assert "Unable to do partial parsing" not in log, log[-2000:]
    assert again["parsed_path_count"] == 0, again
    assert _nodes(second) == _nodes(first)
