"""Validate a source's new deliveries in helper processes while the run goes on: each
ingestion asset hands over the rows it committed (``submit``), the source's check step
takes the outcomes (``validate_pending``), made for exactly the work it finds or else
validated in the warehouse as before.

Design notes: docs/design/quality.md#pilotmonitorqualityvalidate_aheadpy.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

import duckdb

from pilotmonitor.quality import store
from pilotmonitor.worker_processes import spawned_pool

logger = logging.getLogger(__name__)

# Pending rows copied to the helper per source at most: the copies wait in memory until the
# helper takes them (the demo's largest source holds 1 million rows, about 150 MB as Arrow).
MAX_AHEAD_ROWS = 2_000_000


# Helper processes: a source's tables are validated in parallel (the check of the iJw
# messages, five tables, waits for them with the warehouse build behind it).
HELPERS = 2


@dataclass
class _Ahead:
    work: list[store.TableWork]
    outcomes: list[Future]  # one per table of the work


# A helper's priority below the run's (nice): it validates with the CPU the run leaves idle
# (ingestion reads on both cores) instead of slowing the ingestion it overlaps.
HELPER_NICENESS = 10


def _warm() -> None:
    """Import GX and make its context in a helper (the first validation's 2-3 s)."""
    import os

    os.nice(HELPER_NICENESS)
    from pilotmonitor.quality import runner, warehouse_engine

    runner._context()
    warehouse_engine._teach_gx_duckdb()


class _Helpers:
    """Single-process pools, each started with GX warm: the first with the run, the others
    with the first work handed over (when the run's start-up no longer needs the core).
    Work goes to the helper with the fewest unfinished tasks."""

    def __init__(self) -> None:
        self.pools: list[tuple[ProcessPoolExecutor, list[Future]]] = []
        self.start_one()

    def start_one(self) -> None:
        pool = spawned_pool(1)
        self.pools.append((pool, [pool.submit(_warm)]))  # spawned for this task, now

    def submit(self, fn: Callable, *args) -> Future:
        while len(self.pools) < HELPERS:
            self.start_one()
        pool, tasks = min(self.pools, key=lambda p: sum(not t.done() for t in p[1]))
        tasks[:] = [t for t in tasks if not t.done()]
        future = pool.submit(fn, *args)
        tasks.append(future)
        return future

    def shutdown(self) -> None:
        for pool, _ in self.pools:
            pool.shutdown(wait=True, cancel_futures=True)


_helpers: _Helpers | None = None
_ahead: dict[str, _Ahead] = {}


@contextlib.contextmanager
def helper() -> Iterator[None]:
    """Validation helper processes for the block (one run); the first starts at once, so
    its imports overlap the run's start-up."""
    global _helpers
    helpers = _helpers = _Helpers()
    try:
        yield
    finally:
        _helpers = None
        _ahead.clear()
        helpers.shutdown()


def _pending_rows(conn, table: str, chunk: list[store.DeliveryInfo]):
    return conn.execute(
        f"select t.* from raw.{table} t where t.delivery_id in (select unnest(?::varchar[]))",
        [[d.delivery_id for d in chunk]],
    ).to_arrow_table()


def submit(
    conn: duckdb.DuckDBPyConnection,
    source: str,
    tables: list[str],
    new_rows: int = 0,
    warn: Callable[[str], None] = logger.warning,
) -> None:
    """Hand `source`'s pending deliveries to the helpers, if there are and the deliveries
    are not too large to copy (`new_rows` loaded now says so before any query); a failure
    here only means the check step validates them itself."""
    if _helpers is None or new_rows > MAX_AHEAD_ROWS:
        return
    _ahead.pop(source, None)
    try:
        work = store.pending_work(conn, source, tables)
        if not work or sum(w.rows for w in work) > MAX_AHEAD_ROWS:
            return
        _ahead[source] = _Ahead(
            work,
            [
                _helpers.submit(
                    _validate_copy, w, [_pending_rows(conn, w.table, c) for c in w.chunks()]
                )
                for w in work
            ],
        )
    except Exception as exc:  # an optimisation: never let it fail an ingestion
        warn(f"{source}: not validated ahead ({type(exc).__name__}: {exc})")


def _validate_copy(work: store.TableWork, chunks: list) -> store.Validation:
    """In a helper: one table's work validated on its rows (an Arrow table per chunk) in an
    in-memory DuckDB."""
    with duckdb.connect() as conn:
        conn.execute("create schema raw")

        def load_chunk(table: str, index: int) -> None:
            conn.register("pending_rows", chunks[index])
            conn.execute(f"create or replace table raw.{table} as select * from pending_rows")
            conn.unregister("pending_rows")

        return store.validate_work(conn, [work], load_chunk=load_chunk).columnar()


def validate_pending(
    conn: duckdb.DuckDBPyConnection,
    source: str,
    tables: list[str],
    log: Callable[[str], None] | None = None,
    warn: Callable[[str], None] = logger.warning,
) -> store.Validation:
    """`store.validate_pending`, with the helper's outcomes when they were made for the
    same work."""
    work = store.pending_work(conn, source, tables)
    ahead = _ahead.pop(source, None)
    if ahead is not None and len(ahead.work) == len(work):
        if all(a.same_as(w) for a, w in zip(ahead.work, work)):
            try:
                validation = store.Validation.combined([f.result() for f in ahead.outcomes])
            except Exception as exc:  # validated here instead; the reason goes to the log
                warn(f"{source}: a validation helper failed ({exc!r}); validating here")
            else:
                for w in work:
                    if log:
                        log(store.describe(w) + " (in the run's validation helpers)")
                return validation
    return store.validate_work(conn, work, log=log)
