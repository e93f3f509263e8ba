"""The warehouse: every dbt model and seed of dbt_project/ as a Dagster asset, built with
`dbt build`, its dbt tests as asset checks.

A dbt source ``raw.<table>`` is the asset that writes that table, derived from the lists
the writers use, never a second hand-kept list. Models are in group "warehouse", seeds in
group "reference".

Design notes: docs/design/orchestration.md#orchestrationdefswarehouseassetspy.
"""

import importlib.metadata
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import cache, cached_property
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)
from packaging.version import Version

from orchestration.defs.ingestion import assets as ingestion_assets
from orchestration.defs.landing import assets as landing_assets
from orchestration.defs.registry import assets as registry_assets
from orchestration.defs.warehouse import affected, reuse
from orchestration.defs.warehouse.project import dbt_project, patched_environ
from orchestration.defs.warehouse.schema_upgrade import drop_stale_incremental_tables
from orchestration.resources import WarehouseResource
from pilotmonitor import run_helpers
from pilotmonitor.dbt_project import dbt_env, dbt_executable, ensure_manifest
from pilotmonitor.ingest.sources import SOURCES
from pilotmonitor.part_digest import Part
from pilotmonitor.warehouse_access import warehouse as warehouse_at

MODEL_GROUP = "warehouse"
SEED_GROUP = "reference"
RAW_SOURCE = "raw"  # the dbt source name of schema raw


@cache
def raw_table_writers() -> Mapping[str, tuple[dg.AssetKey, ...]]:
    """raw table name -> the assets that write it, in a stable order."""
    writers: dict[str, list[dg.AssetKey]] = defaultdict(list)
    for table in landing_assets.TABLES:
        writers[table].append(landing_assets.landing_inventory.key)
    for source in SOURCES:
        for table in (*source.tables, *ingestion_assets.REGISTER_TABLES):
            writers[table].append(dg.AssetKey(ingestion_assets.asset_name(source)))
    for table in registry_assets.TABLES:
        writers[table].append(registry_assets.pilot_registry.key)
    return {table: tuple(dict.fromkeys(keys)) for table, keys in writers.items()}


def upstream_of_raw_tables(tables: Iterable[str]) -> list[dg.AssetKey]:
    """The assets a node reading these raw tables depends on (see the module's design notes)."""
    tables = list(dict.fromkeys(tables))
    writers = raw_table_writers()
    specific = [t for t in tables if t not in ingestion_assets.REGISTER_TABLES]
    chosen = specific or tables
    keys: list[dg.AssetKey] = []
    for table in chosen:
        keys.extend(writers.get(table, (dg.AssetKey([RAW_SOURCE, table]),)))
    return list(dict.fromkeys(keys))


def _is_raw_source(props: Mapping[str, Any]) -> bool:
    return props.get("resource_type") == "source" and props.get("source_name") == RAW_SOURCE


class PilotmonitorDbtTranslator(DagsterDbtTranslator):
    """dbt sources in schema raw -> the Dagster assets that write them; groups per layer."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if _is_raw_source(dbt_resource_props):
            writers = raw_table_writers().get(dbt_resource_props["name"])
            if writers:
                return writers[0]
        return super().get_asset_key(dbt_resource_props)

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec
        parents = props.get("depends_on", {}).get("nodes", [])
        raw_tables = [
            manifest["sources"][p]["name"]
            for p in parents
            if p in manifest.get("sources", {}) and _is_raw_source(manifest["sources"][p])
        ]
        if not raw_tables:
            return spec
        raw_source_keys = {
            self.get_asset_key(manifest["sources"][p])
            for p in parents
            if p in manifest.get("sources", {}) and _is_raw_source(manifest["sources"][p])
        }
        other_deps = [dep for dep in spec.deps if dep.asset_key not in raw_source_keys]
        other_keys = {dep.asset_key for dep in other_deps}
        raw_deps = [
            dg.AssetDep(key) for key in upstream_of_raw_tables(raw_tables) if key not in other_keys
        ]
        return spec.replace_attributes(deps=[*other_deps, *raw_deps])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        configured = super().get_group_name(dbt_resource_props)
        if configured:
            return configured
        return SEED_GROUP if dbt_resource_props.get("resource_type") == "seed" else MODEL_GROUP


translator = PilotmonitorDbtTranslator(
    settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True,  # dbt tests on models and seeds -> asset checks
        enable_duplicate_source_asset_keys=True,  # several raw tables share a writer asset
    )
)


@dbt_assets(
    manifest=ensure_manifest(),
    project=dbt_project,
    dagster_dbt_translator=translator,
    name="warehouse_dbt_build",
)
def warehouse_dbt_assets(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    """`dbt build` of the selected models and seeds, with their tests, on the warehouse of
    the run's settings; skipped when nothing it reads changed, limited to what the changed
    raw tables reach when only they changed (reuse.py)."""
    warehouse_path = warehouse.path()
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    where = warehouse_at(warehouse_path).describe()  # the server's name on PostgreSQL
    full = context.selected_asset_keys == set(
        warehouse_dbt_assets.keys
    ) and context.selected_asset_check_keys == set(warehouse_dbt_assets.check_keys)
    # This connection is closed before dbt starts: dbt is another process, and DuckDB
    # allows one writer.
    with warehouse.get_connection() as conn:
        try:
            plan = reuse.plan_build(conn, dbt_schemas(), source_tables=dbt_raw_sources())
        except Exception as exc:  # deciding must never block a build
            context.log.warning(
                f"could not decide whether dbt build is needed ({type(exc).__name__}: {exc}); "
                "building"
            )
            plan = None
        if plan is not None and plan.state is not None and not _every_test_once(plan.state.checks):
            why = "the dbt tests defined now differ from the recorded build's"
            plan = reuse.BuildPlan("full", why, plan.inputs)
        update = None
        if full and plan is not None and plan.kind == "update":
            try:
                update = _update(plan)
            except Exception as exc:  # as above: when in doubt, build everything
                context.log.warning(
                    f"could not tell what the changed raw tables reach ({type(exc).__name__}: "
                    f"{exc}); building everything"
                )
        if plan is None or plan.kind != "reuse" or not full:
            reuse.forget(conn)
        if full and update is None and (plan is None or plan.kind != "reuse"):
            # a partial selection must not drop a fact it does not rebuild
            for line in drop_stale_incremental_tables(conn, _manifest()):
                context.log.warning(line)
    why = plan.why if plan is not None else "the recorded state could not be read"
    if full and plan is not None and plan.kind == "reuse":
        context.log.info(f"dbt build not run: {why}")
        yield from _reused(context, plan.state, why, _topological_keys(), plan.state.checks)
        return
    # dbt's unit tests check model code on fixed inputs, not the data: they run in the test
    # suite (tests/warehouse/test_marts.py), as dbt advises, not in every pipeline build
    args = ["build", "--exclude-resource-type", "unit_test"]
    carried: list[reuse.RecordedCheck] = []
    kept_outputs: dict[str, str] | None = None
    if update is not None:
        kept_keys, carried, selectors, kept_outputs = update
        models, tests = len(_topological_keys()), len(_check_names())
        context.log.info(
            f"dbt build of what changed on {where} ({why}): "
            f"{models - len(kept_keys)} of {models} models and seeds, "
            f"{tests - len(carried)} of {tests} tests"
        )
        yield from _reused(
            context, plan.state, f"not reached by what changed ({why})", kept_keys, carried
        )
        if len(kept_keys) == models and len(carried) == tests:  # nothing dbt reads changed
            _record(context, warehouse, plan.inputs, carried, kept_outputs, plan.parts)
            return
        args += ["--indirect-selection", "cautious", "--exclude", " ".join(selectors)]
    else:
        context.log.info(
            f"dbt build on {where} ({why if full else 'a selection of the warehouse'})"
        )
    # One target directory per warehouse, kept between runs: dbt's partial parse
    # (target/partial_parse.msgpack) then re-parses only changed files instead of the whole
    # project (dagster-dbt's default is a fresh directory per run: a full parse every time).
    # One writer per DuckDB file means one build at a time uses it.
    target = warehouse_path.parent / "dbt_target"
    checks: list[reuse.RecordedCheck] = []
    with patched_environ(dbt_env(warehouse_path)):
        # starts the dbt subprocess
        invocation = dbt.cli(args, context=context, target_path=target)
    with run_helpers.later_steps_imported():  # in a `pilotmonitor run`, while dbt works
        for event in invocation.stream():
            if isinstance(event, dg.AssetCheckResult) and event.asset_key is not None:
                checks.append(
                    reuse.RecordedCheck(
                        list(event.asset_key.path),
                        event.check_name or "",
                        bool(event.passed),
                        event.severity.value,
                        event.description,
                    )
                )
            yield event
    # reached only when the build succeeded (a failed one raises above)
    if full and plan is not None:
        results = [*carried, *checks]
        if not _every_test_once(results):
            context.log.warning(
                "dbt build state not recorded: the tests run and kept do not cover every test "
                "once; the next run builds in full"
            )
            return
        _record(context, warehouse, plan.inputs, results, kept_outputs, plan.parts)


def _update(
    plan: reuse.BuildPlan,
) -> tuple[list[dg.AssetKey], list[reuse.RecordedCheck], list[str], dict[str, str]] | None:
    """For a build of what changed: (the assets kept as they are, in dependency order; their
    tests' recorded results; the dbt selectors to exclude; the digests, taken before the
    build, of the relations it leaves alone). None when a changed part of the register
    names no known source (then everything is built)."""
    tables = set(plan.changed_tables)
    tables_of = {source.name: source.tables for source in SOURCES}
    for source in plan.changed_sources:
        if source not in tables_of:
            return None
        tables.update(tables_of[source])
    manifest = _manifest()
    reached = affected.reached_by(manifest, tables, register_changed=bool(plan.changed_sources))
    selectors, kept_tests = affected.kept(manifest, reached)
    kept_keys = [key for key in _topological_keys() if _unique_ids()[key] not in reached]
    by_test = _check_keys_by_test()
    kept_checks = {by_test[test] for test in kept_tests if test in by_test}
    carried = [
        check
        for check in plan.state.checks
        if dg.AssetCheckKey(dg.AssetKey(check.asset_key), check.check_name) in kept_checks
    ]
    # dbt writes only what it builds (the project has no hooks and stores no test
    # failures), and holds the only write connection while it runs: what it leaves alone
    # is as the check before the build found it (after the ZH+NH monthly build 22 -> 10 s)
    outputs = plan.outputs
    kept_outputs = {
        name: outputs[name]
        for name in affected.kept_relations(manifest, reached)
        if name in outputs
    }
    return kept_keys, carried, selectors, kept_outputs


def _record(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    inputs: reuse.BuildInputs,
    checks: list[reuse.RecordedCheck],
    kept_outputs: dict[str, str] | None = None,
    known_parts: Mapping[str, dict[str, Part]] | None = None,
) -> None:
    """Record the successful build; ``kept_outputs``: digests of relations it did not write
    (``_update``), not read again; ``known_parts``: the stamped tables' digests per month
    found before it, kept for the months it did not write."""
    try:
        with warehouse.get_connection() as conn:
            outputs, parts = reuse.read_outputs(
                conn, dbt_schemas(), kept=kept_outputs, known=known_parts
            )
            reuse.record(
                conn, context.run.run_id, inputs, reuse.fingerprint_of(outputs), checks, parts
            )
    except Exception as exc:  # the build itself succeeded; the next run builds again
        context.log.warning(f"dbt build state not recorded ({type(exc).__name__}: {exc})")


def _reused(
    context: dg.AssetExecutionContext,
    state: reuse.BuildState,
    why: str,
    keys: Iterable[dg.AssetKey],
    checks: Iterable[reuse.RecordedCheck],
):
    """The events of nodes not built again: each model and seed of ``keys`` materialized
    (marked as reused), each test of ``checks`` with the recorded build's result."""
    note = f"not rebuilt: {why}"
    for key in keys:
        yield dg.MaterializeResult(asset_key=key, metadata={"reused": note})
    for check in checks:
        yield dg.AssetCheckResult(
            asset_key=dg.AssetKey(check.asset_key),
            check_name=check.check_name,
            passed=check.passed,
            severity=dg.AssetCheckSeverity(check.severity),
            description=f"result of the build of run {state.run_id[:8]} on the same inputs"
            + (f": {check.description}" if check.description else ""),
            metadata={"reused": note},
        )


@cache
def _manifest() -> dict:
    return json.loads(ensure_manifest().read_text(encoding="utf-8"))


@cache
def _unique_ids() -> dict[dg.AssetKey, str]:
    """Asset key -> the dbt node's unique id."""
    return {spec.key: spec.metadata["dagster_dbt/unique_id"] for spec in warehouse_dbt_assets.specs}


@cache
def _check_keys_by_test() -> dict[str, dg.AssetCheckKey]:
    """dbt test unique id -> the asset check Dagster reports it as."""
    return {
        spec.metadata["dagster_dbt/unique_id"]: spec.key
        for spec in warehouse_dbt_assets.check_specs
        if "dagster_dbt/unique_id" in (spec.metadata or {})
    }


def _every_test_once(checks: list[reuse.RecordedCheck]) -> bool:
    """Whether these results are one per dbt test the project defines now."""
    reported = [(tuple(c.asset_key), c.check_name) for c in checks]
    return len(reported) == len(_check_names()) and set(reported) == _check_names()


@cache
def _check_names() -> set[tuple[tuple[str, ...], str]]:
    return {(tuple(key.asset_key.path), key.name) for key in warehouse_dbt_assets.check_keys}


@cache
def _topological_keys() -> list[dg.AssetKey]:
    """The dbt assets, each after its dependencies (Dagster requires that order)."""
    specs = {spec.key: spec for spec in warehouse_dbt_assets.specs}
    graph = {
        key: {dep.asset_key for dep in spec.deps if dep.asset_key in specs}
        for key, spec in specs.items()
    }
    return list(TopologicalSorter(graph).static_order())


@cache
def dbt_schemas() -> list[str]:
    """The schemas the project's models, seeds and snapshots are written to."""
    return sorted(
        {
            node["schema"]
            for node in _manifest()["nodes"].values()
            if node["resource_type"] in ("model", "seed", "snapshot")
        }
    )


@cache
def dbt_raw_sources() -> frozenset[str]:
    """The tables of schema raw the project declares as sources (what dbt reads)."""
    return frozenset(reuse.raw_source_tables(_manifest()))


class WarehouseDbtCli(DbtCliResource):
    """dagster-dbt's dbt resource without two steps it takes before every dbt command that
    this project does not use (about 3 s of each full build, measured on the demo):

    - the dbt adapter opened inside Dagster's process, for row counts and column metadata
      the assets never fetch (``fetch_row_counts``, ``fetch_column_metadata``);
    - ``dbt --version`` in a subprocess, to tell dbt Core from the Fusion engine: the dbt
      next to this Python is the dbt-core package installed here, whose version is known.
    """

    @cached_property
    def _cli_version(self) -> Version:
        if Path(self.dbt_executable).parent == Path(sys.executable).parent:
            return Version(importlib.metadata.version("dbt-core"))
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


def dbt_resource() -> DbtCliResource:
    return WarehouseDbtCli(project_dir=dbt_project, dbt_executable=dbt_executable())
