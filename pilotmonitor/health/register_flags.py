"""What the delivery register itself says a steward must act on, read straight from it
(so `pilotmonitor status` shows it even before the Dagster checks ran): deliveries
flagged for review by the redelivery rules (a warning) and linked tables that mix
pseudonymisation key versions (blocking: run `pilotmonitor rekey`)."""

from __future__ import annotations

import duckdb

from pilotmonitor.table_digest import column_names


def _columns(conn: duckdb.DuckDBPyConnection) -> set[str]:
    return column_names(conn, "raw", "deliveries")


def register_flags(conn: duckdb.DuckDBPyConnection) -> tuple[list[str], list[str]]:
    """(blocking, warnings) lines; empty for a register older than these columns."""
    from pilotmonitor.ingest.key_versions import key_version_problems
    from pilotmonitor.ingest.redelivery import review_items

    columns = _columns(conn)
    blocking = key_version_problems(conn) if "key_version" in columns else []
    warnings = []
    if "review" in columns:
        per_source: dict[str, list[str]] = {}
        for source, _, reason in review_items(conn):
            per_source.setdefault(source, []).append(reason)
        for source, reasons in per_source.items():
            warnings.append(
                f"{source}: {len(reasons)} deliver{'y' if len(reasons) == 1 else 'ies'} for the "
                f"steward to review ({reasons[0]}{'; ...' if len(reasons) > 1 else ''})"
            )
    return blocking, warnings
