"""Great Expectations' SQL engine on the warehouse connection: deliveries are validated
where their rows are, by DuckDB, instead of being read into pandas first.

GX on pandas costs about 6 s per million rows plus 1.4 s to read them (the Groningen
pool's 6.9 million absence records: about 70 CPU-seconds in two worker processes); the
same suite run by DuckDB through GX's SQLAlchemy engine takes a few seconds. The outcomes
are those of the pandas engine (``runner.outcomes_of`` turns either engine's GX result
into them; tested equal on every table of the demo).

GX 1.x has two gaps for DuckDB (duckdb-engine), closed here rather than worked around:
- GX reads a metric query's rows after handing its connection back to the pool, and
  DuckDB drops a cursor's pending result when its connection is closed, so every metric
  came back empty (GX's IndexError in metric resolution). GX keeps one open connection
  for the dialects listed in ``_PERSISTED_CONNECTION_DIALECTS`` (SQLite, for its temporary
  tables); DuckDB joins that list.
- GX knows no regular-expression function for DuckDB. DuckDB's ``regexp_matches``
  searches (as pandas' ``str.contains``, GX's pandas implementation), on the value as
  text (as pandas' ``astype(str)``).
GX is pinned in requirements.lock; tests/quality/test_warehouse_engine.py fails if a GX
upgrade changes either internal.
"""

from __future__ import annotations

import enum
import itertools
from functools import cache

import duckdb
import pandas as pd

from pilotmonitor.quality import runner
from pilotmonitor.quality import suites as S
from pilotmonitor.quality.runner import DeliveryInfo, Outcome

ALL_ROWS = 2**62
_PENDING = "_pilotmonitor_pending"  # the chunk's deliveries and period bounds, per cursor
_CHUNK = "_pilotmonitor_chunk"  # the chunk's rows with their bounds (a temporary table)
_names = itertools.count()


class _Dialect(enum.StrEnum):
    """GX compares dialect names with members of its own enum, which has no DuckDB."""

    DUCKDB = "duckdb"


def _is_duckdb(dialect) -> bool:
    return getattr(getattr(dialect, "dialect", dialect), "name", None) == "duckdb"


@cache
def _teach_gx_duckdb() -> None:
    import sqlalchemy as sa
    from great_expectations.execution_engine import sqlalchemy_execution_engine as engine
    from great_expectations.expectations.metrics.column_map_metrics import (
        column_values_match_regex as regex_metric,
    )

    if _Dialect.DUCKDB not in engine._PERSISTED_CONNECTION_DIALECTS:
        engine._PERSISTED_CONNECTION_DIALECTS = (
            *engine._PERSISTED_CONNECTION_DIALECTS,
            _Dialect.DUCKDB,
        )
    gx_regex = regex_metric.get_dialect_regex_expression

    def regex_expression(column, regex, dialect, positive=True):
        if not _is_duckdb(dialect):
            return gx_regex(column, regex, dialect, positive)
        match = sa.func.regexp_matches(sa.cast(column, sa.String), sa.literal(regex))
        return match if positive else sa.not_(match)

    regex_metric.get_dialect_regex_expression = regex_expression


def _batch(cursor: duckdb.DuckDBPyConnection, query: str):
    """A GX batch of the query's rows, run on ``cursor`` (not on a connection of its own:
    DuckDB allows one configuration per file in a process, and the cursor sees the
    chunk's registered deliveries)."""
    from duckdb_engine import ConnectionWrapper

    _teach_gx_duckdb()
    name = f"warehouse_{next(_names)}"
    source = runner._context().data_sources.add_sql(
        name,
        connection_string="duckdb:///:memory:",  # never opened: the creator gives the cursor
        # no rollback when GX lets go of the connection: the cursor is closed by its owner
        kwargs={"creator": lambda: ConnectionWrapper(cursor), "pool_reset_on_return": None},
    )
    batch = source.add_query_asset("rows", query=query).add_batch_definition_whole_table("all")
    return name, batch.get_batch()


def _value(exp: dict, row: dict):
    """An unexpected row's value as GX on pandas lists it: the column's value, the pair of
    a column-pair rule, the columns of a compound key."""
    kw = exp["kwargs"]
    if "column" in kw:
        return row.get(kw["column"])
    if "column_A" in kw:
        return (row.get(kw["column_A"]), row.get(kw["column_B"]))
    return {c: row.get(c) for c in kw.get("column_list", [])}


def validate_in_warehouse(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    deliveries: list[DeliveryInfo],
    suite_hash: str | None = None,
) -> tuple[list[Outcome], object]:
    """The outcomes of ``deliveries`` in ``raw.<table>`` (as ``runner.validate_group`` on
    their rows) and the GX result, computed by the warehouse's DuckDB."""
    suite = S.load_suite(table)
    suite_hash = suite_hash or S.suite_hash(table)
    expectations = S.row_level_expectations(suite)
    bounds, unusable = runner.delivery_bounds(expectations, deliveries)
    pending = pd.DataFrame(
        {
            "delivery_id": [d.delivery_id for d in deliveries],
            **{name: pd.to_datetime(pd.Series(values)) for name, (_, values) in bounds.items()},
        }
    )
    bound_columns = list(bounds)
    cursor = conn.cursor()
    try:
        database = conn.execute("select current_database()").fetchone()[0]
        cursor.execute(f'use "{database}"')  # a cursor starts in the default catalog
        cursor.register(_PENDING, pending)
        added = "".join(f', p."{b}"' for b in bound_columns)
        # The chunk's rows taken out of the table once: GX asks a few queries per
        # expectation, and each on the join would scan the whole raw table again
        # (validating a table chunk by chunk grew with the square of its rows).
        cursor.execute(
            f"create or replace temp table {_CHUNK} as select t.*{added} from raw.{table} as t "
            f"join {_PENDING} as p on t.delivery_id = p.delivery_id"
        )
        query = f"select * from {_CHUNK}"
        rows = dict(
            cursor.execute(f"select delivery_id, count(*) from ({query}) group by 1").fetchall()
        )
        result, counts = None, {}
        if rows:  # an empty delivery's row-level expectations hold vacuously (outcomes_of)
            plan = runner._gx_plan(expectations, bound_columns)
            name, batch = _batch(cursor, query)
            try:
                result = batch.validate(
                    S.gx_suite(f"raw.{table}", plan),
                    result_format={
                        "result_format": "COMPLETE",
                        # GX on SQL lists at most this many unexpected rows with their index
                        # columns, even in COMPLETE results: all of them, as on pandas
                        "partial_unexpected_count": ALL_ROWS,
                        "unexpected_index_column_names": ["delivery_id", "row_locator"],
                    },
                )
            finally:
                runner._context().data_sources.delete(name)
            columns = [c[0] for c in cursor.execute(f"select * from ({query}) limit 0").description]
            counts = _denominators(cursor, query, expectations, columns, bound_columns)
    finally:
        cursor.execute(f"drop table if exists {_CHUNK}")
        cursor.close()

    def hits_of(exp: dict, results: list) -> pd.DataFrame:
        """The unexpected rows, in row order (delivery, row locator), each once."""
        if "column_list" in exp["kwargs"]:  # GX on SQL lists a compound key's rows unindexed
            if "delivery_id" not in exp["kwargs"]["column_list"]:
                raise ValueError(
                    f"raw.{table}: a compound key must include delivery_id (keys are unique "
                    f"within a delivery): {exp['kwargs']['column_list']}"
                )
            values = [v for r in results for v in (r.result or {}).get("unexpected_list") or []]
            return pd.DataFrame(
                {
                    "delivery": [str(v["delivery_id"]) for v in values],
                    "value": pd.Series(values, dtype=object),
                }
            )
        found = {}
        for r in results:
            for row in (r.result or {}).get("unexpected_index_list") or []:
                key = (str(row["delivery_id"]), str(row["row_locator"]))
                if key not in found:
                    found[key] = row
        if exp["meta"].get("period_rule"):  # the dates, not (date, bound) pairs
            column = exp["kwargs"]["column"]
            values = [row.get(column) for row in found.values()]
        else:
            values = [_value(exp, row) for row in found.values()]
        hits = pd.DataFrame(
            {
                "delivery": [k[0] for k in found],
                "locator": [k[1] for k in found],
                "value": pd.Series(values, dtype=object),
            }
        )
        return hits.sort_values(["delivery", "locator"], kind="stable")[["delivery", "value"]]

    outcomes = runner.outcomes_of(
        table,
        expectations,
        deliveries,
        rows,
        result,
        unusable,
        bound_columns,
        hits_of,
        lambda exp: counts[id(exp)],
        suite_hash,
    )
    return outcomes, result


def _denominators(
    cursor, query: str, expectations: list[dict], columns: list[str], bound_columns: list[str]
) -> dict[int, dict[str, int]]:
    """Per expectation (by id) the rows per delivery its `mostly` refers to, in one scan."""
    counts = []
    for exp in expectations:
        present = runner.denominator_columns(exp, columns, bound_columns)
        condition = " and ".join(f'"{c}" is not null' for c in present) or "true"
        counts.append(f"count(*) filter (where {condition})")
    result = cursor.execute(
        f"select delivery_id, {', '.join(counts)} from ({query}) group by 1"
    ).fetchall()
    return {
        id(exp): {row[0]: int(row[i + 1]) for row in result} for i, exp in enumerate(expectations)
    }
