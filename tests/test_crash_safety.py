"""Crash safety: `pilotmonitor run --demo` killed outright (SIGKILL to its whole process
group) during ingestion, during `dbt build`, during the analyses and while the reports
are written, then rerun, ends with the same published tables and estimates as a run
that was never interrupted; in between, `pilotmonitor status` says the run was
interrupted instead of failing checks that never ran. And a second run started while
one is going stops before doing anything.

Every run is a real subprocess on the demo fixture's SYNTHETIC landing area (scale 0.05:
at 0.01 a secondary school holds one pupil whose export repeats byte for byte from one
school year to the next, which ingestion rightly holds for review), in a copy of it with
the same demo pseudonymisation key; the reference is the fixture's own run. `status` and
`health` are read in this process (the CLI's own code, without a second of imports each).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pilotmonitor.evaluation.store import PROVENANCE
from pilotmonitor.publication.check_results import open_instance
from pilotmonitor.publication.gate import GATE_TABLES
from tests.conftest import FIXTURE_HANG_LIMIT_S

pytestmark = pytest.mark.slow

AS_OF = "2026-10-31"  # the scenario's as-of date: freshness judged the same in every run
CLI = [sys.executable, "-m", "pilotmonitor.cli"]
# Per stage, its step and a sign that the run is inside it (not just at its start): a line
# in the run log, or a file the step writes (the reports step logs nothing on its way).
STAGES = {
    "ingestion": ("raw_school_absence", "raw_school_absence - DEMO MODE"),
    "dbt build": ("warehouse_dbt_build", "OK created sql table model marts."),
    "analyses": ("effect_estimates", "effect_estimates - analysis plan groningen-cluster3"),
    "reports": ("pilot_reports", Path("reports") / "groningen-cluster3" / "figures"),
}
# load times and run ids differ between runs by nature; everything else must not
VOLATILE_COLUMNS = {"loaded_through", "built_at", "logged_at", "run_id", *PROVENANCE}


def _env(data: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PILOTMONITOR_DATA_DIR": str(data),
        "DAGSTER_HOME": str(data.parent / "dagster_home"),
        "PILOTMONITOR_AS_OF": AS_OF,
        "OPENBLAS_NUM_THREADS": "1",
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "false",
    }
    for name in (
        "PILOTMONITOR_PSEUDONYM_KEY",
        "PILOTMONITOR_PSEUDONYM_KEY_FILE",
        "PILOTMONITOR_DEMO",
    ):
        env.pop(name, None)
    return env


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], env=_env(data), capture_output=True, text=True, timeout=FIXTURE_HANG_LIMIT_S
    )


def _in_process(data: Path, *args: str):
    """The CLI's command run in this process (a reader: `status`, `health`)."""
    from typer.testing import CliRunner

    from pilotmonitor.cli import app

    env = _env(data)
    unset = {name: None for name in os.environ if name not in env}
    return CliRunner().invoke(app, list(args), env={**env, **unset})


def _start_run(data: Path, out: Path) -> subprocess.Popen:
    """`pilotmonitor run --demo` in its own process group (so the kill reaches dbt too)."""
    with open(out, "w", encoding="utf-8") as handle:
        return subprocess.Popen(
            [*CLI, "run", "--demo"],
            env=_env(data),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for(data: Path, process: subprocess.Popen, sign: str | Path) -> None:
    """Until `sign` (a text) shows in the run log or (a path) exists under the data
    directory; fails when the run ends first."""
    log = data / "logs" / "run.log"
    while process.poll() is None:
        if isinstance(sign, Path) and (data / sign).exists():
            return
        if (
            isinstance(sign, str)
            and log.is_file()
            and sign in log.read_text(encoding="utf-8", errors="replace")
        ):
            return
        time.sleep(0.2)
    pytest.fail(f"the run ended (exit {process.returncode}) before {sign!r} showed")


def _run_count(dagster_home: Path) -> int:
    instance = open_instance(dagster_home)
    try:
        return len(instance.get_run_records())
    finally:
        instance.dispose()


@pytest.fixture(scope="module")
def chain(demo_data_dir, tmp_path_factory) -> dict:
    """The demo fixture's landing area with its pseudonymisation key (every run
    pseudonymises alike), run and killed again in each next stage: run 1 during ingestion,
    run 2 (which resumes from what run 1 left) during `dbt build`, run 3 during the
    analyses, run 4 while the reports are written; after each kill, what `status` and
    `health` said. Then run 5, which completes; while it goes, a second run is started and
    must stop at once without disturbing it (the lock).

    Chained, so the suite pays for about two full runs instead of one per stage, and every
    kill meets the state the previous kill left."""
    root = tmp_path_factory.mktemp("crash")
    data = root / "data"
    shutil.copytree(demo_data_dir / "landing", data / "landing")
    shutil.copytree(demo_data_dir / "keys", data / "keys")
    killed = {}
    for number, (stage, (step, inside)) in enumerate(STAGES.items(), start=1):
        run = _start_run(data, root / f"killed_run_{number}.txt")
        _wait_for(data, run, inside)
        os.killpg(run.pid, signal.SIGKILL)
        assert run.wait(timeout=60) == -signal.SIGKILL, stage
        killed[stage] = {
            "step": step,
            "status": _in_process(data, "status", "--as-of", AS_OF, "--json"),
            "health": _in_process(data, "health", "--as-of", AS_OF),
            "health_page": (data / "health" / "index.html").read_text(encoding="utf-8"),
        }

    runs_before = _run_count(root / "dagster_home")
    # the killed runs' lines are in the (appended) log: the sign below must be this run's
    (data / "logs" / "run.log").unlink()
    final = _start_run(data, root / "final_run.txt")
    _wait_for(data, final, 'Started execution of step "landing_inventory"')
    second = _cli(data, "run", "--demo")  # another process: the lock is between processes
    assert final.wait(timeout=FIXTURE_HANG_LIMIT_S) == 0, (root / "final_run.txt").read_text(
        encoding="utf-8"
    )[-8000:]
    return {
        "data": data,
        "killed": killed,
        "second_run": second,
        "runs_before": runs_before,
        "runs_after": _run_count(root / "dagster_home"),
        "after": _in_process(data, "status", "--as-of", AS_OF, "--json"),
    }


def test_a_second_run_stops_before_doing_any_work(chain):
    second = chain["second_run"]
    assert second.returncode == 2
    assert (
        "not started" in second.stderr
        and "another pipeline run is using this data directory" in second.stderr
    )
    assert "this run did nothing" in second.stderr
    assert second.stdout == ""  # not even the demo-mode banner: it stopped before anything
    # the second run never reached Dagster: only the first run was added
    assert chain["runs_after"] == chain["runs_before"] + 1


def _table(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> pd.DataFrame:
    columns = [
        c
        for (c,) in conn.execute(
            "select column_name from information_schema.columns where table_schema = ? and "
            "table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
        if c not in VOLATILE_COLUMNS
    ]
    frame = conn.execute(
        f"select {', '.join(f'{chr(34)}{c}{chr(34)}' for c in columns)} from {schema}.{table}"
    ).df()
    return (
        frame.sort_values(columns, kind="stable", na_position="first").reset_index(drop=True)
        if len(frame)
        else frame
    )


def _published(path: Path) -> dict[str, pd.DataFrame]:
    """Every published mart and the current estimates, without load times and run ids; of
    the publication log, the latest publication's tables and row count."""
    with duckdb.connect(str(path), read_only=True) as conn:
        tables = [
            t
            for (t,) in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'published' "
                "order by 1"
            ).fetchall()
            if t not in GATE_TABLES
        ]
        out = {f"published.{t}": _table(conn, "published", t) for t in tables}
        out["results.effect_estimates"] = _table(conn, "results", "effect_estimates")
        out["published.publication_log (latest publication)"] = conn.execute(
            "select tables, rows from published.publication_log where status = 'published' order "
            "by logged_at desc limit 1"
        ).df()
    return out


def _assert_same_tables(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    assert sorted(got) == sorted(want)
    for name, frame in want.items():
        assert len(frame) > 0, f"{name} is empty in the uninterrupted run: nothing compared"
        pd.testing.assert_frame_equal(got[name], frame, check_exact=True, obj=name)


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_killed_run_reads_interrupted_not_failed(chain, stage):
    killed = chain["killed"][stage]
    status = killed["status"]
    assert status.exit_code == 3, status.output
    verdict = json.loads(status.stdout)
    assert verdict["verdict"].startswith("INTERRUPTED, RERUN: run ")
    assert killed["step"] in verdict["interrupted_run"]["steps"]
    # what the killed run planned and never reached is "not run", never a failed check (a
    # warning the data itself raises, as in the uninterrupted run, may stand)
    assert not [c for c in verdict["failed_checks"] if c["severity"] != "WARN"], verdict[
        "failed_checks"
    ]
    assert {c["reason"] for c in verdict["not_run_checks"]} <= {"run interrupted"}
    assert killed["health"].exit_code == 3, killed["health"].output
    assert "INTERRUPTED, RERUN" in killed["health_page"]


def test_the_rerun_after_the_kills_publishes_what_an_uninterrupted_run_does(chain, demo_data_dir):
    after = chain["after"]
    assert after.exit_code == 0, after.output
    assert json.loads(after.stdout)["interrupted_run"] is None

    data = chain["data"]
    warehouse = Path("warehouse") / "pilotmonitor.duckdb"
    _assert_same_tables(_published(data / warehouse), _published(demo_data_dir / warehouse))
    # no half-written file survives the rerun: every report is whole, no temporary file is left
    assert not [p for p in data.rglob("*.tmp")] and not [p for p in data.rglob("*.tmp.*")]
    for report in (data / "reports").glob("*/report.*.html"):
        assert report.read_text(encoding="utf-8").rstrip().endswith("</html>"), report
