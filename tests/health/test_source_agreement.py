"""Thuiszitters from two sources on the health page and in the status: disagreement is
listed and warned about, never blocking."""

from __future__ import annotations

import dataclasses

import duckdb

from pilotmonitor.health.page import thuiszitters_html
from pilotmonitor.health.source_agreement import thuiszitter_agreement


def _warehouse(rows: list[tuple]) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute("create schema marts")
    conn.execute("""create table marts.fct_thuiszitter_sources_municipality_year (
        municipality_code varchar, school_year integer, spells_school integer, spells_register integer, spells_both integer,
        spells_school_only integer, spells_register_only integer, spells_either integer, agreement_share double, has_register boolean, is_disagreement boolean)""")  # noqa: E501
    conn.executemany(
        "insert into marts.fct_thuiszitter_sources_municipality_year values (?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ?, ?)",
        rows,
    )
    return conn


def test_no_table_yet_means_no_section():
    assert thuiszitter_agreement(duckdb.connect()) is None


def test_disagreeing_municipality_years_are_listed_and_warned():
    conn = _warehouse(
        [
            ("GM0014", 2023, 10, 9, 9, 1, 0, 10, 0.9, True, False),
            ("GM0047", 2024, 8, 3, 3, 5, 0, 8, 0.375, True, True),
        ]
    )
    agreement = thuiszitter_agreement(conn)
    assert agreement.disagreements.municipality_code.tolist() == ["GM0047"]
    assert agreement.totals == {
        "spells_school": 18,
        "spells_register": 12,
        "spells_both": 12,
        "spells_school_only": 6,
        "spells_register_only": 0,
    }
    assert "disagree in 1 municipality-year" in agreement.warning()

    @dataclasses.dataclass
    class Page:
        thuiszitters: object

    html = "\n".join(thuiszitters_html(Page(agreement)))
    assert "GM0047" in html and "2024-2025" in html and "38%" in html
    assert "GM0014</td><td>2023" not in html  # agreeing years are only in the totals


def test_agreement_gives_no_warning():
    agreement = thuiszitter_agreement(
        _warehouse([("GM0014", 2023, 10, 10, 10, 0, 0, 10, 1.0, True, False)])
    )
    assert agreement.warning() is None
    assert "No municipality and school year disagrees" in "\n".join(
        thuiszitters_html(type("S", (), {"thuiszitters": agreement})())
    )
