"""A stage-by-stage progress display for `pilotmonitor run` instead of Dagster's DEBUG
log on the terminal; the full log goes to a file (and, as always, to the UI's run history).

Dagster's console logger writes to ``sys.stderr`` as it is when a run starts, and
dagster-dbt prints dbt's own log to ``sys.stdout``; the run is executed with both replaced
by :class:`StageLog`: it writes every line to the log file and reads the step start and
finish lines to show which stage runs and how long each took, on a console bound to the
real terminal.
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import re
import sys
import time
from pathlib import Path

from rich.console import Console

_STEP = re.compile(r'(?P<what>Started|Finished) execution of step "(?P<step>[^"]+)"')
_FAILED = re.compile(r'STEP_FAILURE - Execution of step "(?P<step>[^"]+)" failed')
# Asset checks run as their own steps (a source's GX suites, its freshness); shown together.
_CHECK_SUFFIXES = ("_expectations", "_delivery_freshness")


class StageLog(io.TextIOBase):
    def __init__(self, log_file, console: Console, status):
        self.log_file, self.console, self.status = log_file, console, status
        self.started: dict[str, float] = {}
        self.durations: dict[str, float] = {}
        self._buffer = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.log_file.write(text)
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self._line(line)
        return len(text)

    def flush(self) -> None:
        self.log_file.flush()

    def _line(self, line: str) -> None:
        failed = _FAILED.search(line)
        if failed:
            self.console.print(f"  [red]failed[/red]  {failed['step']} (see the log)")
            return
        m = _STEP.search(line)
        if not m:
            return
        step, now = m["step"], time.perf_counter()
        if m["what"] == "Started":
            self.started[step] = now
            self.status.update(f"running {step}")
            return
        seconds = now - self.started.pop(step, now)
        self.durations[step] = seconds
        if not step.endswith(_CHECK_SUFFIXES):
            self.console.print(f"  [green]done[/green]  {step:<34} {seconds:7.1f} s")

    def check_seconds(self) -> float:
        return sum(s for step, s in self.durations.items() if step.endswith(_CHECK_SUFFIXES))


@contextlib.contextmanager
def stage_progress(console: Console, log_path: Path):
    """Run the block with Dagster's console log going to ``log_path`` and a progress line
    per finished stage on ``console``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    terminal = Console(file=sys.stdout, force_terminal=console.is_terminal, width=console.width)
    with open(log_path, "a", encoding="utf-8") as log_file, terminal.status("starting") as status:
        stage_log = StageLog(log_file, terminal, status)
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = stage_log
        # A crash in native code (a segmentation fault: once in the crash-safety test's
        # chain of runs, in a thread) ends the process without a Python traceback; with
        # faulthandler every thread's stack goes to the run log first. Unless a handler is
        # on already (PYTHONFAULTHANDLER, pytest): it keeps its own file.
        ours = not faulthandler.is_enabled()
        if ours:
            faulthandler.enable(file=log_file, all_threads=True)
        try:
            yield stage_log
        finally:
            sys.stdout, sys.stderr = saved
            if ours:
                faulthandler.disable()  # before the log file is closed
    checks = stage_log.check_seconds()
    console.print(
        f"  [green]done[/green]  {'data-quality checks (GX, freshness)':<34} {checks:7.1f} s"
    )
    console.print(f"run took {time.perf_counter() - start:.1f} s; full log: {log_path}")
