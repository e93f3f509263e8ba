"""Whether a `dbt build` would change the warehouse: a monthly run without new deliveries
should not pay for a full build (at demo size 30 s of a 75 s rerun; dbt rebuilds every
table model and reruns every test even when nothing it reads changed).

A build is reusable when everything dbt reads and everything it wrote is as the last
successful build left it (state in ``pipeline.dbt_build_state``). When only raw tables
changed, the build is an update: the nodes those tables reach are built and tested, the
others keep what the last build made and its test results (affected.py).

Design notes: docs/design/orchestration.md#orchestrationdefswarehousereusepy.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import duckdb

from orchestration.defs.warehouse import affected
from pilotmonitor.dbt_project import DBT_PROJECT_DIR, project_files
from pilotmonitor.part_digest import PART_COLUMN, STAMP_COLUMN, Part, contents
from pilotmonitor.table_digest import (
    column_names,
    columns_of,
    partition_digests,
    table_digest,
    table_exists,
    tables_in,
)
from pilotmonitor.warehouse_access import relations

SCHEMA = "pipeline"
TABLE = "dbt_build_state"
RAW_SCHEMA = "raw"
# the delivery register: its digest is kept per source, so that one source's new delivery
# reaches only what reads that source (affected.py)
REGISTER_TABLE = affected.REGISTER_TABLE
REGISTER_PART_COLUMN = "source"
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
class BuildInputs:
    """What dbt reads: ``environment`` (target, versions, project files) and a digest per
    raw table dbt declares as a source (per source for the register: "deliveries/<source>")."""

    environment: str
    raw: dict[str, str]

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.environment.encode())
        for name, value in sorted(self.raw.items()):
            digest.update(f"\n{name}={value}".encode())
        return digest.hexdigest()

    def changed_since(self, earlier: dict[str, str]) -> tuple[set[str], set[str]]:
        """(raw tables, register parts) whose digest differs from ``earlier``, or that
        appeared or went."""
        names = {n for n in self.raw.keys() | earlier.keys() if self.raw.get(n) != earlier.get(n)}
        parts = {n.split("/", 1)[1] for n in names if n.startswith(f"{REGISTER_TABLE}/")}
        return {n for n in names if "/" not in n}, parts


@dataclass(frozen=True)
class BuildState:
    run_id: str
    built_at: datetime
    inputs: str
    outputs: str
    checks: list[RecordedCheck]
    raw: dict[str, str] | None = None  # per-table digests (None: recorded before they were)
    environment: str | None = None
    # the stamped tables' digests per month (``read_outputs``; empty: recorded before)
    parts: dict[str, dict[str, Part]] = field(default_factory=dict)


def environment_fingerprint(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """The dbt target, the versions of what runs the build and every file dbt parses."""
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
    return digest.hexdigest()


def raw_digests(
    conn: duckdb.DuckDBPyConnection, source_tables: Iterable[str] | None = None
) -> dict[str, str]:
    """A digest per raw table dbt reads (``source_tables``; None: every table of schema
    raw): columns, row count, sum of row hashes; the register's per source."""
    read = None if source_tables is None else set(source_tables)
    digests: dict[str, str] = {}
    for table in tables_in(conn, RAW_SCHEMA, base_tables_only=True):
        if read is not None and table not in read:
            continue
        if table == REGISTER_TABLE and REGISTER_PART_COLUMN in column_names(
            conn, RAW_SCHEMA, table
        ):
            digests[table] = f"{RAW_SCHEMA}.{table}|{columns_of(conn, RAW_SCHEMA, table)}"
            for part, value in partition_digests(
                conn, RAW_SCHEMA, table, REGISTER_PART_COLUMN
            ).items():
                digests[f"{table}/{part}"] = value
        else:
            digests[table] = table_digest(conn, RAW_SCHEMA, table, content=True)
    return digests


def read_inputs(
    conn: duckdb.DuckDBPyConnection,
    project_dir: Path = DBT_PROJECT_DIR,
    source_tables: Iterable[str] | None = None,
) -> BuildInputs:
    return BuildInputs(environment_fingerprint(project_dir), raw_digests(conn, source_tables))


def inputs_fingerprint(
    conn: duckdb.DuckDBPyConnection,
    project_dir: Path = DBT_PROJECT_DIR,
    source_tables: Iterable[str] | None = None,
) -> str:
    """What dbt reads, as one fingerprint (``BuildInputs``)."""
    return read_inputs(conn, project_dir, source_tables).fingerprint


def read_outputs(
    conn: duckdb.DuckDBPyConnection,
    schemas: list[str],
    kept: Mapping[str, str] | None = None,
    known: Mapping[str, dict[str, Part]] | None = None,
) -> tuple[dict[str, str], dict[str, dict[str, Part]]]:
    """What dbt wrote, per relation ("schema.name"): its columns and content (row count,
    sum of row hashes) for a table, its definition for a view; and, for a table with dbt's
    build stamp and a month column (an incremental fact), its digest per month, from which
    its digest is made.

    ``kept``: digests taken earlier of relations known not to have been written since (the
    nodes an update build left alone, hashed before it started); they are not read again.
    ``known``: recorded digests per month of the stamped tables: a month whose row count and
    stamp are as recorded keeps its digest (part_digest.py: at the national pool hashing the
    pupil panel took 27 s before and again after each monthly build; its stamps, 1.7 s)."""
    kept, known = kept or {}, known or {}
    digests: dict[str, str] = {}
    parts: dict[str, dict[str, Part]] = {}
    for schema, table, kind, definition in relations(conn, schemas):
        name = f"{schema}.{table}"
        if name in kept:
            digests[name] = kept[name]
            if name in known:
                parts[name] = known[name]
            continue
        columns = columns_of(conn, schema, table)
        if kind != "BASE TABLE":  # counting a view's rows would run it
            digests[name] = f"{kind} {name}|{columns}|{definition}"
        elif {PART_COLUMN, STAMP_COLUMN} <= {column for column, _ in columns}:
            parts[name] = contents(conn, schema, table, known.get(name))
            digest = hashlib.sha256(f"{name}|{columns}".encode())
            for key in sorted(parts[name]):
                digest.update(f"\n{key}={parts[name][key].digest}".encode())
            digests[name] = digest.hexdigest()
        else:  # content too: a same-count edit by hand must not be published
            digests[name] = table_digest(conn, schema, table)
    return digests, parts


def output_digests(
    conn: duckdb.DuckDBPyConnection,
    schemas: list[str],
    kept: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``read_outputs``' digests, every table hashed (no record of its months)."""
    return read_outputs(conn, schemas, kept)[0]


def fingerprint_of(digests: Mapping[str, str]) -> str:
    """One fingerprint over ``output_digests``, in its order (the relations sorted)."""
    digest = hashlib.sha256()
    for value in digests.values():
        digest.update(value.encode())
    return digest.hexdigest()


def outputs_fingerprint(conn: duckdb.DuckDBPyConnection, schemas: list[str]) -> str:
    """What dbt wrote: every relation of these schemas with its columns, and the content
    (row count, sum of row hashes) of each table or the definition of each view."""
    return fingerprint_of(output_digests(conn, schemas))


_COLUMNS = (
    "run_id varchar, built_at timestamp, inputs_fingerprint varchar, outputs_fingerprint "
    "varchar, checks varchar, raw_digests varchar, environment_fingerprint varchar, "
    "output_parts varchar"
)


def _parts_to_json(parts: Mapping[str, dict[str, Part]]) -> str:
    return json.dumps(
        {
            name: {
                key: [part.digest, part.rows, part.built_at.isoformat() if part.built_at else None]
                for key, part in table_parts.items()
            }
            for name, table_parts in parts.items()
        },
        sort_keys=True,
    )


def _parts_from_json(text: str | None) -> dict[str, dict[str, Part]]:
    if not text:
        return {}
    return {
        name: {
            key: Part(digest, rows, datetime.fromisoformat(built_at) if built_at else None)
            for key, (digest, rows, built_at) in table_parts.items()
        }
        for name, table_parts in json.loads(text).items()
    }


def _has_state_table(conn: duckdb.DuckDBPyConnection) -> bool:
    return table_exists(conn, SCHEMA, TABLE)


def recorded_state(conn: duckdb.DuckDBPyConnection) -> BuildState | None:
    if not _has_state_table(conn):
        return None
    columns = column_names(conn, SCHEMA, TABLE)
    has_digests = "raw_digests" in columns
    has_parts = "output_parts" in columns
    row = conn.execute(
        "select run_id, built_at, inputs_fingerprint, outputs_fingerprint, checks"
        + (", raw_digests, environment_fingerprint" if has_digests else "")
        + (", output_parts" if has_parts else "")
        + f" from {SCHEMA}.{TABLE}"
    ).fetchone()
    if row is None:
        return None
    checks = [RecordedCheck(**c) for c in json.loads(row[4])]
    raw = json.loads(row[5]) if has_digests and row[5] is not None else None
    environment = row[6] if has_digests else None
    parts = _parts_from_json(row[-1]) if has_parts else {}
    return BuildState(row[0], row[1], row[2], row[3], checks, raw, environment, parts)


def forget(conn: duckdb.DuckDBPyConnection) -> None:
    """Before a build: whatever happens next, the recorded state no longer describes the
    warehouse."""
    if _has_state_table(conn):
        conn.execute(f"delete from {SCHEMA}.{TABLE}")


def record(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    inputs: BuildInputs,
    outputs: str,
    checks: list[RecordedCheck],
    parts: Mapping[str, dict[str, Part]] | None = None,
) -> None:
    """After a successful build of the whole warehouse (every node built, or the nodes a
    change reached built and the others kept with their recorded test results); ``parts``:
    ``read_outputs``' digests per month of the stamped tables."""
    conn.execute(f"create schema if not exists {SCHEMA}")
    if _has_state_table(conn) and not {"raw_digests", "output_parts"} <= column_names(
        conn, SCHEMA, TABLE
    ):
        conn.execute(f"drop table {SCHEMA}.{TABLE}")  # recorded by an older version
    conn.execute(f"create table if not exists {SCHEMA}.{TABLE} ({_COLUMNS})")
    payload = json.dumps([c.__dict__ for c in checks], sort_keys=True)
    conn.execute("begin transaction")
    try:
        conn.execute(f"delete from {SCHEMA}.{TABLE}")
        conn.execute(
            f"insert into {SCHEMA}.{TABLE} values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                datetime.now(UTC).replace(tzinfo=None),
                inputs.fingerprint,
                outputs,
                payload,
                json.dumps(inputs.raw, sort_keys=True),
                inputs.environment,
                _parts_to_json(parts or {}),
            ],
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


@dataclass(frozen=True)
class BuildPlan:
    """What the next `dbt build` must do: ``"reuse"`` (nothing dbt reads or wrote changed),
    ``"update"`` (only raw tables changed: build what they reach, keep the rest) or
    ``"full"``."""

    kind: str
    why: str
    inputs: BuildInputs
    state: BuildState | None = None
    changed_tables: frozenset[str] = frozenset()
    changed_sources: frozenset[str] = frozenset()  # register parts: the sources' names
    # update only: the digest of each relation dbt wrote, as found before the build, and
    # the digests per month of its stamped tables
    outputs: Mapping[str, str] = field(default_factory=dict)
    parts: Mapping[str, dict[str, Part]] = field(default_factory=dict)


def plan_build(
    conn: duckdb.DuckDBPyConnection,
    schemas: list[str],
    project_dir: Path = DBT_PROJECT_DIR,
    source_tables: Iterable[str] | None = None,
) -> BuildPlan:
    inputs = read_inputs(conn, project_dir, source_tables)
    if os.environ.get(TARGET_VARIABLE, "duckdb") != "duckdb":
        why = "dbt builds a server target: this DuckDB file does not show its state"
        return BuildPlan("full", why, inputs)
    state = recorded_state(conn)
    if state is None:
        return BuildPlan("full", "no recorded successful build", inputs)
    same_inputs = state.inputs == inputs.fingerprint
    if not same_inputs and state.raw is None:
        why = "the recorded build has no digest per raw table (an older version recorded it)"
        return BuildPlan("full", why, inputs)
    if not same_inputs and state.environment != inputs.environment:
        return BuildPlan("full", "dbt project, dbt version or target changed", inputs)
    outputs, parts = read_outputs(conn, schemas, known=state.parts)
    if state.outputs != fingerprint_of(outputs):
        return BuildPlan("full", "warehouse tables changed outside dbt build", inputs)
    build = f"the build of run {state.run_id[:8]}"
    if same_inputs:
        why = f"raw data, dbt project and dbt unchanged since {build}"
        return BuildPlan("reuse", why, inputs, state)
    tables, sources = inputs.changed_since(state.raw or {})
    if REGISTER_TABLE in tables:
        why = "the delivery register's columns changed"
        return BuildPlan("full", why, inputs)
    changed = ", ".join([*sorted(tables), *(f"deliveries of {s}" for s in sorted(sources))])
    return BuildPlan(
        "update",
        f"changed since {build}: {changed}",
        inputs,
        state,
        frozenset(tables),
        frozenset(sources),
        outputs,
        parts,
    )


__all__ = [
    "BuildInputs",
    "BuildPlan",
    "BuildState",
    "RecordedCheck",
    "environment_fingerprint",
    "fingerprint_of",
    "forget",
    "inputs_fingerprint",
    "output_digests",
    "outputs_fingerprint",
    "plan_build",
    "raw_digests",
    "raw_source_tables",
    "read_inputs",
    "read_outputs",
    "record",
    "recorded_state",
]
