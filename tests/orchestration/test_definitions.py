"""The Dagster code location loads, and its asset keys are the ones the README documents."""

import os
import subprocess
import sys

from pilotmonitor.settings import REPO_ROOT


def test_definitions_validate_with_the_dagster_cli(tmp_path):
    env = {**os.environ, "PILOTMONITOR_DATA_DIR": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "definitions",
            "validate",
            "-m",
            "orchestration.definitions",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "passed validation" in completed.stdout + completed.stderr


def test_asset_keys_and_groups():
    from orchestration.definitions import defs

    specs = {
        spec.key.to_user_string(): spec.group_name
        for spec in defs.resolve_all_asset_specs()
        if "dbt" not in spec.kinds
    }
    sources = [
        "product_list",
        "duo_schools",
        "duo_pupil_counts",
        "cbs_youth_care",
        "school_enrolments",
        "school_absence",
        "ijw_messages",
        "ijw_extracts",
        "pilot_activity",
        "pilot_costs",
        "survey_responses",
        "leerplicht_register",
        "duo_vsv",
    ]
    assert specs == {
        "landing_inventory": "landing",
        "pilot_registry": "registry",
        "pipeline_health": "health",
        "published_marts": "publication",
        "effect_estimates": "analysis",
        "pilot_reports": "publication",
        **{f"raw_{s}": "ingestion" for s in sources},
    }


def test_every_ingestion_asset_has_blocking_accounting_and_leak_checks():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    specs = [graph.get_check_spec(key) for key in graph.asset_check_keys]
    checks = {
        (c.asset_key.to_user_string(), c.name): c.blocking
        for c in specs
        if c.asset_key.to_user_string().startswith("raw_")
    }
    raw_assets = [k for k, _ in checks]
    assert len(set(raw_assets)) == 13
    for asset in set(raw_assets):
        assert checks[(asset, "row_accounting")] is True
        assert checks[(asset, "no_identifier_leak")] is True


def test_every_singular_dbt_test_is_an_asset_check_of_the_model_it_names():
    """A singular test whose `meta.dagster.ref` names a model it does not depend on is
    only logged as an observation, never a check (it cannot block publication)."""
    import json

    from orchestration.definitions import defs
    from pilotmonitor.dbt_project import MANIFEST_PATH

    manifest = json.loads(MANIFEST_PATH.read_text())
    singular = {
        node["name"]: node["config"]["meta"]["dagster"]["ref"]["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test"
        and "test_metadata" not in node  # generic tests carry their own model
        and node["config"].get("meta", {}).get("dagster", {}).get("ref")
    }
    checks = {
        (key.name, key.asset_key.path[-1]) for key in defs.resolve_asset_graph().asset_check_keys
    }
    assert "assert_pupil_key_hashes_are_unique" in singular
    assert {(name, model) for name, model in singular.items()} <= checks


def test_sensor_and_schedule_are_defined():
    from orchestration.definitions import defs

    assert defs.resolve_sensor_def("landing_sensor").job_name == "all_assets"
    schedule = defs.resolve_schedule_def("daily_ingestion")
    assert schedule.cron_schedule == "0 6 * * *" and schedule.job_name == "all_assets"
