"""The latest outcome of every asset check (dbt tests and the assets' own checks), read
from the Dagster instance.

Each check ends ``passed``, ``failed``, ``errored`` (counts as a failure) or ``not run``
(something upstream blocked, or the run was interrupted: not a failure of the check).
Results of checks or assets the current definitions no longer hold are left out.

Read by the publication gate (what blocks) and by the health status (what to show).
Design notes: docs/design/health.md#pilotmonitorpublicationcheck_resultspy.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

EVALUATED = "evaluated"
ERRORED = "errored"
NOT_RUN = "not run"
UPSTREAM_BLOCKED = "upstream blocked"
RUN_INTERRUPTED = "run interrupted"


@dataclass
class CheckResult:
    asset: str
    check: str
    passed: bool
    severity: str  # ERROR | WARN
    when: datetime | None = None
    description: str | None = None
    state: str = EVALUATED  # evaluated | errored | not run
    not_run_reason: str = (
        UPSTREAM_BLOCKED  # why a check did not run: upstream blocked | run interrupted
    )

    @property
    def source(self) -> str | None:
        return self.asset[4:] if self.asset.startswith("raw_") else None

    @property
    def not_run(self) -> bool:
        return self.state == NOT_RUN

    @property
    def failed(self) -> bool:
        """Evaluated and did not pass, or errored; a check that did not run has not failed."""
        return not self.passed and not self.not_run

    @property
    def blocks(self) -> bool:
        return self.failed and str(self.severity).upper() != "WARN"

    @property
    def outcome(self) -> str:
        if self.not_run:
            return f"not run ({self.not_run_reason})"
        if self.state == ERRORED:
            return "errored"
        if self.passed:
            return "passed"
        return "warned" if str(self.severity).upper() == "WARN" else "failed"


def open_instance(dagster_home: Path):
    """The Dagster instance at `dagster_home`. Its dagster.yaml may read DAGSTER_HOME (the
    run's event log: orchestration/event_log_storage.py), so it is set to that home while
    the instance is made."""
    import dagster as dg

    saved = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    try:
        return dg.DagsterInstance.from_config(str(dagster_home))
    finally:
        if saved is None:
            del os.environ["DAGSTER_HOME"]
        else:
            os.environ["DAGSTER_HOME"] = saved


def _records(instance, event_type, limit: int):
    import dagster as dg

    with (
        warnings.catch_warnings()
    ):  # deprecated for 2.0; still the one call that lists every check key
        warnings.simplefilter("ignore", DeprecationWarning)
        return instance.get_event_records(dg.EventRecordsFilter(event_type=event_type), limit=limit)


class _Runs:
    """What the check classification needs to know of a run, read once per run."""

    def __init__(self, instance, current_run_id: str | None, interrupted_run_id: str | None = None):
        self.instance = instance
        self.current_run_id = current_run_id
        self.interrupted_run_id = (
            interrupted_run_id  # stopped for good: what it planned and never did reads "not run"
        )
        self._finished: dict[str, bool] = {}
        self._steps: dict[str, dict[str, set]] = {}

    def finished(self, run_id: str) -> bool:
        """Finished, or the run asking (the health asset runs after everything it reads)."""
        if run_id in (self.current_run_id, self.interrupted_run_id):
            return True
        if run_id not in self._finished:
            run = self.instance.get_run_by_id(run_id)
            self._finished[run_id] = bool(run and run.is_finished)
        return self._finished[run_id]

    def _step_events(self, run_id: str) -> dict[str, set]:
        import dagster as dg

        if run_id not in self._steps:
            kinds = {
                dg.DagsterEventType.STEP_FAILURE: "failed",
                dg.DagsterEventType.STEP_SUCCESS: "ended",
                dg.DagsterEventType.STEP_SKIPPED: "ended",
                dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED: "materializing",
            }
            steps: dict[str, set] = {name: set() for name in kinds.values()}
            for entry in self.instance.all_logs(run_id, of_type=set(kinds)):
                steps[kinds[entry.dagster_event.event_type]].add(entry.step_key)
            steps["ended"] |= steps["failed"]
            self._steps[run_id] = steps
        return self._steps[run_id]

    def pending(self, run_id: str, step_key: str | None) -> bool:
        """In the run asking, a step that has not ended yet (a check that does not feed
        the asking asset, e.g. a non-blocking check, may still be on its way)."""
        return (
            run_id == self.current_run_id
            and step_key is not None
            and step_key not in self._step_events(run_id)["ended"]
        )

    def failed_steps(self, run_id: str) -> set:
        """Steps that failed; none in an interrupted run (a step stopped by the signal did not fail
        on the data)."""
        return set() if run_id == self.interrupted_run_id else self._step_events(run_id)["failed"]

    def check_step_errored(self, run_id: str, step_key: str | None) -> bool:
        """The step failed, and it is a step of checks only (no asset planned in it)."""
        if step_key is None or run_id == self.interrupted_run_id:
            return False
        steps = self._step_events(run_id)
        return step_key in steps["failed"] and step_key not in steps["materializing"]


def defined_keys(asset_graph) -> frozenset[tuple[str, str]]:
    """(asset, check) of every check in a Dagster asset graph, and (asset, ``build``) of
    every asset: the results that can still speak about today's data."""
    checks = {(key.asset_key.to_user_string(), key.name) for key in asset_graph.asset_check_keys}
    builds = {(key.to_user_string(), BUILD_CHECK) for key in asset_graph.get_all_asset_keys()}
    return frozenset(checks | builds)


def defined_in_run(context) -> frozenset[tuple[str, str]]:
    """`defined_keys` of the definitions a running asset belongs to: its code location when
    Dagster set one (UI, daemon, sensors), else the run's own job (`dg.materialize`, which
    `pilotmonitor run` calls with every asset)."""
    from dagster_shared.check import CheckError

    try:
        graph = context.repository_def.asset_graph
    except CheckError:  # no repository behind an in-process materialize
        graph = context.job_def.asset_layer.asset_graph
    return defined_keys(graph)


def only_defined(
    results: list[CheckResult] | None, defined: frozenset[tuple[str, str]] | None
) -> list[CheckResult] | None:
    """`results` without those of checks and assets no longer defined (None stays None;
    no `defined` keeps everything)."""
    if results is None or defined is None:
        return results
    return [r for r in results if (r.asset, r.check) in defined]


def check_and_build_results(
    instance,
    limit: int = 20000,
    current_run_id: str | None = None,
    interrupted_run_id: str | None = None,
    defined: frozenset[tuple[str, str]] | None = None,
) -> list[CheckResult] | None:
    """`checks_from_instance` and `failed_builds` together (None when there is neither),
    reading each run's step events once. Checks planned in `interrupted_run_id` and never
    evaluated there read "not run (run interrupted)". With `defined`, results of checks
    and assets outside it are left out."""
    runs = _Runs(instance, current_run_id, interrupted_run_id)
    checks = only_defined(checks_from_instance(instance, limit, current_run_id, runs), defined)
    builds = only_defined(failed_builds(instance, limit, current_run_id, runs), defined)
    return (checks or []) + builds if checks is not None or builds else None


def checks_from_instance(
    instance, limit: int = 20000, current_run_id: str | None = None, runs: _Runs | None = None
) -> list[CheckResult] | None:
    """The latest outcome of every asset check recorded in `instance` (None when there is
    none). A check planned in the latest finished run (or in `current_run_id`, the run
    asking, once the check's step has ended) that recorded no evaluation there is
    ``errored`` when its own step failed and ``not run`` otherwise; a check planned only
    in a run still going keeps its previous result."""
    import dagster as dg

    evaluations = _records(instance, dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit)
    latest: dict[tuple[str, str], CheckResult] = {}
    evaluated_in: dict[tuple[str, str], set] = {}
    for record in evaluations:  # newest first
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        key = (evaluation.asset_key.to_user_string(), evaluation.check_name)
        evaluated_in.setdefault(key, set()).add(record.run_id)
        if key in latest:
            continue
        latest[key] = CheckResult(
            asset=key[0],
            check=key[1],
            passed=bool(evaluation.passed),
            severity=evaluation.severity.value if evaluation.severity else "ERROR",
            when=datetime.fromtimestamp(record.event_log_entry.timestamp),
            description=evaluation.description,
        )
    runs = runs or _Runs(instance, current_run_id)
    seen: set = set()
    for record in _records(
        instance, dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED, limit
    ):  # newest first
        data = record.event_log_entry.dagster_event.event_specific_data
        key = (data.asset_key.to_user_string(), data.check_name)
        if key in seen:
            continue
        seen.add(key)
        if record.run_id in evaluated_in.get(key, set()):
            continue
        current = latest.get(key)
        planned_at = record.event_log_entry.timestamp
        if current is not None and current.when and current.when.timestamp() >= planned_at:
            continue
        if not runs.finished(record.run_id) or runs.pending(
            record.run_id, record.event_log_entry.step_key
        ):
            continue
        when = datetime.fromtimestamp(planned_at)
        if runs.check_step_errored(record.run_id, record.event_log_entry.step_key):
            latest[key] = CheckResult(
                key[0],
                key[1],
                False,
                "ERROR",
                when,
                "errored: the check itself failed in the latest run (see the run log); no result "
                "vouches for the data",
                ERRORED,
            )
        else:
            previous = (
                (
                    f"; its previous result ({'passed' if current.passed else 'failed'}, "
                    f"{current.when:%Y-%m-%d %H:%M}) is out of date"
                )
                if current is not None and current.when
                else ""
            )
            severity = current.severity if current is not None else "ERROR"
            if record.run_id == runs.interrupted_run_id:
                why, reason = (
                    "not run: the latest run was interrupted before it got there (rerun)",
                    RUN_INTERRUPTED,
                )
            else:
                why, reason = (
                    "not run in the latest run: something upstream blocked it",
                    UPSTREAM_BLOCKED,
                )
            latest[key] = CheckResult(
                key[0], key[1], False, severity, when, why + previous, NOT_RUN, reason
            )
    return list(latest.values()) or None


BUILD_CHECK = "build"


def failed_builds(
    instance, limit: int = 20000, current_run_id: str | None = None, runs: _Runs | None = None
) -> list[CheckResult]:
    """An "errored" result (check ``build``) for every asset whose latest planned build,
    in a finished run, was in a step that failed (a dbt model with a SQL error, an asset
    that raised) and that has not been built since: its tests then show as not run, but
    the failure itself blocks. An asset left unbuilt because something upstream blocked
    (its step skipped) is not one."""
    import dagster as dg

    runs = runs or _Runs(instance, current_run_id)
    latest: dict[str, object] = {}
    for record in _records(
        instance, dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, limit
    ):  # newest first
        latest.setdefault(record.event_log_entry.dagster_event.asset_key.to_user_string(), record)
    results = []
    for key, record in sorted(latest.items()):
        step_key = record.event_log_entry.step_key
        if (
            not runs.finished(record.run_id)
            or runs.pending(record.run_id, step_key)
            or step_key not in runs.failed_steps(record.run_id)
        ):
            continue
        planned_at = record.event_log_entry.timestamp
        built = instance.get_latest_materialization_event(
            record.event_log_entry.dagster_event.asset_key
        )
        if built is not None and built.timestamp >= planned_at:
            continue
        results.append(
            CheckResult(
                key,
                BUILD_CHECK,
                False,
                "ERROR",
                datetime.fromtimestamp(planned_at),
                "errored: the asset failed to build in the latest run (see the run log); its "
                "checks did not run",
                ERRORED,
            )
        )
    return results
