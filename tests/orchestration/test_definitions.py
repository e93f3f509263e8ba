"""The Dagster code location loads, and its asset keys are the ones the README documents."""

import os
import subprocess
import sys

from pilotmonitor.settings import REPO_ROOT


def test_definitions_validate_with_the_dagster_cli(tmp_path):
    env = {**os.environ, "PILOTMONITOR_DATA_DIR": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    completed = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "orchestration.definitions"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "passed validation" in completed.stdout + completed.stderr


def test_asset_keys_and_groups():
    from orchestration.definitions import defs

    specs = {spec.key.to_user_string(): spec.group_name for spec in defs.resolve_all_asset_specs()}
    assert specs == {"landing_inventory": "landing", "pilot_registry": "registry"}
