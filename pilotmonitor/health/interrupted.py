"""Whether the latest pipeline run stopped before it finished (killed, terminated, the
machine went down), read from the Dagster instance.

A run killed outright (SIGKILL, power loss) records nothing more: Dagster keeps it as
STARTED forever. `pilotmonitor run` tags its runs with the path of its run lock
(pilotmonitor/run_lock.py), which the kernel releases when the process dies, so a
STARTED run whose lock is free is dead. A run that was terminated (CANCELED) or stopped
by a signal Dagster saw (its steps failed with an interruption) is interrupted as well.
Such a run planned checks it never evaluated and builds it never finished: they say
"rerun", not "failed".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pilotmonitor.run_lock import is_held

RUN_LOCK_TAG = "pilotmonitor/run_lock"
# error classes Dagster records on steps stopped by SIGINT/SIGTERM or a run termination
INTERRUPTION_ERRORS = {"DagsterExecutionInterruptedError", "KeyboardInterrupt"}


@dataclass
class InterruptedRun:
    run_id: str
    status: str  # the run's status as Dagster recorded it (STARTED for a killed process)
    started: datetime | None
    steps: list[str] = field(default_factory=list)  # the steps it was in when it stopped

    def summary(self) -> str:
        when = f"started {self.started:%Y-%m-%d %H:%M}" if self.started else "start time unknown"
        during = f", stopped during {', '.join(self.steps)}" if self.steps else ""
        return f"run {self.run_id[:8]} ({when}{during}) did not finish; rerun `pilotmonitor run`"

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "started": self.started.isoformat() if self.started else None,
            "steps": self.steps,
        }


def _error_classes(error) -> set[str]:
    seen = set()
    while error is not None:
        seen.add(error.cls_name)
        error = error.cause or error.context
    return seen


def _step_events(instance, run_id: str) -> tuple[list[str], bool]:
    """The steps started but never ended, and whether a step failure was an interruption."""
    import dagster as dg

    ending = {
        dg.DagsterEventType.STEP_SUCCESS,
        dg.DagsterEventType.STEP_FAILURE,
        dg.DagsterEventType.STEP_SKIPPED,
    }
    started: list[str] = []
    ended: set[str] = set()
    interrupted = False
    for entry in instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_START, *ending}):
        event = entry.dagster_event
        if event.event_type == dg.DagsterEventType.STEP_START:
            started.append(entry.step_key)
            continue
        ended.add(entry.step_key)
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            interrupted |= bool(
                _error_classes(event.event_specific_data.error) & INTERRUPTION_ERRORS
            )
    return [s for s in started if s not in ended], interrupted


def _is_interrupted(instance, run) -> bool | None:
    """True or False, or None when the run is still going (not for the status to judge)."""
    import dagster as dg

    status = run.status
    if status == dg.DagsterRunStatus.SUCCESS:
        return False
    if status in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.CANCELING):
        return True
    if status == dg.DagsterRunStatus.FAILURE:
        return _step_events(instance, run.run_id)[1]
    lock = run.tags.get(RUN_LOCK_TAG)
    if lock is None:  # started elsewhere (UI, daemon): Dagster's run monitoring judges it
        return None
    return None if is_held(Path(lock)) else True


def find_interrupted_run(instance) -> InterruptedRun | None:
    """The latest run of `instance` when it stopped before finishing, else None."""
    records = instance.get_run_records(limit=1)
    if not records:
        return None
    record = records[0]
    run = record.dagster_run
    if not _is_interrupted(instance, run):
        return None
    when = record.start_time or record.create_timestamp
    started = (
        datetime.fromtimestamp(when)
        if isinstance(when, (int, float))
        else (when.astimezone().replace(tzinfo=None) if when else None)
    )
    return InterruptedRun(
        run.run_id, run.status.value, started, _step_events(instance, run.run_id)[0]
    )
