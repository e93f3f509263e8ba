"""dbt build cost: wall time of `dbt build` / `dbt run` against DuckDB executing the same
compiled SQL directly, i.e. how much of a build is orchestration overhead.

    .venv/bin/python benchmarks/dbt_build.py [--scales 1.0,3.0] [--seed N] [--workdir DIR] [--keep]
    .venv/bin/python benchmarks/dbt_build.py --data-dir POOL/data
        # an ingested pool, e.g. kept by scale_summary.py
    .venv/bin/python benchmarks/dbt_build.py --in-place POOL/data/warehouse/pilotmonitor.duckdb
        # a built warehouse measured in place (the country's: no copies), see bench_in_place

Per scale: `pilotmonitor synth` + `pilotmonitor run --demo` into <workdir>/scale-S-seed-N
(reused with --keep when already prepared for the same scale and seed), then a raw-only
base copy of that warehouse. Every measurement starts from a fresh copy of the base at
<workdir>/scratch/pilotmonitor.duckdb (PILOTMONITOR_WAREHOUSE points there, never at the
user's warehouse) and runs dbt as a subprocess on a snapshot of dbt_project taken at start
(target and logs in the workdir), so all scales use the same models:

  1. `dbt build` (seeds + models + data and unit tests), then `dbt build` again with
     nothing new: the no-op incremental cost;
  2. `dbt run` (models only) on a fresh copy;
  3. on a fresh copy: `dbt seed`, `dbt compile`, then every model's compiled SQL from
     target/manifest.json executed in topological order in one DuckDB connection as
     `create or replace view|table <relation> as <sql>`; then the data tests' compiled SQL
     as `select count(*) from (<sql>)`.

Overhead = dbt wall time - direct DuckDB time (dbt startup, parsing, adapter, per-node
work, artifacts). dbt runs nodes on the profile's threads; the direct run is sequential
(DuckDB itself parallelises inside each statement). Prints tables; nothing is asserted.
"""

from __future__ import annotations

import argparse
import graphlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
DBT = str(VENV_BIN / "dbt") if (VENV_BIN / "dbt").exists() else "dbt"
PILOTMONITOR = (
    str(VENV_BIN / "pilotmonitor") if (VENV_BIN / "pilotmonitor").exists() else "pilotmonitor"
)
QUIET_ENV = {
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}
MARKER = "dbt_bench_prepared.json"


def env(**extra: str) -> dict[str, str]:
    merged = {**os.environ, **QUIET_ENV, **extra}
    merged.pop("PILOTMONITOR_DBT_TARGET", None)  # always the DuckDB target
    return merged


def run_cmd(
    cmd: list[str], *, cwd: Path, environ: dict[str, str], check: bool = True
) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=environ, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if check and done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{tail}")
    return seconds, done


# --- data preparation -------------------------------------------------------------------


def raw_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    tables = con.sql(
        "select table_name from information_schema.tables where table_schema = 'raw' and "
        "table_type = 'BASE TABLE' order by 1"
    ).fetchall()
    return {name: con.sql(f'select count(*) from raw."{name}"').fetchone()[0] for (name,) in tables}


def prepare(data_dir: Path, scale: float, seed: int | None, keep: bool) -> dict:
    """Synthetic data + ingestion for one scenario; returns the marker (with the base copy)."""
    marker_path = data_dir / MARKER
    base = data_dir / "dbt_bench_base" / "pilotmonitor.duckdb"
    if keep and marker_path.exists() and base.exists():
        marker = json.loads(marker_path.read_text())
        if marker.get("scale") == scale and marker.get("seed") == seed:
            print(f"  reusing prepared data in {data_dir} (--keep)", flush=True)
            return marker
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    environ = env(PILOTMONITOR_DATA_DIR=str(data_dir), DAGSTER_HOME=str(data_dir / "dagster_home"))
    synth = [PILOTMONITOR, "synth", "--scale", str(scale)] + (
        ["--seed", str(seed)] if seed is not None else []
    )
    print(f"  synth --scale {scale} ...", end=" ", flush=True)
    synth_s, _ = run_cmd(synth, cwd=REPO, environ=environ)
    print(f"{synth_s:.0f} s; run --demo (ingestion) ...", end=" ", flush=True)
    ingest_s, done = run_cmd(
        [PILOTMONITOR, "run", "--demo"], cwd=REPO, environ=environ, check=False
    )
    print(f"{ingest_s:.0f} s", flush=True)
    if not (data_dir / "warehouse" / "pilotmonitor.duckdb").exists():
        raise RuntimeError(
            f"ingestion wrote no warehouse:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    if (
        done.returncode != 0
    ):  # e.g. a failing check or (later) a dbt step: the raw layer is what we need
        print(
            f"  note: `pilotmonitor run` exited {done.returncode}; using its raw layer anyway",
            flush=True,
        )
    return make_base(data_dir, scale, seed, synth_s, ingest_s)


def make_base(
    data_dir: Path, scale: float, seed: int | None, synth_s: float, ingest_s: float
) -> dict:
    """Raw-only base copy of the ingested warehouse, and the marker that --keep checks."""
    warehouse = data_dir / "warehouse" / "pilotmonitor.duckdb"
    base = data_dir / "dbt_bench_base" / "pilotmonitor.duckdb"
    # Raw-only base: whatever else `pilotmonitor run` may build (dbt schemas) is dropped.
    base.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(warehouse, base)
    if warehouse.with_name(warehouse.name + ".wal").exists():
        shutil.copyfile(
            warehouse.with_name(warehouse.name + ".wal"), base.with_name(base.name + ".wal")
        )
    with duckdb.connect(str(base)) as con:
        schemas = [
            s
            for (s,) in con.sql(
                "select schema_name from duckdb_schemas() where database_name = "
                "current_database() and schema_name not in ('raw', 'main') and not internal"
            ).fetchall()
        ]
        for schema in schemas:
            con.execute(f'drop schema "{schema}" cascade')
        counts = raw_counts(con)
        con.execute("checkpoint")
    marker = {
        "scale": scale,
        "seed": seed,
        "synth_seconds": synth_s,
        "ingest_seconds": ingest_s,
        "raw_rows": counts,
        "dropped_schemas": schemas,
    }
    (data_dir / MARKER).write_text(json.dumps(marker, indent=2))
    return marker


# --- dbt and direct execution -----------------------------------------------------------


@dataclass
class Dbt:
    project: Path
    target: Path
    logs: Path
    warehouse: Path

    def __call__(
        self, *args: str, check: bool = False
    ) -> tuple[float, subprocess.CompletedProcess]:
        cmd = [
            DBT,
            *args,
            "--project-dir",
            str(self.project),
            "--profiles-dir",
            str(self.project),
            "--target-path",
            str(self.target),
            "--log-path",
            str(self.logs),
        ]
        return run_cmd(
            cmd,
            cwd=self.project,
            environ=env(PILOTMONITOR_WAREHOUSE=str(self.warehouse)),
            check=check,
        )

    def results(self) -> dict:
        return json.loads((self.target / "run_results.json").read_text())

    def manifest(self) -> dict:
        return json.loads((self.target / "manifest.json").read_text())


@dataclass
class Invocation:
    seconds: float
    exit_code: int
    elapsed: float = 0.0  # run_results elapsed_time: the execution phase
    # sum of node execution_time per resource type
    node_seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)


def invoke(dbt: Dbt, *args: str) -> Invocation:
    results_file = dbt.target / "run_results.json"
    results_file.unlink(missing_ok=True)
    seconds, done = dbt(*args)
    inv = Invocation(seconds, done.returncode)
    if not results_file.exists():
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise RuntimeError(
            f"dbt {' '.join(args)} wrote no run_results.json (exit {done.returncode}):\n{tail}"
        )
    results = dbt.results()
    inv.elapsed = results.get("elapsed_time", 0.0)
    for result in results["results"]:
        kind = result["unique_id"].split(".")[0]
        inv.node_seconds[kind] = inv.node_seconds.get(kind, 0.0) + (
            result.get("execution_time") or 0.0
        )
        inv.counts[kind] = inv.counts.get(kind, 0) + 1
        inv.statuses[result["status"]] = inv.statuses.get(result["status"], 0) + 1
    if done.returncode != 0:
        bad = [
            f"{r['unique_id']}: {r['status']}"
            for r in results["results"]
            if r["status"] in ("error", "fail", "runtime error")
        ]
        print(
            f"    note: dbt {' '.join(args)} exited {done.returncode}: "
            f"{'; '.join(bad[:5]) or 'see logs'}",
            flush=True,
        )
    return inv


def fresh_copy(base: Path, scratch: Path) -> None:
    for path in (scratch, scratch.with_name(scratch.name + ".wal")):
        path.unlink(missing_ok=True)
    scratch.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(base, scratch)


def connect_as_dbt(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """A connection with the settings the dbt profile gives DuckDB (its memory limit: at
    national size the difference between spilling to disk and not)."""
    con = duckdb.connect(str(warehouse))
    con.execute(f"set memory_limit = '{os.environ.get('PILOTMONITOR_DUCKDB_MEMORY_LIMIT', '4GB')}'")
    return con


def strip_sql(sql: str) -> str:
    return sql.strip().rstrip(";").strip()


def direct_models(manifest: dict, warehouse: Path) -> tuple[float, dict[str, float], int]:
    """Execute every model's compiled SQL in topological order; returns (total s, per model s,
    count)."""
    models = {
        uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"
    }
    graph = graphlib.TopologicalSorter(
        {
            uid: [d for d in node["depends_on"]["nodes"] if d in models]
            for uid, node in models.items()
        }
    )
    # ephemerals are inlined
    order = [
        uid for uid in graph.static_order() if models[uid]["config"]["materialized"] != "ephemeral"
    ]
    per_model: dict[str, float] = {}
    with connect_as_dbt(warehouse) as con:
        start = time.perf_counter()
        for uid in order:
            node = models[uid]
            kind = "view" if node["config"]["materialized"] == "view" else "table"
            schema = node["relation_name"].rsplit(".", 1)[0]
            t0 = time.perf_counter()
            con.execute(f"create schema if not exists {schema}")
            con.execute(
                f"create or replace {kind} {node['relation_name']} as (\n"
                f"{strip_sql(node['compiled_code'])}\n"
                ")"
            )
            per_model[node["name"]] = time.perf_counter() - t0
        total = time.perf_counter() - start
    return total, per_model, len(order)


def direct_tests(manifest: dict, warehouse: Path) -> tuple[float, int, int]:
    """Run each data test's compiled SQL as a count; returns (total s, tests, tests with failing
    rows)."""
    tests = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and node.get("compiled_code")
    ]
    failing = 0
    with connect_as_dbt(warehouse) as con:
        start = time.perf_counter()
        for node in tests:
            if con.sql(
                "select count(*) from (\n"
                f"{strip_sql(node['compiled_code'])}\n"
                ") as dbt_internal_test"
            ).fetchone()[0]:
                failing += 1
        total = time.perf_counter() - start
    return total, len(tests), failing


def count_rows(warehouse: Path, relation: str) -> int | None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        try:
            return con.sql(f"select count(*) from {relation}").fetchone()[0]
        except duckdb.CatalogException:
            return None


def bench_scale(
    scale: float,
    seed: int | None,
    workdir: Path,
    dbt: Dbt,
    keep: bool,
    ingested: Path | None = None,
) -> dict:
    """One scenario: a demo scale generated here, or an ``ingested`` data directory (its
    warehouse is only read: the raw-only base is a copy in the workdir)."""
    if ingested is not None:
        data_dir = workdir / "ingested"
        print(f"{ingested}:", flush=True)
        if data_dir.exists():
            shutil.rmtree(data_dir)
        data_dir.mkdir(parents=True)
        (data_dir / "warehouse").symlink_to(
            (ingested / "warehouse").resolve(), target_is_directory=True
        )
        marker = make_base(data_dir, scale, seed, 0.0, 0.0)
    else:
        data_dir = workdir / f"scale-{scale}-seed-{'default' if seed is None else seed}"
        print(f"scale {scale}:", flush=True)
        marker = prepare(data_dir, scale, seed, keep)
    base = data_dir / "dbt_bench_base" / "pilotmonitor.duckdb"
    m: dict = {
        "raw_rows": sum(marker["raw_rows"].values()),
        "raw_tables": len(marker["raw_rows"]),
        "prep": marker["synth_seconds"] + marker["ingest_seconds"],
    }

    print("  dbt build (full) ...", end=" ", flush=True)
    fresh_copy(base, dbt.warehouse)
    m["build"] = invoke(dbt, "build")
    m["fct_rows"] = count_rows(dbt.warehouse, "marts.fct_pupil_month")
    print(f"{m['build'].seconds:.1f} s; dbt build (no-op incremental) ...", end=" ", flush=True)
    m["build_noop"] = invoke(dbt, "build")
    m["fct_rows_noop"] = count_rows(dbt.warehouse, "marts.fct_pupil_month")
    print(f"{m['build_noop'].seconds:.1f} s", flush=True)

    print("  dbt run (full) ...", end=" ", flush=True)
    fresh_copy(base, dbt.warehouse)
    m["seed_first"] = invoke(dbt, "seed")  # dbt run needs the seeds; loaded untimed-for-run
    m["run"] = invoke(dbt, "run")
    m["fct_rows_run"] = count_rows(dbt.warehouse, "marts.fct_pupil_month")
    print(f"{m['run'].seconds:.1f} s", flush=True)

    print("  direct DuckDB ...", end=" ", flush=True)
    fresh_copy(base, dbt.warehouse)
    m["seed"] = invoke(dbt, "seed")
    # Models compiled on the fresh warehouse: incremental models compile as full builds.
    # (Unit tests are left out: they look up their inputs' columns, which do not exist yet.)
    m["compile"], _ = dbt("compile", "--select", "resource_type:model", check=True)
    m["direct_models"], per_model, m["direct_model_count"] = direct_models(
        dbt.manifest(), dbt.warehouse
    )
    m["fct_rows_direct"] = count_rows(dbt.warehouse, "marts.fct_pupil_month")
    # data tests, against the built relations
    dbt("compile", "--select", "resource_type:test", check=True)
    m["direct_tests"], m["direct_test_count"], m["direct_tests_failing"] = direct_tests(
        dbt.manifest(), dbt.warehouse
    )
    m["slowest"] = sorted(per_model.items(), key=lambda kv: -kv[1])[:5]
    print(f"models {m['direct_models']:.1f} s, data tests {m['direct_tests']:.1f} s", flush=True)
    return m


def bench_in_place(dbt: Dbt) -> None:
    """A warehouse already built (e.g. the country's, kept by ``scale_summary.py --keep``):
    its models' SQL compiled as full builds and run directly in place, then its tests, then
    ``dbt build --full-refresh`` in place (copies of a national warehouse would need twice
    its disk). The published schema is not touched; the marts are left as dbt built them."""
    print(f"{dbt.warehouse} (in place):", flush=True)
    dbt("compile", "--full-refresh", "--select", "resource_type:model", check=True)
    models, per_model, count = direct_models(dbt.manifest(), dbt.warehouse)
    print(f"  direct DuckDB: {count} models {models:.1f} s", end="", flush=True)
    dbt("compile", "--select", "resource_type:test", check=True)
    tests, test_count, failing = direct_tests(dbt.manifest(), dbt.warehouse)
    print(f", {test_count} data tests {tests:.1f} s ({failing} failing)", flush=True)
    build = invoke(dbt, "build", "--full-refresh")
    direct = models + tests
    print(
        f"  dbt build --full-refresh: {build.seconds:.1f} s (execution phase {build.elapsed:.1f} s;"
        f" node time models {build.node_seconds.get('model', 0):.1f} s, data tests "
        f"{build.node_seconds.get('test', 0):.1f} s, seeds {build.node_seconds.get('seed', 0):.1f}"
        f" s; statuses {build.statuses})\n"
        f"  dbt build / its SQL run directly: {build.seconds:.1f} / {direct:.1f} s = "
        f"{build.seconds / direct:.2f}x\n  slowest models run directly: "
        + ", ".join(
            f"{name} {sec:.1f} s"
            for name, sec in sorted(per_model.items(), key=lambda kv: -kv[1])[:6]
        ),
        flush=True,
    )


# --- report -----------------------------------------------------------------------------


def fmt_s(x: float) -> str:
    return f"{x:.2f}"


def share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "-"


def report(scales: list, results: list[dict]) -> None:
    rows: list[tuple[str, list[str]]] = []

    def add(label: str, fn) -> None:
        rows.append((label, [fn(m) for m in results]))

    add("raw rows (all raw tables)", lambda m: f"{m['raw_rows']:,} / {m['raw_tables']}t")
    add(
        "marts.fct_pupil_month rows",
        lambda m: f"{m['fct_rows']:,}" if m["fct_rows"] is not None else "-",
    )
    add(
        "  same rows via dbt run / direct",
        lambda m: (
            "yes"
            if m["fct_rows"] == m["fct_rows_run"] == m["fct_rows_direct"]
            else f"NO ({m['fct_rows_run']}, {m['fct_rows_direct']})"
        ),
    )
    add("synth + ingestion, s (setup)", lambda m: f"{m['prep']:.0f}")
    add("dbt build (full), s", lambda m: fmt_s(m["build"].seconds))
    add(
        "  nodes: seed/model/test/unit",
        lambda m: "/".join(
            str(m["build"].counts.get(k, 0)) for k in ("seed", "model", "test", "unit_test")
        ),
    )
    add("  node time seeds, s", lambda m: fmt_s(m["build"].node_seconds.get("seed", 0)))
    add("  node time models, s", lambda m: fmt_s(m["build"].node_seconds.get("model", 0)))
    add("  node time data tests, s", lambda m: fmt_s(m["build"].node_seconds.get("test", 0)))
    add("  node time unit tests, s", lambda m: fmt_s(m["build"].node_seconds.get("unit_test", 0)))
    add(
        "  statuses", lambda m: " ".join(f"{k}:{v}" for k, v in sorted(m["build"].statuses.items()))
    )
    add("dbt run (models), s", lambda m: fmt_s(m["run"].seconds))
    add("  execution phase (elapsed), s", lambda m: fmt_s(m["run"].elapsed))
    add("  startup+parse+artifacts, s", lambda m: fmt_s(m["run"].seconds - m["run"].elapsed))
    add("dbt seed, s", lambda m: fmt_s(m["seed"].seconds))
    add("dbt compile (models), s", lambda m: fmt_s(m["compile"]))
    add("direct DuckDB models, s", lambda m: fmt_s(m["direct_models"]))
    add(
        "direct DuckDB data tests, s",
        lambda m: (
            f"{fmt_s(m['direct_tests'])} ({m['direct_test_count']}, {m['direct_tests_failing']} "
            "fail)"
        ),
    )
    add(
        "overhead run = run - direct models, s",
        lambda m: fmt_s(m["run"].seconds - m["direct_models"]),
    )
    add(
        "  share of dbt run",
        lambda m: share(m["run"].seconds - m["direct_models"], m["run"].seconds),
    )
    add(
        "overhead build = build - direct models+tests, s",
        lambda m: fmt_s(m["build"].seconds - m["direct_models"] - m["direct_tests"]),
    )
    add(
        "  share of dbt build",
        lambda m: share(
            m["build"].seconds - m["direct_models"] - m["direct_tests"], m["build"].seconds
        ),
    )
    add("dbt build no-op incremental, s", lambda m: fmt_s(m["build_noop"].seconds))
    add("  share of full build", lambda m: share(m["build_noop"].seconds, m["build"].seconds))
    add(
        "  node time models (no-op), s",
        lambda m: fmt_s(m["build_noop"].node_seconds.get("model", 0)),
    )
    add(
        "  fct_pupil_month rows unchanged",
        lambda m: "yes" if m["fct_rows_noop"] == m["fct_rows"] else f"NO ({m['fct_rows_noop']})",
    )

    width = max(len(label) for label, _ in rows) + 2
    col = max(14, *(len(v) + 2 for _, vals in rows for v in vals))
    print()
    print(
        f"{'':<{width}}"
        + "".join(f"{s if isinstance(s, str) else 'scale ' + str(s):>{col}}" for s in scales)
    )
    for label, values in rows:
        print(f"{label:<{width}}" + "".join(f"{v:>{col}}" for v in values))
    print()
    for scale, m in zip(scales, results):
        print(
            f"slowest models executed directly, scale {scale}: "
            + ", ".join(f"{name} {sec:.2f} s" for name, sec in m["slowest"])
        )


def machine(dbt: Dbt) -> None:
    version = subprocess.run([DBT, "--version"], capture_output=True, text=True, env=env()).stdout
    core = next(
        (line.split(":")[-1].strip() for line in version.splitlines() if "installed" in line), "?"
    )
    plugin = next(
        (
            line.split(":")[-1].strip().split(" ")[0]
            for line in version.splitlines()
            if "duckdb" in line
        ),
        "?",
    )
    mem = (
        next(
            (
                int(line.split()[1]) / 2**20
                for line in open("/proc/meminfo")
                if line.startswith("MemTotal")
            ),
            0,
        )
        if Path("/proc/meminfo").exists()
        else 0
    )
    profile_threads = next(
        (
            line.split(":")[1].strip()
            for line in (dbt.project / "profiles.yml").read_text().splitlines()
            if line.strip().startswith("threads")
        ),
        "?",
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {mem:.1f} GiB RAM; Python "
        f"{platform.python_version()}; duckdb {duckdb.__version__}; dbt-core {core}, dbt-duckdb "
        f"{plugin}; dbt threads {profile_threads}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scales", default="1.0,3.0", help="comma-separated scales (1.0 = demo size)"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="synthetic seed; default: the scenario's"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where data dirs, warehouse copies, dbt target and logs go (default: a new temp dir)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="reuse prepared data for the same scale/seed in --workdir and keep the workdir",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=(
            "measure an ingested data directory instead of generating scales, e.g. a provincial "
            "pool kept by `scale_summary.py --scenario national --provinces GR --keep DIR` "
            "(DIR/data); only read"
        ),
    )
    parser.add_argument(
        "--in-place",
        type=Path,
        default=None,
        help=(
            "a built warehouse file measured in place (its marts are rebuilt, twice): for the "
            "country's, whose copies would not fit on the disk"
        ),
    )
    args = parser.parse_args()
    scales = [float(s) for s in args.scales.split(",") if s.strip()]
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="pilotmonitor_dbt_bench_"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    # A snapshot of the dbt project, so every scale builds the same models.
    project = workdir / "dbt_project"
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(
        REPO / "dbt_project",
        project,
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml"),
    )
    dbt = Dbt(
        project,
        workdir / "dbt_target",
        workdir / "dbt_logs",
        workdir / "scratch" / "pilotmonitor.duckdb",
    )
    machine(dbt)
    print(f"workdir: {workdir}")
    # Parse cost alone (no warehouse work), then warm the partial-parse cache for the timed runs.
    fresh = dbt.target / "partial_parse.msgpack"
    fresh.unlink(missing_ok=True)
    parse_cold, _ = dbt("parse", "--no-partial-parse", check=True)
    parse_warm, _ = dbt("parse", check=True)
    parse_warm, _ = dbt("parse", check=True)
    print(
        f"dbt parse: {parse_cold:.2f} s full, {parse_warm:.2f} s with partial parse (process "
        "start included)"
    )
    if args.in_place is not None:
        dbt.warehouse = args.in_place.resolve()
        bench_in_place(dbt)
        return
    if args.data_dir is not None:
        labels: list = [args.data_dir.resolve().parent.name or str(args.data_dir)]
        results = [bench_scale(0.0, None, workdir, dbt, True, ingested=args.data_dir.resolve())]
    else:
        labels = scales
        results = [bench_scale(scale, args.seed, workdir, dbt, args.keep) for scale in scales]
    report(labels, results)
    if args.workdir is None and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"kept {workdir}")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - started:.0f} s")
