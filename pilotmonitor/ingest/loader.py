"""Load deliveries of one source into the raw layer: idempotent, traceable, accountable.

Each new file is read (pseudonymising at the edge) and written in batched transactions
with its quarantine and register row (rows read = loaded + quarantined); duplicates load
nothing, an unreadable file is registered as failed. Per slot (source, sender, period) the
latest delivery is current, earlier ones are superseded.

Design notes: docs/design/ingest.md#pilotmonitoringestloaderpy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from pilotmonitor.ingest import identifier_forms, redelivery, warehouse_raw
from pilotmonitor.ingest.contracts import (
    DeliveryError,
    ReadOutput,
    ReadResult,
    Rows,
    add_counts,
    iter_parts,
    rows_frame,
    scrub,
)
from pilotmonitor.ingest.deliveries import (
    Delivery,
    KnownHashes,
    UnrecognisedDelivery,
    describe,
    landing_entries,
    parse_name,
    path_order,
    recognise,
    sha256_of,
    source_files,
)
from pilotmonitor.ingest.read_ahead import read_ahead, read_in_order
from pilotmonitor.table_digest import column_names

Reader = Callable[[Path, Delivery], ReadOutput]  # one ReadResult or an iterator of parts
_COPY_SUFFIX = re.compile(r" \(\d+\)(?=\.[^./]+$)")


@dataclass
class LoadSummary:
    source: str
    new: list[dict] = field(default_factory=list)  # register rows written in this run
    unchanged: int = 0

    def count(self, status: str) -> int:
        return sum(1 for row in self.new if row["status"] == status)

    def total(self, column: str) -> int:
        return int(sum(row[column] or 0 for row in self.new))


def known_hashes(conn: duckdb.DuckDBPyConnection, source: str | None = None) -> KnownHashes:
    """Path -> (signature, sha256) from the landing inventory, of one source or all (empty
    before the first inventory, or for one made before signatures were kept)."""
    if "signature" not in column_names(conn, "raw", "landing_files"):
        return {}
    rows = conn.execute(
        "select path, signature, sha256 from raw.landing_files where ? is null or source = ?",
        [source, source],
    ).fetchall()
    return {path: (signature, sha256) for path, signature, sha256 in rows}


def files_of_source(landing_dir: Path, source: str) -> list[Path]:
    out = []
    for path in source_files(landing_dir, source):
        try:
            found, _ = recognise(path.relative_to(landing_dir).as_posix())
        except UnrecognisedDelivery:
            continue
        if found == source:
            out.append(path)
    # An original before its copies ("x.csv" before "x (1).csv"), so a copy is the duplicate.
    return sorted(
        out,
        key=lambda p: (
            _COPY_SUFFIX.sub("", p.as_posix()),
            bool(_COPY_SUFFIX.search(p.as_posix())),
            p.as_posix(),
        ),
    )


@dataclass
class _Counts:
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    ignored: dict[str, int] = field(default_factory=dict)


def _register_row(
    delivery: Delivery,
    status: str,
    error: str | None = None,
    result: ReadResult | _Counts | None = None,
    duplicate_of: str | None = None,
    key_version: str | None = None,
    review: str | None = None,
) -> dict:
    if isinstance(result, ReadResult):
        result = _Counts(
            result.rows_read,
            sum(len(t) for t in result.tables.values()),
            len(result.quarantine),
            result.ignored,
        )
    return {
        "path": delivery.path,
        "delivery_id": delivery.delivery_id,
        "sha256": delivery.sha256,
        "source": delivery.source,
        "sender": delivery.sender,
        "period": delivery.period,
        "delivered_on": delivery.delivered_on,
        "size_bytes": delivery.size_bytes,
        "registered_at": datetime.now(UTC).replace(tzinfo=None),
        "status": status,
        "error": identifier_forms.withhold(error)
        if error
        else error,  # it may quote a file or member name
        "rows_read": result.rows_read if result else 0,
        "rows_loaded": result.rows_loaded if result else 0,
        "rows_quarantined": result.rows_quarantined if result else 0,
        "duplicate_of": duplicate_of,
        "superseded_by": None,
        "is_current": False,
        "messages_ignored": json.dumps(dict(sorted(result.ignored.items())))
        if result and result.ignored
        else None,
        "key_version": key_version if status == "loaded" else None,
        "review": review,
    }


def _delete_delivery(
    conn: duckdb.DuckDBPyConnection, path: str, delivery_id: str, tables: list[str]
) -> None:
    """Remove what an earlier version of this path loaded (a file replaced in place)."""
    conn.execute("delete from raw.deliveries where path = ?", [path])
    still_used = conn.execute(
        "select count(*) from raw.deliveries where delivery_id = ? and status = 'loaded'",
        [delivery_id],
    ).fetchone()[0]
    if not still_used:
        for table in tables:
            conn.execute(f"delete from raw.{table} where delivery_id = ?", [delivery_id])
        conn.execute("delete from raw.quarantine where delivery_id = ?", [delivery_id])


BATCH_ROWS = 250_000  # rows buffered before they are written (bounds memory)
BATCH_DELIVERIES = 2_500  # deliveries per transaction when they hold few rows each


class _Batch:
    """Rows, quarantine rows and register rows of several deliveries, written in one
    insert per table inside the batch's transaction."""

    def __init__(self, conn: duckdb.DuckDBPyConnection):
        self.conn = conn
        self.frames: dict[str, list] = {}
        self.register: list[dict] = []
        self.rows = 0
        self.open = False

    def begin(self) -> None:
        if not self.open:
            self.conn.execute("begin transaction")
            self.open = True

    def add(self, table: str, delivery_id: str, frame, constants: dict | None = None) -> None:
        """Buffer a reader's frame; the delivery's id (and ``constants``) become columns
        when the batch is written, once for all frames (pandas costs per call, not per row)."""
        self.frames.setdefault(table, []).append((delivery_id, constants or {}, frame))
        self.rows += len(frame)

    def drop_delivery(self, delivery_id: str) -> None:
        """Forget buffered rows of a delivery that failed part-way."""
        for table, frames in self.frames.items():
            kept = [f for f in frames if f[0] != delivery_id]
            self.rows -= sum(len(f[2]) for f in frames) - sum(len(f[2]) for f in kept)
            self.frames[table] = kept

    def write_rows(self) -> None:
        for table, frames in self.frames.items():
            columns = (
                warehouse_raw.quarantine_columns()
                if table == "quarantine"
                else warehouse_raw.raw_columns(table)
            )
            for frame in _concat_alike(frames):
                warehouse_raw.insert_frame(self.conn, table, frame, columns)
        self.frames, self.rows = {}, 0

    def commit(self) -> None:
        if not self.open:
            return
        self.write_rows()
        if self.register:
            warehouse_raw.insert_deliveries(self.conn, self.register)
        self.conn.execute("commit")
        self.register, self.open = [], False

    def rollback(self) -> None:
        if self.open:
            self.conn.execute("rollback")
        self.frames, self.register, self.rows, self.open = {}, [], 0, False


def _concat_alike(frames: list) -> list:
    """One frame per group of buffered frames with the same columns and dtypes
    (concatenating different dtypes would turn dates into objects), or of buffered `Rows`
    of the same table, with the delivery id and constant columns added."""
    import numpy as np
    import pandas as pd

    groups: dict[tuple, list] = {}
    for item in frames:
        f = item[2]
        shape = (
            ("rows", f.table) if isinstance(f, Rows) else tuple(zip(f.columns, map(str, f.dtypes)))
        )
        groups.setdefault((shape, tuple(item[1])), []).append(item)
    out = []
    for group in groups.values():
        if isinstance(
            group[0][2], Rows
        ):  # row tuples of many deliveries: one frame for all of them
            frame = rows_frame(group[0][2].table, [row for g in group for row in g[2].rows])
        else:
            frame = (
                group[0][2]
                if len(group) == 1
                else pd.concat([g[2] for g in group], ignore_index=True)
            )
        lengths = [len(g[2]) for g in group]
        frame = frame.assign(
            delivery_id=np.repeat([g[0] for g in group], lengths),
            **{c: np.repeat([g[1][c] for g in group], lengths) for c in group[0][1]},
        )
        out.append(frame)
    return out


# Reading in worker processes pays off from this many files and bytes to read: a worker
# starts in about a second of CPU (it imports the readers). Measured on the demo scenario's
# sources: 1 to 5 MB read as fast in-process (and 1.2 CPU-seconds cheaper), 13 MB of
# absence exports 0.1 to 0.4 s faster with two workers.
MIN_FILES_FOR_WORKERS = 64
MIN_BYTES_FOR_WORKERS = 8_000_000


def load_source(
    conn: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    source: str,
    tables: list[str],
    reader: Reader,
    workers: int = 1,
    key_version: str | None = None,
) -> LoadSummary:
    """Load the source's new and changed deliveries; ``workers`` > 1 reads them in that
    many processes (``reader`` must then be picklable) while this process writes.
    ``key_version`` is the version of the key the reader pseudonymises with (None for
    sources that identify nobody), recorded per delivery."""
    warehouse_raw.ensure_schema(conn)
    summary = LoadSummary(source)
    files = files_of_source(landing_dir, source)
    known = known_hashes(conn, source)
    present = {path.relative_to(landing_dir).as_posix() for path in files}
    redelivery.forget_removed_duplicates(conn, source, present)
    registered = {
        row[0]: (row[1], row[2])
        for row in conn.execute(
            "select path, sha256, delivery_id from raw.deliveries where source = ?", [source]
        ).fetchall()
    }
    loaded_ids = {
        row[0]: row[1]
        for row in conn.execute(
            "select delivery_id, path from raw.deliveries where status = 'loaded'"
        ).fetchall()
    }
    held = redelivery.loaded_content(conn, source)
    todo = []
    for path in files:
        delivery = describe(landing_dir, path, known)
        previous = registered.get(delivery.path)
        if previous and previous[0] == delivery.sha256:
            summary.unchanged += 1
        else:
            todo.append((path, delivery, previous))
    # Read ahead what will be read: not a copy of a loaded or an earlier file. A copy of a
    # file that then fails is read in-process when its turn comes.
    seen = set(loaded_ids)
    ahead = set()
    for index, (_, delivery, _) in enumerate(todo):
        if (
            delivery.delivery_id not in seen
            and redelivery.other_period_original(delivery, held) is None
        ):
            ahead.add(index)
            seen.add(delivery.delivery_id)
    handles = None
    to_read = [(todo[i][0], todo[i][1]) for i in sorted(ahead)]
    if (
        workers > 1
        and len(to_read) >= MIN_FILES_FOR_WORKERS
        and sum(d.size_bytes for _, d in to_read) >= MIN_BYTES_FOR_WORKERS
    ):
        handles = read_ahead(reader, to_read, workers)
    elif getattr(reader, "read_many", None) is not None:
        handles = read_in_order(reader, to_read)
    batch = _Batch(conn)
    try:
        for index, (path, delivery, previous) in enumerate(todo):
            read = (
                next(handles)
                if handles is not None and index in ahead
                else (lambda p=path, d=delivery: reader(p, d))
            )
            batch.begin()
            if previous:
                _delete_delivery(conn, delivery.path, previous[1], tables)
                loaded_ids = {k: v for k, v in loaded_ids.items() if v != delivery.path}
            original = redelivery.other_period_original(delivery, held)
            if delivery.delivery_id in loaded_ids:
                row = _register_row(
                    delivery, "duplicate", duplicate_of=loaded_ids[delivery.delivery_id]
                )
            elif original is not None:
                row = _register_row(
                    delivery,
                    "duplicate",
                    duplicate_of=original.path,
                    review=redelivery.other_period_reason(delivery, original),
                )
            else:
                row = _load_one(batch, delivery, tables, read, key_version)
                if row["status"] == "loaded":
                    loaded_ids[delivery.delivery_id] = delivery.path
                    held.setdefault(
                        redelivery.content_key(delivery),
                        redelivery.Held(delivery.path, delivery.period, row["rows_read"]),
                    )
            batch.register.append(row)
            summary.new.append(row)
            if batch.rows >= BATCH_ROWS or len(batch.register) >= BATCH_DELIVERIES:
                batch.commit()
        batch.commit()
    except Exception:
        batch.rollback()
        raise
    finally:
        if handles is not None:
            handles.close()
    mark_current(conn, source, present)
    return summary


def _load_one(
    batch: _Batch,
    delivery: Delivery,
    tables: list[str],
    read: Callable[[], ReadOutput],
    key_version: str | None = None,
) -> dict:
    counts = _Counts()
    written = False  # part of this delivery already written to the tables (a large file)
    try:
        for part in iter_parts(read()):
            _buffer_part(batch, part, delivery, tables)
            counts.rows_read += part.rows_read
            counts.rows_loaded += sum(len(t) for t in part.tables.values())
            counts.rows_quarantined += len(part.quarantine)
            add_counts(counts.ignored, part.ignored)
            if batch.rows >= BATCH_ROWS:
                batch.write_rows()
                written = True
    except DeliveryError as exc:
        batch.drop_delivery(delivery.delivery_id)
        if written:  # a reader that delivers in parts failed part-way: undo what it wrote
            for table in tables:
                batch.conn.execute(
                    f"delete from raw.{table} where delivery_id = ?", [delivery.delivery_id]
                )
            batch.conn.execute(
                "delete from raw.quarantine where delivery_id = ? and path = ?",
                [delivery.delivery_id, delivery.path],
            )
        return _register_row(delivery, "failed", error=scrub(str(exc)))
    return _register_row(delivery, "loaded", result=counts, key_version=key_version)


def _buffer_part(batch: _Batch, part: ReadResult, delivery: Delivery, tables: list[str]) -> None:
    part.check_accounting()
    for table, frame in part.tables.items():
        if table not in tables:
            raise ValueError(
                f"reader for {delivery.source} produced table {table!r}, expected one of {tables}"
            )
        if len(frame):
            batch.add(table, delivery.delivery_id, frame)
    if len(part.quarantine):
        batch.add(
            "quarantine",
            delivery.delivery_id,
            part.quarantine,
            {"path": delivery.path, "source": delivery.source},
        )


def mark_current(
    conn: duckdb.DuckDBPyConnection, source: str, present: set[str] | None = None
) -> None:
    """Per slot the latest loaded delivery is current; earlier ones are superseded by it.
    Between files of the same delivery date one still in the landing area (``present``;
    None: all) wins, so a steward resolves a same-date conflict by deleting the wrong
    file; such conflicts are flagged for review."""
    if present is None:
        present = {
            row[0]
            for row in conn.execute(
                "select path from raw.deliveries where source = ?", [source]
            ).fetchall()
        }
    conn.register("_present", pd.DataFrame({"path": sorted(present)}, dtype=object))
    try:
        _rank_slots(conn, source)
        redelivery.flag_same_date_conflicts(conn, source)
    finally:
        conn.unregister("_present")


def _rank_slots(conn: duckdb.DuckDBPyConnection, source: str) -> None:
    conn.execute(
        """
        update raw.deliveries as d
        set is_current = ranked.rank_in_slot = 1,
            superseded_by = case when ranked.rank_in_slot = 1 then null else ranked.current_path end
        from (
            select path,
                   row_number() over slot as rank_in_slot,
                   first_value(path) over slot as current_path
            from raw.deliveries
            where source = ? and status = 'loaded'
            window slot as (partition by source, sender, period order by delivered_on desc, path in (select path from _present) desc, path desc)
        ) as ranked
        where d.path = ranked.path
        """,  # noqa: E501
        [source],
    )


def register_unusable(
    conn: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    entries: list[tuple[Path, str | None]] | None = None,
) -> list[str]:
    """Files whose names follow no convention, and entries that are never read (symbolic
    links, special files), are registered as failed with the reason, never ignored. Such a
    name was chosen by nobody we agreed a convention with, so it is registered with
    identifier-like numbers withheld (a recognised name has no room for one). ``entries``:
    the landing area's ``landing_entries`` if the caller walked it already."""
    warehouse_raw.ensure_schema(conn)
    known = {row[0] for row in conn.execute("select path from raw.deliveries").fetchall()}
    refused = {
        row[0]
        for row in conn.execute(
            "select path from raw.deliveries where source = 'refused'"
        ).fetchall()
    }
    problems = []
    walked = landing_entries(landing_dir) if entries is None else entries
    for path, reason in sorted(walked, key=lambda entry: path_order(entry[0])):
        delivered_name = path.relative_to(landing_dir).as_posix()
        relative = identifier_forms.withhold(delivered_name)
        if reason is not None:
            problems.append(f"{relative}: {reason}")
            if relative not in known:  # neither hashed nor sized: it is never opened
                delivery = Delivery(relative, "refused", "", "", None, None, None)  # type: ignore[arg-type]
                warehouse_raw.insert_delivery(
                    conn, _register_row(delivery, "failed", error=f"{relative}: {reason}")
                )
            continue
        if (
            relative in refused
        ):  # a refused entry since replaced by the file itself: its source registers it
            conn.execute(
                "delete from raw.deliveries where path = ? and source = 'refused'", [relative]
            )
        try:
            # the name alone decides; recognised files are hashed by their source's load
            parse_name(delivered_name)
        except UnrecognisedDelivery as exc:
            problems.append(identifier_forms.withhold(str(exc)))
            if relative in known:
                continue
            delivery = Delivery(
                relative, "unrecognised", "", "", None, sha256_of(path), path.stat().st_size
            )  # type: ignore[arg-type]
            warehouse_raw.insert_delivery(conn, _register_row(delivery, "failed", error=str(exc)))
    return problems
