"""`pilotmonitor-dbt` (pilotmonitor/dbt_command.py): a warehouse at a new path starts from
another path's parse state without parsing the project again, and gets the manifest a
full parse gives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pilotmonitor.dbt_project import dbt_executable
from tests.warehouse.dbt_helpers import run_dbt


def _parse(warehouse: Path, work_dir: Path, project_parse: bool) -> dict:
    run_dbt(["parse"], warehouse, work_dir, project_parse=project_parse)
    return json.loads((work_dir / "target" / "perf_info.json").read_text())


def _nodes(work_dir: Path) -> dict:
    manifest = json.loads((work_dir / "target" / "manifest.json").read_text())
    nodes = {}
    for kind in ("nodes", "sources", "macros", "unit_tests", "parent_map", "child_map"):
        for unique_id, node in manifest[kind].items():
            if isinstance(node, dict):
                node = {key: value for key, value in node.items() if key != "created_at"}
            nodes[f"{kind}:{unique_id}"] = node
    return nodes


def test_a_new_warehouse_path_reuses_the_parse_state_and_its_manifest_is_a_full_parse(tmp_path):
    assert Path(dbt_executable()).name == "pilotmonitor-dbt"
    first, second = tmp_path / "first", tmp_path / "second"
    full = _parse(tmp_path / "a" / "pilotmonitor.duckdb", first, project_parse=False)
    assert full["parsed_path_count"] == full["path_count"] > 0

    (second / "target").mkdir(parents=True)
    shutil.copyfile(
        first / "target" / "partial_parse.msgpack", second / "target" / "partial_parse.msgpack"
    )
    # a parse that found the profile changed parses every file again
    again = _parse(tmp_path / "b" / "pilotmonitor.duckdb", second, project_parse=True)
    assert again["parsed_path_count"] == 0, again
    assert _nodes(second) == _nodes(first)
