"""Worker processes for CPU-bound Python (reading deliveries, validating, estimating,
generating): the machine has two cores and one Python process uses one.

Always spawned, never forked: a Dagster run holds threads (event log, compute logs) and
open DuckDB connections that a forked child would inherit mid-use.
"""

from __future__ import annotations

import multiprocessing
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
        initializer=initializer,
        initargs=initargs,
    )
