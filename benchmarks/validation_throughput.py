"""Great Expectations validation throughput (one GX call per delivery; period rules as
per-row bounds) on synthetic rows of school_absence and ijw_declaration_lines (100k and
1M rows), side by side: GX on a pandas data frame (``runner.validate_frame``) and GX's
SQL engine on the rows in a DuckDB warehouse (``warehouse_engine.validate_in_warehouse``,
what the pipeline runs). Prints seconds, seconds per million rows and the ratio; the two
engines' outcomes must agree (the failed count is printed for both).

Then one chunk of deliveries (``--chunk-rows`` rows of 200 deliveries) validated in raw tables that
also hold other deliveries' rows (``--table-rows``): the pipeline validates a large table
chunk by chunk, so a chunk's cost must not grow with the table (the chunk's rows are taken
out once, not scanned for by every query GX asks).

    .venv/bin/python benchmarks/validation_throughput.py [--sizes 100000 1000000]
        [--chunk-rows 1000000] [--table-rows 1000000 10000000 30000000]
"""

import argparse
import os
import time

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import duckdb
import numpy as np
import pandas as pd

from pilotmonitor.ingest import warehouse_raw
from pilotmonitor.quality.runner import DeliveryInfo, validate_frame
from pilotmonitor.quality.warehouse_engine import validate_in_warehouse


def in_warehouse(table: str, frame: pd.DataFrame, period: str) -> tuple[list, float]:
    """The frame as the raw table of an in-memory DuckDB warehouse, validated there (the
    insert is not timed)."""
    conn = duckdb.connect()
    warehouse_raw.ensure_schema(conn)
    warehouse_raw.insert_frame(conn, table, frame, warehouse_raw.raw_columns(table))
    delivery = DeliveryInfo("bench", "bench", "bench", "bench", period)
    start = time.perf_counter()
    outcomes, _ = validate_in_warehouse(conn, table, [delivery])
    return outcomes, time.perf_counter() - start


def chunk_in_table(frame: pd.DataFrame, other_rows: int, rng) -> tuple[list, float]:
    """The frame's rows as 200 deliveries of a chunk in a raw table that also holds
    ``other_rows`` rows of other deliveries, validated as one chunk. Delivery ids are
    random hex strings, as the pipeline's are: the chunk's ids span the table's range, so
    DuckDB cannot skip the other rows by the ids' minimum and maximum."""
    conn = duckdb.connect()
    warehouse_raw.ensure_schema(conn)
    columns = warehouse_raw.raw_columns("school_absence")

    def ids(n: int) -> np.ndarray:
        return np.array([f"{v:016x}" for v in rng.integers(0, 2**63, n)])

    chunk_ids = ids(200)
    for start in range(0, other_rows, len(frame)):
        part = frame.iloc[: min(len(frame), other_rows - start)]
        other = ids(200)[rng.integers(0, 200, len(part))]
        warehouse_raw.insert_frame(conn, "school_absence", part.assign(delivery_id=other), columns)
    mine = chunk_ids[np.arange(len(frame)) * len(chunk_ids) // len(frame)]
    warehouse_raw.insert_frame(conn, "school_absence", frame.assign(delivery_id=mine), columns)
    chunk = [DeliveryInfo(i, i, "school_absence", "bench", "2020-2021") for i in chunk_ids]
    start = time.perf_counter()
    outcomes, _ = validate_in_warehouse(conn, "school_absence", chunk)
    return outcomes, time.perf_counter() - start


def absence(n: int, rng) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "delivery_id": "bench",
            "row_locator": np.arange(n).astype(str),
            "pupil_pseudonym": pd.util.hash_array(np.arange(n)).astype(str),
            "id_kind": "bsn",
            "key_version": "demo",
            "school_id": "99GA00",
            "absence_date": pd.Timestamp("2020-08-01")
            + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
            "hours": rng.uniform(0.5, 6, n).round(1),
            "authorised": rng.random(n) < 0.5,
            "reason": "Ziek",
        }
    )


def declarations(n: int, rng) -> pd.DataFrame:
    start = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 60, n), unit="D")
    return pd.DataFrame(
        {
            "delivery_id": "bench",
            "row_locator": np.arange(n).astype(str),
            "message_id": "00141609010",
            "declaration_number": "00141609010",
            "provider_agb": "99000011",
            "municipality_code": "0014",
            "declaration_date": pd.Timestamp("2021-03-10"),
            "period_start": pd.Timestamp("2021-01-01"),
            "period_end": pd.Timestamp("2021-02-28"),
            "client_pseudonym": pd.util.hash_array(np.arange(n) % 5000).astype(str),
            "id_kind": "bsn",
            "key_version": "demo",
            "product_reference": [f"P{i:011d}" for i in range(n)],
            "previous_product_reference": None,
            "allocation_number": "000004291",
            "product_category": rng.choice(["45", "54", "43"], n),
            "product_code": "45A01",
            "product_period_start": start,
            "product_period_end": start + pd.Timedelta(days=20),
            "volume": rng.integers(1, 40, n),
            "unit": "04",
            "tariff_cents": 10500,
            "amount_cents": rng.integers(0, 500000, n),
            "debit_credit": "D",
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--chunk-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--table-rows", type=int, nargs="+", default=[1_000_000, 10_000_000, 30_000_000]
    )
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    validate_frame("school_absence", absence(1000, rng), "2020-2021")  # warm up GX
    print(
        f"{'table':<24}{'rows':>10}{'pandas s':>10}{'s per 1M':>10}{'SQL s':>8}{'s per 1M':>10}"
        f"{'ratio':>7}{'failed':>8}"
    )
    for table, build, period in (
        ("school_absence", absence, "2020-2021"),
        ("ijw_declaration_lines", declarations, "2021-03"),
    ):
        for n in args.sizes:
            frame = build(n, rng)
            t = time.perf_counter()
            outcomes = validate_frame(table, frame, period)
            pandas_seconds = time.perf_counter() - t
            sql_outcomes, sql_seconds = in_warehouse(table, frame, period)
            failed = (
                sum(not o.success for o in outcomes),
                sum(not o.success for o in sql_outcomes),
            )
            print(
                f"{table:<24}{n:>10,}{pandas_seconds:>10.2f}{pandas_seconds / n * 1e6:>10.2f}"
                f"{sql_seconds:>8.2f}{sql_seconds / n * 1e6:>10.2f}"
                f"{pandas_seconds / sql_seconds:>7.1f}{str(failed):>8}",
                flush=True,
            )
    print(
        f"\none chunk of 200 deliveries, {args.chunk_rows:,} absence records, in raw tables of "
        "more rows"
    )
    print(f"{'rows in the table':>18}{'SQL s':>8}{'failed':>8}")
    frame = absence(args.chunk_rows, rng)
    for total in args.table_rows:
        outcomes, seconds = chunk_in_table(frame, max(0, total - args.chunk_rows), rng)
        failed = sum(not o.success for o in outcomes)
        print(f"{total:>18,}{seconds:>8.2f}{str(failed):>8}", flush=True)


if __name__ == "__main__":
    main()
