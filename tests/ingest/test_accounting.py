"""The row accounting check: it passes on what the loader wrote and names the delivery
whose register row disagrees with the tables or the quarantine, also when the totals are
compared first (the tables' totals from DuckDB's metadata)."""

import duckdb
import pytest

from pilotmonitor.ingest import warehouse_raw
from pilotmonitor.ingest.accounting import accounting_problems
from tests.ingest.test_loader import landing, load, write  # noqa: F401 (fixture)


def test_what_the_loader_wrote_adds_up_and_a_lost_row_is_named(landing):  # noqa: F811
    write(landing, "p1_kosten_20250105.csv", "2024;100\nbad\n2025;200")
    write(landing, "p1_kosten_20250301.csv", "2024;110\n2025;210\nbad")
    conn = duckdb.connect()
    load(conn, landing)
    assert accounting_problems(conn, "pilot_costs") == []

    conn.execute(
        "delete from raw.pilot_costs where row_locator = '1' and delivery_id = "
        "(select delivery_id from raw.deliveries where path like '%20250301.csv')"
    )
    assert accounting_problems(conn, "pilot_costs") == [
        "pilots/p1/p1_kosten_20250301.csv: register says 2 rows loaded, tables hold 1"
    ]


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ("delete from raw.quarantine", "register says 1 quarantined, quarantine holds 0"),
        (
            "update raw.deliveries set rows_read = 4 where source = 'pilot_costs'",
            "read 4 != loaded 2 + quarantined 1",
        ),
    ],
    ids=["a lost quarantine row", "a register row that does not add up"],
)
def test_a_damaged_register_or_quarantine_is_named(landing, damage, problem):  # noqa: F811
    write(landing, "p1_kosten_20250105.csv", "2024;100\nbad\n2025;200")
    conn = duckdb.connect()
    load(conn, landing)
    conn.execute(damage)
    assert accounting_problems(conn, "pilot_costs") == [
        f"pilots/p1/p1_kosten_20250105.csv: {problem}"
    ]


def _register(conn, path: str, delivery_id: str, source: str, loaded: int) -> None:
    warehouse_raw.insert_deliveries(
        conn,
        [
            {
                "path": path,
                "delivery_id": delivery_id,
                "source": source,
                "status": "loaded",
                "rows_read": loaded,
                "rows_loaded": loaded,
                "rows_quarantined": 0,
            }
        ],
    )


def test_tables_filled_by_two_sources_are_accounted_per_source():
    """raw.ijw_requests holds rows of iJw archives and of flat extracts: each source's
    check passes while both add up, and only the source whose delivery lost a row fails."""
    conn = duckdb.connect()
    warehouse_raw.ensure_schema(conn)
    _register(conn, "ijw/GM0014/GM0014_ijw_2025-01_20250205.zip", "a" * 16, "ijw_messages", 2)
    _register(conn, "ijw/GM0014/GM0014_jw315_2025-01_20250205.csv", "b" * 16, "ijw_extracts", 2)
    conn.execute(
        "insert into raw.ijw_requests (delivery_id, row_locator) values "
        f"('{'a' * 16}', 'm1'), ('{'b' * 16}', '1'), ('{'b' * 16}', '2')"
    )
    conn.execute(
        f"insert into raw.ijw_allocations (delivery_id, row_locator) values ('{'a' * 16}', 'm2')"
    )
    assert accounting_problems(conn, "ijw_messages") == []
    assert accounting_problems(conn, "ijw_extracts") == []

    conn.execute("delete from raw.ijw_requests where row_locator = '2'")
    assert accounting_problems(conn, "ijw_messages") == []
    assert accounting_problems(conn, "ijw_extracts") == [
        "ijw/GM0014/GM0014_jw315_2025-01_20250205.csv: register says 2 rows loaded, tables hold 1"
    ]
