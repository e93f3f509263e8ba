"""Validate a source's new deliveries in helper processes while the run goes on: each
ingestion asset hands over the rows it committed (``submit``), the source's check step
takes the outcomes (``validate_pending``), made for exactly the work it finds or else
validated in the warehouse as before.

Design notes: docs/design/quality.md#pilotmonitorqualityvalidate_aheadpy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import duckdb

from pilotmonitor import run_helpers
from pilotmonitor.quality import store

logger = logging.getLogger(__name__)

# Pending rows copied to the helpers per source at most: the copies wait in memory until a
# helper takes them (the demo's largest source holds 1 million rows, about 150 MB as Arrow).
MAX_AHEAD_ROWS = 2_000_000


@dataclass
class _Ahead:
    helpers: run_helpers.RunHelpers  # of the run it was handed to
    work: list[store.TableWork]
    outcomes: list[Future]  # one per table of the work (validated in parallel)


_ahead: dict[str, _Ahead] = {}


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
    _ahead.pop(source, None)
    helpers = run_helpers.current()
    if helpers is None or new_rows > MAX_AHEAD_ROWS:
        return
    try:
        work = store.pending_work(conn, source, tables)
        if not work or sum(w.rows for w in work) > MAX_AHEAD_ROWS:
            return
        _ahead[source] = _Ahead(
            helpers,
            work,
            [
                helpers.submit(
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
    if (
        ahead is not None
        and ahead.helpers is run_helpers.current()
        and len(ahead.work) == len(work)
    ):
        if all(a.same_as(w) for a, w in zip(ahead.work, work)):
            try:
                validation = store.Validation.combined([f.result() for f in ahead.outcomes])
            except Exception as exc:  # validated here instead; the reason goes to the log
                warn(f"{source}: a helper process failed ({exc!r}); validating here")
            else:
                for w in work:
                    if log:
                        log(store.describe(w) + " (in the run's helper processes)")
                return validation
    return store.validate_work(conn, work, log=log)
