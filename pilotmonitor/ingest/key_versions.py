"""One key version across the linked tables.

A child links across school exports and iJw messages only while their rows carry
pseudonyms made with the same key. After a key change a new delivery is pseudonymised
with the new key while the rows already loaded keep the old one: linkage then breaks
silently (the same child becomes two). This module finds that state from the delivery
register (`raw.deliveries.key_version`, recorded per delivery at load and by rekey): the
current loaded deliveries whose rows carry pseudonyms, i.e. of the sources that identify
people and with rows loaded. The ingestion assets turn it into a blocking check.
"""

from __future__ import annotations

import duckdb

from pilotmonitor.ingest.sources import SOURCES

IDENTIFYING_SOURCES = [source.name for source in SOURCES if source.identifies_people]


def linked_key_versions(conn: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """Per key version ('unknown' when not recorded) the number of current deliveries
    carrying pseudonyms, per source."""
    rows = conn.execute(
        """select coalesce(key_version, 'unknown'), source, count(*) from raw.deliveries
           where status = 'loaded' and is_current and rows_loaded > 0 and source in (select unnest(?::varchar[]))
           group by all order by 1, 2""",  # noqa: E501
        [IDENTIFYING_SOURCES],
    ).fetchall()
    out: dict[str, dict[str, int]] = {}
    for version, source, count in rows:
        out.setdefault(version, {})[source] = int(count)
    return out


def key_version_problems(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Empty when the linked tables share one key version; otherwise what is mixed and
    what to do. Names versions and counts only, never a key."""
    versions = linked_key_versions(conn)
    if len(versions) <= 1:
        return []
    listed = "; ".join(
        f"{version}: " + ", ".join(f"{n} {source}" for source, n in sorted(per_source.items()))
        for version, per_source in sorted(versions.items())
    )
    return [
        f"the linked tables mix pseudonymisation key versions ({listed} current deliveries): a "
        "child no longer links across them. Run `pilotmonitor rekey` with the current key to "
        "re-pseudonymise the other versions from the landing area, then run the pipeline"
    ]
