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


def test_number_failing_the_check_is_not_a_leak(conn):
    conn.execute("insert into raw.t values ('999964393', 'x', 1, '1', '1')")
    assert scan_tables(conn, ["raw.t"], NAMES) == []


def test_planted_name_and_street_are_found(conn):
    conn.execute("insert into raw.t values ('x', 'Moeder Fenna belde', 1, '1', '1'), ('y', 'Jansen-Synthetisch', 1, '1', '1')")
    leaks = [l for l in scan_tables(conn, ["raw.t"], NAMES) if l.kind == "landing_name"]
    assert [(l.column, l.rows) for l in leaks] == [("reason", 2)]
