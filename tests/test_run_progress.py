"""`pilotmonitor run` shows one line per finished stage and keeps the full log in a file."""

import io
import sys

from rich.console import Console

from pilotmonitor.run_progress import stage_progress

LINES = [
    "2026-12-03 12:11:12 +0000 - dagster - DEBUG - job - r1 - 1 - raw_product_list - STEP_START - "
    'Started execution of step "raw_product_list".\n',
    "2026-12-03 12:11:12 +0000 - dagster - DEBUG - job - r1 - 1 - raw_product_list - STEP_SUCCESS "
    '- Finished execution of step "raw_product_list" in 423ms.\n',
    "2026-12-03 12:11:13 +0000 - dagster - DEBUG - job - r1 - 1 - "
    "raw_product_list_expectations_error - STEP_START - Started execution of step "
    '"raw_product_list_expectations_error".\n',
    "2026-12-03 12:11:13 +0000 - dagster - DEBUG - job - r1 - 1 - "
    "raw_product_list_expectations_error - STEP_SUCCESS - Finished execution of step "
    '"raw_product_list_expectations_error" in 10ms.\n',
    "2026-12-03 12:11:14 +0000 - dagster - ERROR - job - r1 - 1 - effect_estimates - STEP_FAILURE "
    '- Execution of step "effect_estimates" failed.\n',
]


def test_stages_on_the_terminal_everything_in_the_log(tmp_path, monkeypatch):
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stdout", terminal)
    log = tmp_path / "logs" / "run.log"
    with stage_progress(Console(file=terminal, width=120), log):
        for line in LINES:  # Dagster's console logger writes to stderr,
            sys.stderr.write(line[:40])  # sometimes in pieces
            sys.stderr.write(line[40:])
        print("1 of 193 START sql view model staging.x")  # dbt's log, on stdout
    shown = terminal.getvalue()
    assert (
        "raw_product_list" in shown and "expectations_error" not in shown.split("data-quality")[0]
    )
    assert "failed  effect_estimates" in shown and "full log" in shown
    assert "1 of 193 START" not in shown
    assert (
        log.read_text(encoding="utf-8")
        == "".join(LINES) + "1 of 193 START sql view model staging.x\n"
    )
