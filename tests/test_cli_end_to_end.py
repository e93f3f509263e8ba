"""The quickstart path on a small scenario: synth, then run, through the real CLI."""

import duckdb
import pytest
from typer.testing import CliRunner

from pilotmonitor.cli import app


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PILOTMONITOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("PILOTMONITOR_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("PILOTMONITOR_PSEUDONYM_KEY_FILE", raising=False)
    monkeypatch.delenv("PILOTMONITOR_DEMO", raising=False)
    return tmp_path / "data"


def test_synth_then_run_fills_the_warehouse(data_dir):
    runner = CliRunner()
    synth = runner.invoke(app, ["synth", "--scale", "0.05", "--seed", "7"])
    assert synth.exit_code == 0, synth.output
    assert "SYNTHETIC" in synth.output and "planted bad records" in synth.output
    landing_files = [p for p in (data_dir / "landing").rglob("*") if p.is_file() and p.name != "SYNTHETIC_DATA.txt"]
    assert len(landing_files) > 100

    without_key = runner.invoke(app, ["run"])
    assert without_key.exit_code == 1
    assert "no pseudonymisation key" in without_key.output

    run = runner.invoke(app, ["run", "--demo"])
    assert run.exit_code == 0, run.output
    assert "DEMO MODE" in run.output
    assert "landing_inventory" in run.output and "materialized" in run.output
    with duckdb.connect(str(data_dir / "warehouse" / "pilotmonitor.duckdb"), read_only=True) as conn:
        assert conn.execute("select count(*) from raw.landing_files").fetchone()[0] == len(landing_files)
        assert conn.execute("select count(*) from raw.pilots").fetchone()[0] == 4
        assert conn.execute("select count(*) from raw.pilot_schools where pilot_id = 'winschoten-sbo'").fetchone()[0] == 3


def test_run_without_landing_area_fails_with_a_clear_message(data_dir):
    result = CliRunner().invoke(app, ["run", "--demo"])
    assert result.exit_code == 1
    assert "landing area" in result.output and "pilotmonitor synth" in result.output


def test_unknown_scenario_is_a_usage_error(data_dir):
    result = CliRunner().invoke(app, ["synth", "--scenario", "nonexistent"])
    assert result.exit_code != 0
    assert "nonexistent" in result.output
