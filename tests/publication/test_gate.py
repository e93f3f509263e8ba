"""The publication gate: marts are copied to `published` only when no blocking check
failed; a blocked run keeps the previous publication and marks it stale with reasons."""

import re
from dataclasses import dataclass

import duckdb
import pytest

from pilotmonitor.publication.gate import (
    BlockingFailure,
    blocking_failures,
    logged_fingerprint,
    publication_state,
    publish,
    published_fingerprint,
)


@dataclass
class Check:
    asset: str
    check: str
    passed: bool
    severity: str
    description: str | None = None


@pytest.fixture
def conn():
    connection = duckdb.connect()
    connection.execute("create schema marts")
    connection.execute(
        "create table marts.fct_school_month as select 'S1' as school_id, 10 as pupil_months"
    )
    connection.execute("create table marts.dim_pilot as select 'p1' as pilot_id")
    yield connection
    connection.close()


def test_only_failed_error_checks_block():
    checks = [
        Check(
            "raw_school_absence",
            "expectations_error",
            False,
            "ERROR",
            "dates outside the school year",
        ),
        Check("raw_school_absence", "expectations_warning", False, "WARN"),
        Check("marts/fct_pupil_month", "not_null_fct_pupil_month_month", True, "ERROR"),
    ]
    failures = blocking_failures(checks)
    assert [(f.asset, f.check) for f in failures] == [("raw_school_absence", "expectations_error")]
    assert "dates outside the school year" in str(failures[0])
    assert blocking_failures(None) == []


def test_clean_run_publishes_every_mart(conn):
    state = publish(conn, "run-1", [])
    assert conn.execute("select pupil_months from published.fct_school_month").fetchone()[0] == 10
    assert conn.execute("select count(*) from published.dim_pilot").fetchone()[0] == 1
    assert state.run_id == "run-1" and state.rows == 2 and not state.is_stale


def test_blocked_run_keeps_the_previous_publication_and_marks_it_stale(conn):
    publish(conn, "run-1", [])
    conn.execute("update marts.fct_school_month set pupil_months = 99")
    blocked = blocking_failures(
        [
            Check(
                "raw_school_absence",
                "expectations_error",
                False,
                "ERROR",
                "absence dates outside the delivery period",
            )
        ]
    )
    state = publish(conn, "run-2", blocked)
    # untouched
    assert conn.execute("select pupil_months from published.fct_school_month").fetchone()[0] == 10
    assert state.run_id == "run-1" and state.is_stale
    assert (
        "absence dates outside the delivery period" in state.summary()
        and "STALE" in state.summary()
    )
    # the next clean run publishes the new data and clears the stale mark
    state = publish(conn, "run-3", [])
    assert conn.execute("select pupil_months from published.fct_school_month").fetchone()[0] == 99
    assert not state.is_stale and state.run_id == "run-3"


def test_nothing_published_before_the_first_clean_run(conn):
    assert publication_state(conn).published_at is None
    state = publish(
        conn, "run-1", blocking_failures([Check("raw_x", "row_accounting", False, "ERROR")])
    )
    assert state.published_at is None and "nothing published yet" in state.summary()
    assert (
        conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'published' and "
            "table_name = 'fct_school_month'"
        ).fetchone()[0]
        == 0
    )


def test_a_clean_run_without_new_marts_copies_nothing_and_keeps_the_publication(conn):
    publish(conn, "run-1", [])
    state = publish(conn, "run-2", [])
    assert state.run_id == "run-1" and not state.is_stale
    log = conn.execute(
        "select run_id, status from published.publication_log order by logged_at"
    ).fetchall()
    assert log == [("run-1", "published"), ("run-2", "unchanged")]


def test_a_changed_published_copy_or_a_new_mart_is_published_again(conn):
    publish(conn, "run-1", [])
    # edited by hand: same row count; a publication that verifies puts it right
    conn.execute("update published.fct_school_month set pupil_months = 11")
    assert publish(conn, "run-2", [], verify=True).run_id == "run-2"
    assert conn.execute("select pupil_months from published.fct_school_month").fetchone()[0] == 10
    conn.execute("create table marts.dim_school as select 'S1' as school_id")
    assert publish(conn, "run-3", []).run_id == "run-3"
    assert conn.execute("select count(*) from published.dim_school").fetchone()[0] == 1
    # a published table dropped by hand is copied again without verifying
    conn.execute("drop table published.dim_pilot")
    assert publish(conn, "run-4", []).run_id == "run-4"
    assert conn.execute("select pilot_id from published.dim_pilot").fetchall() == [("p1",)]


def test_the_gate_knows_what_it_published_without_reading_the_published_tables(conn):
    """What is published is taken from the gate's record, which always equals hashing the
    published tables; an edit by hand is therefore seen only by a publication that
    verifies (or one without a record: a warehouse an older version published)."""
    from pilotmonitor.part_digest import contents
    from pilotmonitor.publication.gate import _published_tables, _recorded_contents

    def hashed():
        return {table: contents(conn, "published", table) for table in _published_tables(conn)}

    conn.execute(
        "create table marts.fct_pupil_month as select * from (values (date '2024-08-01', 5), "
        "(date '2024-09-01', 6)) as t(month, pupils)"
    )
    publish(conn, "run-1", [])
    assert _recorded_contents(conn) == hashed()
    conn.execute("update marts.fct_pupil_month set pupils = 7 where month = '2024-09-01'")
    publish(conn, "run-2", [])
    assert _recorded_contents(conn) == hashed()
    conn.execute("update published.fct_pupil_month set pupils = 0 where month = '2024-08-01'")
    assert publish(conn, "run-3", []).run_id == "run-2"  # trusted: nothing copied
    assert publish(conn, "run-4", [], verify=True).run_id == "run-4"
    assert [row[1] for row in _published_months(conn)] == [5, 7]
    assert _recorded_contents(conn) == hashed()
    # without a record the published tables are hashed, and the record written
    conn.execute("update published.fct_pupil_month set pupils = 0 where month = '2024-08-01'")
    conn.execute("drop table published.publication_parts")
    assert publish(conn, "run-5", []).run_id == "run-5"
    assert [row[1] for row in _published_months(conn)] == [5, 7]
    assert _recorded_contents(conn) == hashed()
    publish(conn, "run-6", [])
    assert publication_state(conn).run_id == "run-5"


def _published_months(conn) -> list[tuple]:
    return conn.execute(
        "select month, pupils, rowid from published.fct_pupil_month order by month nulls first"
    ).fetchall()


def test_a_mart_with_a_month_column_is_republished_month_by_month(conn):
    """A monthly delivery rebuilds the panel's last months: publishing then replaces
    those months only (the rows of the others stay where they are: same row ids) and the
    published table ends equal to the mart, months gone from the mart included."""
    conn.execute(
        "create table marts.fct_pupil_month as select * from (values (date '2024-07-01', 4), "
        "(date '2024-08-01', 5), (date '2024-09-01', 6), (date '2024-10-01', 7), (null, 1)) as "
        "t(month, pupils)"
    )
    publish(conn, "run-1", [])
    before = {str(row[0]): row for row in _published_months(conn)}
    conn.execute("update marts.fct_pupil_month set pupils = 60 where month = date '2024-09-01'")
    conn.execute("delete from marts.fct_pupil_month where month = date '2024-10-01'")
    conn.execute("update marts.fct_pupil_month set pupils = 2 where month is null")
    assert publish(conn, "run-2", []).run_id == "run-2"
    after = {str(row[0]): row for row in _published_months(conn)}
    assert set(after) == {"None", "2024-07-01", "2024-08-01", "2024-09-01"}
    assert after["2024-07-01"] == before["2024-07-01"]  # kept in place
    assert after["2024-08-01"] == before["2024-08-01"]
    assert after["2024-09-01"][1] == 60 and after["2024-09-01"][2] != before["2024-09-01"][2]
    assert after["None"][1] == 2
    mart = conn.execute("select * from marts.fct_pupil_month order by all").fetchall()
    published = conn.execute("select * from published.fct_pupil_month order by all").fetchall()
    assert mart == published
    # nothing differs now: the next clean run copies nothing
    assert publish(conn, "run-3", []).run_id == "run-2"
    # months changed on either side of an unchanged one: only those two are replaced
    conn.execute(
        "update marts.fct_pupil_month set pupils = pupils + 1 where month in "
        "(date '2024-07-01', date '2024-09-01')"
    )
    before = {str(row[0]): row for row in _published_months(conn)}
    assert publish(conn, "run-4", []).run_id == "run-4"
    after = {str(row[0]): row for row in _published_months(conn)}
    assert after["2024-08-01"] == before["2024-08-01"]
    assert after["2024-07-01"][2] != before["2024-07-01"][2]
    assert (after["2024-07-01"][1], after["2024-09-01"][1]) == (5, 61)


def test_the_logged_fingerprint_of_this_run_is_that_of_the_published_tables(conn):
    """Reports take the published content's fingerprint from their run's publication log
    entry instead of hashing the published tables again: it must be the same value, and
    absent when this run published nothing."""
    conn.execute(
        "create table marts.fct_pupil_month as select * from (values (date '2024-08-01', 5), "
        "(date '2024-09-01', 6)) as t(month, pupils)"
    )
    publish(conn, "run-1", [])
    assert logged_fingerprint(conn, "run-1") == published_fingerprint(conn)
    conn.execute("update marts.fct_pupil_month set pupils = 7 where month = '2024-09-01'")
    publish(conn, "run-2", [])  # one month copied
    assert logged_fingerprint(conn, "run-2") == published_fingerprint(conn)
    assert logged_fingerprint(conn, "run-1") is None  # a later run published since
    publish(conn, "run-3", [])  # unchanged
    assert logged_fingerprint(conn, "run-3") == published_fingerprint(conn)
    conn.execute("update marts.fct_pupil_month set pupils = 8")
    publish(conn, "run-4", [BlockingFailure("marts/fct_pupil_month", "not_null")])
    assert logged_fingerprint(conn, "run-4") is None


def test_a_month_edited_by_hand_in_the_published_copy_is_put_right(conn):
    conn.execute(
        "create table marts.fct_pupil_month as select * from (values (date '2024-08-01', 5), "
        "(date '2024-09-01', 6)) as t(month, pupils)"
    )
    publish(conn, "run-1", [])
    conn.execute("update published.fct_pupil_month set pupils = 0 where month = '2024-08-01'")
    assert publish(conn, "run-2", [], verify=True).run_id == "run-2"
    assert [row[1] for row in _published_months(conn)] == [5, 6]


def test_an_unchanged_clean_run_after_a_blocked_one_ends_the_stale_mark(conn):
    publish(conn, "run-1", [])
    conn.execute("update marts.fct_school_month set pupil_months = 99")
    assert publish(
        conn, "run-2", blocking_failures([Check("raw_x", "row_accounting", False, "ERROR")])
    ).is_stale
    # the bad delivery was withdrawn
    conn.execute("update marts.fct_school_month set pupil_months = 10")
    state = publish(conn, "run-3", [])
    assert state.run_id == "run-1" and not state.is_stale


@pytest.mark.parametrize(
    "model_value, expected",
    [
        (
            "school R999964392",
            "marts.fct_school_month.remark: 1 distinct value(s) that look like a BSN or "
            "onderwijsnummer",
        ),
        ("ok", None),
        ("kosten 999964393", None),
    ],
)
def test_marts_are_scanned_for_identifiers_before_they_are_published(conn, model_value, expected):
    from pilotmonitor.publication.gate import IdentifierInMartsError

    publish(conn, "run-1", [])
    conn.execute("alter table marts.fct_school_month add column remark varchar")
    conn.execute("update marts.fct_school_month set remark = ?", [model_value])
    if expected is None:
        assert publish(conn, "run-2", []).run_id == "run-2"
        return
    with pytest.raises(IdentifierInMartsError, match=re.escape(expected)) as error:
        publish(conn, "run-2", [])
    assert "999964392" not in str(error.value)
    state = publication_state(conn)
    assert state.run_id == "run-1" and state.is_stale  # the earlier publication stays, marked stale
    assert (
        conn.execute(
            "select count(*) from information_schema.columns where table_schema = 'published' and "
            "column_name = 'remark'"
        ).fetchone()[0]
        == 0
    )


def _stamped_panel(conn) -> None:
    """A pupil panel as dbt's incremental build leaves it: each month's rows carry the
    stamp of the build that wrote them (macro build_stamp_column)."""
    conn.execute(
        "create table marts.fct_pupil_month as select * from (values "
        "(date '2024-08-01', 5, timestamp '2024-10-01 10:00'), "
        "(date '2024-09-01', 6, timestamp '2024-10-01 10:00'), "
        "(date '2024-10-01', 7, timestamp '2024-10-01 10:00')) as t(month, pupils, built_at)"
    )


def _rebuild(conn, month: str, pupils: int, stamp: str) -> None:
    """What an incremental build does to a month: delete it, insert it with a new stamp."""
    conn.execute("delete from marts.fct_pupil_month where month = ?", [month])
    conn.execute(
        "insert into marts.fct_pupil_month values (?::date, ?, ?::timestamp)",
        [month, pupils, stamp],
    )


def test_only_the_months_a_build_wrote_again_are_hashed_and_compared(conn):
    """The gate hashes a stamped mart's months whose build stamp or row count changed since
    it published them: a month rebuilt with other content is published, one rebuilt to
    the same content is not copied (and does not change the fingerprint), and a month no
    build wrote is trusted as recorded, so a mart edited by hand without dbt is published
    only by a publication that verifies."""
    _stamped_panel(conn)
    publish(conn, "run-1", [])
    fingerprint = logged_fingerprint(conn, "run-1")
    before = {str(row[0]): row for row in _published_months(conn)}
    _rebuild(conn, "2024-10-01", 7, "2024-11-01 10:00")  # same content, new stamp
    assert publish(conn, "run-2", []).run_id == "run-1"  # nothing to copy
    assert logged_fingerprint(conn, "run-2") == fingerprint
    assert {str(row[0]): row for row in _published_months(conn)} == before
    _rebuild(conn, "2024-09-01", 60, "2024-12-01 10:00")
    assert publish(conn, "run-3", []).run_id == "run-3"
    after = {str(row[0]): row for row in _published_months(conn)}
    assert after["2024-09-01"][1] == 60 and after["2024-08-01"] == before["2024-08-01"]
    # by hand, without a build's stamp: trusted as recorded until a publication verifies
    conn.execute("update marts.fct_pupil_month set pupils = 50 where month = '2024-08-01'")
    assert publish(conn, "run-4", []).run_id == "run-3"
    assert publish(conn, "run-5", [], verify=True).run_id == "run-5"
    assert [row[1] for row in _published_months(conn)] == [50, 60, 7]
    # a row removed by hand changes the month's row count: hashed and published again
    conn.execute("delete from marts.fct_pupil_month where month = '2024-10-01'")
    assert publish(conn, "run-6", []).run_id == "run-6"
    assert [row[1] for row in _published_months(conn)] == [50, 60]


def test_the_fingerprint_leaves_the_build_stamp_out(conn):
    """Two builds of the same content publish the same fingerprint, whatever their stamps
    (estimates and reports are reused after a rebuild that changed nothing)."""
    _stamped_panel(conn)
    publish(conn, "run-1", [])
    first = published_fingerprint(conn)
    conn.execute("update marts.fct_pupil_month set built_at = timestamp '2025-01-01 00:00'")
    conn.execute("drop table published.publication_parts")  # no record: hashed
    assert publish(conn, "run-2", []).run_id == "run-1"
    assert published_fingerprint(conn) == first


def test_the_months_a_publication_copies_are_scanned_for_identifiers(conn):
    """A mart published month by month is scanned in the months that differ (the others
    were scanned when they were published): an identifier in a changed month blocks."""
    from pilotmonitor.publication.gate import IdentifierInMartsError

    conn.execute(
        "create table marts.fct_pupil_month as select * from (values (date '2024-08-01', 'ok'), "
        "(date '2024-09-01', 'ok'), (null, 'ok')) as t(month, remark)"
    )
    publish(conn, "run-1", [])
    conn.execute("update marts.fct_pupil_month set remark = 'R999964392' where month is null")
    with pytest.raises(IdentifierInMartsError, match="fct_pupil_month.remark: 1 distinct"):
        publish(conn, "run-2", [])
    conn.execute("update marts.fct_pupil_month set remark = 'ok' where month is null")
    conn.execute(
        "update marts.fct_pupil_month set remark = 'R999964392' where month = '2024-09-01'"
    )
    with pytest.raises(IdentifierInMartsError, match="fct_pupil_month.remark: 1 distinct"):
        publish(conn, "run-3", [])
    assert publication_state(conn).run_id == "run-1"


def test_a_mart_column_of_references_as_delivered_blocks_publication_and_says_to_rekey(conn):
    from pilotmonitor.publication.gate import IdentifierInMartsError

    conn.execute(
        "create table marts.fct_referrals as select 'MSG-0001' as message_id, repeat('ab', 32) as "
        "pupil_pseudonym"
    )
    with pytest.raises(
        IdentifierInMartsError,
        match=r"fct_referrals\.message_id: 1 distinct value.*not pseudonymised.*pilotmonitor rekey",
    ):
        publish(conn, "run-1", [])


def test_a_failed_check_that_was_removed_no_longer_blocks_publication(tmp_path):
    """A dbt test (or asset check) that failed once and was then deleted from the
    project must not keep the publication blocked forever: only checks the current
    definitions hold speak about today's data. While it is defined, it blocks."""
    import dagster as dg

    from orchestration.defs.publication.assets import published_marts
    from orchestration.resources import WarehouseResource

    warehouse = WarehouseResource(database=str(tmp_path / "warehouse.duckdb"))
    with warehouse.get_connection() as connection:
        connection.execute("create schema marts")
        connection.execute(
            "create table marts.fct_school_month as select 'S1' as school_id, 10 as pupil_months"
        )

    @dg.asset(key=["marts", "fct_school_month"])
    def mart():
        return None

    @dg.asset_check(asset=mart, name="retired_rule")
    def retired_rule():
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.ERROR, description="an old rule"
        )

    instance = dg.DagsterInstance.ephemeral()
    # the check fails; the run itself succeeds
    dg.materialize([mart, retired_rule], instance=instance)
    # the gate alone, as `pilotmonitor run` runs it: every asset of the definitions in one job
    still_defined = dg.materialize(
        [published_marts, mart, retired_rule],
        instance=instance,
        resources={"warehouse": warehouse},
        raise_on_error=False,
    )
    assert not still_defined.success  # the rule still exists: its failure blocks
    removed = dg.materialize(
        [published_marts, mart],
        instance=instance,
        resources={"warehouse": warehouse},
        raise_on_error=False,
    )
    assert removed.success
    with warehouse.get_connection(read_only=True) as connection:
        assert publication_state(connection).run_id == removed.run_id


def test_month_by_month_publication_on_a_postgresql_warehouse():
    """The same partial copy through DuckDB's postgres extension (a team's warehouse):
    the differing month is deleted and inserted on the server, the others stay."""
    from pilotmonitor.warehouse_access import Warehouse
    from tests.postgres_server import start_server_or_skip

    server = start_server_or_skip()
    try:
        server.create_database("gate")
        server.psql(
            "gate",
            "create schema marts; create table marts.fct_pupil_month as select * from (values "
            "(date '2024-07-01', 4), (date '2024-08-01', 5), (date '2024-09-01', 6)) as "
            "t(month, pupils)",
        )
        conn = Warehouse(path=None, url=server.url("gate")).connect()
        try:
            publish(conn, "run-1", [])
            conn.execute("update marts.fct_pupil_month set pupils = 60 where month = '2024-09-01'")
            assert publish(conn, "run-2", []).run_id == "run-2"
            assert conn.execute(
                "select month::varchar, pupils from published.fct_pupil_month order by month"
            ).fetchall() == [("2024-07-01", 4), ("2024-08-01", 5), ("2024-09-01", 60)]
            log = conn.execute(
                "select status from published.publication_log order by logged_at"
            ).fetchall()
            assert log == [("published",), ("published",)]
        finally:
            conn.close()
    finally:
        server.stop()
