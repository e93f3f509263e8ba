"""Redelivery rules that cannot double rows (pilotmonitor/ingest/redelivery.py): another
period's content is a flagged duplicate, never loaded and never superseding; a same-date
file of a slot with other content is flagged, not silently lost; rows are never current
twice; content without rows (an empty monthly iJw archive) may repeat."""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path

import duckdb
import pytest

from pilotmonitor.ingest.loader import load_source
from pilotmonitor.ingest.pseudonymise import Pseudonymiser
from pilotmonitor.ingest.redelivery import review_items
from pilotmonitor.ingest.sources import SOURCES_BY_NAME, ReadContext, read_delivery
from tests.ingest.school_files import PUPILS, export_bytes, key, load, put

ENROLMENTS = "school_enrolments"
K1 = key("k1", 1)


@pytest.fixture()
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


def register(conn) -> dict[str, tuple]:
    rows = conn.execute(
        "select path, status, is_current, duplicate_of, review from raw.deliveries order by path"
    ).fetchall()
    return {Path(r[0]).name: r[1:] for r in rows}


def current_rows(conn) -> int:
    return conn.execute(
        "select count(*) from raw.school_enrolments r join raw.deliveries d on d.delivery_id = "
        "r.delivery_id and d.status = 'loaded' and d.is_current"
    ).fetchone()[0]


def test_same_content_under_another_period_is_a_flagged_duplicate_not_loaded(landing):
    put(landing, ENROLMENTS, "2016-2017", "20170810", export_bytes(ENROLMENTS))
    conn = duckdb.connect()
    load(conn, landing, ENROLMENTS, K1)
    # last year's file renamed
    put(landing, ENROLMENTS, "2017-2018", "20180810", export_bytes(ENROLMENTS))
    summary = load(conn, landing, ENROLMENTS, K1)
    assert [row["status"] for row in summary.new] == ["duplicate"]
    state = register(conn)
    status, current, duplicate_of, review = state["99WA00_inschrijvingen_2017-2018_20180810.csv"]
    assert (status, current, duplicate_of) == (
        "duplicate",
        False,
        "schools/99WA00/99WA00_inschrijvingen_2016-2017_20170810.csv",
    )
    assert (
        "99WA00_inschrijvingen_2017-2018_20180810.csv" in review
        and "99WA00_inschrijvingen_2016-2017_20170810.csv" in review
    )
    assert state["99WA00_inschrijvingen_2016-2017_20170810.csv"][:2] == ("loaded", True)
    # loaded once
    assert conn.execute("select count(*) from raw.school_enrolments").fetchone()[0] == 3
    assert [path for _, path, _ in review_items(conn, ENROLMENTS)] == [
        "schools/99WA00/99WA00_inschrijvingen_2017-2018_20180810.csv"
    ]
    # a second run changes nothing: still one duplicate, still flagged
    assert load(conn, landing, ENROLMENTS, K1).new == [] and len(review_items(conn)) == 1


def test_renamed_copy_does_not_supersede_the_real_delivery_of_that_period(landing):
    put(landing, ENROLMENTS, "2016-2017", "20170810", export_bytes(ENROLMENTS))
    put(
        landing,
        ENROLMENTS,
        "2017-2018",
        "20170915",
        export_bytes(ENROLMENTS, PUPILS.iloc[:2], school_year=2017),
    )
    conn = duckdb.connect()
    load(conn, landing, ENROLMENTS, K1)
    assert current_rows(conn) == 3 + 2
    # later date, 2016-2017's bytes
    put(landing, ENROLMENTS, "2017-2018", "20180101", export_bytes(ENROLMENTS))
    load(conn, landing, ENROLMENTS, K1)
    state = register(conn)
    assert state["99WA00_inschrijvingen_2017-2018_20180101.csv"][:2] == ("duplicate", False)
    # the real one stays current
    assert state["99WA00_inschrijvingen_2017-2018_20170915.csv"][:2] == ("loaded", True)
    assert current_rows(conn) == 3 + 2  # nothing current twice


def test_deleting_the_wrongly_named_copy_clears_its_flag(landing):
    put(landing, ENROLMENTS, "2016-2017", "20170810", export_bytes(ENROLMENTS))
    conn = duckdb.connect()
    load(conn, landing, ENROLMENTS, K1)
    copy = put(landing, ENROLMENTS, "2017-2018", "20180810", export_bytes(ENROLMENTS))
    load(conn, landing, ENROLMENTS, K1)
    assert review_items(conn)
    copy.unlink()
    load(conn, landing, ENROLMENTS, K1)
    assert review_items(conn) == []
    assert list(register(conn)) == ["99WA00_inschrijvingen_2016-2017_20170810.csv"]


def test_same_date_copy_with_other_content_is_flagged_not_silently_lost(landing):
    put(landing, ENROLMENTS, "2016-2017", "20170810", export_bytes(ENROLMENTS))
    put(
        landing,
        ENROLMENTS,
        "2016-2017",
        "20170810",
        export_bytes(ENROLMENTS, PUPILS.iloc[:2]),
        copy=" (1)",
    )
    conn = duckdb.connect()
    summary = load(conn, landing, ENROLMENTS, K1)
    # both kept, traceable
    assert sorted(row["status"] for row in summary.new) == ["loaded", "loaded"]
    state = register(conn)
    original, copy = (
        state["99WA00_inschrijvingen_2016-2017_20170810.csv"],
        state["99WA00_inschrijvingen_2016-2017_20170810 (1).csv"],
    )
    assert (original[1], copy[1]) == (True, False)  # one current, as before
    assert current_rows(conn) == 3  # never counted twice
    for mine, other in [(original, "20170810 (1).csv"), (copy, "20170810.csv")]:
        assert other in mine[3] and "later date" in mine[3]
    assert len(review_items(conn, ENROLMENTS)) == 2


def test_steward_resolves_a_same_date_conflict_by_deleting_the_wrong_file(landing):
    original = put(landing, ENROLMENTS, "2016-2017", "20170810", export_bytes(ENROLMENTS))
    put(
        landing,
        ENROLMENTS,
        "2016-2017",
        "20170810",
        export_bytes(ENROLMENTS, PUPILS.iloc[:2]),
        copy=" (1)",
    )
    conn = duckdb.connect()
    load(conn, landing, ENROLMENTS, K1)
    original.unlink()  # the copy was the right one
    load(conn, landing, ENROLMENTS, K1)
    state = register(conn)
    assert state["99WA00_inschrijvingen_2016-2017_20170810 (1).csv"][1] is True
    assert state["99WA00_inschrijvingen_2016-2017_20170810.csv"][1] is False
    assert review_items(conn) == [] and current_rows(conn) == 2


def test_steward_resolves_a_same_date_conflict_by_delivering_with_a_later_date(landing):
    put(landing, ENROLMENTS, "2016-2017", "20170810", export_bytes(ENROLMENTS))
    put(
        landing,
        ENROLMENTS,
        "2016-2017",
        "20170810",
        export_bytes(ENROLMENTS, PUPILS.iloc[:2]),
        copy=" (1)",
    )
    conn = duckdb.connect()
    load(conn, landing, ENROLMENTS, K1)
    put(landing, ENROLMENTS, "2016-2017", "20170901", export_bytes(ENROLMENTS, PUPILS.iloc[1:3]))
    load(conn, landing, ENROLMENTS, K1)
    assert review_items(conn) == []
    assert (
        register(conn)["99WA00_inschrijvingen_2016-2017_20170901.csv"][1] is True
        and current_rows(conn) == 2
    )


def test_same_date_same_content_copy_is_a_plain_duplicate(landing):
    put(landing, ENROLMENTS, "2016-2017", "20170810", export_bytes(ENROLMENTS))
    put(landing, ENROLMENTS, "2016-2017", "20170810", export_bytes(ENROLMENTS), copy=" (1)")
    conn = duckdb.connect()
    load(conn, landing, ENROLMENTS, K1)
    assert register(conn)["99WA00_inschrijvingen_2016-2017_20170810 (1).csv"][0] == "duplicate"
    assert review_items(conn) == []


def empty_archive(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("berichten/", date_time=(2025, 1, 1, 0, 0, 0)), b"")
    return path


def test_identical_empty_monthly_archives_are_each_loaded(landing):
    """An empty archive carries no rows: the same bytes for two months are two deliveries."""
    first = empty_archive(landing / "ijw" / "GM0014" / "GM0014_ijw_2025-01_20250205.zip")
    second = empty_archive(landing / "ijw" / "GM0014" / "GM0014_ijw_2025-02_20250305.zip")
    assert first.read_bytes() == second.read_bytes()
    conn = duckdb.connect()
    reader = functools.partial(
        read_delivery, "ijw_messages", ReadContext(Pseudonymiser(K1), None, None)
    )
    summary = load_source(
        conn,
        landing,
        "ijw_messages",
        SOURCES_BY_NAME["ijw_messages"].tables,
        reader,
        key_version="k1",
    )
    assert [(row["status"], row["rows_read"]) for row in summary.new] == [
        ("loaded", 0),
        ("loaded", 0),
    ]
    assert conn.execute("select count(*) from raw.deliveries where is_current").fetchone()[0] == 2
    assert review_items(conn) == []


def test_status_shows_the_flagged_deliveries_to_the_steward(landing):
    from datetime import date

    from pilotmonitor.health.status import collect_status

    put(landing, ENROLMENTS, "2016-2017", "20170810", export_bytes(ENROLMENTS))
    put(landing, ENROLMENTS, "2017-2018", "20180810", export_bytes(ENROLMENTS))
    conn = duckdb.connect()
    load(conn, landing, ENROLMENTS, K1)
    status = collect_status(conn, date(2018, 9, 1), sources=[ENROLMENTS])
    flagged = [w for w in status.warnings if "for the steward to review" in w]
    assert len(flagged) == 1 and "99WA00_inschrijvingen_2017-2018_20180810.csv" in flagged[0]
