"""Incremental facts whose declared columns changed since they were built.

An incremental model adds the months a delivery touched to the table it built earlier.
When a newer version of the project declares other columns (a new outcome, a new kind
of care), that table cannot take them and dbt stops the build (``on_schema_change:
fail``: half-filled new columns would be wrong for every month not rebuilt). Such a table
is dropped before the build, so dbt builds it in full: the same rows as a fresh
warehouse. The published tables are separate copies and stay until the publication step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb

from pilotmonitor.table_digest import column_names


def stale_incremental_tables(
    conn: duckdb.DuckDBPyConnection, manifest: Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    """(schema, table, what differs) of every incremental model whose existing table has
    other columns than the model declares (its contract)."""
    stale = []
    for node in manifest["nodes"].values():
        if (
            node.get("resource_type") != "model"
            or node.get("config", {}).get("materialized") != "incremental"
        ):
            continue
        declared = {name.lower() for name in node.get("columns", {})}
        if not declared:
            continue
        schema, table = node["schema"], node.get("alias") or node["name"]
        existing = {name.lower() for name in column_names(conn, schema, table)}
        if existing and existing != declared:
            added, removed = sorted(declared - existing), sorted(existing - declared)
            what = "; ".join(
                part
                for part in (
                    f"new columns {', '.join(added)}" if added else "",
                    f"columns no longer declared {', '.join(removed)}" if removed else "",
                )
                if part
            )
            stale.append((schema, table, what))
    return stale


def drop_stale_incremental_tables(
    conn: duckdb.DuckDBPyConnection, manifest: Mapping[str, Any]
) -> list[str]:
    """Drop each stale incremental table (see the module docstring); one line per table."""
    said = []
    for schema, table, what in stale_incremental_tables(conn, manifest):
        conn.execute(f'drop table "{schema}"."{table}"')
        said.append(
            f"{schema}.{table} is rebuilt in full: the project declares other columns than it was "
            f"built with ({what})"
        )
    return said
