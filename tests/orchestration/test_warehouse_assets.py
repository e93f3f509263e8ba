"""The dbt models as Dagster assets: lineage into the raw layer, dbt tests as asset
checks, one run that ingests and then builds the warehouse, and a manifest on a fresh clone."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from typer.testing import CliRunner

from pilotmonitor.cli import app
from pilotmonitor.settings import REPO_ROOT
from tests.conftest import FinishedRun


@pytest.fixture(scope="module")
def defs():
    from orchestration.definitions import defs

    return defs


@pytest.fixture(scope="module")
def specs(defs):
    return {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}


def _deps(spec) -> set[str]:
    return {dep.asset_key.to_user_string() for dep in spec.deps}


def _upstream(specs, key: str) -> set[str]:
    seen, todo = set(), [key]
    while todo:
        for dep in _deps(specs[todo.pop()]):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_dbt_models_are_assets_downstream_of_the_ingestion_assets(specs):
    fct = specs["marts/fct_pupil_month"]
    assert fct.group_name == "warehouse" and "dbt" in fct.kinds
    assert "raw_school_enrolments" in _upstream(specs, "marts/fct_pupil_month")
    assert _deps(specs["staging/stg_school__enrolments"]) == {"raw_school_enrolments"}
    # both iJw assets write the iJw tables
    assert _deps(specs["staging/stg_ijw__starts"]) == {"raw_ijw_messages", "raw_ijw_extracts"}
    assert _deps(specs["staging/stg_registry__pilots"]) == {"pilot_registry"}
    assert specs["reference/provinces"].group_name == "reference"


def test_every_raw_source_maps_to_the_asset_that_writes_it(defs, specs):
    from orchestration.defs.warehouse.assets import raw_table_writers
    from pilotmonitor.dbt_project import MANIFEST_PATH

    manifest = json.loads(MANIFEST_PATH.read_text())
    raw_tables = {s["name"] for s in manifest["sources"].values() if s["source_name"] == "raw"}
    writers = raw_table_writers()
    assert raw_tables <= set(writers), (
        f"raw tables without a writer asset: {raw_tables - set(writers)}"
    )
    assert writers["deliveries"][0].to_user_string() == "landing_inventory"
    assert {k.to_user_string() for k in writers["ijw_requests"]} == {
        "raw_ijw_messages",
        "raw_ijw_extracts",
    }
    # no dangling dependency on a raw table that is not an asset
    all_deps = set().union(*(_deps(spec) for spec in specs.values()))
    assert all_deps <= set(specs), all_deps - set(specs)


def test_dbt_tests_are_asset_checks(defs, specs):
    from pilotmonitor.dbt_project import MANIFEST_PATH

    graph = defs.resolve_asset_graph()
    dbt_checks = {
        key
        for key in graph.asset_check_keys
        if "dbt" in specs[key.asset_key.to_user_string()].kinds
    }
    assert (
        dg.AssetCheckKey(dg.AssetKey(["reference", "provinces"]), "unique_provinces_code")
        in dbt_checks
    )
    manifest = json.loads(MANIFEST_PATH.read_text())
    model_tests = [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "test"
        and len(n["depends_on"]["nodes"]) == 1
        and not n["depends_on"]["nodes"][0].startswith("source.")
    ]
    assert len(dbt_checks) >= len(model_tests) > 0


def test_jobs_run_ingestion_then_the_warehouse(defs):
    job = defs.resolve_job_def("all_assets")
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert {
        "landing_inventory",
        "pilot_registry",
        "raw_school_enrolments",
        "marts/fct_pupil_month",
    } <= keys
    assert "marts/fct_pupil_month" in {
        k.to_user_string()
        for k in defs.resolve_job_def("warehouse_build").asset_layer.executable_asset_keys
    }


def test_dbt_runs_on_the_warehouse_of_the_settings_without_telemetry(tmp_path, monkeypatch):
    from pilotmonitor.dbt_project import dbt_env, dbt_executable

    monkeypatch.setenv("PILOTMONITOR_DATA_DIR", str(tmp_path / "elsewhere"))
    env = dbt_env()
    assert env["PILOTMONITOR_WAREHOUSE"] == str(
        (tmp_path / "elsewhere" / "warehouse" / "pilotmonitor.duckdb").resolve()
    )
    assert env["DO_NOT_TRACK"] == "1"
    assert Path(dbt_executable()).name == "pilotmonitor-dbt"


def test_duckdb_memory_is_bounded_in_the_run_and_in_dbt(tmp_path, monkeypatch):
    """DuckDB takes 80% of RAM by default: a national build would take the machine. The
    run's connections and dbt's get the same limit from the settings; dbt run by hand
    (profiles.yml) has the same default."""
    import yaml

    from orchestration.resources import WarehouseResource
    from pilotmonitor.dbt_project import DBT_PROJECT_DIR, dbt_env, dbt_executable
    from pilotmonitor.settings import DUCKDB_MEMORY_LIMIT, Settings

    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8"))
    default = re.search(
        r"env_var\('PILOTMONITOR_DUCKDB_MEMORY_LIMIT', '([^']+)'\)",
        profile["pilotmonitor"]["outputs"]["duckdb"]["settings"]["memory_limit"],
    )
    assert default and default.group(1) == DUCKDB_MEMORY_LIMIT

    monkeypatch.setenv("PILOTMONITOR_DUCKDB_MEMORY_LIMIT", "1GB")
    with WarehouseResource(database=str(tmp_path / "w.duckdb")).get_connection() as conn:
        assert conn.execute("select current_setting('memory_limit')").fetchone()[0] == "953.6 MiB"
    env = {**os.environ, **dbt_env(tmp_path / "w.duckdb")}
    assert env["PILOTMONITOR_DUCKDB_MEMORY_LIMIT"] == "1GB"
    shown = subprocess.run(
        [
            dbt_executable(),
            "show",
            "--inline",
            "select current_setting('memory_limit') as m",
            "--output",
            "json",
            "--log-format",
            "text",
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stdout[-2000:] + shown.stderr[-2000:]
    assert "953.6 MiB" in shown.stdout

    monkeypatch.setenv("PILOTMONITOR_DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="PILOTMONITOR_DUCKDB_MEMORY_LIMIT"):
        Settings.from_env()


def test_stale_or_missing_manifest_is_detected(tmp_path):
    from pilotmonitor.dbt_project import manifest_is_stale

    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    model = project / "models" / "m.sql"
    model.write_text("select 1")
    manifest = project / "target" / "manifest.json"
    assert manifest_is_stale(project, manifest)
    manifest.parent.mkdir()
    manifest.write_text("{}")
    os.utime(model, (1, 1))
    assert not manifest_is_stale(project, manifest)
    os.utime(model, None)
    os.utime(manifest, (2, 2))
    assert manifest_is_stale(project, manifest)


def _fresh_clone(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    clone = tmp_path / "clone"
    for part in ["orchestration", "pilotmonitor", "pilots", "dbt_project"]:
        shutil.copytree(
            REPO_ROOT / part,
            clone / part,
            ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "__pycache__"),
        )
    assert not (clone / "dbt_project" / "target").exists()
    env = {
        **os.environ,
        "PYTHONPATH": str(clone),
        "PILOTMONITOR_DATA_DIR": str(tmp_path / "data"),
        "DAGSTER_HOME": str(tmp_path),
    }
    return clone, env


# `pilotmonitor run` starts the parse before it imports Dagster (start_parse_if_stale)
PARSE_FIRST = "import pilotmonitor.dbt_project as p; p.start_parse_if_stale(); "


def _python(clone: Path, env: dict[str, str], code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("first", ["", PARSE_FIRST], ids=["parse-on-load", "parse-in-background"])
def test_definitions_load_on_a_fresh_clone_without_target(tmp_path, first):
    clone, env = _fresh_clone(tmp_path)
    code = first + (
        "import orchestration.definitions as d, pilotmonitor.settings as s; print(s.REPO_ROOT); "
        "print(len(d.defs.resolve_all_asset_specs()))"
    )
    completed = _python(clone, env, code)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.splitlines()[0] == str(clone)
    target = clone / "dbt_project" / "target"
    assert (target / "manifest.json").is_file()
    assert (target / "partial_parse.msgpack").is_file()
    assert not list(target.glob(".parse-*"))  # the private parse directory is gone


def test_a_background_parse_is_finished_when_the_command_stops_before_loading(tmp_path):
    clone, env = _fresh_clone(tmp_path)
    completed = _python(clone, env, PARSE_FIRST + "raise SystemExit(3)")
    assert completed.returncode == 3, completed.stderr
    target = clone / "dbt_project" / "target"
    assert (target / "manifest.json").is_file() and not list(target.glob(".parse-*"))


@pytest.mark.parametrize(
    "first",
    [PARSE_FIRST, PARSE_FIRST + "p.finish_background_parse(); "],
    ids=["awaited-on-load", "awaited-before (pilotmonitor synth)"],
)
def test_a_broken_project_parsed_in_the_background_fails_with_dbts_message(tmp_path, first):
    """Loading the definitions reports dbt's error, also when `pilotmonitor synth` waited
    for the failed parse first (it only logs it)."""
    clone, env = _fresh_clone(tmp_path)
    (clone / "dbt_project" / "models" / "staging" / "stg_broken.sql").write_text(
        "select * from {{ ref('no_such_model') }}"
    )
    completed = _python(clone, env, first + "import orchestration.definitions")
    assert completed.returncode != 0
    assert "DbtParseError" in completed.stderr and "no_such_model" in completed.stderr
    assert not (clone / "dbt_project" / "target" / "manifest.json").exists()


@pytest.fixture(scope="module")
def pipeline(copy_demo, demo_outputs, tmp_path_factory):
    """The demo fixture's run (its output; the fixture fails when the run does) and a copy
    of its data directory and run history, which the rerun test changes."""
    root = tmp_path_factory.mktemp("warehouse")
    data = copy_demo(root)
    env = pytest.MonkeyPatch()
    env.setenv("PILOTMONITOR_DATA_DIR", str(data))
    env.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    env.delenv("PILOTMONITOR_PSEUDONYM_KEY", raising=False)
    env.delenv("PILOTMONITOR_PSEUDONYM_KEY_FILE", raising=False)
    env.delenv("PILOTMONITOR_DEMO", raising=False)
    env.delenv("PILOTMONITOR_WAREHOUSE", raising=False)
    yield data, FinishedRun(demo_outputs["run"])
    env.undo()


def test_one_run_ingests_and_builds_the_marts_with_passing_dbt_checks(pipeline):
    data, run = pipeline
    assert run.exit_code == 0, run.output
    counts = re.search(r"dbt tests \(asset checks\)\s*│\s*(\d+) of (\d+) passed", run.output)
    assert counts, run.output
    assert int(counts.group(1)) == int(counts.group(2)) > 0
    assert re.search(
        r"warehouse \(dbt, (\d+) assets\)\s*│\s*(\d+) of \1 materialized", run.output
    ), run.output
    with duckdb.connect(str(data / "warehouse" / "pilotmonitor.duckdb"), read_only=True) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
        assert {"fct_pupil_month", "fct_school_month", "dim_school", "dim_pilot"} <= tables
        assert conn.execute("select count(*) from marts.fct_pupil_month").fetchone()[0] > 0


def test_dbt_check_results_are_recorded_in_the_run_history(pipeline):
    data, _ = pipeline
    from orchestration.definitions import defs

    with dg.DagsterInstance.get() as instance:
        key = dg.AssetCheckKey(dg.AssetKey(["reference", "provinces"]), "unique_provinces_code")
        records = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
        assert records and records[0].status.value == "SUCCEEDED"
    assert defs.resolve_asset_graph().has(key.asset_key)


def test_docs_are_generated_against_the_warehouse(pipeline):
    result = CliRunner().invoke(app, ["docs"])
    assert result.exit_code == 0, result.output
    assert "index.html" in result.output


def test_a_run_without_new_data_reuses_the_build_and_a_damaged_warehouse_is_rebuilt(pipeline):
    data, first = pipeline
    assert first.exit_code == 0, first.output
    warehouse = data / "warehouse" / "pilotmonitor.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        built = conn.execute("select run_id, built_at from pipeline.dbt_build_state").fetchone()
        schools = conn.execute("select count(*) from marts.dim_school").fetchone()[0]
    again = CliRunner().invoke(app, ["run", "--demo"])
    assert again.exit_code == 0, again.output
    flat = " ".join(again.output.split())
    assert re.search(
        r"warehouse \(dbt, (\d+) assets\) │ \1 of \1 materialized \(unchanged\)", flat
    ), again.output
    counts = re.search(r"dbt tests \(asset checks\) │ (\d+) of (\d+) passed", flat)
    # the recorded results, reported again
    assert counts and int(counts.group(1)) == int(counts.group(2)) > 0
    assert "published_marts │ unchanged" in flat and "effect_estimates │" in flat
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        assert (
            conn.execute("select run_id, built_at from pipeline.dbt_build_state").fetchone()
            == built
        )

    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("delete from marts.dim_school")
    repaired = CliRunner().invoke(app, ["run", "--demo"])
    assert repaired.exit_code == 0, repaired.output
    assert "materialized (unchanged)" not in " ".join(repaired.output.split())
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        assert conn.execute("select count(*) from marts.dim_school").fetchone()[0] == schools
        assert conn.execute("select run_id from pipeline.dbt_build_state").fetchone()[0] != built[0]

    # a published table edited by hand: the gate trusts its record of what it published,
    # unless the run is asked to verify the published tables
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute(
            "delete from published.dim_school where school_id = (select min(school_id) from "
            "published.dim_school)"
        )
    verified = CliRunner().invoke(app, ["run", "--demo", "--verify-publication"])
    assert verified.exit_code == 0, verified.output
    assert "published_marts │ unchanged" not in " ".join(verified.output.split())
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        assert conn.execute("select count(*) from published.dim_school").fetchone()[0] == schools
