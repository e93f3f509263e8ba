"""Validation in worker processes gives exactly the outcomes of validation in-process.

On a copy of the demo fixture's warehouse (SYNTHETIC) whose validation history is
cleared and one school-absence delivery has every date a year forward, the school
absence and iJw deliveries are validated in-process and in two worker processes (the
row threshold lowered so the small demo is split into chunks)."""

import shutil
from dataclasses import asdict

import duckdb
import pytest

from pilotmonitor.quality import store

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
        ),
    )


@pytest.fixture(scope="module")
def warehouse(demo_data_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("parallel") / "pilotmonitor.duckdb"
    shutil.copy(demo_data_dir / "warehouse" / "pilotmonitor.duckdb", path)
    with duckdb.connect(str(path)) as conn:
        conn.execute(f"delete from {store.SCHEMA}.validation_results")
        conn.execute("""update raw.school_absence set absence_date = absence_date + interval 1 year
                        where delivery_id = (select min(delivery_id) from raw.school_absence)""")
    return path


@pytest.mark.parametrize(
    "source,tables",
    [
        ("school_absence", ["school_absence"]),
        ("ijw_messages", ["ijw_requests", "ijw_declaration_lines"]),
    ],
)
def test_workers_give_the_in_process_outcomes(warehouse, monkeypatch, source, tables):
    monkeypatch.setattr(store, "PARALLEL_MIN_ROWS", 1)
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        alone = store.validate_pending(conn, source, tables)
        split = store.validate_pending(conn, source, tables, workers=2, warehouse_path=warehouse)
    assert alone.outcomes and _comparable(split) == _comparable(alone)
    assert [name for name, _ in split.docs_pages] == [name for name, _ in alone.docs_pages]
    if source == "school_absence":
        assert any(
            not o.success and o.column == "absence_date" and o.severity == "error"
            for o in split.outcomes
        )
        assert split.docs_pages, "the failed chunk's Data Docs page comes back from its worker"


def test_a_writer_holding_the_file_falls_back_to_in_process(warehouse, monkeypatch):
    """A worker that cannot open the warehouse (a writer holds it) leaves its chunk to
    the caller, which validates it through its own connection."""
    monkeypatch.setattr(store, "PARALLEL_MIN_ROWS", 1)
    with duckdb.connect(str(warehouse)) as conn:  # read-write: workers cannot open it
        split = store.validate_pending(
            conn, "school_absence", ["school_absence"], workers=2, warehouse_path=warehouse
        )
        alone = store.validate_pending(conn, "school_absence", ["school_absence"])
    assert alone.outcomes and _comparable(split) == _comparable(alone)
