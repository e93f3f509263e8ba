"""A table's digest part by part (per month), for tables an incremental dbt model
rebuilds month by month: what changed is found without hashing what did not.

Of a table with dbt's build stamp (``built_at``, macro build_stamp_column: every row a
build writes carries the time that build started) only the months whose stamp or row
count differ from a record are hashed; the others keep the recorded digest. This trusts
that only dbt writes these tables (an edit by hand that keeps a month's row count and
stamp is not seen); callers that must see such edits hash without a record. The stamp is
left out of the hashes: a month rebuilt to the same content is the same content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from pilotmonitor.table_digest import (
    column_names,
    columns_of,
    partition_digests,
    quote,
    table_digest,
)
from pilotmonitor.warehouse_access import sql_string

# a table with this column is digested (and published) part by part
PART_COLUMN = "month"
# an incremental model's build stamp (dbt macro build_stamp_column): left out of the
# hashes; a part whose stamp and row count are those recorded is not hashed again
STAMP_COLUMN = "built_at"
# the key of a table without PART_COLUMN: one part, the whole table
WHOLE = "whole"


@dataclass(frozen=True)
class Part:
    """What is known of a part of a table (a month, or the whole table): its digest and,
    for a table with a build stamp, its row count and latest stamp."""

    digest: str
    rows: int | None = None
    built_at: datetime | None = None


def contents(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    known: dict[str, Part] | None = None,
) -> dict[str, Part]:
    """The digest of a table, per month for one with a month column (keys: the month as
    text), under the key WHOLE otherwise; independent of the schema's name, without the
    build stamp. ``known``: a record of this table's parts (the publication gate's, the
    dbt build state's); a month whose stamp and row count are the recorded ones was not
    written since and keeps its recorded digest."""
    names = column_names(conn, schema, table)
    exclude = (STAMP_COLUMN,) if STAMP_COLUMN in names else ()
    if PART_COLUMN not in names:
        digest = table_digest(conn, schema, table, exclude=exclude)
        return {WHOLE: Part(digest.removeprefix(f"{schema}."))}
    stamps = {}
    if exclude:
        column, stamp = quote(PART_COLUMN), quote(STAMP_COLUMN)
        stamps = {
            part: (rows, built_at)
            for part, rows, built_at in conn.execute(
                f"select coalesce(cast(part as varchar), ''), rows, built_at from (select "
                f"{column} as part, count(*) as rows, max({stamp}) as built_at from "
                f"{quote(schema)}.{quote(table)} group by {column})"
            ).fetchall()
        }
    kept = {
        part: known[part]
        for part, (rows, built_at) in stamps.items()
        if known and part in known and (known[part].rows, known[part].built_at) == (rows, built_at)
    }
    to_hash = [part for part in stamps if part not in kept]
    digests = (
        partition_digests(
            conn,
            schema,
            table,
            PART_COLUMN,
            exclude=exclude,
            where=parts_condition(conn, schema, table, to_hash) if kept else None,
        )
        if to_hash or not exclude
        else {}
    )
    hashed = {
        part: Part(digest.removeprefix(f"{schema}."), *stamps.get(part, (None, None)))
        for part, digest in digests.items()
    }
    return {**kept, **hashed}


def parts_condition(
    conn: duckdb.DuckDBPyConnection, schema: str, table: str, parts: list[str]
) -> str:
    """A SQL condition for the rows of a table's parts (``partition_digests``' keys: the
    months as text, '' for a missing one), compared in the column's own type, so no row is
    cast."""
    column = quote(PART_COLUMN)
    kind = dict(columns_of(conn, schema, table))[PART_COLUMN]
    literals = [f"try_cast({sql_string(part)} as {kind})" for part in parts if part]
    conditions = []
    if literals:
        # the range lets DuckDB skip the stored blocks of other months; an IN list alone
        # does not (the national panel's four newest months: hashed in 9.0 s with the list
        # alone, 0.7 s with the range as well)
        values = ", ".join(literals)
        conditions.append(
            f"({column} between least({values}) and greatest({values}) and {column} in ({values}))"
        )
    if "" in parts:
        conditions.append(f"{column} is null")
    return "(" + " or ".join(conditions) + ")"


__all__ = ["PART_COLUMN", "STAMP_COLUMN", "WHOLE", "Part", "contents", "parts_condition"]
