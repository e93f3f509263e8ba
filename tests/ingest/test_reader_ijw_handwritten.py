"""The iJw reader and the raw-data checks on messages written by hand from the iJw 3.2
specification (tests/ingest/handwritten_ijw, see its README), not by our generator:
several products per message, several clients per declaration, a product reference
declared month by month, a credit line, optional elements absent, other vendors'
namespace prefixes, an impossible date and message types the warehouse does not use.
All people are SYNTHETIC (BSNs from the official test range)."""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pilotmonitor.ingest.contracts import as_frame
from pilotmonitor.ingest.deliveries import Delivery
from pilotmonitor.ingest.pseudonymise import Pseudonymiser, PseudonymKey
from pilotmonitor.ingest.readers.ijw import (
    BERICHTCODES,
    IGNORED_TYPES,
    MESSAGE_TYPES,
    read_ijw_archive,
    safe_detail,
)
from pilotmonitor.quality.runner import validate_frame

HANDWRITTEN = Path(__file__).parent / "handwritten_ijw"
ARCHIVE_NAME = "GM0014_ijw_2024-03_20240410.zip"
CODE_LIST = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "reference"
    / "ijw-3.2"
    / "codelijsten"
    / "COD002VEKTIS_Berichtcode"
)
BSNS = ("999990007", "999990019")


def handwritten_members() -> list[Path]:
    return sorted(HANDWRITTEN.glob("*.xml"))


@pytest.fixture(scope="module")
def result(tmp_path_factory, ijw_xsd_dir):
    path = tmp_path_factory.mktemp("handwritten") / ARCHIVE_NAME
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in handwritten_members():
            archive.write(member, member.name)
    delivery = Delivery(
        path=ARCHIVE_NAME,
        source="ijw_messages",
        sender="GM0014",
        period="2024-03",
        delivered_on=date(2024, 4, 10),
        sha256="0" * 64,
        size_bytes=path.stat().st_size,
    )
    return read_ijw_archive(
        path, delivery, PSEUDONYMISER, ijw_xsd_dir, known_product_codes={"45A01", "54001"}
    )


PSEUDONYMISER = Pseudonymiser(
    PseudonymKey(
        "test", bytes.fromhex("8f3a9c1d5e7b2064f1c8a3e95d7b6c2049e1f3a7c5d8b2e6a0f4c9d1e7b3a5c8")
    )
)
REF = PSEUDONYMISER.reference  # free-form references are stored as keyed pseudonyms


def table(result, name: str) -> pd.DataFrame:
    return as_frame(result.tables[name])


def test_every_product_of_a_message_is_a_row_located_by_its_number(result):
    allocations = table(result, "ijw_allocations").sort_values("row_locator")
    assert list(allocations.row_locator) == [f"JW301_multi_product.xml#{n}" for n in (1, 2, 3)]
    assert list(allocations.allocation_number) == ["880001", "880002", "880003"]
    # optional elements absent: no provider reference, no end date, no volume, no product
    second, third = allocations.iloc[1], allocations.iloc[2]
    assert (
        second.provider_reference is None
        and second.allocation_end is None
        and pd.isna(second.volume)
    )
    assert third.product_code is None and third.budget_cents == 250000
    assert allocations.client_pseudonym.nunique() == 1

    starts = table(result, "ijw_starts").sort_values("row_locator")
    assert list(starts.allocation_number.fillna("none")) == ["880001", "none"]
    assert list(starts.product_code) == ["45A01", "54001"]
    stops = table(result, "ijw_stops")
    assert sorted(stops.end_reason) == ["20", "35"]
    requests = table(result, "ijw_requests")
    requests = requests.assign(
        delivered=requests.provider_reference.map({REF(v): v for v in ("AANB-21", "AANB-22")})
    ).sort_values("delivered")
    assert list(requests.referrer_type) == ["02", "01"]  # the referrer is given per product
    assert list(requests.product_code.fillna("none")) == ["45A01", "none"]


def test_a_reference_declared_month_by_month_gives_a_line_per_month(result):
    lines = table(result, "ijw_declaration_lines")
    assert len(lines) == 5 and lines.row_locator.is_unique
    monthly = lines[lines.product_reference.eq(REF("PR5001"))].sort_values("product_period_start")
    assert list(monthly.product_period_start) == [
        date(2024, 1, 1),
        date(2024, 2, 1),
        date(2024, 3, 1),
    ]
    credit = lines[lines.debit_credit.eq("C")].iloc[0]
    assert (
        credit.previous_product_reference,
        credit.product_period_start,
        credit.amount_cents,
    ) == (REF("PR5001"), date(2024, 2, 1), 21000)
    assert lines.client_pseudonym.nunique() == 2  # two clients in one declaration
    # ProductTarief left out for unit 83
    assert lines.loc[lines.unit.eq("83"), "tariff_cents"].isna().all()


def test_an_invalid_message_quarantines_each_of_its_products_with_what_was_expected(result):
    quarantine = result.quarantine[
        result.quarantine.row_locator.str.startswith("JW301_impossible_date.xml")
    ]
    assert sorted(quarantine.row_locator) == [
        "JW301_impossible_date.xml#1",
        "JW301_impossible_date.xml#2",
    ]
    assert set(quarantine.reason_code) == {"schema_invalid"} and set(quarantine.target_table) == {
        "ijw_allocations"
    }
    reason = quarantine.reason.iloc[0]
    # the element and the expected type
    assert "element Ingangsdatum" in reason and "LDT_Datum" in reason
    assert "2024-02-30" not in reason  # never the delivered value


def test_message_types_the_warehouse_does_not_use_are_counted_not_quarantined(result):
    assert result.ignored == {"JW302": 1, "JW306": 1, "JW317": 1, "JW325": 1}
    assert not result.quarantine.row_locator.str.contains("JW30[268]|JW317|JW325").any()


def test_accounting_counts_products_and_lines(result):
    loaded = {name: len(rows) for name, rows in result.tables.items()}
    assert loaded == {
        "ijw_requests": 2,
        "ijw_allocations": 3,
        "ijw_starts": 2,
        "ijw_stops": 2,
        "ijw_declaration_lines": 5,
    }
    assert result.rows_read == sum(loaded.values()) + len(result.quarantine) == 16


def test_no_identifier_or_name_reaches_the_result(result):
    frames = [table(result, name) for name in result.tables] + [result.quarantine]
    text = " ".join(frame.astype(str).to_csv() for frame in frames)
    for value in (*BSNS, "Handgeschreven", "Zelfbedacht", "Verzonnenlaan", "9999ZZ", "01999999"):
        assert value not in text


@pytest.mark.parametrize("name", sorted(MESSAGE_TYPES))
def test_no_error_severity_expectation_fails_on_valid_real_messages(result, name):
    """A blocking check must never fail on valid data (each table checked on its own)."""
    kind = MESSAGE_TYPES[name]
    frame = table(result, kind.table).assign(delivery_id="handwritten")
    failed = [
        (o.expectation_type, o.column, o.steward_message)
        for o in validate_frame(kind.table, frame, "2024-03")
        if not o.success and o.severity == "error"
    ]
    assert failed == []


def test_the_duplicate_check_still_catches_a_message_exported_twice(result):
    lines = table(result, "ijw_declaration_lines").assign(delivery_id="handwritten")
    twice = pd.concat([lines, lines.iloc[[0]]], ignore_index=True)
    failed = [
        o.expectation_type
        for o in validate_frame("ijw_declaration_lines", twice, "2024-03")
        if not o.success and o.severity == "error"
    ]
    assert failed == ["expect_compound_columns_to_be_unique"]


def test_message_codes_are_those_of_the_code_list():
    if not CODE_LIST.is_file():
        pytest.skip(f"iJw code lists not found at {CODE_LIST}")
    rows = [
        line.split("|")
        for line in CODE_LIST.read_text(encoding="utf-8").splitlines()
        if line.startswith("| JW")
    ]
    assert {cells[1].strip(): cells[2].strip() for cells in rows} == BERICHTCODES
    assert IGNORED_TYPES == set(BERICHTCODES) - set(MESSAGE_TYPES)


@pytest.mark.parametrize(
    "error, kept, withheld",
    [
        (
            "Element '{urn:x}Datum': '2024-02-30' is not a valid value of the atomic type "
            "'{urn:b}LDT_Datum'.",
            ["element Datum", "'LDT_Datum'"],
            ["2024-02-30"],
        ),
        (
            "Element '{urn:x}Bsn': [facet 'pattern'] The value '12345678' is not accepted by the "
            "pattern '[0-9]{9}'.",
            ["'[0-9]{9}'"],
            ["12345678"],
        ),
        (
            "Element '{urn:x}Geslacht': [facet 'enumeration'] The value '7' is not an element of "
            "the set {'0', '1', '2'}.",
            ["{'0', '1', '2'}"],
            ["'7'"],
        ),
        (
            "Element '{urn:x}Achternaam': [facet 'maxLength'] The value 'O'Neill-Jansen' has a "
            "length of '14'; this exceeds the allowed maximum length of '12'.",
            ["'12'"],
            ["Neill", "Jansen"],
        ),
        ("No match found for key-sequence ['999990007'] of keyref 'k'.", [], ["999990007"]),
    ],
)
def test_reasons_keep_what_was_expected_and_withhold_the_value(error, kept, withheld):
    detail = safe_detail(error)
    assert all(part in detail for part in kept), detail
    assert not any(part in detail for part in withheld), detail
