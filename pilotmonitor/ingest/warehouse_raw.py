"""The raw layer of the warehouse: one table per source table, the delivery register and
the quarantine, as the catalogue (raw_tables.yml) declares them, with explicit types so
an empty load still has its tables.

Every raw row carries its delivery_id (content hash prefix) and row_locator, so each
value can be traced back to the file and row it came from.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from pilotmonitor.ingest import column_policy
from pilotmonitor.ingest.contracts import RAW_TABLES
from pilotmonitor.ingest.raw_catalogue import catalogue
from pilotmonitor.warehouse_access import checkpoint_after_ddl

SCHEMA = "raw"
_DELIVERIES = catalogue().tables["deliveries"]
DELIVERY_COLUMNS = {
    name: kind + (" PRIMARY KEY" if name == _DELIVERIES.primary_key else "")
    for name, kind in _DELIVERIES.types().items()
}


def _columns_sql(columns: dict[str, str]) -> str:
    return ", ".join(f'"{name}" {kind}' for name, kind in columns.items())


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"create schema if not exists {SCHEMA}")
    conn.execute(
        f"create table if not exists {SCHEMA}.deliveries ({_columns_sql(DELIVERY_COLUMNS)})"
    )
    conn.execute(
        f"create table if not exists {SCHEMA}.quarantine ({_columns_sql(quarantine_columns())})"
    )
    for table in RAW_TABLES:
        conn.execute(
            f"create table if not exists {SCHEMA}.{table} ({_columns_sql(raw_columns(table))})"
        )
    added = _add_missing_columns(conn, {"deliveries": DELIVERY_COLUMNS, **RAW_TABLES})
    if ("deliveries", "key_version") in added:
        _backfill_key_versions(conn)
    checkpoint_after_ddl(conn)


def _add_missing_columns(
    conn: duckdb.DuckDBPyConnection, tables: dict[str, dict[str, str]]
) -> set[tuple[str, str]]:
    """A table made before a column existed gets it (null for the rows it holds); the
    columns present are read once, so an up-to-date warehouse costs one query. Returns
    the (table, column) pairs added."""
    present = set(
        conn.execute(
            "select table_name, column_name from information_schema.columns where table_schema = ?",
            [SCHEMA],
        ).fetchall()
    )
    added = set()
    for table, columns in tables.items():
        for name, kind in columns.items():
            if (table, name) not in present:
                conn.execute(
                    f'alter table {SCHEMA}.{table} add column "{name}" '
                    f"{kind.replace(' PRIMARY KEY', '')}"
                )
                added.add((table, name))
    return added


# Such a register also predates the keyed reference pseudonyms (column_policy.REFERENCE):
# deliveries whose tables hold free-form references kept them as delivered, so their
# version is marked and `pilotmonitor rekey` reads them again (as it does survey
# deliveries, which carried no key at all then and so get no version).
PLAIN_REFERENCES = " (references as delivered)"


def _backfill_key_versions(conn: duckdb.DuckDBPyConnection) -> None:
    """A register made before deliveries recorded their key version takes it from the
    rows it loaded (each delivery is read under one key)."""
    for table, columns in RAW_TABLES.items():
        if "key_version" in columns:
            plain = bool(column_policy.columns_of(column_policy.REFERENCE, columns))
            conn.execute(
                f"""update {SCHEMA}.deliveries as d set key_version = r.key_version || ?
                    from (select delivery_id, min(key_version) as key_version from {SCHEMA}.{table} group by delivery_id) as r
                    where d.delivery_id = r.delivery_id and d.status = 'loaded' and d.key_version is null""",  # noqa: E501
                [PLAIN_REFERENCES if plain else ""],
            )


def insert_frame(
    conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, columns: dict[str, str]
) -> None:
    """Insert with explicit casts, so readers may hand over dates as date or datetime64."""
    if frame.empty:
        return
    names = list(columns)
    conn.register("_batch", frame[names])
    try:
        select = ", ".join(f'cast("{n}" as {columns[n].split()[0]})' for n in names)
        quoted = ", ".join(f'"{n}"' for n in names)
        conn.execute(f"insert into {SCHEMA}.{table} ({quoted}) select {select} from _batch")
    finally:
        conn.unregister("_batch")


def insert_delivery(conn: duckdb.DuckDBPyConnection, row: dict) -> None:
    insert_deliveries(conn, [row])


def insert_deliveries(conn: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    """Register rows; a column a row leaves out is null."""
    insert_frame(
        conn,
        "deliveries",
        pd.DataFrame(rows).reindex(columns=list(DELIVERY_COLUMNS)),
        DELIVERY_COLUMNS,
    )


def raw_columns(table: str) -> dict[str, str]:
    """A delivered table's columns with their types, row origin first (the catalogue's)."""
    return catalogue().tables[table].types()


def quarantine_columns() -> dict[str, str]:
    return catalogue().tables["quarantine"].types()
