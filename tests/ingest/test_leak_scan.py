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
            ('a3f09c1b' || repeat('0', 56), 'Ziek', 12, '999964392', 'JW315_315000000156.xml', 123456782),
            ('bf29fdd7' || repeat('1', 56), 'Te laat', 13, '000000542', 'JW323_a3f0999964392c1b.xml#line7', 999964392)
        ) as v(pupil_pseudonym, reason, n, allocation_number, row_locator, amount_cents)
        """  # noqa: E501
    )
    return conn


def test_clean_table_has_no_leaks(conn):
    assert scan_tables(conn, ["raw.t"], NAMES) == []


def test_a_row_filter_scans_only_the_rows_it_holds(conn):
    """The publication scans only the months it copies: a leak outside the filter is not
    reported, one inside is."""
    _insert(conn, _row(n=20, reason="belde: 999964392 vader"))
    leaks = scan_tables(conn, ["raw.t"], NAMES, row_filters={"raw.t": "n >= 13"})
    assert [(leak.column, leak.kind, leak.rows) for leak in leaks] == [
        ("reason", "identifier_number", 1)
    ]
    assert scan_tables(conn, ["raw.t"], NAMES, row_filters={"raw.t": "n < 20"}) == []


PSEUDONYM = "c0ffee" * 10 + "abcd"


def _row(
    pupil_pseudonym=PSEUDONYM,
    reason="x",
    n=1,
    allocation_number="1",
    row_locator="1",
    amount_cents=1,
):
    return [pupil_pseudonym, reason, n, allocation_number, row_locator, amount_cents]


def _insert(conn, *rows):
    conn.executemany("insert into raw.t values (?, ?, ?, ?, ?, ?)", list(rows))


def test_planted_bsn_is_found_as_value_and_inside_text(conn):
    _insert(conn, _row(pupil_pseudonym="999964392", reason="belde: 999964392 vader"))
    leaks = {(leak.column, leak.kind) for leak in scan_tables(conn, ["raw.t"], NAMES)}
    assert leaks == {
        ("pupil_pseudonym", "identifier_number"),
        ("pupil_pseudonym", "not_pseudonymised"),
        ("reason", "identifier_number"),
    }


def test_planted_onderwijsnummer_is_found_and_counts_and_amounts_are_not_scanned(conn):
    # n and amount_cents are integers (an unlisted count, a listed measure): any nine digits may be
    # a count or an amount
    _insert(conn, _row(pupil_pseudonym="108329477", n=999964392, amount_cents=999964392))
    leaks = {(leak.column, leak.kind) for leak in scan_tables(conn, ["raw.t"], NAMES)}
    assert leaks == {
        ("pupil_pseudonym", "identifier_number"),
        ("pupil_pseudonym", "not_pseudonymised"),
    }


def test_a_value_that_is_not_a_pseudonym_is_reported_in_a_pseudonym_column(conn):
    _insert(conn, _row(pupil_pseudonym="Jan"), _row(pupil_pseudonym=PSEUDONYM.upper()))
    assert {
        (leak.column, leak.kind, leak.rows) for leak in scan_tables(conn, ["raw.t"], NAMES)
    } == {("pupil_pseudonym", "not_pseudonymised", 2)}


@pytest.mark.parametrize(
    "written",
    [
        "9999.64.392",
        "9999 64 392",
        "999.964.392",
        "999 964 392",
        "BSN: 9999.64.392.",
        "(999964392)",
        "999964392, 1",
        "a 999 964 392 b",
        "x,999964392",
        "nr.999964392",
        "R999964392",
        "BSN999964392",
        "bsn999964392",
        "999964392a",
        "id_999964392",
        "ZX999964392Q",
        "kind-999964392-x",
    ],
)
def test_bsn_written_with_separators_or_letters_is_found(conn, written):
    _insert(conn, _row(reason=f"moeder belde, {written} genoteerd"))
    assert {
        (leak.column, leak.kind, leak.rows) for leak in scan_tables(conn, ["raw.t"], NAMES)
    } == {("reason", "identifier_number", 1)}


@pytest.mark.parametrize("column", ["row_locator", "allocation_number"])
def test_locators_and_malformed_assigned_numbers_are_scanned(conn, column):
    _insert(
        conn,
        {
            "row_locator": _row(row_locator="JW301_B999964392.xml#2"),
            "allocation_number": _row(allocation_number="A999964392"),
        }[column],
    )
    assert {(leak.column, leak.kind) for leak in scan_tables(conn, ["raw.t"], NAMES)} == {
        (column, "identifier_number")
    }


@pytest.mark.parametrize(
    "clean",
    [
        "9999.64.393",
        "1.999.964.392",
        "1 999 964 392",
        "1,999,964,392",
        "999964392,50",
        "99996439",
        "9999-64-392 1",
        "0612 34 5678",
        "2024-01-15 10:30:00",
        "a3f0999964392c1b" * 4,
        "R999964393",
        "12345678901X",
        "550e8400-e29b-41d4-a716-999964392abc",
    ],
)
def test_other_numbers_in_text_are_not_leaks(conn, clean):
    _insert(conn, _row(reason=clean))
    assert scan_tables(conn, ["raw.t"], NAMES) == []


def test_number_failing_the_check_is_not_a_leak(conn):
    _insert(conn, _row(reason="999964393"))
    assert scan_tables(conn, ["raw.t"], NAMES) == []


def test_planted_name_and_street_are_found(conn):
    _insert(conn, _row(reason="Moeder Fenna belde"), _row(reason="Jansen-Synthetisch"))
    leaks = [leak for leak in scan_tables(conn, ["raw.t"], NAMES) if leak.kind == "landing_name"]
    assert [(leak.column, leak.rows) for leak in leaks] == [("reason", 2)]


def test_a_value_with_two_identifiers_counts_both_on_each_of_its_rows(conn):
    """Values are tested once each, then counted back on their rows: a remark naming two
    numbers on three rows is six identifier-like numbers."""
    _insert(conn, *[_row(reason="BSN 999964392, broer 123456782")] * 3)
    found = {(leak.column, leak.kind): leak.rows for leak in scan_tables(conn, ["raw.t"], NAMES)}
    assert found == {("reason", "identifier_number"): 6}


def test_a_value_repeated_on_many_rows_counts_each_row(conn):
    """Each distinct value is tested once (a pseudonym recurs on every absence record);
    the counts are still rows."""
    _insert(
        conn,
        *[_row(pupil_pseudonym="999964392", reason="belde 999964392")] * 3,
        *[_row(reason="Moeder Fenna belde")] * 4,
    )
    found = {(leak.column, leak.kind): leak.rows for leak in scan_tables(conn, ["raw.t"], NAMES)}
    assert found == {
        ("pupil_pseudonym", "identifier_number"): 3,
        ("pupil_pseudonym", "not_pseudonymised"): 3,
        ("reason", "identifier_number"): 3,
        ("reason", "landing_name"): 4,
    }


def _register(conn, delivery_id: str, rows: list[tuple[str, str]]) -> None:
    conn.execute(
        "insert into raw.deliveries (path, delivery_id, source, status) values (?, ?, 'src', "
        "'loaded')",
        [f"{delivery_id}.csv", delivery_id],
    )
    for pseudonym, reason in rows:
        conn.execute("insert into raw.v values (?, ?, ?)", [delivery_id, pseudonym, reason])


@pytest.fixture()
def registered():
    from pilotmonitor.ingest import warehouse_raw

    conn = duckdb.connect()
    warehouse_raw.ensure_schema(conn)
    conn.execute(
        "create table raw.v (delivery_id varchar, pupil_pseudonym varchar, reason varchar)"
    )
    return conn


def test_each_delivery_is_scanned_once_and_an_earlier_leak_keeps_failing(registered):
    from pilotmonitor.ingest.leak_scan import scan_new_deliveries

    conn = registered
    _register(conn, "d1", [(PSEUDONYM, "Ziek"), ("999964392", "Te laat")])
    first = scan_new_deliveries(conn, "src", ["raw.v"], NAMES)
    assert [(leak.column, leak.kind, leak.rows) for leak in first] == [
        ("pupil_pseudonym", "identifier_number", 1),
        ("pupil_pseudonym", "not_pseudonymised", 1),
    ]
    _register(conn, "d2", [(PSEUDONYM, "Moeder Fenna belde")])
    second = scan_new_deliveries(conn, "src", ["raw.v"], NAMES)
    # d1 is not scanned again, but its leak is still reported; d2's name is found.
    assert conn.execute(
        "select delivery_id, count(*) from raw.leak_scanned group by 1 order by 1"
    ).fetchall() == [("d1", 1), ("d2", 1)]
    assert {(leak.column, leak.kind) for leak in second} == {
        ("pupil_pseudonym", "identifier_number"),
        ("pupil_pseudonym", "not_pseudonymised"),
        ("reason", "landing_name"),
    }
    # Once d1's delivery is gone (replaced by a corrected file), only d2's finding remains.
    conn.execute("delete from raw.deliveries where delivery_id = 'd1'")
    assert [
        (leak.column, leak.kind) for leak in scan_new_deliveries(conn, "src", ["raw.v"], NAMES)
    ] == [("reason", "landing_name")]


def test_names_are_sampled_from_the_landing_area_only_when_there_is_something_new(registered):
    from pilotmonitor.ingest.leak_scan import scan_new_deliveries

    conn = registered
    calls = []

    def tokens():
        calls.append(1)
        return NAMES

    _register(conn, "d1", [(PSEUDONYM, "Moeder Fenna belde")])
    assert [leak.kind for leak in scan_new_deliveries(conn, "src", ["raw.v"], tokens)] == [
        "landing_name"
    ]
    # nothing new
    assert [leak.kind for leak in scan_new_deliveries(conn, "src", ["raw.v"], tokens)] == [
        "landing_name"
    ]
    assert len(calls) == 1


def test_scan_per_delivery_counts_what_the_whole_scan_counts(registered):
    conn = registered
    _register(conn, "d1", [("999964392", "x"), ("108329477", "Fenna")])
    _register(conn, "d2", [("999964392", "y")])
    whole = {(leak.column, leak.kind): leak.rows for leak in scan_tables(conn, ["raw.v"], NAMES)}
    per_delivery = scan_tables(conn, ["raw.v"], NAMES, delivery_ids=["d1", "d2"])
    summed: dict = {}
    for leak in per_delivery:
        summed[(leak.column, leak.kind)] = summed.get((leak.column, leak.kind), 0) + leak.rows
    assert (
        summed
        == whole
        == {
            ("pupil_pseudonym", "identifier_number"): 3,
            ("pupil_pseudonym", "not_pseudonymised"): 3,
            ("reason", "landing_name"): 1,
        }
    )
    assert {leak.delivery_id for leak in per_delivery} == {"d1", "d2"}
