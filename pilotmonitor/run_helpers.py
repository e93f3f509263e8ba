"""Helper processes for the steps of one `pilotmonitor run`, started with it and warm by the
time a step hands them work: GX validation of new deliveries (quality/validate_ahead.py)
and the analysis plans' tasks (evaluation/plan.py); and the later steps' imports made in
the run's own process while `dbt build` works in its own (``later_steps_imported``).

Design notes: docs/design/orchestration.md#pilotmonitorrun_helperspy.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from pilotmonitor.worker_processes import spawned_pool

logger = logging.getLogger(__name__)

# Below the run's priority: a helper works with the CPU the run leaves idle (ingestion
# reads on both cores) instead of slowing the steps it overlaps.
NICENESS = 10


def _warm() -> None:
    """What a helper will be asked to run, imported (GX and its context: 2-3 s; the
    estimators: about 1 s) before it is asked."""
    os.nice(NICENESS)
    from pilotmonitor.quality import runner, warehouse_engine

    runner._context()
    warehouse_engine._teach_gx_duckdb()
    import pilotmonitor.evaluation.plan  # noqa: F401


# What the steps after the warehouse build import in the run's process when they start
# (the estimates' orchestration with statsmodels and scipy, the reports' charts with
# matplotlib, ACRO, the PDF printer, the evaluation rounds): 1.6-1.7 s on this machine.
LATER_STEPS_IMPORT = (
    "pilotmonitor.evaluation.plan",
    "pilotmonitor.report.build",
    "pilotmonitor.report.charts",
    "playwright.sync_api",
    "pilotmonitor.rounds.create",
    "pilotmonitor.report.round_report",
)


def _import_later_steps() -> None:
    try:
        for name in LATER_STEPS_IMPORT:
            importlib.import_module(name)
        from pilotmonitor.disclosure.acro_bridge import import_acro

        import_acro()
    except Exception:  # the step that needs it imports it again and says what is wrong
        logger.debug("importing ahead failed", exc_info=True)


def _import_charts() -> None:
    import pilotmonitor.report.charts  # noqa: F401  (matplotlib)


class RunHelpers:
    """Single-process pools, all started with the run (at their lower priority they take
    what the run's own start-up leaves of the cores). Work goes to the helper with the
    fewest unfinished tasks; ``each`` runs a task in every helper (a helper is one process,
    so what a task leaves in its module state stays for the next)."""

    def __init__(self, count: int) -> None:
        self.pools: list[tuple[ProcessPoolExecutor, list[Future]]] = []
        for _ in range(count):
            pool = spawned_pool(1)
            self.pools.append((pool, [pool.submit(_warm)]))  # spawned for this task, now

    def submit(self, fn: Callable, *args) -> Future:
        pool, tasks = min(self.pools, key=lambda p: sum(not t.done() for t in p[1]))
        tasks[:] = [t for t in tasks if not t.done()]
        future = pool.submit(fn, *args)
        tasks.append(future)
        return future

    def each(self, fn: Callable, *args) -> list:
        """``fn(*args)`` in every helper; their results."""
        futures = [pool.submit(fn, *args) for pool, _ in self.pools]
        return [f.result() for f in futures]

    def start_each(self, fn: Callable, *args) -> None:
        """``fn(*args)`` queued in every living helper, not waited for (counted among its
        unfinished tasks); a dead helper's work fails where it is handed over."""
        for pool, tasks in self.pools:
            with contextlib.suppress(BrokenProcessPool):
                tasks.append(pool.submit(fn, *args))

    def shutdown(self) -> None:
        # Not waited for here (a second shutdown call would not wait either): each helper
        # ends at once, all at the same time, and the interpreter joins them at its exit.
        for pool, _ in self.pools:
            pool.shutdown(wait=False, cancel_futures=True)


_current: RunHelpers | None = None


def current() -> RunHelpers | None:
    """The helpers of the run in progress in this process, or None (the UI, a test)."""
    return _current


@contextlib.contextmanager
def later_steps_imported() -> Iterator[None]:
    """Within a run (else nothing): the later steps' modules imported in a thread of this
    process during the block, and the charts' in the helpers; the block is `dbt build`,
    which works in a process of its own while this one reads its events, with about 1.4
    of 2 cores busy for 15 s on the demo (the steps run one after the other in this
    process). Finished at the block's end, so that no later step imports beside it."""
    helpers = _current
    if helpers is None:
        yield
        return
    thread = threading.Thread(target=_import_later_steps, name="import-later-steps")
    thread.start()
    helpers.start_each(_import_charts)  # the reports' charts (report/build.py ChartWorker)
    try:
        yield
    finally:
        thread.join()


@contextlib.contextmanager
def started(count: int = 2) -> Iterator[RunHelpers]:
    """``count`` helpers for the block (one run), started at once: their imports overlap
    the run's start-up."""
    global _current
    helpers = _current = RunHelpers(max(1, count))
    try:
        yield helpers
    finally:
        _current = None
        helpers.shutdown()
