"""The fingerprints that decide whether a `dbt build` can be skipped: they change exactly
when something dbt reads or wrote changed."""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from orchestration.defs.warehouse import reuse
from pilotmonitor.dbt_project import DBT_PROJECT_DIR


@pytest.fixture()
def conn():
    connection = duckdb.connect()
    connection.execute("create schema raw; create schema marts; create schema staging")
    connection.execute(
        "create table raw.school_absence as select * from (values ('S1', 2, 'a'), ('S2', 3, 'b')) "
        "t(school, hours, note)"
    )
    connection.execute("create table marts.fct as select 1 as x")
    connection.execute("create view staging.stg as select * from raw.school_absence")
    yield connection
    connection.close()


@pytest.fixture()
def project(tmp_path):
    copy = tmp_path / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    return copy


@pytest.mark.parametrize(
    "change",
    [
        "update raw.school_absence set hours = 4 where school = 'S1'",  # same row count
        "insert into raw.school_absence values ('S1', 2, 'a')",  # a duplicate row
        "alter table raw.school_absence add column extra int",
        "create table raw.new_source as select 1 as x",
    ],
)
def test_any_change_to_the_raw_layer_changes_the_inputs(conn, project, change):
    before = reuse.inputs_fingerprint(conn, project)
    assert reuse.inputs_fingerprint(conn, project) == before  # deterministic
    conn.execute(change)
    assert reuse.inputs_fingerprint(conn, project) != before


def test_only_the_raw_tables_dbt_reads_count(conn, project):
    """The loader's bookkeeping (file signatures with inode and change time) is not a dbt
    source: a warehouse copied or restored elsewhere keeps its build."""
    conn.execute("create table raw.landing_files as select 'a.csv' as path, '1:2:3' as signature")
    sources = {"school_absence"}
    before = reuse.inputs_fingerprint(conn, project, sources)
    conn.execute("update raw.landing_files set signature = '4:5:6'")
    assert reuse.inputs_fingerprint(conn, project, sources) == before
    conn.execute("update raw.school_absence set hours = 5 where school = 'S2'")
    assert reuse.inputs_fingerprint(conn, project, sources) != before


def test_the_raw_sources_are_read_from_the_manifest():
    from pilotmonitor.dbt_project import ensure_manifest

    manifest = json.loads(ensure_manifest().read_text(encoding="utf-8"))
    tables = reuse.raw_source_tables(manifest)
    assert {"school_absence", "ijw_declaration_lines"} <= tables
    assert "landing_files" not in tables


def test_a_changed_model_file_changes_the_inputs(conn, project):
    before = reuse.inputs_fingerprint(conn, project)
    model = next((project / "models" / "marts").rglob("*.sql"))
    model.write_text(model.read_text(encoding="utf-8") + "\n-- edited\n", encoding="utf-8")
    assert reuse.inputs_fingerprint(conn, project) != before


@pytest.mark.parametrize(
    "change",
    [
        "drop table marts.fct",
        "delete from marts.fct",
        # same row count: an edit by hand must not be published as dbt's
        "update marts.fct set x = 2",
        "create or replace view staging.stg as select school from raw.school_absence",
    ],
)
def test_relations_changed_outside_dbt_change_the_outputs(conn, change):
    before = reuse.outputs_fingerprint(conn, ["marts", "staging"])
    conn.execute(change)
    assert reuse.outputs_fingerprint(conn, ["marts", "staging"]) != before


def test_a_recorded_build_is_reusable_until_its_inputs_or_outputs_change(conn, project):
    schemas = ["marts", "staging"]
    plan = reuse.plan_build(conn, schemas, project)
    assert plan.kind == "full" and "no recorded" in plan.why
    checks = [reuse.RecordedCheck(["marts", "fct"], "not_null_fct_x", True, "ERROR")]
    reuse.record(conn, "run-1", plan.inputs, reuse.outputs_fingerprint(conn, schemas), checks)
    plan = reuse.plan_build(conn, schemas, project)
    assert plan.kind == "reuse" and plan.state.run_id == "run-1" and plan.state.checks == checks
    conn.execute("insert into marts.fct values (2)")
    assert reuse.plan_build(conn, schemas, project).kind == "full"
    conn.execute("delete from marts.fct where x = 2")
    assert reuse.plan_build(conn, schemas, project).kind == "reuse"
    reuse.forget(conn)  # a build starts
    assert reuse.plan_build(conn, schemas, project).kind == "full"


def test_a_stamped_tables_months_are_hashed_again_only_when_a_build_wrote_them(conn, project):
    """An incremental fact (dbt's build stamp, a month column) is digested month by month;
    with the recorded months, only a month whose row count or stamp changed is read
    again (the national panel: 27 s to hash whole, before and after each monthly build)."""
    from datetime import datetime

    from pilotmonitor.part_digest import Part

    conn.execute(
        "create table marts.fct_pupil_month as select * from (values (date '2024-01-01', "
        "timestamp '2024-02-01', 1), (date '2024-02-01', timestamp '2024-02-01', 2)) "
        "t(month, built_at, v)"
    )
    name = "marts.fct_pupil_month"
    digests, parts = reuse.read_outputs(conn, ["marts"])
    assert set(parts[name]) == {"2024-01-01", "2024-02-01"}
    assert digests == reuse.output_digests(conn, ["marts"])  # the same as hashed whole
    # recorded with the build, read back: the next plan reuses it with these months
    plan = reuse.plan_build(conn, ["marts"], project)
    reuse.record(conn, "run-1", plan.inputs, reuse.fingerprint_of(digests), [], parts)
    plan = reuse.plan_build(conn, ["marts"], project)
    assert plan.kind == "reuse" and plan.state.parts == parts
    # a build writes February again, to the same content: the same digest, a new stamp
    conn.execute(
        "delete from marts.fct_pupil_month where month = date '2024-02-01'; insert into "
        "marts.fct_pupil_month values (date '2024-02-01', timestamp '2024-03-01', 2)"
    )
    again, again_parts = reuse.read_outputs(conn, ["marts"], known=parts)
    assert again == digests
    assert again_parts[name]["2024-02-01"].built_at == datetime(2024, 3, 1)
    # a month whose row count and stamp are as recorded is not read again
    planted = {name: {**again_parts[name], "2024-01-01": Part("planted", 1, datetime(2024, 2, 1))}}
    assert reuse.read_outputs(conn, ["marts"], known=planted)[1][name]["2024-01-01"].digest == (
        "planted"
    )
    # what a build or a hand changes in a month's rows or stamps is seen
    for change in [
        "update marts.fct_pupil_month set v = 5, built_at = timestamp '2024-04-01' where month "
        "= date '2024-02-01'",
        "insert into marts.fct_pupil_month values (date '2024-01-01', timestamp '2024-02-01', 1)",
    ]:
        conn.execute(change)
        assert reuse.read_outputs(conn, ["marts"], known=again_parts)[0] != digests
        assert reuse.read_outputs(conn, ["marts"], known=again_parts)[0] == (
            reuse.output_digests(conn, ["marts"])
        )


def _recorded(conn, project, schemas=("marts", "staging")):
    plan = reuse.plan_build(conn, list(schemas), project)
    reuse.record(conn, "run-1", plan.inputs, reuse.outputs_fingerprint(conn, list(schemas)), [])


def _with_register(conn):
    conn.execute(
        "create table raw.deliveries as select * from (values ('d1', 'school_absence', true), "
        "('d2', 'ijw_messages', true)) t(delivery_id, source, is_current)"
    )


def test_changed_raw_tables_alone_make_an_update_of_what_they_reach(conn, project):
    _with_register(conn)
    _recorded(conn, project)
    conn.execute("update raw.school_absence set hours = 5 where school = 'S2'")
    plan = reuse.plan_build(conn, ["marts", "staging"], project)
    assert plan.kind == "update" and plan.state.run_id == "run-1"
    assert plan.changed_tables == {"school_absence"} and plan.changed_sources == set()
    assert "school_absence" in plan.why


def test_a_new_delivery_changes_only_its_own_sources_part_of_the_register(conn, project):
    _with_register(conn)
    _recorded(conn, project)
    conn.execute("update raw.deliveries set is_current = false where source = 'ijw_messages'")
    conn.execute("insert into raw.deliveries values ('d3', 'ijw_messages', true)")
    plan = reuse.plan_build(conn, ["marts", "staging"], project)
    assert plan.kind == "update"
    assert plan.changed_tables == set() and plan.changed_sources == {"ijw_messages"}
    conn.execute("insert into raw.deliveries values ('d4', 'duo_schools', true)")  # a new source
    plan = reuse.plan_build(conn, ["marts", "staging"], project)
    assert plan.changed_sources == {"ijw_messages", "duo_schools"}


@pytest.mark.parametrize(
    "change",
    [
        "alter table raw.deliveries add column extra int",  # the register's columns
        "project file",
    ],
)
def test_what_an_update_cannot_follow_makes_a_full_build(conn, project, change):
    _with_register(conn)
    _recorded(conn, project)
    conn.execute("update raw.school_absence set hours = 5 where school = 'S2'")
    if change == "project file":
        model = next((project / "models").rglob("*.sql"))
        model.write_text(model.read_text(encoding="utf-8") + "\n-- changed\n", encoding="utf-8")
    else:
        conn.execute(change)
    assert reuse.plan_build(conn, ["marts", "staging"], project).kind == "full"


def test_a_state_recorded_before_per_table_digests_means_a_full_build(conn, project):
    """A warehouse whose state was recorded by an older version has one fingerprint and no
    per-table digests: it is built in full once, and the new state replaces the old table."""
    conn.execute(
        "create schema pipeline; create table pipeline.dbt_build_state (run_id varchar, built_at "
        "timestamp, inputs_fingerprint varchar, outputs_fingerprint varchar, checks varchar)"
    )
    conn.execute("insert into pipeline.dbt_build_state values ('old', now(), 'x', 'y', '[]')")
    plan = reuse.plan_build(conn, ["marts", "staging"], project)
    assert plan.kind == "full" and "older version" in plan.why
    _recorded(conn, project)
    assert reuse.plan_build(conn, ["marts", "staging"], project).kind == "reuse"


@pytest.mark.parametrize(
    ("table", "change"),
    [
        # {a, a, b, b} -> {c, c, d, d}: the same count, and an xor of row hashes would be 0 for both
        (
            "select * from (values ('a'), ('a'), ('b'), ('b')) t(v)",
            "delete from x; insert into x values ('c'), ('c'), ('d'), ('d')",
        ),
        # DuckDB binds hash(alias) to a column of that name before the row
        ("select 1 as t, 'a' as s, 2 as _row", "update x set s = 'zzz'"),
    ],
)
def test_the_table_digest_sees_changes_a_naive_row_hash_misses(table, change):
    from pilotmonitor.table_digest import table_digest

    conn = duckdb.connect()
    conn.execute(f"create table x as {table}")
    before = table_digest(conn, "main", "x")
    conn.execute(change)
    assert table_digest(conn, "main", "x") != before


def test_a_server_target_is_never_reused(conn, project, monkeypatch):
    _recorded(conn, project)
    monkeypatch.setenv(reuse.TARGET_VARIABLE, "postgres")
    assert reuse.plan_build(conn, ["marts", "staging"], project).kind == "full"
