"""The whole pipeline on a team warehouse: PostgreSQL for the warehouse (as the pipeline's
role, under deploy/postgres/roles.sql) and for Dagster's run storage
(deploy/dagster/dagster.yaml), on the small SYNTHETIC scenario of the demo fixture.

Every published table and every effect estimate must equal the DuckDB run's (the demo
fixture, same deliveries and key); the roles must hold (researchers read `published` and
nothing else); status, export and reproduce must work against the server. No mock: a real
server, started for the module (tests/postgres_server.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psycopg2
import pytest

from orchestration.defs.warehouse import affected, reuse
from pilotmonitor.warehouse_access import Warehouse
from tests.postgres_server import start_server_or_skip
from tests.warehouse.dbt_helpers import run_results

REPO_ROOT = Path(__file__).resolve().parents[2]
PIPELINE = "pilotmonitor_pipeline"
# lineage that differs between any two runs (when and by which run), not content; the
# publication's fingerprint and its record's digests hash the lineage columns too
RUN_LINEAGE = {
    "loaded_through",
    "built_at",
    "logged_at",
    "run_id",
    "fingerprint",
    "digest",
    "computed_at",
}


@pytest.fixture(scope="module")
def server():
    server = start_server_or_skip()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def team_run(server, demo_data_dir, tmp_path_factory):
    """`pilotmonitor run --demo` on the demo fixture's deliveries, into PostgreSQL."""
    server.create_database("pilotmonitor")
    server.psql("pilotmonitor", (REPO_ROOT / "deploy/postgres/roles.sql").read_text())
    server.psql(
        "postgres",
        "create role ann login in role pilotmonitor_researcher;"
        "create role sam login in role pilotmonitor_steward;"
        "create role pat login in role pilotmonitor_report_reader;",
    )
    server.create_database("dagster", owner=PIPELINE)

    root = tmp_path_factory.mktemp("team")
    data_dir = root / "data"
    for part in ("landing", "keys", "ground_truth"):
        shutil.copytree(demo_data_dir / part, data_dir / part)
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "deploy/dagster/dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "PILOTMONITOR_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": str(home),
        "PILOTMONITOR_WAREHOUSE_URL": server.url("pilotmonitor", PIPELINE),
        "DAGSTER_POSTGRES_URL": server.url("dagster", PIPELINE, driver="psycopg2"),
    }
    for name in ("PILOTMONITOR_PSEUDONYM_KEY", "PILOTMONITOR_PSEUDONYM_KEY_FILE"):
        env.pop(name, None)
    output_path = root / "run_output.txt"
    with output_path.open("w", encoding="utf-8") as output:
        run = subprocess.Popen(
            [sys.executable, "-m", "pilotmonitor.cli", "run", "--demo"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            readers = _read_while_running(run, server, env)
        finally:
            run.wait(timeout=1800)
    text = output_path.read_text(encoding="utf-8")
    assert run.returncode == 0, text[-8000:]
    return {"env": env, "data_dir": data_dir, "home": home, "output": text, "readers": readers}


def _read_while_running(run: subprocess.Popen, server, env) -> dict:
    """Once the run has published (its analyses and reports still ahead), what `status` and a
    researcher's query give while it goes on writing; the run itself is the writer."""
    import time

    while run.poll() is None:
        try:
            rows = _as(server, "ann", "select count(*) from published.fct_school_month")
            break
        except psycopg2.Error:  # not published yet
            time.sleep(0.5)
    else:
        return {"researcher_rows": None}
    status = _cli(env, "status")
    return {"researcher_rows": rows[0][0], "status": status, "still_running": run.poll() is None}


def _cli(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pilotmonitor.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def _tables(conn, schema: str) -> list[str]:
    return [
        t
        for (t,) in conn.execute(
            "select table_name from information_schema.tables where table_schema = ? order by 1",
            [schema],
        ).fetchall()
    ]


def _content(conn, schema: str, table: str) -> pd.DataFrame:
    frame = conn.execute(f'select * from {schema}."{table}"').df()
    frame = frame[[c for c in frame.columns if c not in RUN_LINEAGE]]
    return frame.sort_values(list(frame.columns), key=lambda s: s.astype(str), ignore_index=True)


@pytest.fixture(scope="module")
def both(team_run, server, demo_data_dir):
    duck = Warehouse(demo_data_dir / "warehouse" / "pilotmonitor.duckdb").connect(read_only=True)
    team = Warehouse(Path("unused"), url=server.url("pilotmonitor", PIPELINE)).connect(
        read_only=True
    )
    yield duck, team
    duck.close()
    team.close()


def test_the_run_wrote_postgresql_not_a_file(team_run):
    assert "warehouse: PostgreSQL pilotmonitor on" in team_run["output"]
    assert not (team_run["data_dir"] / "warehouse" / "pilotmonitor.duckdb").exists()


def test_every_published_table_equals_the_duckdb_run(both):
    duck, team = both
    tables = _tables(duck, "published")
    assert len(tables) > 15
    assert _tables(team, "published") == tables
    for table in tables:
        expected, got = _content(duck, "published", table), _content(team, "published", table)
        assert list(got.columns) == list(expected.columns), table
        assert len(got) == len(expected), table
        # the same values; an engine's own dtype for an all-null column aside
        pd.testing.assert_frame_equal(got, expected, check_dtype=False, obj=table)


def test_every_effect_estimate_equals_the_duckdb_run(both):
    duck, team = both
    expected = _content(duck, "results", "effect_estimates")
    got = _content(team, "results", "effect_estimates")
    assert len(expected) > 100
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_rows_in_equal_loaded_plus_quarantined_as_on_duckdb(both):
    duck, team = both
    accounting = (
        "select status, count(*), sum(rows_read), sum(rows_loaded), sum(rows_quarantined) "
        "from raw.deliveries group by status order by status"
    )
    assert team.execute(accounting).fetchall() == duck.execute(accounting).fetchall()
    reasons = "select reason, count(*) from raw.quarantine group by reason order by reason"
    assert team.execute(reasons).fetchall() == duck.execute(reasons).fetchall()


def _as(server, user: str, sql: str):
    conn = psycopg2.connect(server.url("pilotmonitor", user))
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def test_connections_of_a_run_share_one_attachment_and_see_tables_replaced_meanwhile(server):
    """Inside `shared_attachments()` (what a pipeline run connects in) the connections share
    one attachment of the server per access mode; each reads the catalog afresh, so a table
    another client replaced meanwhile (as dbt does) shows its new columns, and no server
    session of them outlives the block."""
    from pilotmonitor.warehouse_access import shared_attachments

    server.create_database("shared_attachment")
    place = Warehouse(path=None, url=server.url("shared_attachment"))

    def sessions() -> int:  # the database's server sessions other than psql's own
        return int(
            server.psql(
                "shared_attachment",
                "select count(*) from pg_stat_activity "
                "where datname = 'shared_attachment' and pid <> pg_backend_pid()",
            )
        )

    with shared_attachments():
        with place.connect() as conn:
            conn.execute("create table t (a integer)")
            conn.execute("create table memory.main.marker (x integer)")  # in DuckDB, not PG
        with place.connect() as conn:  # the same DuckDB: its in-memory table is there
            assert conn.execute("select count(*) from memory.main.marker").fetchone() == (0,)
            assert conn.execute("select count(*) from t").fetchone() == (0,)
        server.psql(
            "shared_attachment",
            "drop table t; create table t (a integer, b text); insert into t values (1, 'x');",
        )
        # `select *`: a stale catalog would give the old columns without an error
        with place.connect(read_only=True) as conn:
            assert conn.execute("select * from t").fetchall() == [(1, "x")]
        with place.connect() as conn:
            assert conn.execute("select * from t").fetchall() == [(1, "x")]
        assert sessions() > 0
    # a backend leaves pg_stat_activity a moment after its client closed (seen under load)
    deadline = time.monotonic() + 10
    while sessions() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sessions() == 0
    with place.connect() as conn:  # outside: an attachment of its own, as before
        assert "marker" not in {
            name for (name,) in conn.execute("select table_name from duckdb_tables()").fetchall()
        }


def test_researchers_read_published_and_nothing_else(team_run, server):
    assert _as(server, "ann", "select count(*) from published.fct_school_month")[0][0] > 0
    for relation in (
        "raw.school_enrolments",
        "raw.quarantine",
        "staging.stg_school__enrolments",
        "marts.fct_pupil_month",
        "results.effect_estimates",
    ):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            _as(server, "ann", f"select 1 from {relation} limit 1")


def test_stewards_read_raw_and_policymaker_output_cannot_connect(team_run, server):
    assert _as(server, "sam", "select count(*) from raw.deliveries")[0][0] > 0
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        _as(server, "sam", "select 1 from published.fct_school_month limit 1")
    with pytest.raises(psycopg2.OperationalError, match="permission denied"):
        _as(server, "pat", "select 1")


def test_status_export_and_reproduce_read_the_team_warehouse(team_run, tmp_path):
    env = team_run["env"]
    status = _cli(env, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "READY FOR PUBLICATION" in status.stdout
    export = _cli(env, "export", "--out", str(tmp_path / "export"), "--table", "fct_school_month")
    assert export.returncode == 0, export.stdout + export.stderr
    assert list((tmp_path / "export").glob("fct_school_month.*"))
    reproduce = _cli(env, "reproduce", "winschoten-sbo")
    assert reproduce.returncode == 0, reproduce.stdout + reproduce.stderr


def test_dagster_keeps_its_history_in_postgresql(team_run, monkeypatch):
    import dagster as dg

    monkeypatch.setenv("DAGSTER_POSTGRES_URL", team_run["env"]["DAGSTER_POSTGRES_URL"])
    instance = dg.DagsterInstance.from_config(str(team_run["home"]))
    try:
        runs = instance.get_runs()
        assert runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    finally:
        instance.dispose()
    assert not (team_run["home"] / "history").exists()  # no SQLite run storage beside it


def test_a_run_from_another_host_waits_for_the_server_run_lock(team_run, server):
    """Hosts that share the server but not a data directory: the advisory lock excludes them."""
    from pilotmonitor.warehouse_access import RUN_LOCK_KEY

    holder = psycopg2.connect(server.url("pilotmonitor", PIPELINE))
    try:
        with holder.cursor() as cur:
            cur.execute("select pg_advisory_lock(%s)", [RUN_LOCK_KEY])
        second = _cli(team_run["env"], "run", "--demo")  # the team run's demo key
    finally:
        holder.close()
    assert second.returncode == 2, second.stdout + second.stderr
    assert "another pipeline run holds the run lock of the warehouse" in second.stderr
    assert "PostgreSQL pilotmonitor" in second.stderr


def test_readers_work_while_a_run_writes(team_run):
    """On the DuckDB file a run's writer lock keeps `status` out (exit 2); on the server,
    status and a researcher's query read while the run goes on (the module's own run, read
    after its publication and before its analyses and reports end)."""
    readers = team_run["readers"]
    assert readers["researcher_rows"], "the run ended before anything was published"
    status = readers["status"]
    assert status.returncode == 0, status.stdout + status.stderr
    assert readers["still_running"], "the run ended before the readers were done: nothing shown"


def test_a_changed_raw_table_on_the_server_builds_only_what_it_reaches(
    team_run, server, monkeypatch
):
    """The warehouse step's monthly path on the server: after one raw table changed (a row
    of the pilots' activity gone), it is an update in which dbt runs exactly the nodes that
    table reaches, Dagster still sees every model and test, and the state kept on the
    server lets the next run reuse the build. Near the end of the module: it changes the
    activity mart."""
    import dagster as dg

    from orchestration.defs.warehouse.assets import (
        dbt_raw_sources,
        dbt_resource,
        dbt_schemas,
        warehouse_dbt_assets,
    )
    from orchestration.resources import PilotmonitorSettings, WarehouseResource

    url = team_run["env"]["PILOTMONITOR_WAREHOUSE_URL"]
    monkeypatch.setenv("PILOTMONITOR_WAREHOUSE_URL", url)
    monkeypatch.setenv("PILOTMONITOR_DATA_DIR", str(team_run["data_dir"]))
    pipeline = psycopg2.connect(server.url("pilotmonitor", PIPELINE))
    try:
        with pipeline, pipeline.cursor() as cur:
            cur.execute(
                "delete from raw.pilot_activity where ctid = (select min(ctid) from "
                "raw.pilot_activity)"
            )
            assert cur.rowcount == 1
    finally:
        pipeline.close()

    result = dg.materialize(
        [warehouse_dbt_assets],
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "dbt": dbt_resource(),
            "warehouse": WarehouseResource(),
            "pilotmonitor": PilotmonitorSettings(),
        },
    )
    assert result.success
    materialized = result.get_asset_materialization_events()
    kept = [e for e in materialized if "reused" in e.materialization.metadata]
    assert len(materialized) == len(warehouse_dbt_assets.keys) and 0 < len(kept) < len(materialized)
    checks = result.get_asset_check_evaluations()
    assert len(checks) == len(warehouse_dbt_assets.check_keys) and all(c.passed for c in checks)

    target = team_run["data_dir"] / "warehouse" / "dbt_target"
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    reached = affected.reached_by(manifest, ["pilot_activity"], register_changed=False)
    ran = {result["unique_id"] for result in run_results(target, "")}
    assert ran == {node for node in reached if not node.startswith("source.")}
    assert "model.pilotmonitor.fct_pilot_activity" in ran

    # what the next run decides: nothing changed since this update (a view is not hashed as
    # a table, which is how DuckDB's postgres extension lists it)
    conn = Warehouse(Path("unused"), url=url).connect(read_only=True)
    try:
        plan = reuse.plan_build(conn, dbt_schemas(), source_tables=dbt_raw_sources())
    finally:
        conn.close()
    assert plan.kind == "reuse", plan.why


def test_a_monthly_run_builds_the_incremental_facts_on_the_server(team_run, tmp_path, monkeypatch):
    """The landing sensor's runs build the incremental facts incrementally; dbt then compares
    the new months' column types with the table's and stops on any difference. PostgreSQL
    types md5 and a case of literals text where the contracts say varchar (found running
    the daemon). Last in the module: it rebuilds the marts' latest months in place."""
    from tests.warehouse.dbt_helpers import run_dbt

    monkeypatch.setenv("PILOTMONITOR_WAREHOUSE_URL", team_run["env"]["PILOTMONITOR_WAREHOUSE_URL"])
    result = run_dbt(
        ["run", "--select", "config.materialized:incremental"], Path("unused"), tmp_path
    )
    assert "Completed successfully" in result.stdout
