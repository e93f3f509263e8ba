"""Whether a `dbt build` would change the warehouse: a monthly run without new deliveries
should not pay for a full build (at demo size 30 s of a 75 s rerun; dbt rebuilds every
table model and reruns every test even when nothing it reads changed).

A build is reusable when everything dbt reads and everything it wrote is as the last
successful full build left it (state in ``pipeline.dbt_build_state``).

Design notes: docs/design/orchestration.md#orchestrationdefswarehousereusepy.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import duckdb

from pilotmonitor.dbt_project import DBT_PROJECT_DIR, project_files
from pilotmonitor.table_digest import columns_of, table_digest, table_exists, tables_in

SCHEMA = "pipeline"
TABLE = "dbt_build_state"
RAW_SCHEMA = "raw"
# dagster-dbt maps tests to checks; duckdb is the engine that runs the SQL
_PACKAGES = ("dbt-core", "dbt-duckdb", "dagster-dbt", "duckdb")
TARGET_VARIABLE = "PILOTMONITOR_DBT_TARGET"  # read by profiles.yml


@dataclass(frozen=True)
class RecordedCheck:
    """One dbt test result of the recorded build, as Dagster reported it."""

    asset_key: list[str]
    check_name: str
    passed: bool
    severity: str  # "ERROR" | "WARN"
    description: str | None = None


@dataclass(frozen=True)
class BuildState:
    run_id: str
    built_at: datetime
    inputs: str
    outputs: str
    checks: list[RecordedCheck]


def inputs_fingerprint(
    conn: duckdb.DuckDBPyConnection,
    project_dir: Path = DBT_PROJECT_DIR,
    source_tables: Iterable[str] | None = None,
) -> str:
    """What dbt reads: its versions, the project's files and the content of the raw tables
    it declares as sources (``source_tables``; None: every table of schema raw)."""
    digest = hashlib.sha256()
    # profiles.yml picks the target from the environment (a server target is not this file)
    digest.update(f"target={os.environ.get(TARGET_VARIABLE, 'duckdb')}\n".encode())
    for package in _PACKAGES:
        try:
            digest.update(f"{package}=={metadata.version(package)}\n".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} missing\n".encode())
    for path in project_files(project_dir):
        digest.update(
            f"{path.relative_to(project_dir).as_posix()}:{path.stat().st_size}\n".encode()
        )
        digest.update(path.read_bytes())
    read = None if source_tables is None else set(source_tables)
    for table in tables_in(conn, RAW_SCHEMA, base_tables_only=True):
        if read is None or table in read:
            digest.update(table_digest(conn, RAW_SCHEMA, table, content=True).encode())
    return digest.hexdigest()


def outputs_fingerprint(conn: duckdb.DuckDBPyConnection, schemas: list[str]) -> str:
    """What dbt wrote: every relation of these schemas with its columns, and the content
    (row count, sum of row hashes) of each table or the definition of each view."""
    digest = hashlib.sha256()
    rows = conn.execute(
        "select table_schema, table_name, table_type from information_schema.tables where "
        "table_schema in (select unnest(?)) order by 1, 2",
        [sorted(set(schemas))],
    ).fetchall()
    for schema, table, kind in rows:
        if kind == "BASE TABLE":  # content too: a same-count edit by hand must not be published
            digest.update(table_digest(conn, schema, table).encode())
        else:  # counting a view's rows would run it
            definition = conn.execute(
                "select sql from duckdb_views() where schema_name = ? and view_name = ?",
                [schema, table],
            ).fetchone()
            digest.update(
                f"{kind} {schema}.{table}|{columns_of(conn, schema, table)}|{definition}".encode()
            )
    return digest.hexdigest()


def _has_state_table(conn: duckdb.DuckDBPyConnection) -> bool:
    return table_exists(conn, SCHEMA, TABLE)


def recorded_state(conn: duckdb.DuckDBPyConnection) -> BuildState | None:
    if not _has_state_table(conn):
        return None
    row = conn.execute(
        "select run_id, built_at, inputs_fingerprint, outputs_fingerprint, checks from "
        f"{SCHEMA}.{TABLE}"
    ).fetchone()
    if row is None:
        return None
    checks = [RecordedCheck(**c) for c in json.loads(row[4])]
    return BuildState(row[0], row[1], row[2], row[3], checks)


def forget(conn: duckdb.DuckDBPyConnection) -> None:
    """Before a build: whatever happens next, the recorded state no longer describes the
    warehouse."""
    if _has_state_table(conn):
        conn.execute(f"delete from {SCHEMA}.{TABLE}")


def record(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    inputs: str,
    outputs: str,
    checks: list[RecordedCheck],
) -> None:
    """After a successful full build."""
    conn.execute(f"create schema if not exists {SCHEMA}")
    conn.execute(
        f"create table if not exists {SCHEMA}.{TABLE} (run_id varchar, built_at timestamp, "
        "inputs_fingerprint varchar, outputs_fingerprint varchar, checks varchar)"
    )
    payload = json.dumps([c.__dict__ for c in checks], sort_keys=True)
    conn.execute("begin transaction")
    try:
        conn.execute(f"delete from {SCHEMA}.{TABLE}")
        conn.execute(
            f"insert into {SCHEMA}.{TABLE} values (?, ?, ?, ?, ?)",
            [run_id, datetime.now(UTC).replace(tzinfo=None), inputs, outputs, payload],
        )
        conn.execute("commit")
    except Exception:
        conn.execute("rollback")
        raise


def raw_source_tables(manifest: dict) -> set[str]:
    """The tables of schema raw that the project declares as dbt sources."""
    return {
        node.get("identifier") or node["name"]
        for node in manifest.get("sources", {}).values()
        if node.get("schema") == RAW_SCHEMA
    }


def reusable_build(
    conn: duckdb.DuckDBPyConnection,
    schemas: list[str],
    project_dir: Path = DBT_PROJECT_DIR,
    source_tables: Iterable[str] | None = None,
) -> tuple[BuildState | None, str, str]:
    """(the recorded build if the warehouse is exactly what a build would make now, why
    (not), the current inputs fingerprint)."""
    inputs = inputs_fingerprint(conn, project_dir, source_tables)
    if os.environ.get(TARGET_VARIABLE, "duckdb") != "duckdb":
        return None, "dbt builds a server target: this DuckDB file does not show its state", inputs
    state = recorded_state(conn)
    if state is None:
        return None, "no recorded successful full build", inputs
    if state.inputs != inputs:
        return None, "raw data, dbt project or dbt version changed", inputs
    if state.outputs != outputs_fingerprint(conn, schemas):
        return None, "warehouse tables changed outside dbt build", inputs
    return (
        state,
        f"raw data, dbt project and dbt unchanged since the build of run {state.run_id[:8]}",
        inputs,
    )


__all__ = [
    "BuildState",
    "RecordedCheck",
    "forget",
    "inputs_fingerprint",
    "outputs_fingerprint",
    "raw_source_tables",
    "record",
    "recorded_state",
    "reusable_build",
]
