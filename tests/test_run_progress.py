"""`pilotmonitor run` shows one line per finished stage and keeps the full log in a file."""

import io
import subprocess
import sys

from rich.console import Console

from pilotmonitor.run_progress import stage_progress

LINES = [
    "2026-12-03 12:11:12 +0000 - dagster - DEBUG - job - r1 - 1 - raw_product_list - STEP_START - "
    'Started execution of step "raw_product_list".\n',
    "2026-12-03 12:11:12 +0000 - dagster - DEBUG - job - r1 - 1 - raw_product_list - STEP_SUCCESS "
    '- Finished execution of step "raw_product_list" in 423ms.\n',
    "2026-12-03 12:11:13 +0000 - dagster - DEBUG - job - r1 - 1 - "
    "raw_product_list_expectations - STEP_START - Started execution of step "
    '"raw_product_list_expectations".\n',
    "2026-12-03 12:11:13 +0000 - dagster - DEBUG - job - r1 - 1 - "
    "raw_product_list_expectations - STEP_SUCCESS - Finished execution of step "
    '"raw_product_list_expectations" in 10ms.\n',
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
    assert "raw_product_list" in shown and "_expectations" not in shown.split("data-quality")[0]
    assert "failed  effect_estimates" in shown and "full log" in shown
    assert "1 of 193 START" not in shown
    assert (
        log.read_text(encoding="utf-8")
        == "".join(LINES) + "1 of 193 START sql view model staging.x\n"
    )


def test_a_crash_in_native_code_leaves_every_threads_stack_in_the_log(tmp_path):
    """A segmentation fault ends the process without a Python traceback; the run log must
    still say where it happened."""
    log = tmp_path / "run.log"
    crash = (
        "import faulthandler\n"
        "from pathlib import Path\n"
        "from rich.console import Console\n"
        "from pilotmonitor.run_progress import stage_progress\n"
        "def inside_a_stage():\n"
        "    faulthandler._sigsegv()\n"
        f"with stage_progress(Console(), Path({str(log)!r})):\n"
        "    inside_a_stage()\n"
    )
    done = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True)
    assert done.returncode < 0  # killed by the signal
    text = log.read_text(encoding="utf-8")
    assert "Fatal Python error: Segmentation fault" in text and "inside_a_stage" in text
