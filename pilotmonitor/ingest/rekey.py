"""Re-pseudonymise the warehouse under the current key version (`pilotmonitor rekey`).

Every loaded delivery of a source that identifies people under another key version is read
again from the landing area and its raw and quarantine rows replaced (same reader, same
delivery id). A delivery that cannot be read again keeps its old version, so the
key-version check keeps failing until it is redelivered or restored and rekeyed.

Design notes: docs/design/ingest.md#pilotmonitoringestrekeypy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from pilotmonitor.ingest import loader, warehouse_raw
from pilotmonitor.ingest.deliveries import describe, sha256_of
from pilotmonitor.ingest.key_versions import IDENTIFYING_SOURCES
from pilotmonitor.ingest.sources import SOURCES_BY_NAME
from pilotmonitor.table_digest import table_exists


@dataclass
class RekeyReport:
    key_version: str
    rekeyed: list[str] = field(default_factory=list)  # paths
    missing: list[str] = field(default_factory=list)  # "path: why it cannot be rekeyed"
    failed: list[str] = field(default_factory=list)  # "path: reader error"

    @property
    def complete(self) -> bool:
        return not self.missing and not self.failed


@dataclass(frozen=True)
class _Item:
    path: str
    source: str
    current: bool


def stale_deliveries(conn: duckdb.DuckDBPyConnection, key_version: str) -> list[_Item]:
    """Loaded deliveries of identifying sources pseudonymised under another key version."""
    rows = conn.execute(
        """select path, source, coalesce(is_current, false) from raw.deliveries
           where status = 'loaded' and source in (select unnest(?::varchar[])) and key_version is distinct from ?
           order by source, path""",  # noqa: E501
        [IDENTIFYING_SOURCES, key_version],
    ).fetchall()
    return [_Item(*row) for row in rows]


def rekey(
    conn: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    key_version: str,
    reader_for: Callable[[str], loader.Reader],
) -> RekeyReport:
    """Re-read every delivery whose key version is not ``key_version`` with
    ``reader_for(source)`` (a reader pseudonymising under that version)."""
    warehouse_raw.ensure_schema(conn)
    report = RekeyReport(key_version)
    registered = dict(
        conn.execute("select path, sha256 from raw.deliveries where status = 'loaded'").fetchall()
    )
    todo = []
    for item in stale_deliveries(conn, key_version):
        file = landing_dir / item.path
        state = (
            "current, so the key-version check keeps failing"
            if item.current
            else "superseded, not used"
        )
        if file.is_symlink() or not file.is_file():
            report.missing.append(
                f"{item.path}: no longer in the landing area ({state}); redeliver it or put it "
                "back and run rekey again"
            )
        elif sha256_of(file) != registered[item.path]:
            report.missing.append(
                f"{item.path}: the file changed since it was loaded ({state}); the next run loads "
                "it as a new delivery under the current key"
            )
        else:
            todo.append(item)
    readers: dict[str, loader.Reader] = {}
    start = 0
    while start < len(todo):
        end, failed = _rekey_batch(
            conn,
            landing_dir,
            todo,
            start,
            key_version,
            lambda s: readers.setdefault(s, reader_for(s)),
        )
        if failed is None:
            report.rekeyed += [item.path for item in todo[start:end]]
            start = end
        else:  # the batch was rolled back: do it again without the file that failed
            report.failed.append(failed[1])
            del todo[failed[0]]
    _forget_leak_scans(conn, report.rekeyed)
    return report


def _rekey_batch(
    conn, landing_dir: Path, todo: list[_Item], start: int, key_version: str, reader_for
) -> tuple[int, tuple[int, str] | None]:
    """Rekey todo[start:] until a batch is full, in one transaction. Returns the end index,
    or the index and error of a file that could not be read (the batch rolled back)."""
    batch = loader._Batch(conn)
    updates = []
    now = datetime.now(UTC).replace(tzinfo=None)
    try:
        batch.begin()
        index = start
        while index < len(todo):
            item = todo[index]
            source = SOURCES_BY_NAME[item.source]
            file = landing_dir / item.path
            delivery = describe(landing_dir, file)
            for table in source.tables:
                conn.execute(
                    f"delete from raw.{table} where delivery_id = ?", [delivery.delivery_id]
                )
            conn.execute("delete from raw.quarantine where delivery_id = ?", [delivery.delivery_id])
            reader = reader_for(item.source)
            row = loader._load_one(
                batch, delivery, source.tables, lambda f=file, d=delivery: reader(f, d), key_version
            )
            if row["status"] != "loaded":
                batch.rollback()
                return start, (index, row["error"])
            updates.append(
                {
                    key: row[key]
                    for key in (
                        "path",
                        "rows_read",
                        "rows_loaded",
                        "rows_quarantined",
                        "messages_ignored",
                        "key_version",
                    )
                }
                | {"rekeyed_at": now}
            )
            index += 1
            if batch.rows >= loader.BATCH_ROWS or len(updates) >= loader.BATCH_DELIVERIES:
                break
        batch.write_rows()
        _update_register(conn, updates)
        batch.commit()
        return index, None
    except Exception:
        batch.rollback()
        raise


def _update_register(conn, updates: list[dict]) -> None:
    conn.register("_rekeyed", pd.DataFrame(updates))
    try:
        conn.execute(
            """update raw.deliveries as d
               set key_version = u.key_version, rekeyed_at = u.rekeyed_at, rows_read = u.rows_read, rows_loaded = u.rows_loaded,
                   rows_quarantined = u.rows_quarantined, messages_ignored = u.messages_ignored
               from _rekeyed as u where d.path = u.path"""  # noqa: E501
        )
    finally:
        conn.unregister("_rekeyed")


def _forget_leak_scans(conn, paths: list[str]) -> None:
    """The rekeyed deliveries' rows are new: the next run's leak scan reads them again."""
    if not paths or not table_exists(conn, "raw", "leak_scanned"):
        return
    ids = "(select delivery_id from raw.deliveries where path in (select unnest(?::varchar[])))"
    conn.execute(f"delete from raw.leak_scanned where delivery_id in {ids}", [paths])
    conn.execute(f"delete from raw.leak_findings where delivery_id in {ids}", [paths])


class RekeyError(RuntimeError):
    """No key, or no warehouse to rekey (the message says which)."""


def rekey_warehouse(settings, demo: bool = False) -> RekeyReport:
    """`pilotmonitor rekey`: the current key, the warehouse and the landing area of
    ``settings`` (pilotmonitor.settings.Settings)."""
    from pilotmonitor.ingest.pseudonymise import Pseudonymiser, PseudonymKeyError, load_key
    from pilotmonitor.ingest.sources import ReadContext, SourceReader, known_product_codes

    try:
        key = load_key(settings.data_dir, demo=demo)
    except PseudonymKeyError as exc:
        raise RekeyError(str(exc)) from None
    from pilotmonitor.warehouse_access import WarehouseConnectionError, warehouse

    place = warehouse(settings.warehouse_path)
    if not place.exists():
        raise RekeyError(f"no warehouse at {place.describe()}: nothing to rekey")
    try:
        conn = place.connect()
    except (
        duckdb.IOException,
        WarehouseConnectionError,
    ) as exc:  # a pipeline run holds the writer lock
        raise RekeyError(
            f"the warehouse is in use ({str(exc).splitlines()[0]}): run rekey when no pipeline "
            "run is active"
        ) from None
    with conn:
        schema_dir = (
            settings.ijw_xsd_dir if (settings.ijw_xsd_dir / "basisschema.xsd").is_file() else None
        )
        ctx = ReadContext(
            Pseudonymiser(key),
            schema_dir,
            known_product_codes(conn) if _has_product_list(conn) else None,
        )
        return rekey(
            conn,
            settings.landing_dir,
            key.version,
            lambda source: SourceReader(source, ctx),
        )


def _has_product_list(conn) -> bool:
    return table_exists(conn, "raw", "product_list")
