"""Worker processes for CPU-bound Python (reading deliveries, validating, estimating,
generating): the machine has two cores and one Python process uses one.

Always spawned, never forked: a Dagster run holds threads (event log, compute logs) and
open DuckDB connections that a forked child would inherit mid-use.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor


def spawned_pool(
    workers: int, initializer: Callable[..., None] | None = None, initargs: tuple = ()
) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes; ``initializer(*initargs)`` runs once in
    each (to hand a worker what every task needs, such as a reader or the inputs)."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_start,
        initargs=(initializer, initargs),
    )


def _worker_start(initializer: Callable[..., None] | None, initargs: tuple) -> None:
    # A worker ends without the interpreter's teardown of what it imported (pandas, GX,
    # statsmodels, matplotlib: 0.3-0.8 s a process, which `shutdown(wait=True)` and the
    # parent's exit wait for). It keeps nothing to flush or close beyond its standard
    # streams: a task writes its files whole before it returns, results go back through
    # the pool.
    atexit.register(_exit_now)
    if initializer is not None:
        initializer(*initargs)


def _exit_now() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)
