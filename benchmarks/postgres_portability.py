"""Run the dbt project on PostgreSQL: copy the raw layer of a DuckDB warehouse into a
PostgreSQL database and `dbt build --target postgres` there, then compare the marts with
the DuckDB ones. Shows the warehouse SQL is portable and prints the build time.

Needs a PostgreSQL server (dbt-postgres and psycopg2 are in the default install):

    PILOTMONITOR_PG_HOST=/tmp/pg PILOTMONITOR_PG_PORT=55432 PILOTMONITOR_PG_USER=pilotmonitor \\
        .venv/bin/python benchmarks/postgres_portability.py data/warehouse/pilotmonitor.duckdb

It builds only the dbt project; the whole pipeline on PostgreSQL is
PILOTMONITOR_WAREHOUSE_URL (README, "Running for a team").

The DuckDB warehouse must have been built (`pilotmonitor run`), so its marts can be
compared. The PostgreSQL schemas raw, reference, staging, intermediate and marts are
replaced.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import psycopg2

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT = REPO_ROOT / "dbt_project"
PG_TYPES = {
    "VARCHAR": "text",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "DOUBLE": "double precision",
    "BOOLEAN": "boolean",
}
COMPARED = {  # mart -> key columns; numeric and text columns are compared after sorting
    "fct_school_month": ["school_id", "month"],
    "fct_pupil_month": ["pupil_pseudonym", "month"],
    "fct_youth_care_costs": ["declared_line_id", "month"],
    "fct_referrals": ["referral_id"],
    "fct_care_trajectories": ["trajectory_id"],
    "fct_dropout": ["pupil_pseudonym", "school_id", "enrol_start"],
    "dim_pilot_assignment": ["pilot_id", "school_id"],
}


def pg_connect():
    return psycopg2.connect(
        host=os.environ.get("PILOTMONITOR_PG_HOST", "localhost"),
        port=int(os.environ.get("PILOTMONITOR_PG_PORT", "5432")),
        user=os.environ.get("PILOTMONITOR_PG_USER", "pilotmonitor"),
        password=os.environ.get("PILOTMONITOR_PG_PASSWORD", ""),
        dbname=os.environ.get("PILOTMONITOR_PG_DATABASE", "pilotmonitor"),
    )


def copy_raw(duck: duckdb.DuckDBPyConnection, pg) -> int:
    tables = [
        r[0]
        for r in duck.execute(
            "select table_name from information_schema.tables where table_schema = 'raw' order by 1"
        ).fetchall()
    ]
    total = 0
    with pg.cursor() as cur:
        for schema in ["marts", "intermediate", "staging", "reference", "raw"]:
            cur.execute(f"drop schema if exists {schema} cascade")
        cur.execute("create schema raw")
        for table in tables:
            columns = duck.execute(
                "select column_name, data_type from information_schema.columns where table_schema "
                "= 'raw' and table_name = ? order by ordinal_position",
                [table],
            ).fetchall()
            definition = ", ".join(f"{name} {PG_TYPES.get(kind, 'text')}" for name, kind in columns)
            cur.execute(f"create table raw.{table} ({definition})")
            frame = duck.execute(f"select * from raw.{table}").df()
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False, na_rep="\\N")
            buffer.seek(0)
            cur.copy_expert(f"copy raw.{table} from stdin with (format csv, null '\\N')", buffer)
            total += len(frame)
    pg.commit()
    return total


def compare(duck: duckdb.DuckDBPyConnection, pg) -> list[str]:
    problems = []
    for mart, keys in COMPARED.items():
        ours = duck.execute(f"select * from marts.{mart}").df()
        with pg.cursor() as cur:
            cur.execute(f"select * from marts.{mart}")
            theirs = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
        columns = [
            c for c in ours.columns if c not in {"loaded_through", "built_at", "registry_version"}
        ]
        ours, theirs = (f[columns].sort_values(keys).reset_index(drop=True) for f in (ours, theirs))
        if len(ours) != len(theirs):
            problems.append(f"{mart}: {len(ours)} rows in DuckDB, {len(theirs)} in PostgreSQL")
            continue
        for column in columns:
            a, b = ours[column], theirs[column]
            if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
                same = ((a.astype(float) - b.astype(float)).abs() < 1e-6) | (a.isna() & b.isna())
            else:
                same = (a.astype(str) == b.astype(str)) | (a.isna() & b.isna())
            if not same.all():
                problems.append(f"{mart}.{column}: {int((~same).sum())} rows differ")
    return problems


def main(warehouse: str) -> int:
    env = {**os.environ, "PILOTMONITOR_DBT_TARGET": "postgres", "DO_NOT_TRACK": "1"}
    with duckdb.connect(warehouse, read_only=True) as duck, pg_connect() as pg:
        started = time.perf_counter()
        rows = copy_raw(duck, pg)
        print(f"copied {rows:,} raw rows to PostgreSQL in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        dbt = Path(sys.executable).parent / "dbt"
        result = subprocess.run(
            [
                str(dbt),
                "build",
                "--profiles-dir",
                str(DBT_PROJECT),
                "--project-dir",
                str(DBT_PROJECT),
                "--target-path",
                "/tmp/pilotmonitor-pg-target",
                "--log-path",
                "/tmp/pilotmonitor-pg-target",
            ],
            cwd=DBT_PROJECT,
            env=env,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
        summary = [
            line
            for line in result.stdout.splitlines()
            if "Done." in line or "ERROR" in line or "FAIL" in line or "WARN" in line
        ]
        print("\n".join(summary[-30:]))
        print(f"dbt build on PostgreSQL: {elapsed:.1f} s, exit {result.returncode}")
        if result.returncode != 0:
            print(result.stdout[-4000:])
            return 1
        problems = compare(duck, pg)
    print(
        "marts identical to DuckDB: "
        + ("yes" if not problems else "no\n  " + "\n  ".join(problems))
    )
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(
        main(
            sys.argv[1]
            if len(sys.argv) > 1
            else str(REPO_ROOT / "data" / "warehouse" / "pilotmonitor.duckdb")
        )
    )
