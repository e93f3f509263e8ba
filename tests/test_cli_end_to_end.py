"""The quickstart path on a small scenario: synth, then run, through the real CLI."""

import shutil

import duckdb
import pytest
from typer.testing import CliRunner

from pilotmonitor.cli import app
from tests.conftest import REPO_ROOT


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PILOTMONITOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("PILOTMONITOR_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("PILOTMONITOR_PSEUDONYM_KEY_FILE", raising=False)
    monkeypatch.delenv("PILOTMONITOR_DEMO", raising=False)
    return tmp_path / "data"


def test_synth_then_run_fills_the_warehouse_and_writes_the_reports(demo_data_dir, demo_outputs):
    """The quickstart on the shared demo fixture (synth --scale 0.05 --seed 7, run --demo)."""
    synth, run = demo_outputs["synth"], demo_outputs["run"]
    assert "SYNTHETIC" in synth and "planted bad records" in synth
    landing_files = [
        p
        for p in (demo_data_dir / "landing").rglob("*")
        if p.is_file() and p.name != "SYNTHETIC_DATA.txt"
    ]
    assert len(landing_files) > 100
    assert "DEMO MODE" in run
    assert "landing_inventory" in run and "materialized" in run
    # the run ends by saying where the reports are
    assert "policymaker reports (SYNTHETIC DATA)" in run
    assert (
        f"winschoten-sbo: {demo_data_dir / 'reports' / 'winschoten-sbo' / 'report.nl.html'}" in run
    )
    with duckdb.connect(
        str(demo_data_dir / "warehouse" / "pilotmonitor.duckdb"), read_only=True
    ) as conn:
        assert conn.execute("select count(*) from raw.landing_files").fetchone()[0] == len(
            landing_files
        )
        assert conn.execute("select count(*) from raw.pilots").fetchone()[0] == len(
            list((REPO_ROOT / "pilots").glob("*.yml"))
        )
        assert (
            conn.execute(
                "select count(*) from raw.pilot_schools where pilot_id = 'winschoten-sbo'"
            ).fetchone()[0]
            == 3
        )


def test_run_without_a_key_refuses(data_dir, demo_data_dir):
    # a synthesized landing area (the demo fixture's) without the demo's key
    shutil.copytree(demo_data_dir / "landing", data_dir / "landing")
    without_key = CliRunner().invoke(app, ["run"])
    assert without_key.exit_code == 1
    assert "not started" in without_key.output
    assert "no pseudonymisation key" in without_key.output
    # refused before any step: nothing loaded, no warehouse, no run log
    assert not (data_dir / "warehouse").exists() and not (data_dir / "logs").exists()
    weak = CliRunner().invoke(app, ["run"], env={"PILOTMONITOR_PSEUDONYM_KEY": "00" * 32})
    assert weak.exit_code == 1 and "not started" in weak.output and "00" * 32 not in weak.output
    assert not (data_dir / "warehouse").exists()


def test_run_without_landing_area_fails_with_a_clear_message(data_dir):
    result = CliRunner().invoke(app, ["run", "--demo"])
    assert result.exit_code == 1
    assert "not started" in result.output
    assert "landing area" in result.output and "pilotmonitor synth" in result.output
    assert not (data_dir / "warehouse").exists()  # refused before any step


def test_unknown_scenario_is_a_usage_error(data_dir):
    result = CliRunner().invoke(app, ["synth", "--scenario", "nonexistent"])
    assert result.exit_code != 0
    assert "nonexistent" in result.output


def test_the_health_page_a_run_leaves_behind_shows_its_final_state(demo_data_dir, demo_outputs):
    """`pipeline_health` runs last: the page written by `run --demo` knows the publication
    and the dbt tests of that same run (it used to be written before `dbt build`)."""
    page = (demo_data_dir / "health" / "index.html").read_text(encoding="utf-8")
    with duckdb.connect(
        str(demo_data_dir / "warehouse" / "pilotmonitor.duckdb"), read_only=True
    ) as conn:
        published = conn.execute(
            "select count(*) from published.publication_log where status in ('published', "
            "'unchanged')"
        ).fetchone()[0]
    assert published >= 1
    assert "nothing published yet" not in page
    assert "Analyses and the report read: published" in page
    import re

    dbt_row = re.search(
        r"<tr><td>warehouse checks \(dbt tests\)</td><td class=\"n\">([\d,]+)</td>", page
    )
    assert dbt_row and int(dbt_row.group(1).replace(",", "")) > 0, (
        "the page shows no dbt test results"
    )
