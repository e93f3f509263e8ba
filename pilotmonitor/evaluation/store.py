"""Provenance, the warehouse table ``results.effect_estimates`` and the JSON artifact.

* ``results.effect_estimates``: the estimates of the latest successful analysis run
  (replaced in one transaction).
* ``results.effect_estimates_history``: every run's rows, appended (a re-run of the same
  run id replaces its own rows).
* ``<data dir>/results/<run_id>.json``: the run's rows and provenance.

Provenance columns: run_id, computed_at (UTC), input_hash (sha256 over a deterministic
dump of every published column read), code_version (git commit, ``+dirty`` when the
analysis code has uncommitted changes; else the package version), package_versions (JSON), plan_hash
(sha256 of the pilot's effective analysis plan, every parameter), seed (the plan's).

* ``results.analysis_plans``: each effective plan ever run (plan_hash, pilot_id, plan as
  JSON), so ``pilotmonitor plan diff`` and ``reproduce`` see the plan behind any run.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import duckdb
import pandas as pd

from pilotmonitor import atomic_write
from pilotmonitor.code_fingerprint import code_fingerprint
from pilotmonitor.code_fingerprint import code_version as committed_code_version
from pilotmonitor.pilots import Pilot
from pilotmonitor.table_digest import column_names, table_exists

from .sample import PublishedInputs, read_published
from .spec import PROVENANCE_SCHEMA, RESULT_COLUMNS, RESULT_SCHEMA, effective_plan, plan_hash

SCHEMA = "results"
TABLE = "effect_estimates"
PACKAGES = ("statsmodels", "numpy", "pandas", "scipy", "linearmodels", "duckdb", "pyfixest")

PLANS_TABLE = "analysis_plans"
COLUMN_TYPES = {**RESULT_SCHEMA, **PROVENANCE_SCHEMA}
PROVENANCE = tuple(PROVENANCE_SCHEMA)


def package_versions(names: tuple[str, ...] = PACKAGES) -> str:
    """JSON {package: installed version or null}."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return json.dumps(versions, sort_keys=True)


def code_version() -> str:
    version = committed_code_version()
    if version is not None:
        return version
    try:
        return "pilotmonitor " + metadata.version("pilotmonitor")
    except metadata.PackageNotFoundError:
        return "unknown"


def compute_effect_estimates(
    conn: duckdb.DuckDBPyConnection,
    pilots: list[Pilot],
    run_id: str | None = None,
    progress=None,
    inputs: PublishedInputs | None = None,
    workers: int = 1,
) -> pd.DataFrame:
    """Read published.* (unless ``inputs`` are given), run every pilot's plan (in ``workers``
    processes), add provenance columns."""
    from .plan import run_plans  # the estimators: imported only when estimates are computed

    inputs = read_published(conn) if inputs is None else inputs
    table = run_plans(pilots, inputs, progress=progress, workers=workers)
    table["run_id"] = run_id or uuid.uuid4().hex
    table["computed_at"] = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    table["input_hash"] = inputs.content_hash()
    table["code_version"] = code_version()
    table["package_versions"] = package_versions()
    return table[list(COLUMN_TYPES)]


def reusable_estimates(
    conn: duckdb.DuckDBPyConnection, pilots: list[Pilot], inputs: PublishedInputs
) -> tuple[pd.DataFrame | None, str]:
    """The stored ``results.effect_estimates`` when recomputing them would give the same
    table: the same published inputs (input hash), the same plans (plan hash per pilot,
    the same pilots; the hash covers every parameter, the seed included), committed code
    and package versions (everything is deterministic given these). Returns (table or None, why not
    reused / what was reused). Uncommitted code changes (``+dirty``) are never trusted."""
    if not table_exists(conn, SCHEMA, TABLE):
        return None, "no stored estimates"
    if not set(COLUMN_TYPES) <= column_names(conn, SCHEMA, TABLE):
        return None, "results schema changed"
    stored = conn.execute(f"select * from {SCHEMA}.{TABLE}").df()
    if stored.empty:
        return None, "no stored estimates"
    wanted = {
        "input_hash": {inputs.content_hash()},
        "package_versions": {package_versions()},
        "run_id": set(stored["run_id"].iloc[:1]),
    }
    for column, values in wanted.items():
        if set(stored[column].dropna().unique().tolist()) != values:
            return None, f"{column} changed"
    now = code_fingerprint()
    if now is None:
        return None, "uncommitted code changes (or no git checkout)"
    # a commit touching only docs, tests or dbt computes the same numbers from the same inputs
    stored_code = set(stored["code_version"].dropna().unique().tolist())
    if len(stored_code) != 1 or code_fingerprint(stored_code.pop()) != now:
        return None, "analysis code changed"
    if set(zip(stored["pilot_id"], stored["plan_hash"])) != {(p.id, plan_hash(p)) for p in pilots}:
        return None, "pilots or plans changed"
    return stored[
        list(COLUMN_TYPES)
    ], f"run {stored['run_id'].iloc[0]}: inputs, plans, analysis code and packages unchanged"


def _create_or_migrate(conn: duckdb.DuckDBPyConnection, table: str) -> None:
    """Create a results table, or add the columns a warehouse from an older version lacks
    (rows written before keep NULL there)."""
    cols = ", ".join(f"{c} {t}" for c, t in COLUMN_TYPES.items())
    conn.execute(f"create table if not exists {SCHEMA}.{table} ({cols})")
    have = column_names(conn, SCHEMA, table)
    for column, kind in COLUMN_TYPES.items():
        if column not in have:
            conn.execute(f"alter table {SCHEMA}.{table} add column {column} {kind}")


def write_plans(conn: duckdb.DuckDBPyConnection, pilots: list[Pilot]) -> None:
    """Keep each pilot's effective plan under its hash (once per distinct plan)."""
    conn.execute(f"create schema if not exists {SCHEMA}")
    conn.execute(
        f"create table if not exists {SCHEMA}.{PLANS_TABLE} (plan_hash VARCHAR, pilot_id VARCHAR, "
        "plan_json VARCHAR, primary key (plan_hash, pilot_id))"
    )
    for pilot in pilots:
        conn.execute(
            f"insert or ignore into {SCHEMA}.{PLANS_TABLE} values (?, ?, ?)",
            [plan_hash(pilot), pilot.id, json.dumps(effective_plan(pilot), sort_keys=True)],
        )


def stored_plan(conn: duckdb.DuckDBPyConnection, pilot_id: str, digest: str) -> dict | None:
    """The effective plan stored under ``digest`` for ``pilot_id`` (None if unknown)."""
    try:
        row = conn.execute(
            f"select plan_json from {SCHEMA}.{PLANS_TABLE} where pilot_id = ? and plan_hash = ?",
            [pilot_id, digest],
        ).fetchone()
    except duckdb.CatalogException:
        return None
    return json.loads(row[0]) if row else None


def _insert_rows(
    conn: duckdb.DuckDBPyConnection, table: pd.DataFrame, pilots: list[Pilot], latest: bool
) -> None:
    """One run's rows into the history (replacing that run's rows) and, when ``latest``,
    as the latest estimates; the plans beside them. Inside the caller's transaction."""
    names = ", ".join(COLUMN_TYPES)
    conn.register("_effect_estimates_new", table)
    try:
        write_plans(conn, list(pilots))
        if latest:
            conn.execute(f"delete from {SCHEMA}.{TABLE}")
            conn.execute(
                f"insert into {SCHEMA}.{TABLE} ({names}) select {names} from _effect_estimates_new"
            )
        conn.execute(
            f"delete from {SCHEMA}.{TABLE}_history where run_id in (select distinct run_id from "
            "_effect_estimates_new)"
        )
        conn.execute(
            f"insert into {SCHEMA}.{TABLE}_history ({names}) select {names} from "
            "_effect_estimates_new"
        )
    finally:
        conn.unregister("_effect_estimates_new")


def write_effect_estimates(
    conn: duckdb.DuckDBPyConnection, table: pd.DataFrame, pilots: list[Pilot] = ()
) -> None:
    conn.execute(f"create schema if not exists {SCHEMA}")
    _create_or_migrate(conn, TABLE)
    _create_or_migrate(conn, f"{TABLE}_history")
    conn.execute("begin transaction")
    try:
        _insert_rows(conn, table, list(pilots), latest=True)
        conn.execute("commit")
    except Exception:
        conn.execute("rollback")
        raise


def append_history(
    conn: duckdb.DuckDBPyConnection, table: pd.DataFrame, pilots: list[Pilot]
) -> None:
    """Keep a run's rows in ``effect_estimates_history`` (and its plans) without making
    them the latest estimates: an evaluation round's estimates (pilotmonitor.rounds).
    Runs inside the caller's transaction."""
    conn.execute(f"create schema if not exists {SCHEMA}")
    _create_or_migrate(conn, f"{TABLE}_history")
    _insert_rows(conn, table, pilots, latest=False)


def _clean(v):
    if v is None or (isinstance(v, float) and not math.isfinite(v)) or v is pd.NA:
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if hasattr(v, "item"):
        return _clean(v.item())
    return v


def write_artifact(
    table: pd.DataFrame, results_dir: Path, plans: dict[str, dict] | None = None
) -> Path:
    """The run's rows and provenance as JSON (``plans``: pilot id -> effective plan)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    run_id = str(table["run_id"].iloc[0]) if len(table) else uuid.uuid4().hex
    first = table.iloc[0] if len(table) else None
    doc = {
        "run_id": run_id,
        "computed_at": _clean(first["computed_at"]) if first is not None else None,
        "input_hash": first["input_hash"] if first is not None else None,
        "code_version": first["code_version"] if first is not None else None,
        "package_versions": json.loads(first["package_versions"]) if first is not None else None,
        "seeds": {k: _clean(v) for k, v in sorted(set(zip(table["pilot_id"], table["seed"])))},
        "plan_hashes": dict(sorted(set(zip(table["pilot_id"], table["plan_hash"])))),
        "plans": plans or {},
        "columns": list(table.columns),
        "rows": [
            {c: _clean(v) for c, v in row.items() if c not in PROVENANCE or c == "plan_hash"}
            for row in table.to_dict(orient="records")
        ],
    }
    return atomic_write.write_text(
        results_dir / f"{run_id}.json", json.dumps(doc, indent=1, sort_keys=False, default=str)
    )


def result_numbers(table: pd.DataFrame) -> pd.DataFrame:
    """The table without run-specific provenance (run_id, computed_at): what must be
    identical when the same inputs are analysed again."""
    return table.drop(columns=["run_id", "computed_at"]).reset_index(drop=True)


__all__ = [
    "compute_effect_estimates",
    "reusable_estimates",
    "write_effect_estimates",
    "write_artifact",
    "result_numbers",
    "RESULT_COLUMNS",
    "COLUMN_TYPES",
    "write_plans",
    "stored_plan",
]
