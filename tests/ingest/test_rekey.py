"""Key versions: the linked tables must share one (pilotmonitor/ingest/key_versions.py),
and `pilotmonitor rekey` re-pseudonymises from the landing area
(pilotmonitor/ingest/rekey.py) to exactly what a fresh load under the new key gives."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pilotmonitor.cli import app
from pilotmonitor.ingest import warehouse_raw
from pilotmonitor.ingest.contracts import DeliveryError
from pilotmonitor.ingest.key_versions import key_version_problems
from pilotmonitor.ingest.rekey import rekey
from tests.ingest.school_files import PUPILS, export_bytes, key, load, put, reader_for

SOURCES = ["school_enrolments", "school_absence"]
K1, K2 = key("k1", 1), key("k2", 2)


@pytest.fixture()
def landing(tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    put(landing, "school_enrolments", "2016-2017", "20170810", export_bytes("school_enrolments"))
    # supersedes
    put(
        landing,
        "school_enrolments",
        "2016-2017",
        "20170901",
        export_bytes("school_enrolments", PUPILS.iloc[:3]),
    )
    put(
        landing,
        "school_enrolments",
        "2017-2018",
        "20180810",
        export_bytes("school_enrolments", PUPILS.iloc[1:], school_year=2017),
    )
    put(landing, "school_absence", "2016-2017", "20170810", export_bytes("school_absence"))
    return landing


def load_all(conn, landing: Path, pseudonym_key) -> None:
    for source in SOURCES:
        load(conn, landing, source, pseudonym_key)


def contents(conn) -> dict[str, list]:
    """Every raw row, quarantine row and register count, in a stable order."""
    return {
        "school_enrolments": conn.execute(
            "select * exclude (birth_month) from raw.school_enrolments order by delivery_id, "
            "row_locator"
        ).fetchall(),
        "school_absence": conn.execute(
            "select * from raw.school_absence order by delivery_id, row_locator"
        ).fetchall(),
        "quarantine": conn.execute(
            "select * from raw.quarantine order by delivery_id, row_locator"
        ).fetchall(),
        "register": conn.execute(
            "select path, delivery_id, status, is_current, rows_read, rows_loaded, "
            "rows_quarantined, key_version from raw.deliveries order by path"
        ).fetchall(),
    }


def test_one_key_version_passes_the_check(landing):
    conn = duckdb.connect()
    load_all(conn, landing, K1)
    assert key_version_problems(conn) == []
    assert set(conn.execute("select key_version from raw.deliveries").fetchall()) == {("k1",)}


def test_mixing_key_versions_fails_the_check_and_says_to_rekey(landing):
    conn = duckdb.connect()
    load(conn, landing, "school_enrolments", K1)
    load(conn, landing, "school_absence", K2)  # a key change between two sources' loads
    problems = key_version_problems(conn)
    assert len(problems) == 1
    assert (
        "pilotmonitor rekey" in problems[0]
        and "k1: 2 school_enrolments" in problems[0]
        and "k2: 1 school_absence" in problems[0]
    )
    assert K1.secret.hex() not in problems[0] and K2.secret.hex() not in problems[0]


def test_superseded_deliveries_do_not_count_as_mixing(landing):
    conn = duckdb.connect()
    load_all(conn, landing, K1)
    conn.execute("update raw.deliveries set key_version = 'k0' where not is_current")
    assert key_version_problems(conn) == []


def test_rekey_gives_exactly_a_fresh_load_under_the_new_key(landing):
    conn = duckdb.connect()
    load_all(conn, landing, K1)
    before = contents(conn)
    report = rekey(conn, landing, "k2", reader_for(K2))
    assert report.complete and len(report.rekeyed) == 4
    fresh = duckdb.connect()
    load_all(fresh, landing, K2)
    after = contents(conn)
    assert after == contents(fresh)
    assert after["school_enrolments"] != before["school_enrolments"]  # the pseudonyms did change
    assert {row[-1] for row in after["register"]} == {"k2"}
    assert key_version_problems(conn) == []
    assert (
        conn.execute("select count(*) from raw.deliveries where rekeyed_at is null").fetchone()[0]
        == 0
    )
    assert rekey(conn, landing, "k2", reader_for(K2)).rekeyed == []  # nothing left to do


def test_rekey_repairs_a_mixed_warehouse(landing):
    conn = duckdb.connect()
    load(conn, landing, "school_enrolments", K1)
    load(conn, landing, "school_absence", K2)
    report = rekey(conn, landing, "k2", reader_for(K2))
    assert len(report.rekeyed) == 3  # only the enrolments were under k1
    assert key_version_problems(conn) == []


def test_a_missing_file_is_reported_and_the_check_keeps_failing(landing):
    conn = duckdb.connect()
    load_all(conn, landing, K1)
    gone = landing / "schools/99WA00/99WA00_inschrijvingen_2017-2018_20180810.csv"
    gone.unlink()
    report = rekey(conn, landing, "k2", reader_for(K2))
    assert not report.complete and len(report.rekeyed) == 3
    assert len(report.missing) == 1 and report.missing[0].startswith(
        "schools/99WA00/99WA00_inschrijvingen_2017-2018_20180810.csv: no longer in the landing "
        "area (current"
    )
    # left as it was
    assert (
        conn.execute(
            "select key_version from raw.deliveries where path like '%2017-2018%'"
        ).fetchone()[0]
        == "k1"
    )
    assert key_version_problems(conn)  # still mixed until it is redelivered


def test_a_file_that_fails_to_read_again_leaves_its_delivery_as_it_was(landing):
    conn = duckdb.connect()
    load_all(conn, landing, K1)
    before = conn.execute(
        "select pupil_pseudonym from raw.school_absence order by row_locator"
    ).fetchall()
    good = reader_for(K2)

    def reader(source):
        if source == "school_absence":

            def broken(path, delivery):
                raise DeliveryError(path, "cannot be read")

            return broken
        return good(source)

    report = rekey(conn, landing, "k2", reader)
    assert [line.split(":")[0] for line in report.failed] == [
        "99WA00_verzuim_2016-2017_20170810.csv"
    ]
    assert len(report.rekeyed) == 3
    assert (
        conn.execute(
            "select pupil_pseudonym from raw.school_absence order by row_locator"
        ).fetchall()
        == before
    )
    assert (
        conn.execute(
            "select count(*) from raw.quarantine where source = 'school_absence'"
        ).fetchone()[0]
        == 1
    )
    assert (
        conn.execute(
            "select key_version from raw.deliveries where source = 'school_absence'"
        ).fetchone()[0]
        == "k1"
    )


def test_key_versions_of_an_older_register_are_taken_from_its_rows(landing):
    conn = duckdb.connect()
    load_all(conn, landing, K1)
    conn.execute("alter table raw.deliveries drop column key_version")
    warehouse_raw.ensure_schema(conn)
    assert set(conn.execute("select source, key_version from raw.deliveries").fetchall()) == {
        ("school_enrolments", "k1"),
        ("school_absence", "k1"),
    }


def test_rekey_command_reports_a_missing_file_and_exits_1(landing, monkeypatch):
    data = landing.parent
    (data / "warehouse").mkdir()
    with duckdb.connect(str(data / "warehouse" / "pilotmonitor.duckdb")) as conn:
        load_all(conn, landing, K1)
    (landing / "schools/99WA00/99WA00_verzuim_2016-2017_20170810.csv").unlink()
    monkeypatch.setenv("PILOTMONITOR_DATA_DIR", str(data))
    monkeypatch.setenv("PILOTMONITOR_PSEUDONYM_KEY", K2.secret.hex())
    monkeypatch.setenv("PILOTMONITOR_PSEUDONYM_KEY_VERSION", "k2")
    monkeypatch.delenv("PILOTMONITOR_PSEUDONYM_KEY_FILE", raising=False)
    monkeypatch.delenv("PILOTMONITOR_DEMO", raising=False)
    result = CliRunner().invoke(app, ["rekey"])
    assert result.exit_code == 1, result.output
    assert (
        "3 deliveries re-pseudonymised" in result.output
        and "99WA00_verzuim_2016-2017_20170810.csv" in result.output
    )
    assert K2.secret.hex() not in result.output


def test_status_blocks_on_mixed_key_versions(landing):
    from datetime import date

    from pilotmonitor.health.status import collect_status

    conn = duckdb.connect()
    load(conn, landing, "school_enrolments", K1)
    load(conn, landing, "school_absence", K2)
    status = collect_status(conn, date(2018, 9, 1), sources=SOURCES)
    assert status.exit_code == 1 and any("pilotmonitor rekey" in b for b in status.blocking)
    rekey(conn, landing, "k2", reader_for(K2))
    assert not any(
        "key version" in b for b in collect_status(conn, date(2018, 9, 1), sources=SOURCES).blocking
    )


def test_identifying_sources_carry_the_blocking_key_version_check():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    specs = {
        (spec.asset_key.to_user_string(), spec.name): spec.blocking
        for spec in (graph.get_check_spec(k) for k in graph.asset_check_keys)
    }
    # survey respondent ids are keyed pseudonyms too
    assert {asset for asset, name in specs if name == "one_key_version"} == {
        "raw_school_enrolments",
        "raw_school_absence",
        "raw_ijw_messages",
        "raw_ijw_extracts",
        "raw_survey_responses",
        "raw_leerplicht_register",
    }
    assert all(
        specs[(asset, "one_key_version")] for asset, name in specs if name == "one_key_version"
    )
    assert len([1 for _, name in specs if name == "redelivery_review"]) == 13
    # a warning
    assert not any(specs[(asset, name)] for asset, name in specs if name == "redelivery_review")


def test_an_older_register_marks_deliveries_with_references_as_delivered_for_rekey():
    """A warehouse loaded before references were pseudonymised: its iJw deliveries carry
    plain references, so their backfilled version differs from the key's and rekey reads
    them again; school deliveries (no references) keep theirs."""
    conn = duckdb.connect()
    warehouse_raw.ensure_schema(conn)
    conn.execute(
        "insert into raw.deliveries (path, delivery_id, source, status) values ('a.zip', 'd1', "
        "'ijw_messages', 'loaded'), ('b.csv', 'd2', 'school_absence', 'loaded')"
    )
    conn.execute(
        "insert into raw.ijw_requests (delivery_id, key_version, message_id) values ('d1', 'k1', "
        "'MSG-1')"
    )
    conn.execute("insert into raw.school_absence (delivery_id, key_version) values ('d2', 'k1')")
    conn.execute("alter table raw.deliveries drop column key_version")
    warehouse_raw.ensure_schema(conn)
    assert dict(conn.execute("select source, key_version from raw.deliveries").fetchall()) == {
        "ijw_messages": "k1" + warehouse_raw.PLAIN_REFERENCES,
        "school_absence": "k1",
    }
    from pilotmonitor.ingest.rekey import stale_deliveries

    assert [item.path for item in stale_deliveries(conn, "k1")] == ["a.zip"]
