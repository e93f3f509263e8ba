"""Great Expectations run by the warehouse's DuckDB gives exactly the outcomes of GX on
pandas over the same rows.

On a copy of the demo fixture's warehouse (SYNTHETIC) whose validation history is cleared
and where rows are spoiled so that every kind of expectation fails somewhere (a date a year
out of its delivery's period, hours out of range, a school id that is no BRIN, a missing
pupil, a duplicated absence record), every source is validated twice: by the warehouse
engine and by the data-frame API (``runner.validate_group`` on the rows read into pandas).
"""

import re
import shutil
from dataclasses import asdict

import duckdb
import pytest

from pilotmonitor.ingest.sources import SOURCES
from pilotmonitor.quality import runner, store

pytestmark = pytest.mark.slow


def _comparable(validation):
    rows = [
        {k: v for k, v in asdict(o).items() if k != "validated_at"} for o in validation.outcomes
    ]
    return sorted(
        rows,
        key=lambda r: (
            r["table"],
            r["delivery_id"],
            r["expectation_type"],
            str(r["column"]),
            r["severity"],
            r["steward_message"],
        ),
    )


def _in_pandas(conn, table, chunk, suite_hash):
    """The data-frame engine: the chunk's rows read into pandas, validated there."""
    frame = conn.execute(
        f"select * from raw.{table} where delivery_id in (select unnest(?::varchar[])) "
        "order by delivery_id, row_locator",
        [[d.delivery_id for d in chunk]],
    ).df()
    return runner.validate_group(table, frame, chunk, None, suite_hash)


LARGEST_ENROLMENTS = (
    "select delivery_id from raw.school_enrolments group by 1 order by count(*) desc, 1 limit 1"
)
SPOIL = [
    # a whole delivery a year out of its period (period rule, error)
    """update raw.school_absence set absence_date = absence_date + interval 1 year
       where delivery_id = (select min(delivery_id) from raw.school_absence)""",
    # hours out of range in some rows of another delivery, above 8 in many (warning)
    """update raw.school_absence set hours = case when row_locator like '%1' then 30 else 9 end
       where delivery_id = (select max(delivery_id) from raw.school_absence)""",
    # a duplicated absence record (compound key)
    """insert into raw.school_absence select * replace (row_locator || '0' as row_locator)
       from raw.school_absence where rowid < 3""",
    # no BRIN + vestiging; a missing pupil
    f"""update raw.school_enrolments set school_id = 'X' || school_id
       where delivery_id = ({LARGEST_ENROLMENTS}) and row_locator like '%3'""",
    f"""update raw.school_enrolments set pupil_pseudonym = null
       where delivery_id = ({LARGEST_ENROLMENTS}) and row_locator like '%2'""",
]


@pytest.fixture(scope="module")
def warehouse(demo_data_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("engines") / "pilotmonitor.duckdb"
    shutil.copy(demo_data_dir / "warehouse" / "pilotmonitor.duckdb", path)
    with duckdb.connect(str(path)) as conn:
        conn.execute(f"delete from {store.SCHEMA}.validation_results")
        for statement in SPOIL:
            conn.execute(statement)
    return path


@pytest.mark.parametrize("source", [s for s in SOURCES if s.tables], ids=lambda s: s.name)
def test_the_warehouse_engine_gives_the_outcomes_of_gx_on_pandas(warehouse, monkeypatch, source):
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        pending = store.pending_deliveries(conn, source.name, source.tables[0], "")
        in_warehouse = store.validate_pending(conn, source.name, source.tables)
        monkeypatch.setattr(store, "validate_in_warehouse", _in_pandas)
        in_pandas = store.validate_pending(conn, source.name, source.tables)
    assert bool(in_warehouse.outcomes) == bool(pending)  # the demo has no iJw extracts
    assert _comparable(in_warehouse) == _comparable(in_pandas)
    assert [n for n, _ in in_warehouse.docs_pages] == [n for n, _ in in_pandas.docs_pages]
    failed = {(o.expectation_type, o.column) for o in in_warehouse.outcomes if not o.success}
    if source.name == "school_absence":
        assert {
            ("expect_column_values_to_be_between", "absence_date"),
            ("expect_column_values_to_be_between", "hours"),
            ("expect_compound_columns_to_be_unique", "pupil_pseudonym,absence_date,authorised"),
        } <= failed
    if source.name == "school_enrolments":
        assert {
            ("expect_column_values_to_match_regex", "school_id"),
            ("expect_column_values_to_not_be_null", "pupil_pseudonym"),
        } <= failed


# --- validated ahead in the run's helpers (pilotmonitor/quality/validate_ahead.py) ---------


@pytest.fixture(scope="module")
def helpers():
    """validate_ahead within a run's helper processes (pilotmonitor/run_helpers.py)."""
    from pilotmonitor import run_helpers
    from pilotmonitor.quality import validate_ahead

    with run_helpers.started():
        yield validate_ahead


def _results(validation):
    return validation.results().drop(columns="validated_at")


_STAMPS = re.compile(r"\d{8}T\d{6}\.\d+Z|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")


def _pages(validation):
    """The pages without what GX makes anew for each rendering (times, element ids)."""
    return [(name, _STAMPS.sub("*", page)) for name, page in validation.docs_pages]


@pytest.mark.parametrize("source", [s for s in SOURCES if s.tables], ids=lambda s: s.name)
def test_the_helpers_copy_gives_the_outcomes_of_the_warehouse(warehouse, helpers, source):
    """The rows copied to a helper and validated in its own in-memory DuckDB give the
    outcomes, in order, and the Data Docs pages of validating them in the warehouse."""
    logged = []
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        helpers.submit(conn, source.name, source.tables)
        ahead = helpers.validate_pending(conn, source.name, source.tables, log=logged.append)
        in_warehouse = store.validate_pending(conn, source.name, source.tables)
    assert _results(ahead).equals(_results(in_warehouse))
    assert _pages(ahead) == _pages(in_warehouse)
    assert ahead.deliveries == in_warehouse.deliveries
    if in_warehouse.deliveries:  # made by the helpers, not here
        assert logged and all("helper processes" in line for line in logged)
    if source.name in ("school_absence", "school_enrolments"):
        assert ahead.docs_pages  # the spoiled rows failed: pages for the steward


def test_work_changed_after_it_was_handed_over_is_validated_in_the_warehouse(
    warehouse, helpers, tmp_path
):
    """A delivery validated meanwhile (here: its results written by hand) changes what is
    pending; the check validates what is pending now, not what the helpers were given."""
    path = tmp_path / "pilotmonitor.duckdb"
    shutil.copy(warehouse, path)
    source = next(s for s in SOURCES if s.name == "duo_vsv")
    with duckdb.connect(str(path)) as conn:
        helpers.submit(conn, source.name, source.tables)
        first = store.pending_work(conn, source.name, source.tables)[0].pending[0]
        done = store.validate_pending(conn, source.name, source.tables)
        store.write_results(conn, [o for o in done.outcomes if o.delivery_id == first.delivery_id])
        logged = []
        now = helpers.validate_pending(conn, source.name, source.tables, log=logged.append)
        expected = store.validate_pending(conn, source.name, source.tables)
    assert first.delivery_id not in set(now.results().delivery_id)
    assert _results(now).equals(_results(expected))
    assert logged and not any("helper processes" in line for line in logged)


def test_without_helpers_or_over_the_copy_limit_nothing_is_handed_over(
    warehouse, helpers, monkeypatch
):
    source = next(s for s in SOURCES if s.name == "duo_vsv")
    monkeypatch.setattr(helpers, "_ahead", {})
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        with monkeypatch.context() as outside_a_run:
            outside_a_run.setattr(helpers.run_helpers, "_current", None)
            helpers.submit(conn, source.name, source.tables)
        assert not helpers._ahead
        helpers.submit(conn, source.name, source.tables, new_rows=helpers.MAX_AHEAD_ROWS + 1)
        assert not helpers._ahead
        monkeypatch.setattr(helpers, "MAX_AHEAD_ROWS", 10)  # duo_vsv: 243 rows pending
        helpers.submit(conn, source.name, source.tables)
        assert not helpers._ahead
        monkeypatch.undo()
        helpers.submit(conn, source.name, source.tables)  # the same work, within the limit
        assert source.name in helpers._ahead
        helpers._ahead.clear()
