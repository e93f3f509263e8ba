"""Redelivery rules that cannot double rows: which new file is a copy of content the
warehouse already holds under another period, and which slot has two different files
with the same delivery date. Both go to the steward (`raw.deliveries.review`), neither
is decided silently.

Design notes: docs/design/ingest.md#pilotmonitoringestredeliverypy.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from pilotmonitor.ingest.deliveries import Delivery


@dataclass(frozen=True)
class Held:
    """A loaded delivery's content, as far as the other-period rule needs it."""

    path: str
    period: str
    rows_read: int


def content_key(delivery: Delivery) -> tuple[str, str, str]:
    return (delivery.source, delivery.sender, delivery.sha256)


def loaded_content(
    conn: duckdb.DuckDBPyConnection, source: str
) -> dict[tuple[str, str, str], Held]:
    """Per (source, sender, sha256) the first loaded delivery with that content."""
    rows = conn.execute(
        "select sender, sha256, path, period, rows_read from raw.deliveries where source = ? and "
        "status = 'loaded' order by registered_at, path",
        [source],
    ).fetchall()
    held: dict[tuple[str, str, str], Held] = {}
    for sender, sha256, path, period, rows_read in rows:
        held.setdefault((source, sender, sha256), Held(path, period or "", int(rows_read or 0)))
    return held


def other_period_original(
    delivery: Delivery, held: dict[tuple[str, str, str], Held]
) -> Held | None:
    """The loaded delivery whose rows this file repeats under another period, if any."""
    original = held.get(content_key(delivery))
    if original is None or original.period == delivery.period or original.rows_read == 0:
        return None
    return original


def other_period_reason(delivery: Delivery, original: Held) -> str:
    return (
        f"{delivery.path} (period {delivery.period or 'none'}) has the same content as "
        f"{original.path} (period {original.period or 'none'}), which is loaded: this file is "
        "not loaded. Delete the wrongly named file, or deliver the right content for this period"
    )


def forget_removed_duplicates(
    conn: duckdb.DuckDBPyConnection, source: str, present: set[str]
) -> int:
    """Register rows of duplicates whose file is gone: they loaded nothing."""
    paths = [
        row[0]
        for row in conn.execute(
            "select path from raw.deliveries where source = ? and status = 'duplicate'", [source]
        ).fetchall()
        if row[0] not in present
    ]
    if paths:
        conn.execute(
            "delete from raw.deliveries where path in (select unnest(?::varchar[]))", [paths]
        )
    return len(paths)


def flag_same_date_conflicts(conn: duckdb.DuckDBPyConnection, source: str) -> None:
    """Flag the loaded files of a slot that share its latest delivery date but not their
    content (files still in the landing area only: `_present` holds their paths); clear
    the flags of slots resolved since."""
    conn.execute(
        "update raw.deliveries set review = null where source = ? and status = 'loaded' and "
        "review is not null",
        [source],
    )
    tied = conn.execute(
        """
        with latest as (
            select d.path, d.sender, d.period, d.sha256, d.is_current
            from (select *, max(delivered_on) over (partition by sender, period) as last_date
                  from raw.deliveries where source = ? and status = 'loaded') as d
            where d.delivered_on = d.last_date and d.path in (select path from _present)
        ), conflicted as (
            select sender, period, list(path order by path) as paths, max(case when is_current then path end) as used
            from latest group by sender, period having count(distinct sha256) > 1
        )
        select latest.path, conflicted.paths, conflicted.used from latest join conflicted using (sender, period)
        """,  # noqa: E501
        [source],
    ).fetchall()
    if not tied:
        return
    flags = pd.DataFrame(
        [
            {
                "path": path,
                "review": (
                    f"{path} has the same delivery date as "
                    f"{', '.join(p for p in paths if p != path)} but other content: {used} is "
                    "used. Delete the wrong file, or deliver the right one with a later date"
                ),
            }
            for path, paths, used in tied
        ]
    )
    conn.register("_flags", flags)
    try:
        conn.execute(
            "update raw.deliveries as d set review = f.review from _flags as f where d.path = "
            "f.path"
        )
    finally:
        conn.unregister("_flags")


def review_items(
    conn: duckdb.DuckDBPyConnection, source: str | None = None
) -> list[tuple[str, str, str]]:
    """(source, path, reason) of every delivery a steward must review."""
    sql = "select source, path, review from raw.deliveries where review is not null"
    params: list = []
    if source is not None:
        sql += " and source = ?"
        params.append(source)
    return [tuple(row) for row in conn.execute(sql + " order by source, path", params).fetchall()]
