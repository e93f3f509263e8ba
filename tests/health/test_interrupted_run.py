"""A run that died (SIGKILL inside a step) or was interrupted reads "INTERRUPTED, RERUN",
its unreached checks "not run (run interrupted)"; the run lock keeps runs apart and
survives no killed holder. Small Dagster graphs in subprocesses (about a minute in all)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pilotmonitor.health.interrupted import find_interrupted_run
from pilotmonitor.health.status import collect_status
from pilotmonitor.publication.check_results import check_and_build_results
from pilotmonitor.run_lock import RunInProgress, RunLock, is_held
from tests.health.test_status_truth import AS_OF, SOURCES, clean_rows, make_warehouse

# A run of a tiny graph under the run lock, as `pilotmonitor run` does; with "kill" the
# second asset kills its own process (SIGKILL: Dagster records nothing more).
RUN = textwrap.dedent("""
    import os, signal, sys
    import dagster as dg
    from pilotmonitor.health.interrupted import RUN_LOCK_TAG
    from pilotmonitor.run_lock import RunLock

    home, lock, mode = sys.argv[1:4]

    @dg.asset
    def raw_x():
        return None

    @dg.asset_check(asset="raw_x", name="row_accounting", blocking=True)
    def accounting():
        return dg.AssetCheckResult(passed=True)

    @dg.asset(deps=[raw_x], check_specs=[dg.AssetCheckSpec("disclosure_control", asset="reports")])
    def reports():
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "interrupt":
            raise dg.DagsterExecutionInterruptedError()
        yield dg.MaterializeResult(check_results=[dg.AssetCheckResult(check_name="disclosure_control", passed=True)])

    with RunLock(__import__('pathlib').Path(lock)):
        instance = dg.DagsterInstance.from_config(home)
        dg.materialize([raw_x, accounting, reports], instance=instance, raise_on_error=False, tags={RUN_LOCK_TAG: lock})
""")  # noqa: E501


def _run(tmp_path: Path, mode: str) -> int:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-c", RUN, str(home), str(tmp_path / "run.lock"), mode], timeout=300
    ).returncode


def _instance(tmp_path: Path):
    import dagster as dg

    return dg.DagsterInstance.from_config(str(tmp_path / "dagster_home"))


def test_a_killed_run_reads_interrupted_and_its_unreached_check_not_run(tmp_path):
    assert _run(tmp_path, "ok") == 0
    assert _run(tmp_path, "kill") == -signal.SIGKILL
    assert not is_held(tmp_path / "run.lock")  # the kernel dropped the dead run's lock
    instance = _instance(tmp_path)
    try:
        interrupted = find_interrupted_run(instance)
        assert (
            interrupted is not None
            and interrupted.status == "STARTED"
            and interrupted.steps == ["reports"]
        )
        checks = {
            c.check: c
            for c in check_and_build_results(instance, interrupted_run_id=interrupted.run_id)
        }
        # without knowing the run died, the check planned in it would keep its old result
        assert not {c.check: c for c in check_and_build_results(instance)}[
            "disclosure_control"
        ].not_run
    finally:
        instance.dispose()
    assert checks["row_accounting"].passed  # evaluated in the killed run before it died
    reached = checks["disclosure_control"]
    assert reached.not_run and not reached.failed and reached.outcome == "not run (run interrupted)"

    status = collect_status(
        make_warehouse(tmp_path / "wh.duckdb", clean_rows()),
        AS_OF,
        sources=SOURCES,
        checks=list(checks.values()),
        interrupted=interrupted,
    )
    assert status.exit_code == 3 and not status.ready and not status.blocking
    assert status.verdict.startswith(f"INTERRUPTED, RERUN: run {interrupted.run_id[:8]} (started ")
    assert "stopped during reports" in status.verdict
    data = json.loads(status.to_json())
    assert data["interrupted_run"]["steps"] == ["reports"] and data["failed_checks"] == []
    assert data["not_run_checks"] == [
        {"asset": "reports", "check": "disclosure_control", "reason": "run interrupted"}
    ]

    assert _run(tmp_path, "ok") == 0  # the rerun
    instance = _instance(tmp_path)
    try:
        assert find_interrupted_run(instance) is None
        assert all(c.passed for c in check_and_build_results(instance))
    finally:
        instance.dispose()


def test_a_run_stopped_by_an_interruption_is_interrupted_not_errored(tmp_path):
    assert _run(tmp_path, "interrupt") == 0
    instance = _instance(tmp_path)
    try:
        interrupted = find_interrupted_run(instance)
        assert interrupted is not None and interrupted.steps == []
        checks = check_and_build_results(instance, interrupted_run_id=interrupted.run_id)
        # read as an ordinary failed run, the stopped step would block as "errored"
        assert any(c.blocks for c in check_and_build_results(instance))
    finally:
        instance.dispose()
    assert not any(c.blocks for c in checks)
    assert {c.check: c.outcome for c in checks if c.not_run} == {
        "disclosure_control": "not run (run interrupted)"
    }


def test_a_failed_run_is_not_interrupted(tmp_path):
    """A run whose step failed on its own (not by a signal) is blocked, not interrupted."""
    import dagster as dg

    @dg.asset
    def broken():
        raise ValueError("bad SQL")

    instance = dg.DagsterInstance.ephemeral()
    dg.materialize([broken], instance=instance, raise_on_error=False)
    assert find_interrupted_run(instance) is None


HOLD = textwrap.dedent("""
    import sys, time
    from pilotmonitor.run_lock import RunLock
    with RunLock(__import__("pathlib").Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(600)
""")


def test_the_run_lock_refuses_a_second_holder_and_dies_with_the_first(tmp_path):
    path = tmp_path / "run.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert is_held(path)
        with pytest.raises(
            RunInProgress,
            match=(
                rf"another pipeline run is using this data directory \(process {holder.pid}, "
                r"started "
            ),
        ):
            with RunLock(path):
                pass
    finally:
        holder.kill()  # SIGKILL: no cleanup runs in the holder
        holder.wait()
    assert not is_held(path)
    with RunLock(path):
        assert is_held(path)
    assert not is_held(path)
