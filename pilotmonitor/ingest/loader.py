"""Load deliveries of one source into the raw layer: idempotent, traceable, accountable.

For each file of the source in the landing area:
- already registered under the same path with the same content: nothing to do;
- same content as another registered file: registered as a duplicate, nothing loaded;
- otherwise read (pseudonymising at the edge), then in one transaction replace the
  rows of this delivery, add its quarantine rows and register it with its counts
  (rows read = rows loaded + rows quarantined, asserted by the reader contract);
  a reader may deliver its rows in parts, which are inserted one by one as they
  arrive (still inside that one transaction) so memory does not grow with the file;
- a file that cannot be read is registered as failed with the reason; the other
  files of the source still load.
Afterwards, per slot (source, sender, period) the latest delivery is current and the
earlier ones are marked superseded by it; both stay in the warehouse.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from pilotmonitor.ingest import warehouse_raw
from pilotmonitor.ingest.contracts import DeliveryError, ReadOutput, ReadResult, iter_parts, scrub
from pilotmonitor.ingest.deliveries import Delivery, UnrecognisedDelivery, describe, landing_files, parse_name, recognise, sha256_of

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


def files_of_source(landing_dir: Path, source: str) -> list[Path]:
    out = []
    for path in landing_files(landing_dir):
        try:
            found, _ = recognise(path.relative_to(landing_dir).as_posix())
        except UnrecognisedDelivery:
            continue
        if found == source:
            out.append(path)
    # An original before its copies ("x.csv" before "x (1).csv"), so a copy is the duplicate.
    return sorted(out, key=lambda p: (_COPY_SUFFIX.sub("", p.as_posix()), bool(_COPY_SUFFIX.search(p.as_posix())), p.as_posix()))


@dataclass
class _Counts:
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0


def _register_row(delivery: Delivery, status: str, error: str | None = None, result: ReadResult | _Counts | None = None, duplicate_of: str | None = None) -> dict:
    if isinstance(result, ReadResult):
        result = _Counts(result.rows_read, sum(len(t) for t in result.tables.values()), len(result.quarantine))
    return {
        "path": delivery.path,
        "delivery_id": delivery.delivery_id,
        "sha256": delivery.sha256,
        "source": delivery.source,
        "sender": delivery.sender,
        "period": delivery.period,
        "delivered_on": delivery.delivered_on,
        "size_bytes": delivery.size_bytes,
        "registered_at": datetime.now(timezone.utc).replace(tzinfo=None),
        "status": status,
        "error": error,
        "rows_read": result.rows_read if result else 0,
        "rows_loaded": result.rows_loaded if result else 0,
        "rows_quarantined": result.rows_quarantined if result else 0,
        "duplicate_of": duplicate_of,
        "superseded_by": None,
        "is_current": False,
    }


def _delete_delivery(conn: duckdb.DuckDBPyConnection, path: str, delivery_id: str, tables: list[str]) -> None:
    """Remove what an earlier version of this path loaded (a file replaced in place)."""
    conn.execute("delete from raw.deliveries where path = ?", [path])
    still_used = conn.execute("select count(*) from raw.deliveries where delivery_id = ? and status = 'loaded'", [delivery_id]).fetchone()[0]
    if not still_used:
        for table in tables:
            conn.execute(f"delete from raw.{table} where delivery_id = ?", [delivery_id])
        conn.execute("delete from raw.quarantine where delivery_id = ?", [delivery_id])


def load_source(conn: duckdb.DuckDBPyConnection, landing_dir: Path, source: str, tables: list[str], reader: Reader) -> LoadSummary:
    warehouse_raw.ensure_schema(conn)
    summary = LoadSummary(source)
    registered = {row[0]: (row[1], row[2]) for row in conn.execute("select path, sha256, delivery_id from raw.deliveries where source = ?", [source]).fetchall()}
    loaded_ids = {row[0]: row[1] for row in conn.execute("select delivery_id, path from raw.deliveries where status = 'loaded'").fetchall()}
    for path in files_of_source(landing_dir, source):
        delivery = describe(landing_dir, path)
        previous = registered.get(delivery.path)
        if previous and previous[0] == delivery.sha256:
            summary.unchanged += 1
            continue
        conn.execute("begin transaction")
        try:
            if previous:
                _delete_delivery(conn, delivery.path, previous[1], tables)
                loaded_ids = {k: v for k, v in loaded_ids.items() if v != delivery.path}
            if delivery.delivery_id in loaded_ids:
                row = _register_row(delivery, "duplicate", duplicate_of=loaded_ids[delivery.delivery_id])
            else:
                row = _load_one(conn, path, delivery, tables, reader)
                if row["status"] == "loaded":
                    loaded_ids[delivery.delivery_id] = delivery.path
            warehouse_raw.insert_delivery(conn, row)
            conn.execute("commit")
        except Exception:
            conn.execute("rollback")
            raise
        summary.new.append(row)
    mark_current(conn, source)
    return summary


def _load_one(conn: duckdb.DuckDBPyConnection, path: Path, delivery: Delivery, tables: list[str], reader: Reader) -> dict:
    counts = _Counts()
    inserted = False
    try:
        for part in iter_parts(reader(path, delivery)):
            _insert_part(conn, part, delivery, tables)
            inserted = True
            counts.rows_read += part.rows_read
            counts.rows_loaded += sum(len(t) for t in part.tables.values())
            counts.rows_quarantined += len(part.quarantine)
    except DeliveryError as exc:
        if inserted:  # a reader that delivers in parts failed part-way: undo what it loaded
            for table in tables:
                conn.execute(f"delete from raw.{table} where delivery_id = ?", [delivery.delivery_id])
            conn.execute("delete from raw.quarantine where delivery_id = ? and path = ?", [delivery.delivery_id, delivery.path])
        return _register_row(delivery, "failed", error=scrub(str(exc)))
    return _register_row(delivery, "loaded", result=counts)


def _insert_part(conn: duckdb.DuckDBPyConnection, part: ReadResult, delivery: Delivery, tables: list[str]) -> None:
    part.check_accounting()
    for table, frame in part.tables.items():
        if table not in tables:
            raise ValueError(f"reader for {delivery.source} produced table {table!r}, expected one of {tables}")
        if len(frame):
            warehouse_raw.insert_frame(conn, table, frame.assign(delivery_id=delivery.delivery_id), warehouse_raw.raw_columns(table))
    if len(part.quarantine):
        quarantine = part.quarantine.assign(delivery_id=delivery.delivery_id, path=delivery.path, source=delivery.source)
        warehouse_raw.insert_frame(conn, "quarantine", quarantine, warehouse_raw.quarantine_columns())


def mark_current(conn: duckdb.DuckDBPyConnection, source: str) -> None:
    """Per slot the latest loaded delivery is current; earlier ones are superseded by it."""
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
            window slot as (partition by source, sender, period order by delivered_on desc, path desc)
        ) as ranked
        where d.path = ranked.path
        """,
        [source],
    )


def register_unrecognised(conn: duckdb.DuckDBPyConnection, landing_dir: Path) -> list[str]:
    """Files whose names follow no convention are registered as failed, never ignored."""
    warehouse_raw.ensure_schema(conn)
    known = {row[0] for row in conn.execute("select path from raw.deliveries").fetchall()}
    problems = []
    for path in landing_files(landing_dir):
        relative = path.relative_to(landing_dir).as_posix()
        try:
            parse_name(relative)  # the name alone decides; recognised files are hashed by their source's load
        except UnrecognisedDelivery as exc:
            problems.append(str(exc))
            if relative in known:
                continue
            delivery = Delivery(relative, "unrecognised", "", "", None, sha256_of(path), path.stat().st_size)  # type: ignore[arg-type]
            warehouse_raw.insert_delivery(conn, _register_row(delivery, "failed", error=str(exc)))
    return problems
