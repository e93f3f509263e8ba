"""Run the dbt project on Apache Spark: copy the raw layer of a DuckDB warehouse into Spark
tables, `dbt build --target spark` there (dbt-spark's session mode: Spark runs inside this
process on local pyspark, Java 17), then compare every relation dbt built (staging,
intermediate, marts and the reference seeds) with the DuckDB ones. Shows the warehouse SQL
is portable to a distributed engine and prints the models built, the tests passed, the
build time and a table per relation (rows in each engine, equal or not).

Needs Java 17 and, in a separate environment (not part of the default install, and no
dbt-core 1.12, which downloads a binary at install time):

    python3.11 -m venv /tmp/sparkvenv
    /tmp/sparkvenv/bin/pip install "dbt-core>=1.11,<1.12" "dbt-spark[session]==1.11.0" \\
        "pyspark>=3.5,<3.6" "duckdb>=1.4,<2" "pandas<=2.3.3"
    DO_NOT_TRACK=1 /tmp/sparkvenv/bin/python benchmarks/spark_portability.py \\
        data/warehouse/pilotmonitor.duckdb

The DuckDB warehouse must have been built (`pilotmonitor run`), so its relations can be
compared. Spark's tables, metastore and this run's dbt target and logs go to
PILOTMONITOR_SPARK_DIR (default /tmp/pilotmonitor-spark), which is replaced.

`--incremental` copies the raw layer as it was before the deliveries registered last
(`--held-back`, default 12) arrived, builds, then lets them arrive and builds again: the
three incremental facts take their incremental path (on Spark insert_overwrite of the
month partitions they rebuild) and the result is compared with DuckDB's full build, without
the lineage column loaded_through (months not rebuilt keep the first build's).

Equality: the same column names, the same number of rows and the same values, row for row
after sorting; numbers compare as numbers (an integer in one engine and a double in the
other are equal when the values are), floating-point values within 1e-9 relative, dates,
timestamps (both UTC), booleans and nulls exactly.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT = REPO_ROOT / "dbt_project"
BUILT_SCHEMAS = ["reference", "staging", "intermediate", "marts"]
SPARK_TYPES = {  # DuckDB type of a raw column -> Spark SQL type
    "VARCHAR": "string",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "BIGINT": "bigint",
    "INTEGER": "int",
    "DOUBLE": "double",
    "BOOLEAN": "boolean",
}
RELATIVE_TOLERANCE = 1e-9


def spark_session(work_dir: Path):
    """The Spark session dbt-spark's session mode then reuses (SparkSession.getOrCreate in
    the same process), configured as the `spark` target in profiles.yml."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.appName("pilotmonitor-spark-portability")
        .master(os.environ.get("PILOTMONITOR_SPARK_MASTER", "local[2]"))
        .config("spark.driver.memory", os.environ.get("PILOTMONITOR_SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.sql.warehouse.dir", str(work_dir / "warehouse"))
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={work_dir / 'metastore_db'};create=true",
        )
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={work_dir}")
        .config("spark.sql.legacy.createHiveTableByDefault", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .enableHiveSupport()
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def raw_tables(duck: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """Every table of schema raw with its (column, DuckDB type) pairs."""
    tables = {}
    for (table,) in duck.execute(
        "select table_name from information_schema.tables where table_schema = 'raw' "
        "and table_type = 'BASE TABLE' order by 1"
    ).fetchall():
        tables[table] = duck.execute(
            "select column_name, data_type from information_schema.columns where table_schema "
            "= 'raw' and table_name = ? order by ordinal_position",
            [table],
        ).fetchall()
    return tables


def held_back_deliveries(duck: duckdb.DuckDBPyConnection, count: int) -> tuple[list, list, str]:
    """The `count` loaded deliveries registered last: (paths, delivery ids, description)."""
    held = duck.execute(
        "select path, delivery_id, source, sender, period from raw.deliveries "
        "where status = 'loaded' order by registered_at desc limit ?",
        [count],
    ).fetchall()
    paths = [row[0] for row in held]
    ids = [row[1] for row in held]
    shared = duck.execute(
        "select count(*) from raw.deliveries where list_contains(?, delivery_id) "
        "and not list_contains(?, path)",
        [ids, paths],
    ).fetchone()[0]
    if shared:
        raise SystemExit("a held-back delivery shares its id with a kept one: choose another count")
    slots = sorted({f"{source} {sender}" for _, _, source, sender, _ in held})
    periods = sorted(row[4] for row in held)
    return paths, ids, f"{', '.join(slots)}, periods {periods[0]} to {periods[-1]}"


def export_raw(
    duck: duckdb.DuckDBPyConnection, tables: dict, target: Path, held_back: tuple | None = None
) -> int:
    """The raw layer as Parquet files, one per table; with held_back (paths, ids) as it was
    before those deliveries arrived: their rows left out, and a delivery they superseded
    current again. Returns the rows written."""
    target.mkdir(parents=True)
    rows = 0
    for table, columns in tables.items():
        query = f"select * from raw.{table}"
        names = {name for name, _ in columns}
        if held_back and table == "deliveries":
            paths = _list_literal(held_back[0])
            query = (
                "select * replace ("
                f"case when list_contains({paths}, superseded_by) then null else superseded_by end "
                "as superseded_by, "
                f"case when list_contains({paths}, superseded_by) then true else is_current end "
                f"as is_current) from raw.deliveries where not list_contains({paths}, path)"
            )
        elif held_back and "delivery_id" in names:
            ids = _list_literal(held_back[1])
            query += f" where delivery_id is null or not list_contains({ids}, delivery_id)"
        path = target / f"{table}.parquet"
        duck.execute(f"copy ({query}) to '{path}' (format parquet)")
        rows += duck.execute(f"select count(*) from read_parquet('{path}')").fetchone()[0]
    return rows


def _list_literal(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def load_raw(spark, tables: dict, source: Path) -> None:
    """The Parquet files of export_raw as Spark database raw, with the same column types.
    Drops what dbt built before."""
    for schema in ["marts", "intermediate", "staging", "reference", "raw"]:
        spark.sql(f"drop database if exists {schema} cascade")
    spark.sql("create database raw")
    for table, columns in tables.items():
        spark.sql(
            f"create table raw.{table} using parquet as {_typed_rows(table, columns, source)}"
        )


def replace_raw(spark, tables: dict, source: Path) -> None:
    """The raw tables' rows replaced by those of the Parquet files (dbt's relations stay)."""
    for table, columns in tables.items():
        spark.sql(f"insert overwrite table raw.{table} {_typed_rows(table, columns, source)}")


def _typed_rows(table: str, columns, source: Path) -> str:
    """A select of one exported table's Parquet file with the raw layer's column types."""
    select = ", ".join(
        f"cast(`{name}` as {SPARK_TYPES.get(kind, 'string')}) as `{name}`" for name, kind in columns
    )
    return f"select {select} from parquet.`{source / f'{table}.parquet'}`"


def dbt_build(work_dir: Path, label: str) -> tuple[float, Counter, list[str]]:
    """`dbt build --target spark` in this process (session mode uses this process's Spark
    session). Returns the time, a count per (resource type, status) and the failures."""
    from dbt.cli.main import dbtRunner

    os.environ["PILOTMONITOR_DBT_TARGET"] = "spark"
    os.environ["PILOTMONITOR_SPARK_DIR"] = str(work_dir)
    os.environ["DO_NOT_TRACK"] = "1"
    started = time.perf_counter()
    result = dbtRunner().invoke(
        [
            "--quiet",
            "build",
            "--target",
            "spark",
            "--profiles-dir",
            str(DBT_PROJECT),
            "--project-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(work_dir / "target"),
            "--log-path",
            str(work_dir / f"logs-{label}"),
        ]
    )
    elapsed = time.perf_counter() - started
    counts: Counter = Counter()
    failures = []
    if result.exception is not None:
        failures.append(f"dbt stopped: {result.exception}")
    for node_result in getattr(result.result, "results", None) or []:
        kind = str(node_result.node.resource_type)
        status = str(node_result.status)
        counts[(kind, status)] += 1
        if status not in {"success", "pass"}:
            message = (node_result.message or "").strip().splitlines()
            failures.append(
                f"{kind} {node_result.node.name}: {status}"
                + (f" ({message[0][:300]})" if message else "")
            )
    return elapsed, counts, failures


def built_relations(duck: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return duck.execute(
        "select table_schema, table_name from information_schema.tables where table_schema in "
        f"({', '.join(repr(s) for s in BUILT_SCHEMAS)}) order by "
        "array_position(" + repr(BUILT_SCHEMAS) + ", table_schema), table_name"
    ).fetchall()


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates, timestamps (UTC, without zone), numbers as floats where either side has a
    fraction, everything else as Python objects with None for null."""
    out = {}
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        if pd.api.types.is_datetime64_any_dtype(column.dtype):
            out[name] = column.astype("datetime64[us]")
        elif pd.api.types.is_bool_dtype(column.dtype):
            out[name] = column.astype(object)
        elif pd.api.types.is_numeric_dtype(column.dtype):
            out[name] = column.astype(float)
        elif column.map(lambda v: hasattr(v, "as_tuple")).any():  # decimals
            out[name] = column.astype(float)
        else:
            out[name] = column.astype(object).where(column.notna(), None)
    return pd.DataFrame(out, columns=frame.columns)


def _sort_key(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (1, "")
    if isinstance(value, float):
        return (0, f"{value:.6g}")
    return (0, str(value))


def compare_frames(ours: pd.DataFrame, theirs: pd.DataFrame) -> list[str]:
    """Differences between the DuckDB and the Spark rows of one relation (empty: equal)."""
    if set(ours.columns) != set(theirs.columns):
        only_ours = sorted(set(ours.columns) - set(theirs.columns))
        only_theirs = sorted(set(theirs.columns) - set(ours.columns))
        return [f"columns only in DuckDB {only_ours}, only in Spark {only_theirs}"]
    if len(ours) != len(theirs):
        return [f"{len(ours)} rows in DuckDB, {len(theirs)} in Spark"]
    columns = list(ours.columns)
    ours, theirs = _normalised(ours), _normalised(theirs[columns])
    for frame in (ours, theirs):
        frame["_key"] = [tuple(_sort_key(v) for v in row) for row in frame.itertuples(index=False)]
    ours = ours.sort_values("_key", kind="mergesort").reset_index(drop=True)
    theirs = theirs.sort_values("_key", kind="mergesort").reset_index(drop=True)
    problems = []
    for column in columns:
        a, b = ours[column], theirs[column]
        both_null = a.isna() & b.isna()
        if a.dtype == float or b.dtype == float:
            try:
                x, y = a.astype(float).to_numpy(), b.astype(float).to_numpy()
            except (TypeError, ValueError):
                same = (a.astype(str) == b.astype(str)) | both_null
            else:
                same = pd.Series(
                    np.isclose(x, y, rtol=RELATIVE_TOLERANCE, atol=0.0, equal_nan=True)
                )
        else:
            same = (a == b) | both_null
        if not same.all():
            first = int(np.flatnonzero(~same.to_numpy())[0])
            problems.append(
                f"{column}: {int((~same).sum())} rows differ (e.g. DuckDB {a.iloc[first]!r}, "
                f"Spark {b.iloc[first]!r})"
            )
    return problems


def compare(
    duck: duckdb.DuckDBPyConnection, spark, work_dir: Path, ignore: tuple[str, ...] = ()
) -> list[tuple]:
    """Per relation: (schema.name, DuckDB rows, Spark rows, equal, problems). Spark's rows
    are written as Parquet and read back through DuckDB, so both sides have DuckDB's types."""
    export_dir = work_dir / "compare"
    shutil.rmtree(export_dir, ignore_errors=True)
    rows = []
    for schema, name in built_relations(duck):
        relation = f"{schema}.{name}"
        ours = duck.execute(f"select * from {relation}").df()
        if not spark.catalog.tableExists(relation):
            rows.append((relation, len(ours), None, False, ["not built on Spark"]))
            continue
        path = export_dir / relation
        spark.table(relation).coalesce(1).write.parquet(str(path))
        theirs = duck.execute(f"select * from read_parquet('{path}/*.parquet')").df()
        ours, theirs = (
            f.drop(columns=[c for c in ignore if c in f.columns]) for f in (ours, theirs)
        )
        problems = compare_frames(ours, theirs)
        rows.append((relation, len(ours), len(theirs), not problems, problems))
    return rows


def print_comparison(rows: list[tuple]) -> bool:
    width = max(len(r[0]) for r in rows)
    print(f"{'relation':<{width}}  {'DuckDB rows':>11}  {'Spark rows':>10}  equal")
    for relation, ours, theirs, equal, problems in rows:
        spark_rows = "-" if theirs is None else f"{theirs:,}"
        print(f"{relation:<{width}}  {ours:>11,}  {spark_rows:>10}  {'yes' if equal else 'NO'}")
        for problem in problems:
            print(f"{'':<{width}}    {problem}")
    equal = sum(1 for r in rows if r[3])
    print(f"relations equal to DuckDB: {equal} of {len(rows)}")
    return equal == len(rows)


def print_build(label: str, elapsed: float, counts: Counter, failures: list[str]) -> None:
    kinds = sorted({kind for kind, _ in counts})
    parts = []
    for kind in kinds:
        statuses = {status: n for (k, status), n in counts.items() if k == kind}
        parts.append(
            f"{kind}: " + ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        )
    print(f"dbt build on Spark ({label}): {elapsed:.1f} s; " + "; ".join(parts))
    for failure in failures:
        print(f"  {failure}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "warehouse",
        nargs="?",
        default=str(REPO_ROOT / "data" / "warehouse" / "pilotmonitor.duckdb"),
    )
    parser.add_argument(
        "--work-dir",
        default=os.environ.get("PILOTMONITOR_SPARK_DIR", "/tmp/pilotmonitor-spark"),
    )
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="build first without the deliveries registered last, then incrementally with them",
    )
    parser.add_argument("--held-back", type=int, default=12, help="deliveries held back")
    args = parser.parse_args(argv)
    work_dir = Path(args.work_dir).resolve()
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)

    # Attached under the warehouse's own name: the staging views name their catalog.
    duck = duckdb.connect()
    duck.execute("set TimeZone = 'UTC'")
    duck.execute(f"attach '{args.warehouse}' as pilotmonitor (read_only)")
    duck.execute("use pilotmonitor")
    started = time.perf_counter()
    spark = spark_session(work_dir)
    print(
        f"Spark {spark.version} (local, {spark.sparkContext.master}) started in "
        f"{time.perf_counter() - started:.1f} s"
    )
    tables = raw_tables(duck)
    full_raw = work_dir / "raw"
    rows = export_raw(duck, tables, full_raw)
    ok = True
    if args.incremental:
        # First state: the raw layer before the deliveries registered last arrived.
        paths, ids, held = held_back_deliveries(duck, args.held_back)
        first_rows = export_raw(duck, tables, work_dir / "raw_first", (paths, ids))
        started = time.perf_counter()
        load_raw(spark, tables, work_dir / "raw_first")
        print(
            f"copied {len(tables)} raw tables, {first_rows:,} rows, to Spark in "
            f"{time.perf_counter() - started:.1f} s, holding back the {len(paths)} deliveries "
            f"registered last ({held}; {rows - first_rows:,} rows)"
        )
        elapsed, counts, failures = dbt_build(work_dir, "full")
        print_build("full, without the held-back deliveries", elapsed, counts, failures)
        ok = ok and not failures
        first_loaded_through = spark.sql(
            "select max(loaded_through) from marts.fct_pupil_month"
        ).first()[0]
        # Second state: they arrive; the incremental facts rebuild the months they touch.
        started = time.perf_counter()
        replace_raw(spark, tables, full_raw)
        print(
            f"the held-back deliveries arrive: raw tables replaced in "
            f"{time.perf_counter() - started:.1f} s"
        )
        label = "incremental"
    else:
        started = time.perf_counter()
        load_raw(spark, tables, full_raw)
        print(
            f"copied {len(tables)} raw tables, {rows:,} rows, to Spark in "
            f"{time.perf_counter() - started:.1f} s"
        )
        label = "full"
    elapsed, counts, failures = dbt_build(work_dir, label)
    print_build(label, elapsed, counts, failures)
    ok = ok and not failures
    if args.incremental:
        log = (work_dir / "logs-incremental" / "dbt.log").read_text()
        overwritten = sorted(set(re.findall(r"insert overwrite table (marts\.\w+)", log)))
        print(
            "incremental facts that replaced month partitions (insert overwrite): "
            + (", ".join(overwritten) or "none")
        )
        ok = ok and len(overwritten) == 3
        rebuilt, months, first = spark.sql(
            "select count(distinct case when loaded_through > "
            f"timestamp '{first_loaded_through}' then month end), count(distinct month), "
            f"min(case when loaded_through > timestamp '{first_loaded_through}' then month end) "
            "from marts.fct_pupil_month"
        ).first()
        print(
            f"fct_pupil_month: {rebuilt} of {months} months rebuilt (from {first}); the others "
            "kept from the first build with their lineage (loaded_through, so not compared)"
        )
    started = time.perf_counter()
    ignore = ("loaded_through", "built_at") if args.incremental else ("built_at",)
    equal = print_comparison(compare(duck, spark, work_dir, ignore))
    print(f"compared in {time.perf_counter() - started:.1f} s")
    ok = ok and equal
    spark.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
