"""`pilotmonitor reproduce`: a published estimate re-runs to identical numbers from its
provenance, and a change in the data or the plan is detected and named."""

from __future__ import annotations

import shutil

import duckdb
import pytest
from typer.testing import CliRunner

from pilotmonitor.cli import app
from pilotmonitor.evaluation.reproduce import ResultNotFound, reproduce
from pilotmonitor.pilots import load_registry
from pilotmonitor.settings import REPO_ROOT


@pytest.fixture()
def demo_env(demo_data_dir, monkeypatch):
    monkeypatch.setenv("PILOTMONITOR_DATA_DIR", str(demo_data_dir))
    return demo_data_dir


def test_reproduce_cli_confirms_identical_numbers(demo_env):
    result = CliRunner().invoke(app, ["reproduce", "winschoten-sbo"])
    assert result.exit_code == 0, result.output
    assert "identical" in result.output


def test_reproduce_a_whole_pilot_of_a_run_by_run_id(demo_env):
    with duckdb.connect(
        str(demo_env / "warehouse" / "pilotmonitor.duckdb"), read_only=True
    ) as conn:
        run_id = conn.execute("select any_value(run_id) from results.effect_estimates").fetchone()[
            0
        ]
        outcome = reproduce(
            conn, f"{run_id}:groningen-cluster3", load_registry(REPO_ROOT / "pilots")
        )
    assert outcome.identical, outcome.differences[:5]
    assert outcome.rows_compared >= 10


def test_changed_data_and_plan_are_explained(demo_data_dir, tmp_path):
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_data_dir / "warehouse" / "pilotmonitor.duckdb", copy)
    with duckdb.connect(str(copy)) as conn:
        conn.execute("""update published.fct_school_month set new_referrals = new_referrals + 5
                        where school_id in (select school_id from published.dim_pilot_assignment
                                            where pilot_id = 'winschoten-sbo' and role = 'treated')
                          and months_since_pilot_start >= 0""")
        pilots = load_registry(REPO_ROOT / "pilots")
        changed = reproduce(conn, "winschoten-sbo", pilots)
        assert not changed.identical
        assert "data: the published inputs changed" in changed.explanation()
        assert any(d["column"] == "estimate" for d in changed.differences)

        other_plan = [
            p.model_copy(
                update={"analysis_plan": p.analysis_plan.model_copy(update={"alpha": 0.10})}
            )
            if p.id == "winschoten-sbo"
            else p
            for p in pilots
        ]
        assert (
            "plan: winschoten-sbo's analysis plan changed"
            in reproduce(conn, "winschoten-sbo", other_plan).explanation()
        )
        with pytest.raises(ResultNotFound):
            reproduce(conn, "no-such-pilot", pilots)
