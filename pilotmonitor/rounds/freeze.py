"""What a round freezes, and the frozen copy.

For a round as of date D, a month belongs to the round when it ended on or before D
(``data_through``); corrections received later are not undone. What the round analysed is
copied at creation into schema ``rounds``, so later runs, corrections and deliveries never
change a round.

Design notes: docs/design/rounds.md#pilotmonitorroundsfreezepy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import duckdb
import pandas as pd

from pilotmonitor.table_digest import tables_in

SCHEMA = "rounds"
# frozen table -> (schema of the original, original table)
FROZEN = {
    "fct_school_month": ("published", "fct_school_month"),
    "fct_survey_scores": ("published", "fct_survey_scores"),
    "fct_pilot_activity": ("published", "fct_pilot_activity"),
    "fct_youth_care_costs": ("published", "fct_youth_care_costs"),
    "fct_pupil_month": ("published", "fct_pupil_month"),
    "dim_school": ("published", "dim_school"),
    "dim_pilot": ("published", "dim_pilot"),
    "dim_pilot_assignment": ("published", "dim_pilot_assignment"),
    "dim_pilot_month": ("published", "dim_pilot_month"),
    "dim_pilot_national_pool": ("published", "dim_pilot_national_pool"),
    "publication_log": ("published", "publication_log"),
    "deliveries": ("raw", "deliveries"),
}


def data_through(as_of: date) -> date:
    """The last month (its first day) that ended on or before ``as_of``."""
    return (pd.Period(as_of + timedelta(days=1), "M") - 1).start_time.date()


def latest_published_month(conn: duckdb.DuckDBPyConnection) -> date | None:
    try:
        value = conn.execute("select max(month) from published.fct_school_month").fetchone()[0]
    except duckdb.CatalogException:
        return None
    return pd.Timestamp(value).date() if value is not None else None


def _filter(table: str, through: date, as_of: date, pilot_ids: list[str]) -> tuple[str, list]:
    """The where-clause (and its parameters) of one frozen table: the rule above."""
    pilot_schools = (
        "school_id in (select school_id from published.dim_pilot_assignment "
        "where role = 'treated' and pilot_id in (select unnest(?)))"
    )
    if table in ("fct_school_month", "fct_pilot_activity", "fct_youth_care_costs"):
        return "month <= ?", [through]
    if table == "fct_pupil_month":
        return f"month <= ? and {pilot_schools}", [through, pilot_ids]
    if table == "fct_survey_scores":
        return (
            "response_date <= ? and delivery_id in (select delivery_id from raw.deliveries where "
            "delivered_on <= ?)",
            [as_of, as_of],
        )
    if table == "deliveries":
        return "delivered_on <= ?", [as_of]
    return "true", []


def realised_cost_as_of(conn: duckdb.DuckDBPyConnection, through: date) -> dict[str, float | None]:
    """pilot id -> realised cost of the pilot months up to ``through`` (rule above), from
    the same delivered cost years that ``dim_pilot.realised_cost_eur`` sums
    (``stg_pilot__costs``: rows of current loaded deliveries)."""
    pilots = conn.execute(
        "select pilot_id, first_treated_month, last_pilot_month from published.dim_pilot"
    ).fetchall()
    try:  # the rows of stg_pilot__costs: current loaded deliveries (dbt macro current_rows)
        years = conn.execute(
            "select c.pilot_id, c.year, c.total_eur from raw.pilot_costs as c where c.delivery_id "
            "in (select delivery_id from raw.deliveries where status = 'loaded' and is_current)"
        ).fetchall()
    except duckdb.CatalogException:
        years = []
    out: dict[str, float | None] = {}
    last = pd.Period(through, "M")
    for pilot_id, first_month, last_month in pilots:
        start = pd.Period(first_month, "M")
        end = pd.Period(last_month, "M") if last_month is not None else None
        rows = [(y, t) for p, y, t in years if p == pilot_id and t is not None]
        if not rows:
            out[pilot_id] = None
            continue
        total = 0.0
        for year, amount in rows:
            january, december = pd.Period(f"{int(year)}-01", "M"), pd.Period(f"{int(year)}-12", "M")
            span_first = max(january, start)
            span_last = december if end is None else min(december, end)
            if span_last < span_first:  # a cost year outside the period counts once it is over
                span_first = span_last = december
            months = (span_last - span_first).n + 1
            known = max(0, (min(span_last, last) - span_first).n + 1)
            total += float(amount) * known / months
        out[pilot_id] = total
    return out


def freeze(conn: duckdb.DuckDBPyConnection, name: str, as_of: date, pilot_ids: list[str]) -> None:
    """Copy what round ``name`` knows into schema ``rounds`` (inside the caller's transaction)."""
    through = data_through(as_of)
    conn.execute(f"create schema if not exists {SCHEMA}")
    for table, (schema, source) in FROZEN.items():
        conn.execute(
            f"create table if not exists {SCHEMA}.{table} as "
            f"select cast(null as varchar) as round_name, * from {schema}.{source} limit 0"
        )
        where, args = _filter(table, through, as_of, pilot_ids)
        conn.execute(
            f"insert into {SCHEMA}.{table} by name select ? as round_name, * from "
            f"{schema}.{source} where {where}",
            [name, *args],
        )
    for pilot_id, cost in realised_cost_as_of(conn, through).items():
        conn.execute(
            f"update {SCHEMA}.dim_pilot set realised_cost_eur = ? where round_name = ? and "
            "pilot_id = ?",
            [cost, name, pilot_id],
        )


def _copy(
    source: duckdb.DuckDBPyConnection,
    query: str,
    args: list,
    target: duckdb.DuckDBPyConnection,
    table: str,
) -> None:
    frame = source.execute(
        query, args
    ).to_arrow_table()  # Arrow keeps every column type (dates stay dates)
    target.register("_frozen", frame)
    try:
        target.execute(f"create table {table} as select * from _frozen")
    finally:
        target.unregister("_frozen")


def _frozen_marts(conn: duckdb.DuckDBPyConnection, name: str) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with round ``name``'s frozen tables under their original names.
    A table no round has frozen yet (rounds made before it was published) is left out, so
    the reader names what is missing instead of failing on the copy."""
    memory = duckdb.connect()
    for schema in ("published", "raw", "results"):
        memory.execute(f"create schema {schema}")
    frozen = set(tables_in(conn, SCHEMA))
    for table, (schema, _) in FROZEN.items():
        if table not in frozen:
            continue
        _copy(
            conn,
            f"select * exclude (round_name) from {SCHEMA}.{table} where round_name = ?",
            [name],
            memory,
            f"{schema}.{table}",
        )
    return memory


@contextmanager
def round_warehouse(
    conn: duckdb.DuckDBPyConnection, name: str, pilot_id: str | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory warehouse holding round ``name`` as the pipeline's warehouse holds the
    latest data: its frozen marts as ``published.*``, its delivery register as
    ``raw.deliveries``, its estimates (of ``pilot_id``, or every pilot of the round) as
    ``results.effect_estimates`` and their stored plans; so the report and the
    reproduction read a round with the code that reads the latest data."""
    from . import registry

    entries = registry.get_round(conn, name, pilot_id)
    memory = _frozen_marts(conn, name)
    try:
        run_ids, pilots = sorted({r.run_id for r in entries}), sorted({r.pilot_id for r in entries})
        _copy(
            conn,
            "select * from results.effect_estimates_history where run_id in (select unnest(?)) "
            "and pilot_id in (select unnest(?))",
            [run_ids, pilots],
            memory,
            "results.effect_estimates",
        )
        _copy(
            conn,
            "select * from results.analysis_plans where pilot_id in (select unnest(?))",
            [pilots],
            memory,
            "results.analysis_plans",
        )
        yield memory
    finally:
        memory.close()


def frozen_inputs(conn: duckdb.DuckDBPyConnection, name: str):
    """The analysis inputs of round ``name`` (PublishedInputs), read by the function that
    reads published.* for the pipeline (same columns, same order: the same input hash)."""
    from pilotmonitor.evaluation.sample import read_published

    memory = _frozen_marts(conn, name)
    try:
        return read_published(memory)
    finally:
        memory.close()
