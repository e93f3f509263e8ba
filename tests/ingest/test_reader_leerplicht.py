"""The leerplicht/RMC register reader on hand-written exports (not the generator's):
tests/ingest/handwritten_leerplicht holds a Windows-1252 semicolon export with one bad
row per rule and a comma UTF-8 export with other header names, order and codes."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pilotmonitor.ingest.contracts import RAW_TABLES, DeliveryError, ReadResult, combine_parts
from pilotmonitor.ingest.deliveries import Delivery, describe
from pilotmonitor.ingest.pseudonymise import Pseudonymiser, PseudonymKey
from pilotmonitor.ingest.readers.leerplicht import (
    KINDS,
    REGISTRATIONS,
    read_leerplicht_register,
    read_many_leerplicht_register,
)
from pilotmonitor.ingest.readers.school_exports import read_school_absence
from tests.ingest.test_reader_school_exports import assert_same_result

HANDWRITTEN = Path(__file__).parent / "handwritten_leerplicht"
SEMICOLON = HANDWRITTEN / "GM0014_leerplicht_2024-2025_20250915.csv"
PSEUDONYMISER = Pseudonymiser(PseudonymKey("test", bytes(range(32))))


def delivery(name: str = SEMICOLON.name, sender: str = "GM0014") -> Delivery:
    return Delivery(
        f"leerplicht/{sender}/{name}",
        "leerplicht_register",
        sender,
        "2024-2025",
        dt.date(2025, 9, 15),
        "0" * 64,
        0,
    )


def read(path: Path = SEMICOLON, sender: str = "GM0014"):
    """The file read alone; every test also checks that reading it with other files
    (read_many, as the loader does) gives the same result."""
    try:
        result = read_leerplicht_register(path, delivery(path.name, sender), PSEUDONYMISER)
    except DeliveryError as error:
        result = error
    assert_same_result(result, read_together(path, sender))
    if isinstance(result, DeliveryError):
        raise result
    result.check_accounting()
    return result.tables["leerplicht_register"], result.quarantine, result


def read_together(path: Path, sender: str) -> list[ReadResult] | DeliveryError:
    """The file read by read_many between another municipality's file (the semicolon
    export delivered by another sender: every row quarantined, naming that sender) and a
    second copy of itself, which must read the same."""
    other = "GM0363"  # Amsterdam: neither municipality of the hand-written rows
    first, together, again = read_many_leerplicht_register(
        [
            (SEMICOLON, delivery(SEMICOLON.name, other)),
            (path, delivery(path.name, sender)),
            (path, delivery(path.name, sender)),
        ],
        PSEUDONYMISER,
    )
    alone = read_leerplicht_register(SEMICOLON, delivery(SEMICOLON.name, other), PSEUDONYMISER)
    assert alone.tables["leerplicht_register"].empty
    assert_same_result(alone, first)
    assert_same_result(
        again if isinstance(again, DeliveryError) else combine_parts(again), together
    )
    return together


def test_the_file_name_is_recognised_as_a_leerplicht_delivery(tmp_path: Path):
    landing = tmp_path / "landing"
    target = landing / "leerplicht" / "GM0014" / SEMICOLON.name
    target.parent.mkdir(parents=True)
    shutil.copy(SEMICOLON, target)
    found = describe(landing, target)
    assert (found.source, found.sender.upper(), found.period) == (
        "leerplicht_register",
        "GM0014",
        "2024-2025",
    )


def test_every_valid_registration_is_loaded_with_its_codes():
    rows, _, _ = read()
    assert list(rows.columns) == [*RAW_TABLES["leerplicht_register"], "row_locator"]
    got = rows.set_index("row_locator")[
        ["registration", "kind", "municipality_code", "school_id", "id_kind"]
    ]
    assert got.to_dict("index") == {
        "1": {
            "registration": "absence_notification",
            "kind": "relative",
            "municipality_code": "GM0014",
            "school_id": "99YA00",
            "id_kind": "bsn",
        },
        "2": {
            "registration": "absence_notification",
            "kind": "luxury",
            "municipality_code": "GM0014",
            "school_id": "99YA00",
            "id_kind": "bsn",
        },
        "3": {
            "registration": "exemption",
            "kind": "5a",
            "municipality_code": "GM0014",
            "school_id": None,
            "id_kind": "bsn",
        },
        "4": {
            "registration": "thuiszitter",
            "kind": "long_relative",
            "municipality_code": "GM0014",
            "school_id": "99YB00",
            "id_kind": "onderwijsnummer",
        },
        "5": {
            "registration": "early_school_leaver",
            "kind": "without_start_qualification",
            "municipality_code": "GM0014",
            "school_id": "99YC00",
            "id_kind": "bsn",
        },
        "6": {
            "registration": "absence_notification",
            "kind": "signal",
            "municipality_code": "GM0014",
            "school_id": "99YA00",
            "id_kind": "bsn",
        },
    }
    thuiszitter = rows[rows.row_locator == "4"].iloc[0]
    assert (thuiszitter.start_date, thuiszitter.end_date, thuiszitter.reason) == (
        pd.Timestamp("2024-11-04"),
        pd.Timestamp("2025-01-31"),
        "Geen passend onderwijsaanbod",
    )
    # the birth date is not kept
    assert rows.loc[rows.row_locator == "1", "birth_month"].iloc[0] == pd.Timestamp("2011-02-01")


def test_every_rule_quarantines_its_row_with_the_first_reason():
    _, quarantine, result = read()
    got = dict(zip(quarantine.row_locator, quarantine.reason_code))
    assert got == {
        "7": "invalid_bsn",
        "8": "reserved_bsn",
        "9": "invalid_date",
        "10": "invalid_code",
        "11": "invalid_code",
        "12": "missing_field",
        "13": "invalid_date",
        "14": "missing_field",
        "15": "invalid_code",
        "16": "duplicate_row",
        "17": "invalid_code",
    }
    assert result.rows_read == 17
    reasons = dict(zip(quarantine.row_locator, quarantine.reason))
    assert "not a kind of absence_notification" in reasons["10"]
    assert "another municipality than the sender GM0014" in reasons["11"]
    assert "Begindatum is empty" in reasons["12"]
    assert "ends before it starts" in reasons["13"]
    assert "same as row 1" in reasons["16"]
    # A quarantined row carries the keyed pseudonym of what was delivered, never the number.
    assert quarantine.pseudonym.notna().all()
    assert (
        not quarantine.astype(str).apply(lambda c: c.str.contains("123456789|999900")).any().any()
    )


def test_names_addresses_and_remarks_never_leave_the_reader():
    rows, quarantine, _ = read()
    text = rows.astype(str).to_csv() + quarantine.astype(str).to_csv()
    for forbidden in [
        "Synthetisch",
        "Proefstraat",
        "9711AB",
        "0612345678",
        "gesprek met moeder",
        "Groningen;",
        "999900006",
        "100000004",
    ]:
        assert forbidden not in text


def test_a_pupil_links_to_the_school_exports_by_the_same_pseudonym(tmp_path: Path):
    absence = tmp_path / "99YA00_verzuim_2024-2025_20250810.csv"
    absence.write_text(
        "BSN;Datum;Uren;Soort verzuim;Reden\n999900006;03-10-2024;5,5;Ongeoorloofd;Spijbelen\n",
        encoding="cp1252",
    )
    school = read_school_absence(
        absence,
        Delivery(
            f"schools/99YA00/{absence.name}",
            "school_absence",
            "99YA00",
            "2024-2025",
            dt.date(2025, 8, 10),
            "0" * 64,
            0,
        ),
        PSEUDONYMISER,
    )
    rows, _, _ = read()
    assert (
        school.tables["school_absence"].pupil_pseudonym.iloc[0]
        == rows.loc[rows.row_locator == "1", "pupil_pseudonym"].iloc[0]
    )


def test_other_headers_order_encoding_and_codes_are_read():
    rows, quarantine, _ = read(HANDWRITTEN / "comma_utf8_other_headers.csv")
    assert quarantine.empty, quarantine.reason.tolist()
    assert rows[["registration", "kind", "sex"]].values.tolist() == [
        ["absence_notification", "absolute", "M"],
        ["exemption", "11", "V"],
    ]
    assert rows.school_id.isna().all()


def test_a_file_of_another_municipality_quarantines_every_row():
    rows, quarantine, _ = read(HANDWRITTEN / "comma_utf8_other_headers.csv", sender="GM0047")
    assert rows.empty and set(quarantine.reason_code) == {"invalid_code"}


@pytest.mark.parametrize("header", ["Gemeentecode", "Registratie"])
def test_a_missing_mandatory_column_fails_the_file(tmp_path: Path, header: str):
    text = SEMICOLON.read_bytes().decode("cp1252").replace(header, "Iets anders", 1)
    broken = tmp_path / SEMICOLON.name
    broken.write_bytes(text.encode("cp1252"))
    with pytest.raises(DeliveryError, match=header.lower()):
        read(broken)


def test_a_utf16_export_is_refused(tmp_path: Path):
    broken = tmp_path / SEMICOLON.name
    broken.write_bytes(SEMICOLON.read_bytes().decode("cp1252").encode("utf-16-le"))
    with pytest.raises(DeliveryError, match="UTF-16"):
        read(broken)


def test_an_overlong_line_stops_at_the_parsing_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PILOTMONITOR_LIMIT_LINE_CHARS", "2000")
    broken = tmp_path / SEMICOLON.name
    broken.write_bytes(SEMICOLON.read_bytes() + b"999900006;" + b"x" * 5000 + b"\r\n")
    with pytest.raises(DeliveryError, match="limit"):
        read(broken)


def test_every_registration_code_has_kinds_and_every_kind_fits_the_expectations():
    import json

    assert set(REGISTRATIONS.values()) == set(KINDS)
    suite = json.loads(
        (Path(__file__).parents[2] / "expectations" / "leerplicht_register.json").read_text(
            encoding="utf-8"
        )
    )
    kinds = next(e for e in suite["expectations"] if e["kwargs"].get("column") == "kind")["kwargs"][
        "value_set"
    ]
    assert set(kinds) == {k for per in KINDS.values() for k in per.values()}
