"""Validate a source's new deliveries in helper processes while the run goes on: each
ingestion asset hands over the rows it committed (``submit``), the source's check step
takes the outcomes (``validate_pending``), made for exactly the work it finds or else
validated in the warehouse as before; a source validated in several chunks there (more
rows than are copied ahead) shares its chunks with a helper (``_validate_shared``).

Design notes: docs/design/quality.md#pilotmonitorqualityvalidate_aheadpy.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

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


def _validate_file(table: str, chunk: list, suite_hash: str, path: str) -> store.Validation:
    """In a helper: one chunk validated on its rows in a Parquet file (removed after), read
    by an in-memory DuckDB."""
    try:
        with duckdb.connect() as conn:
            conn.execute("create schema raw")
            conn.execute(f"create view raw.{table} as select * from read_parquet('{path}')")
            return store.validate_chunk(conn, table, chunk, suite_hash).columnar()
    finally:
        Path(path).unlink(missing_ok=True)


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
    helpers = run_helpers.current()
    slots = store.chunk_slots(work)
    if helpers is not None and len(slots) > 1:
        return _validate_shared(conn, work, slots, helpers, log, warn)
    return store.validate_work(conn, work, log=log)


def _validate_shared(conn, work, slots, helpers, log, warn) -> store.Validation:
    """`work` validated chunk by chunk from the first here and from the last in one helper
    (one: a chunk's rows and GX's results of them take memory in each process validating
    one), whose next chunk waits written to a Parquet file meanwhile; a chunk still waiting
    when this process has validated the rest, or whose helper failed, is validated here."""
    submit = helpers.submitter()
    parts: dict[tuple[str, int], store.Validation] = {}
    handed: dict[int, Future] = {}
    with tempfile.TemporaryDirectory(prefix="pilotmonitor-chunks-") as tmp:
        front, back = 0, len(slots) - 1
        while front <= back:
            while back > front and sum(not f.done() for f in handed.values()) < 2:
                w, _, chunk = slots[back]
                path = str(Path(tmp) / f"{back}.parquet")
                _write_rows(conn, w.table, chunk, path)
                handed[back] = submit(_validate_file, w.table, chunk, w.suite_hash, path)
                back -= 1
            w, index, chunk = slots[front]
            parts[w.table, index] = store.validate_chunk(conn, w.table, chunk, w.suite_hash)
            front += 1
        shared = 0
        for slot, future in handed.items():
            w, index, chunk = slots[slot]
            if not future.cancel():  # started in the helper: its outcomes are on their way
                try:
                    parts[w.table, index] = future.result()
                    shared += 1
                    continue
                except Exception as exc:
                    warn(f"{w.table}: a helper process failed ({exc!r}); validating here")
            parts[w.table, index] = store.validate_chunk(conn, w.table, chunk, w.suite_hash)
    if log:
        log(f"{shared} of {len(slots)} chunks validated in a helper process")
    return store.assembled(work, parts, log)


def _write_rows(conn, table: str, chunk: list, path: str) -> None:
    """The chunk's rows of ``raw.<table>`` to a Parquet file (written by DuckDB as it reads
    them, never whole in memory)."""
    ids = ", ".join("'" + d.delivery_id.replace("'", "''") + "'" for d in chunk)
    conn.execute(
        f"copy (select * from raw.{table} where delivery_id in ({ids})) to '{path}' "
        "(format parquet)"
    )
