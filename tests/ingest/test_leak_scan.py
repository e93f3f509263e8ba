"""The leak scanner finds planted identifiers and names, and stays quiet on clean data."""

import duckdb
import pytest

from pilotmonitor.ingest.leak_scan import scan_tables

NAMES = frozenset({"jansen-synthetisch", "proefstraat", "fenna"})


@pytest.fixture()
def conn():
    conn = duckdb.connect()
    conn.execute("create schema raw")
    conn.execute(
        """
        create table raw.t as select * from (values
            ('a3f09c1b', 'Ziek', 12, '000000541', 'JW315_315000000156.xml'),
            ('bf29fdd7', 'Te laat', 13, '000000542', 'row 999964392x')
        ) as v(pupil_pseudonym, reason, n, allocation_number, row_locator)
        """
    )
    return conn


def test_clean_table_has_no_leaks(conn):
    assert scan_tables(conn, ["raw.t"], NAMES) == []


def test_planted_bsn_is_found_as_value_and_inside_text(conn):
    conn.execute("insert into raw.t values ('999964392', 'belde: 999964392 vader', 1, '1', '1')")
    leaks = {(l.column, l.kind) for l in scan_tables(conn, ["raw.t"], NAMES)}
    assert ("pupil_pseudonym", "identifier_number") in leaks and ("reason", "identifier_number") in leaks


def test_planted_onderwijsnummer_and_integer_bsn_are_found(conn):
    conn.execute("insert into raw.t values ('108329477', 'x', 999964392, '1', '1')")
    leaks = {(l.column, l.kind) for l in scan_tables(conn, ["raw.t"], NAMES)}
    assert leaks == {("pupil_pseudonym", "identifier_number"), ("n", "identifier_number")}


@pytest.mark.parametrize("written", ["9999.64.392", "9999 64 392", "999.964.392", "999 964 392", "BSN: 9999.64.392.", "(999964392)", "999964392, 1", "a 999 964 392 b", "x,999964392", "nr.999964392"])
def test_bsn_written_with_separators_is_found(conn, written):
    conn.execute("insert into raw.t values ('x', ?, 1, '1', '1')", [f"moeder belde, {written} genoteerd"])
    assert {(l.column, l.kind, l.rows) for l in scan_tables(conn, ["raw.t"], NAMES)} == {("reason", "identifier_number", 1)}


@pytest.mark.parametrize("clean", ["9999.64.393", "1.999.964.392", "1 999 964 392", "1,999,964,392", "999964392,50", "99996439", "9999-64-392 1", "0612 34 5678", "2024-01-15 10:30:00",
                                   "a3f0999964392c1b" * 4])
def test_other_numbers_in_text_are_not_leaks(conn, clean):
    conn.execute("insert into raw.t values ('x', ?, 1, '1', '1')", [clean])
    assert scan_tables(conn, ["raw.t"], NAMES) == []


def test_number_failing_the_check_is_not_a_leak(conn):
    conn.execute("insert into raw.t values ('999964393', 'x', 1, '1', '1')")
    assert scan_tables(conn, ["raw.t"], NAMES) == []


def test_planted_name_and_street_are_found(conn):
    conn.execute("insert into raw.t values ('x', 'Moeder Fenna belde', 1, '1', '1'), ('y', 'Jansen-Synthetisch', 1, '1', '1')")
    leaks = [l for l in scan_tables(conn, ["raw.t"], NAMES) if l.kind == "landing_name"]
    assert [(l.column, l.rows) for l in leaks] == [("reason", 2)]


def _register(conn, delivery_id: str, rows: list[tuple[str, str]]) -> None:
    conn.execute("insert into raw.deliveries (path, delivery_id, source, status) values (?, ?, 'src', 'loaded')", [f"{delivery_id}.csv", delivery_id])
    for pseudonym, reason in rows:
        conn.execute("insert into raw.v values (?, ?, ?)", [delivery_id, pseudonym, reason])


@pytest.fixture()
def registered():
    from pilotmonitor.ingest import warehouse_raw
    conn = duckdb.connect()
    warehouse_raw.ensure_schema(conn)
    conn.execute("create table raw.v (delivery_id varchar, pupil_pseudonym varchar, reason varchar)")
    return conn


def test_each_delivery_is_scanned_once_and_an_earlier_leak_keeps_failing(registered):
    from pilotmonitor.ingest.leak_scan import scan_new_deliveries
    conn = registered
    _register(conn, "d1", [("a3f09c1b", "Ziek"), ("999964392", "Te laat")])
    first = scan_new_deliveries(conn, "src", ["raw.v"], NAMES)
    assert [(l.column, l.kind, l.rows) for l in first] == [("pupil_pseudonym", "identifier_number", 1)]
    _register(conn, "d2", [("bf29fdd7", "Moeder Fenna belde")])
    second = scan_new_deliveries(conn, "src", ["raw.v"], NAMES)
    # d1 is not scanned again, but its leak is still reported; d2's name is found.
    assert conn.execute("select delivery_id, count(*) from raw.leak_scanned group by 1 order by 1").fetchall() == [("d1", 1), ("d2", 1)]
    assert {(l.column, l.kind) for l in second} == {("pupil_pseudonym", "identifier_number"), ("reason", "landing_name")}
    # Once d1's delivery is gone (replaced by a corrected file), only d2's finding remains.
    conn.execute("delete from raw.deliveries where delivery_id = 'd1'")
    assert [(l.column, l.kind) for l in scan_new_deliveries(conn, "src", ["raw.v"], NAMES)] == [("reason", "landing_name")]


def test_names_are_sampled_from_the_landing_area_only_when_there_is_something_new(registered):
    from pilotmonitor.ingest.leak_scan import scan_new_deliveries
    conn = registered
    calls = []

    def tokens():
        calls.append(1)
        return NAMES

    _register(conn, "d1", [("bf29fdd7", "Moeder Fenna belde")])
    assert [l.kind for l in scan_new_deliveries(conn, "src", ["raw.v"], tokens)] == ["landing_name"]
    assert [l.kind for l in scan_new_deliveries(conn, "src", ["raw.v"], tokens)] == ["landing_name"]  # nothing new
    assert len(calls) == 1


def test_scan_per_delivery_counts_what_the_whole_scan_counts(registered):
    conn = registered
    _register(conn, "d1", [("999964392", "x"), ("108329477", "Fenna")])
    _register(conn, "d2", [("999964392", "y")])
    whole = {(l.column, l.kind): l.rows for l in scan_tables(conn, ["raw.v"], NAMES)}
    per_delivery = scan_tables(conn, ["raw.v"], NAMES, delivery_ids=["d1", "d2"])
    summed: dict = {}
    for leak in per_delivery:
        summed[(leak.column, leak.kind)] = summed.get((leak.column, leak.kind), 0) + leak.rows
    assert summed == whole == {("pupil_pseudonym", "identifier_number"): 3, ("reason", "landing_name"): 1}
    assert {l.delivery_id for l in per_delivery} == {"d1", "d2"}
