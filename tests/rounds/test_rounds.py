"""Evaluation rounds (learning cycle): a round freezes what was known at its as-of date,
is immutable, reproduces to identical numbers, and its report compares it with the
previous round. On the session's SYNTHETIC demo (scale 0.05), whose `run --demo` created
the two SOOS rounds of scenarios/demo.rounds.yml."""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from pilotmonitor.cli import app
from pilotmonitor.evaluation.reproduce import reproduce
from pilotmonitor.pilots import load_registry
from pilotmonitor.rounds import freeze, registry
from pilotmonitor.rounds.create import create_round
from pilotmonitor.rounds.registry import RoundExists
from pilotmonitor.run_lock import RunLock, lock_path
from pilotmonitor.settings import REPO_ROOT

PILOT = "alkmaar-soos"
DEMO_ROUNDS = ("soos-ronde-1", "soos-ronde-2")


@pytest.fixture()
def demo_env(copy_demo, tmp_path, monkeypatch):
    """A copy of the demo fixture as the data directory: the round commands open the
    warehouse for writing, which other workers' readers of the shared fixture would block."""
    data = copy_demo(tmp_path)
    monkeypatch.setenv("PILOTMONITOR_DATA_DIR", str(data))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return data


@pytest.fixture()
def warehouse_copy(demo_data_dir, tmp_path):
    """A writable copy of the demo warehouse (the session's demo is read-only)."""
    copy = tmp_path / "pilotmonitor.duckdb"
    shutil.copy(demo_data_dir / "warehouse" / "pilotmonitor.duckdb", copy)
    with duckdb.connect(str(copy)) as conn:
        yield conn


def _demo_conn(demo_data_dir):
    return duckdb.connect(str(demo_data_dir / "warehouse" / "pilotmonitor.duckdb"), read_only=True)


def test_data_through_is_the_last_month_that_ended_by_the_as_of_date():
    assert freeze.data_through(date(2024, 12, 31)) == date(2024, 12, 1)
    assert freeze.data_through(date(2024, 12, 30)) == date(2024, 11, 1)
    assert freeze.data_through(date(2025, 1, 1)) == date(2024, 12, 1)
    assert freeze.data_through(date(2024, 2, 29)) == date(2024, 2, 1)


def test_demo_run_created_the_two_soos_rounds(demo_data_dir):
    with _demo_conn(demo_data_dir) as conn:
        found = registry.rounds(conn, pilot_id=PILOT)
    assert [r.name for r in found] == list(DEMO_ROUNDS)
    assert [r.as_of for r in found] == [date(2024, 12, 31), date(2026, 10, 31)]
    assert found[0].run_id != found[1].run_id


def test_a_round_is_not_the_latest_estimate(demo_data_dir):
    with _demo_conn(demo_data_dir) as conn:
        latest = {
            r[0]
            for r in conn.execute("select distinct run_id from results.effect_estimates").fetchall()
        }
        round_runs = {r.run_id for r in registry.rounds(conn)}
    assert latest and not latest & round_runs


def test_a_round_freezes_the_data(warehouse_copy, tmp_path):
    """Months after the as-of date are not in it; later changes to the published data,
    after the as-of date or before it (a late correction), change neither its inputs nor
    its estimates: reproduce is still identical."""
    conn = warehouse_copy
    pilots = load_registry(REPO_ROOT / "pilots")
    created = create_round(
        conn, "test-freeze", date(2025, 6, 30), pilots, tmp_path / "results", only_pilot=PILOT
    )
    entry = created.rounds[0]
    assert entry.data_through == date(2025, 6, 1)
    frozen = freeze.frozen_inputs(conn, "test-freeze")
    assert frozen.school_month["month"].max() == pd.Timestamp("2025-06-01")
    assert frozen.surveys["response_date"].max() <= pd.Timestamp("2025-06-30")
    assert frozen.content_hash() == entry.input_hash
    before = conn.execute(
        "select * from results.effect_estimates_history where run_id = ? order by role, outcome, "
        "estimator",
        [entry.run_id],
    ).df()

    conn.execute(
        "update published.fct_school_month set new_referrals = new_referrals + 7 where month > "
        "date '2025-06-01'"
    )
    conn.execute(
        "update published.fct_school_month set new_referrals = new_referrals + 3 where month <= "
        "date '2025-06-01'"
    )
    conn.execute("delete from published.fct_survey_scores")
    assert freeze.frozen_inputs(conn, "test-freeze").content_hash() == entry.input_hash
    again = reproduce(conn, entry.run_id, pilots)
    assert again.identical, again.differences[:5]
    assert "round test-freeze's frozen data" in again.explanation()
    after = conn.execute(
        "select * from results.effect_estimates_history where run_id = ? order by role, outcome, "
        "estimator",
        [entry.run_id],
    ).df()
    pd.testing.assert_frame_equal(before, after)
    # the pipeline's own run is re-run on the changed published data and says so
    assert not reproduce(conn, PILOT, pilots).identical


def test_a_round_name_is_taken_once(warehouse_copy, tmp_path):
    pilots = load_registry(REPO_ROOT / "pilots")
    with pytest.raises(RoundExists, match="already exists.*immutable"):
        create_round(
            warehouse_copy,
            "soos-ronde-1",
            date(2025, 12, 31),
            pilots,
            tmp_path / "results",
            only_pilot=PILOT,
        )
    with pytest.raises(registry.RoundError, match="published data end"):
        create_round(
            warehouse_copy,
            "too-late",
            date(2031, 1, 31),
            pilots,
            tmp_path / "results",
            only_pilot=PILOT,
        )
    assert [r.as_of for r in registry.rounds(warehouse_copy, name="soos-ronde-1")] == [
        date(2024, 12, 31)
    ]


def test_round_create_cli_refuses_an_existing_name_and_waits_for_no_run(demo_env):
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["round", "create", "soos-ronde-1", "--as-of", "2025-12-31", "--pilot", PILOT, "--no-pdf"],
    )
    assert result.exit_code == 1
    assert "already exists" in result.output
    with RunLock(lock_path(demo_env)):  # a pipeline run holds the warehouse: nothing is done
        busy = runner.invoke(
            app,
            ["round", "create", "new-round", "--as-of", "2025-12-31", "--pilot", PILOT, "--no-pdf"],
        )
    assert busy.exit_code == 2
    assert "another pipeline run" in busy.output
    listed = runner.invoke(app, ["round", "list"])
    assert (
        listed.exit_code == 0 and "soos-ronde-2" in listed.output and "SYNTHETIC" in listed.output
    )


def test_reproduce_on_a_round_is_identical(demo_env):
    with _demo_conn(demo_env) as conn:
        run_id = registry.get_round(conn, "soos-ronde-1")[0].run_id
    result = CliRunner().invoke(app, ["reproduce", run_id])
    assert result.exit_code == 0, result.output
    assert "identical" in result.output and "soos-ronde-1" in result.output


def _section(html: str) -> str:
    return html[
        html.index('id="round-changes"') : html.index('id="round-changes"')
        + html[html.index('id="round-changes"') :].index("<h2", 10)
    ]


def test_second_round_report_compares_with_the_first(demo_data_dir):
    """Both rounds' primary and secondary estimates side by side, the data added, the plan."""
    with _demo_conn(demo_data_dir) as conn:
        first, second = (registry.get_round(conn, n)[0] for n in DEMO_ROUNDS)
        est = {
            r.run_id: conn.execute(
                "select outcome, estimate from results.effect_estimates_history "
                "where run_id = ? and role = 'primary'",
                [r.run_id],
            ).fetchone()
            for r in (first, second)
        }
    base = demo_data_dir / "reports" / PILOT / "rounds"
    en = (base / "soos-ronde-2" / "report.en.html").read_text(encoding="utf-8")
    nl = (base / "soos-ronde-2" / "report.nl.html").read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in en and "SYNTHETISCHE DATA" in nl
    section = _section(en)
    assert (
        "What changed since the previous round" in section
        and "Wat is er veranderd sinds de vorige ronde" in nl
    )
    assert "previous round: soos-ronde-1" in section and "this round: soos-ronde-2" in section
    assert est[second.run_id][1] is not None
    for run_id in (first.run_id, second.run_id):  # both primary IRRs as the report writes them,
        if est[run_id][1] is None:  # or why the small demo's first round has none
            assert "no estimate (" in section
        else:
            assert f"IRR {est[run_id][1]:,.2f}" in section
    assert "Data added" in section and "+22" in section  # 12 -> 34 pilot months
    assert "2024-12" in section and "2026-10" in section
    assert "The analysis plan did not change" in section
    first_report = _section((base / "soos-ronde-1" / "report.en.html").read_text(encoding="utf-8"))
    assert "first round" in first_report
    assert (base / "soos-ronde-2" / "disclosure_log.json").is_file()
    log = (base / "soos-ronde-2" / "disclosure_log.json").read_text(encoding="utf-8")
    assert "round_data_added" in log
    for r in (first, second):  # every round's estimate is checked as its own model output
        assert (f"round_estimate_{r.name}_referrals_per_100_pupil_months" in log) == (
            est[r.run_id][1] is not None
        )


def test_a_round_frozen_before_a_published_table_existed_names_it(warehouse_copy, tmp_path):
    """A round frozen by an earlier version has no copy of a table published since (here
    dim_pilot_month): reading it says which table is missing instead of failing on a copy."""
    from pilotmonitor.evaluation.sample import AnalysisInputError

    conn = warehouse_copy
    pilots = load_registry(REPO_ROOT / "pilots")
    create_round(
        conn, "test-old", date(2025, 6, 30), pilots, tmp_path / "results", only_pilot=PILOT
    )
    conn.execute("drop table rounds.dim_pilot_month")
    with pytest.raises(AnalysisInputError, match="dim_pilot_month missing"):
        freeze.frozen_inputs(conn, "test-old")
