"""Tests for the iJw archive reader (pilotmonitor.ingest.readers.ijw).

Archives are built here from the synthetic renderers (pilotmonitor.synth.ijw_messages); a few
members are edited as bytes to produce what the renderers refuse to make (a missing product
code, an impossible date, broken XML). All people, numbers and addresses are synthetic.
"""

from __future__ import annotations

import re
import tracemalloc
import zipfile
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from pilotmonitor.ingest.contracts import (
    QUARANTINE_COLUMNS,
    RAW_TABLES,
    REASONS,
    DeliveryError,
    ReadResult,
    as_frame,
    combine_parts,
)
from pilotmonitor.ingest.deliveries import Delivery
from pilotmonitor.ingest.pseudonymise import Pseudonymiser, PseudonymKey
from pilotmonitor.ingest.readers import ijw
from pilotmonitor.ingest.readers.ijw import iter_ijw_archive, read_ijw_archive, schema_for
from pilotmonitor.synth.ijw_messages import (
    render_jw301,
    render_jw305,
    render_jw307,
    render_jw315,
    render_jw323,
)
from tests.ijw_rows import declaration_line

IJW_TABLES = ["ijw_requests", "ijw_allocations", "ijw_starts", "ijw_stops", "ijw_declaration_lines"]
ARCHIVE_NAME = "GM1895_ijw_2024-03_20240410.zip"
PRODUCTS = {"45A01", "45A02", "54001", "48A01"}

# Personal data planted in the messages; none of it may reach the result.
SURNAME = "Zwartewaalstra"
SURNAME_PREFIX = "van der"
GIVEN_NAMES = "Quirijntje Amarens"
STREET = "Lindelaantjesweg"
CITY = "Oudeschildwerf"
POSTCODE = "9671ZX"
PHONE = "0612398745"
PARENT_GIVEN = "Wobkeline"
PARENT_SURNAME = "Hoekstrawerda"
PARENT_PHONE = "0687654329"
REFERRER_NAME = "Huisartsenpraktijk Vossenburcht"
REFERRER_AGB = "01928374"
PERSONAL_VALUES = [
    SURNAME,
    GIVEN_NAMES,
    "Quirijntje",
    "Amarens",
    STREET,
    CITY,
    POSTCODE,
    PHONE,
    PARENT_GIVEN,
    PARENT_SURNAME,
    PARENT_PHONE,
    REFERRER_NAME,
    "Vossenburcht",
    REFERRER_AGB,
]


def valid_bsn(prefix: int) -> str:
    """A nine-digit number passing the 11-check, built from an eight-digit prefix."""
    for candidate in range(prefix, prefix + 50):
        digits = f"{candidate:08d}"
        total = sum(int(d) * w for d, w in zip(digits, range(9, 1, -1)))
        if total % 11 < 10:
            return digits + str(total % 11)
    raise AssertionError("no check digit found")


BSN_A = "123456782"
BSN_B = valid_bsn(23456781)
BSN_C = valid_bsn(34567812)
INVALID_BSN = "123456789"  # fails the 11-check
RESERVED_BSN = "999999999"


# ---------------------------------------------------------------------------------------------
# Building inputs
# ---------------------------------------------------------------------------------------------


def trajectory(trajectory_id: int, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "trajectory_id": trajectory_id,
        "bsn": BSN_A,
        "birth_date": pd.Timestamp("2012-03-17"),
        "sex": "1",
        "given_name": GIVEN_NAMES,
        "surname_prefix": SURNAME_PREFIX,
        "surname": SURNAME,
        "street": STREET,
        "house_number": 12,
        "postcode": POSTCODE,
        "city": CITY,
        "phone": PHONE,
        "parent_given_name": PARENT_GIVEN,
        "parent_surname": PARENT_SURNAME,
        "parent_phone": PARENT_PHONE,
        "municipality_code": "1895",
        "provider_agb": "87654321",
        "referrer_type": "02",
        "referrer_name": REFERRER_NAME,
        "referrer_agb": "",
        "product_category": "45",
        "product_code": "45A01",
        "unit": "04",
        "frequency": "2",
        "volume": 3,
        "provider_reference": f"REF-{trajectory_id}",
        "request_date": pd.Timestamp("2024-01-10"),
        "requested_start": pd.Timestamp("2024-02-01"),
        "requested_end": pd.Timestamp("2024-07-31"),
        "allocation_number": f"{700000 + trajectory_id}",
        "allocation_date": pd.Timestamp("2024-01-20"),
        "allocation_start": pd.Timestamp("2024-02-01"),
        "allocation_end": pd.Timestamp("2024-07-31"),
        "start_date": pd.Timestamp("2024-02-05"),
        "end_date": pd.Timestamp("2024-06-28"),
        "end_reason": "31",
    }
    row.update(overrides)
    return row


line = declaration_line


def frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def one(renderer, rows: list[dict[str, object]]) -> tuple[str, bytes]:
    (member,) = list(renderer(frame(rows)))
    return member


def all_messages(bsn: str = BSN_A) -> list[tuple[str, bytes]]:
    """One message of every type for one client (trajectory 1, declaration DEC1)."""
    rows = [trajectory(1, bsn=bsn)]
    return [
        one(render_jw315, rows),
        one(render_jw301, rows),
        one(render_jw305, rows),
        one(render_jw307, rows),
        one(render_jw323, [line("DEC1", bsn, "L0001")]),
    ]


def write_archive(
    directory: Path, members: list[tuple[str, bytes]], name: str = ARCHIVE_NAME
) -> Path:
    path = directory / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, payload in members:
            archive.writestr(member, payload)
    return path


def delivery_for(path: Path) -> Delivery:
    return Delivery(
        f"ijw/GM1895/{path.name}",
        "ijw_messages",
        "GM1895",
        "2024-03",
        date(2024, 4, 10),
        "0" * 64,
        path.stat().st_size,
    )


PSEUDONYMISER = Pseudonymiser(PseudonymKey("test", bytes(range(32))))
REF = PSEUDONYMISER.reference  # free-form references are stored as keyed pseudonyms


def refs(*values: str) -> list[str]:
    return [REF(v) for v in values]


def read(path: Path, schema_dir: Path | None, products: set[str] | None = None) -> ReadResult:
    result = read_ijw_archive(path, delivery_for(path), PSEUDONYMISER, schema_dir, products)
    assert_contract(result)
    return result


def assert_contract(result: ReadResult) -> None:
    """Five tables with exactly the contract columns; exact accounting."""
    assert set(result.tables) == set(IJW_TABLES)
    for table, rows in result.tables.items():
        assert list(as_frame(rows).columns) == [*RAW_TABLES[table], "row_locator"]
    assert list(result.quarantine.columns) == list(QUARANTINE_COLUMNS)
    assert set(result.quarantine.reason_code) <= set(REASONS)
    loaded = sum(len(rows) for rows in result.tables.values())
    assert result.rows_read == loaded + len(result.quarantine)


def only_row(result: ReadResult, table: str) -> dict[str, object]:
    assert len(result.tables[table]) == 1, result.tables[table]
    return result.tables[table].iloc[0].to_dict()


def everything_as_text(result: ReadResult) -> str:
    """Every value of the result as text, minus the standard reason texts (one names 999999999)."""
    parts = [rows.astype(str).to_csv() for rows in result.tables.values()]
    parts.append(result.quarantine.astype(str).to_csv())
    parts.extend(result.notes)
    text = "\n".join(parts)
    for reason in REASONS.values():
        text = text.replace(reason, "<reason>")
    return text


def replace_once(payload: bytes, old: bytes, new: bytes) -> bytes:
    assert payload.count(old) == 1, (old, payload.count(old))
    return payload.replace(old, new)


@pytest.fixture(scope="module")
def xsd_if_present(request: pytest.FixtureRequest) -> Path | None:
    """The XSD directory, or None where it is absent (then only the unvalidated path is tested)."""
    try:
        return request.getfixturevalue("ijw_xsd_dir")
    except pytest.skip.Exception:
        return None


@pytest.fixture()
def schema_dir(xsd_if_present: Path | None) -> Path | None:
    """Validate where the XSDs are present; the expectations hold either way."""
    return xsd_if_present


def schema_for_mode(xsd_if_present: Path | None, validate: bool) -> Path | None:
    if validate and xsd_if_present is None:
        pytest.skip("iJw 3.2 XSDs not found")
    return xsd_if_present if validate else None


# ---------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------


def test_every_message_type_is_extracted_with_correct_values(
    tmp_path: Path, schema_dir: Path | None
) -> None:
    rows = [trajectory(1, referrer_agb=REFERRER_AGB, referrer_name="")]
    members = [
        one(render_jw315, rows),
        one(render_jw301, rows),
        one(render_jw305, rows),
        one(render_jw307, rows),
        one(render_jw323, [line("DEC1", BSN_A, "L0001")]),
    ]
    result = read(write_archive(tmp_path, members), schema_dir, PRODUCTS)
    assert result.quarantine.empty
    assert result.rows_read == 5
    common = {
        "provider_agb": "87654321",
        "municipality_code": "1895",
        "birth_month": date(2012, 3, 1),
        "sex": "1",
        "product_category": "45",
        "product_code": "45A01",
        "id_kind": "bsn",
        "key_version": "test",
    }

    request = only_row(result, "ijw_requests")
    assert request | common == request
    assert request["message_id"] == REF("315000000001")
    assert request["row_locator"] == "JW315_315000000001.xml"
    assert request["message_date"] == date(2024, 1, 10)
    assert (
        request["provider_reference"],
        request["requested_start"],
        request["requested_end"],
    ) == (REF("REF-1"), date(2024, 2, 1), date(2024, 7, 31))
    assert (request["volume"], request["unit"], request["frequency"], request["referrer_type"]) == (
        3,
        "04",
        "2",
        "02",
    )

    allocation = only_row(result, "ijw_allocations")
    # JW301 goes municipality -> provider: still mapped right
    assert allocation | common == allocation
    assert (
        allocation["message_id"],
        allocation["allocation_number"],
        allocation["provider_reference"],
    ) == (REF("301000000001"), "700001", REF("REF-1"))
    assert (
        allocation["allocation_date"],
        allocation["allocation_start"],
        allocation["allocation_end"],
    ) == (date(2024, 1, 20), date(2024, 2, 1), date(2024, 7, 31))
    assert (allocation["volume"], allocation["unit"], allocation["frequency"]) == (3, "04", "2")
    assert pd.isna(allocation["budget_cents"])

    start = only_row(result, "ijw_starts")
    assert start | common == start
    assert (
        start["message_id"],
        start["allocation_number"],
        start["start_date"],
        start["message_date"],
    ) == (REF("305000000001"), "700001", date(2024, 2, 5), date(2024, 2, 5))

    stop = only_row(result, "ijw_stops")
    assert stop | common == stop
    assert (stop["start_date"], stop["end_date"], stop["end_reason"]) == (
        date(2024, 2, 5),
        date(2024, 6, 28),
        "31",
    )

    declaration = only_row(result, "ijw_declaration_lines")
    assert declaration["row_locator"] == "JW323_DEC1.xml#line1"
    assert (
        declaration["message_id"],
        declaration["declaration_number"],
        declaration["declaration_date"],
    ) == (REF("DEC1"), REF("DEC1"), date(2024, 4, 5))
    assert (declaration["provider_agb"], declaration["municipality_code"]) == ("87654321", "1895")
    assert (declaration["period_start"], declaration["period_end"]) == (
        date(2024, 3, 1),
        date(2024, 3, 31),
    )
    assert (
        declaration["product_reference"],
        declaration["previous_product_reference"],
        declaration["allocation_number"],
    ) == (REF("L0001"), None, "700001")
    assert (declaration["product_period_start"], declaration["product_period_end"]) == (
        date(2024, 3, 1),
        date(2024, 3, 31),
    )
    assert (
        declaration["volume"],
        declaration["unit"],
        declaration["tariff_cents"],
        declaration["amount_cents"],
        declaration["debit_credit"],
    ) == (10, "04", 9500, 95000, "D")
    for table in IJW_TABLES:
        for column, kind in RAW_TABLES[table].items():
            if kind == "BIGINT":
                assert str(result.tables[table][column].dtype) == "Int64"
    assert ("XSD validation skipped" in " ".join(result.notes)) == (schema_dir is None)


def test_leading_zeros_of_codes_are_kept(tmp_path: Path) -> None:
    rows = [
        trajectory(
            1,
            municipality_code="0014",
            unit="04",
            referrer_type="06",
            referrer_name="",
            allocation_number="000000104",
        )
    ]
    lines = [
        line(
            "D0014",
            BSN_A,
            "P00000000542",
            municipality_code="0014",
            allocation_number="000000084",
            unit="04",
        )
    ]
    result = read(
        write_archive(
            tmp_path,
            [one(render_jw301, rows), one(render_jw315, rows), one(render_jw323, lines)],
            "GM0014_ijw_2024-03_20240410.zip",
        ),
        None,
    )
    allocation = only_row(result, "ijw_allocations")
    assert (
        allocation["municipality_code"],
        allocation["allocation_number"],
        allocation["unit"],
    ) == ("0014", "000000104", "04")
    assert only_row(result, "ijw_requests")["referrer_type"] == "06"
    declaration = only_row(result, "ijw_declaration_lines")
    assert (declaration["municipality_code"], declaration["allocation_number"]) == (
        "0014",
        "000000084",
    )


def test_same_bsn_gets_the_same_pseudonym_in_every_message_type(
    tmp_path: Path, schema_dir: Path | None
) -> None:
    members = all_messages(BSN_B)
    other = one(render_jw315, [trajectory(2, bsn=BSN_C)])
    result = read(write_archive(tmp_path, [*members, other]), schema_dir)
    expected = PSEUDONYMISER.pseudonym("bsn", BSN_B)
    for table in IJW_TABLES:
        rows = result.tables[table]
        assert expected in set(rows.client_pseudonym), table
    requests = result.tables["ijw_requests"].set_index("message_id").client_pseudonym
    assert requests[REF("315000000001")] == expected
    assert requests[REF("315000000002")] == PSEUDONYMISER.pseudonym("bsn", BSN_C) != expected


def test_type_comes_from_the_xml_not_from_the_member_name(tmp_path: Path) -> None:
    name, request = one(render_jw315, [trajectory(1)])
    no_default_namespace = replace_once(
        request, b' xmlns="http://www.istandaarden.nl/ijw/3_2/jw315/schema"', b""
    )
    members = [("JW323_misleading.xml", request), ("JW301_by_code.xml", no_default_namespace)]
    # the second is XSD-invalid, but typed by BerichtCode 446
    result = read(write_archive(tmp_path, members), None)
    assert sorted(result.tables["ijw_requests"].row_locator) == [
        "JW301_by_code.xml",
        "JW323_misleading.xml",
    ]
    assert result.tables["ijw_declaration_lines"].empty and result.tables["ijw_allocations"].empty


def test_message_without_product_code_is_loaded_with_null_code(
    tmp_path: Path, schema_dir: Path | None
) -> None:
    name, start = one(render_jw305, [trajectory(1)])
    # Product/Code is optional in the XSD
    start = replace_once(start, b"<ijw:Code>45A01</ijw:Code>", b"")
    result = read(write_archive(tmp_path, [(name, start)]), schema_dir, PRODUCTS)
    row = only_row(result, "ijw_starts")
    assert row["product_category"] == "45" and row["product_code"] is None


def test_several_products_in_one_message_give_one_row_each(
    tmp_path: Path, schema_dir: Path | None
) -> None:
    name, request = one(render_jw315, [trajectory(1)])
    product = re.search(rb"<AangevraagdProduct>.*</AangevraagdProduct>", request).group(0)
    second = product.replace(b"REF-1", b"REF-1b").replace(b"45A01", b"45A02")
    request = replace_once(request, product, product + second)
    result = read(write_archive(tmp_path, [(name, request)]), schema_dir, PRODUCTS)
    rows = result.tables["ijw_requests"]
    assert list(rows.row_locator) == [f"{name}#1", f"{name}#2"]
    assert list(rows.product_code) == ["45A01", "45A02"]
    assert result.rows_read == 2


# ---------------------------------------------------------------------------------------------
# Personal data
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("validate", [True, False])
def test_no_name_street_phone_or_bsn_reaches_the_result(
    tmp_path: Path, xsd_if_present: Path | None, validate: bool
) -> None:
    rows = [
        trajectory(1),
        trajectory(2, bsn=INVALID_BSN, referrer_agb=REFERRER_AGB, referrer_name=""),
    ]
    members = [
        *(
            one(render, rows[:1])
            for render in (render_jw315, render_jw301, render_jw305, render_jw307)
        ),
        *list(render_jw315(frame(rows[1:]))),
        *list(render_jw301(frame(rows[1:]))),
        one(
            render_jw323,
            [
                line("DEC1", BSN_A, "L1"),
                line("DEC1", INVALID_BSN, "L2"),
                line("DEC1", BSN_A, "L3", product_code="99X99"),
            ],
        ),
    ]
    payloads = b"".join(payload for _, payload in members)
    for value in PERSONAL_VALUES:  # they are in the input ...
        assert value.encode() in payloads, value
    name, broken = one(render_jw301, [trajectory(3)])
    # XSD-invalid / malformed BSN
    members.append(("JW301_broken.xml", broken.replace(b"<Bsn>", b"<Bsn>x", 1)))
    members.append(("JW301_truncated.xml", broken[: broken.index(STREET.encode()) + 5]))
    result = read(
        write_archive(tmp_path, members), schema_for_mode(xsd_if_present, validate), PRODUCTS
    )
    text = everything_as_text(result)
    for value in [*PERSONAL_VALUES, BSN_A, INVALID_BSN]:  # ... and nowhere in the output
        assert value not in text, value
    assert len(result.quarantine) >= 4


# ---------------------------------------------------------------------------------------------
# Quarantine of rows
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bsn, reason",
    [(INVALID_BSN, "invalid_bsn"), (RESERVED_BSN, "reserved_bsn"), ("000000000", "reserved_bsn")],
)
def test_bad_bsn_quarantines_the_message_with_its_pseudonym(
    tmp_path: Path, schema_dir: Path | None, bsn: str, reason: str
) -> None:
    bad = one(render_jw315, [trajectory(2, bsn=bsn)])
    good = one(render_jw315, [trajectory(1)])
    result = read(write_archive(tmp_path, [good, bad]), schema_dir)
    assert list(result.tables["ijw_requests"].row_locator) == [good[0]]
    (row,) = result.quarantine.to_dict("records")
    assert (row["row_locator"], row["target_table"], row["reason_code"]) == (
        bad[0],
        "ijw_requests",
        reason,
    )
    assert row["pseudonym"] == PSEUDONYMISER.pseudonym("bsn", bsn)
    assert row["key_version"] == "test"
    assert row["reason"].startswith(REASONS[reason])
    assert bsn not in everything_as_text(result)


def test_malformed_bsn_without_validation_is_quarantined(tmp_path: Path) -> None:
    name, request = one(render_jw315, [trajectory(1)])
    request = replace_once(request, f"<Bsn>{BSN_A}</Bsn>".encode(), b"<Bsn>12345678A</Bsn>")
    result = read(write_archive(tmp_path, [(name, request)]), None)
    (row,) = result.quarantine.to_dict("records")
    assert (row["row_locator"], row["reason_code"]) == (name, "malformed_identifier")
    assert row["pseudonym"] == PSEUDONYMISER.pseudonym("bsn", "12345678A")
    assert "12345678A" not in everything_as_text(result)


def test_bad_bsn_in_declaration_quarantines_each_of_its_lines(
    tmp_path: Path, schema_dir: Path | None
) -> None:
    lines = [
        line("DEC1", BSN_A, "L1"),
        line("DEC1", INVALID_BSN, "L2"),
        line("DEC1", INVALID_BSN, "L3"),
        line("DEC1", BSN_B, "L4"),
    ]
    name, payload = one(render_jw323, lines)
    result = read(write_archive(tmp_path, [(name, payload)]), schema_dir)
    assert list(result.tables["ijw_declaration_lines"].product_reference) == refs("L1", "L4")
    assert list(result.quarantine.row_locator) == [f"{name}#line2", f"{name}#line3"]
    assert set(result.quarantine.reason_code) == {"invalid_bsn"}
    assert set(result.quarantine.target_table) == {"ijw_declaration_lines"}
    assert set(result.quarantine.pseudonym) == {PSEUDONYMISER.pseudonym("bsn", INVALID_BSN)}
    assert result.rows_read == 4


def test_unknown_product_code_quarantines_only_that_line(
    tmp_path: Path, schema_dir: Path | None
) -> None:
    lines = [
        line("DEC1", BSN_A, "L1"),
        line("DEC1", BSN_A, "L2", product_code="99X99"),
        line("DEC1", BSN_B, "L3", product_code="54001"),
    ]
    declaration = one(render_jw323, lines)
    request = one(render_jw315, [trajectory(1, product_code="99X98")])
    result = read(write_archive(tmp_path, [declaration, request]), schema_dir, PRODUCTS)
    assert list(result.tables["ijw_declaration_lines"].product_reference) == refs("L1", "L3")
    assert result.tables["ijw_requests"].empty
    quarantine = result.quarantine.set_index("row_locator")
    assert quarantine.loc[f"{declaration[0]}#line2", "reason_code"] == "unknown_product_code"
    assert "99X99" in quarantine.loc[f"{declaration[0]}#line2", "reason"]
    assert quarantine.loc[request[0], "reason_code"] == "unknown_product_code"
    assert quarantine.loc[request[0], "pseudonym"] == PSEUDONYMISER.pseudonym("bsn", BSN_A)
    # Without a product list nothing is checked.
    unchecked = read(
        write_archive(tmp_path, [declaration, request], "GM1895_ijw_2024-03_20240411.zip"),
        schema_dir,
        None,
    )
    assert unchecked.quarantine.empty and unchecked.rows_read == 4


def test_credit_line_keeps_previous_reference_and_its_sign(
    tmp_path: Path, schema_dir: Path | None
) -> None:
    lines = [
        line("DEC1", BSN_A, "L0002", volume=4, amount_cents=38000),
        line(
            "DEC1",
            BSN_A,
            "L0003",
            previous_product_reference="L0001",
            volume=2,
            amount_cents=19000,
            debit_credit="C",
        ),
        line(
            "DEC1", BSN_B, "L0004", unit="83", tariff_cents=None, volume=50000, amount_cents=50000
        ),
    ]
    name, payload = one(render_jw323, lines)
    result = read(write_archive(tmp_path, [(name, payload)]), schema_dir)
    rows = result.tables["ijw_declaration_lines"].set_index("product_reference")
    assert (
        rows.loc[REF("L0003"), "previous_product_reference"],
        rows.loc[REF("L0003"), "debit_credit"],
        rows.loc[REF("L0003"), "amount_cents"],
    ) == (REF("L0001"), "C", 19000)
    assert (
        rows.loc[REF("L0002"), "debit_credit"],
        rows.loc[REF("L0002"), "previous_product_reference"],
    ) == ("D", None)
    assert pd.isna(rows.loc[REF("L0004"), "tariff_cents"])  # unit 83 (euro's): no ProductTarief
    signed = (rows.amount_cents.where(rows.debit_credit == "D", -rows.amount_cents)).sum()
    total = etree.fromstring(payload).findtext(".//{*}TotaalIngediendBedrag/{*}TotaalBedrag")
    assert signed == int(total) == 38000 - 19000 + 50000


@pytest.mark.parametrize(
    "old, new, reason, element",
    [
        (
            b"<ijw:Datum>2012-03-17</ijw:Datum>",
            b"<ijw:Datum>2012-02-30</ijw:Datum>",
            "invalid_date",
            "Geboortedatum/Datum",
        ),
        (
            b"<ijw:Volume>3</ijw:Volume>",
            b"<ijw:Volume>drie</ijw:Volume>",
            "invalid_number",
            "Omvang/Volume",
        ),
        (b"<ijw:Type>02</ijw:Type>", b"<ijw:Type> </ijw:Type>", "missing_field", "Verwijzer/Type"),
    ],
)
def test_unreadable_values_without_validation_are_quarantined_by_element(
    tmp_path: Path, old: bytes, new: bytes, reason: str, element: str
) -> None:
    name, request = one(render_jw315, [trajectory(1)])
    result = read(
        write_archive(
            tmp_path, [(name, replace_once(request, old, new)), one(render_jw315, [trajectory(2)])]
        ),
        None,
    )
    assert len(result.tables["ijw_requests"]) == 1
    (row,) = result.quarantine.to_dict("records")
    assert (row["row_locator"], row["reason_code"]) == (name, reason)
    assert element in row["reason"]
    assert row["pseudonym"] == PSEUDONYMISER.pseudonym("bsn", BSN_A)


def test_impossible_dates_and_amounts_in_a_declaration_line(tmp_path: Path) -> None:
    name, payload = one(
        render_jw323,
        [
            line("DEC1", BSN_A, "L1"),
            line("DEC1", BSN_A, "L2", amount_cents=12345),
            line("DEC1", BSN_A, "L3", debit_credit="D"),
        ],
    )
    payload = replace_once(
        payload, b"<ijw:Bedrag>12345</ijw:Bedrag>", b"<ijw:Bedrag>12,345</ijw:Bedrag>"
    )
    payload = payload.replace(
        b"<ijw:DebetCredit>D</ijw:DebetCredit></IngediendBedrag></Prestatie></Prestaties>",
        b"<ijw:DebetCredit>X</ijw:DebetCredit></IngediendBedrag></Prestatie></Prestaties>",
    )
    result = read(write_archive(tmp_path, [(name, payload)]), None)
    assert list(result.tables["ijw_declaration_lines"].product_reference) == refs("L1")
    reasons = result.quarantine.set_index("row_locator").reason_code.to_dict()
    assert reasons == {f"{name}#line2": "invalid_number", f"{name}#line3": "invalid_code"}


# ---------------------------------------------------------------------------------------------
# Parts (iter_ijw_archive)
# ---------------------------------------------------------------------------------------------


def sorted_quarantine(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["row_locator", "reason_code"], kind="stable").reset_index(drop=True)


def test_large_member_is_read_in_parts_that_combine_to_the_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every member counts as large: streamed in parts
    monkeypatch.setenv("PILOTMONITOR_LIMIT_WHOLE_TREE_BYTES", "1")
    lines = [line("DEC9", BSN_A, f"L{i}") for i in range(7)]
    lines[3] = line("DEC9", "123456789", "L3")  # an invalid BSN: quarantined in its part
    name, declaration = one(render_jw323, lines)
    path = write_archive(tmp_path, [*all_messages(), (name, declaration)])
    delivery = delivery_for(path)
    parts = list(iter_ijw_archive(path, delivery, PSEUDONYMISER, None, PRODUCTS, part_rows=2))
    assert len(parts) >= 5  # the declaration alone gives three full parts of two rows
    for part in parts:
        part.check_accounting()
        assert_contract(part)
    # at most one member's rows or a batch more than part_rows
    assert all(part.rows_read < 2 * 2 for part in parts)
    whole = read_ijw_archive(path, delivery, PSEUDONYMISER, None, PRODUCTS)
    combined = combine_parts(parts)
    assert_contract(combined)
    assert combined.rows_read == whole.rows_read == 4 + 7 + 1  # JW323 in all_messages has one line
    for table in IJW_TABLES:
        pd.testing.assert_frame_equal(combined.tables[table], whole.tables[table])
    pd.testing.assert_frame_equal(
        sorted_quarantine(combined.quarantine), sorted_quarantine(whole.quarantine)
    )
    # its client is rendered last
    assert combined.quarantine.row_locator.tolist() == [f"{name}#line7"]
    assert combined.notes == whole.notes
    assert parts[0].notes[0].startswith("XSD validation skipped")


def test_small_members_are_never_split(tmp_path: Path) -> None:
    name, declaration = one(render_jw323, [line("DEC1", BSN_A, f"L{i}") for i in range(5)])
    path = write_archive(tmp_path, [(name, declaration)])
    parts = list(iter_ijw_archive(path, delivery_for(path), PSEUDONYMISER, None, None, part_rows=2))
    assert [part.rows_read for part in parts] == [5, 0]  # the member whole, then the closing part


def test_large_member_breaking_part_way_keeps_its_earlier_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PILOTMONITOR_LIMIT_WHOLE_TREE_BYTES", "1")
    name, declaration = one(render_jw323, [line("DEC1", BSN_A, f"L{i}") for i in range(8)])
    # five complete lines: L4 is extracted after the second part
    truncated = declaration[: declaration.index(b"L5")]
    path = write_archive(tmp_path, [(name, truncated)])
    parts = list(iter_ijw_archive(path, delivery_for(path), PSEUDONYMISER, None, None, part_rows=2))
    for part in parts:
        part.check_accounting()
    result = combine_parts(parts)
    assert result.tables["ijw_declaration_lines"].product_reference.tolist() == refs(
        "L0", "L1", "L2", "L3"
    )
    (row,) = result.quarantine.to_dict("records")
    assert (row["row_locator"], row["reason_code"], row["target_table"]) == (
        name,
        "schema_invalid",
        "ijw_declaration_lines",
    )
    assert "not well-formed" in row["reason"] and "broke after row 4" in row["reason"]
    assert result.rows_read == 5
    # read_ijw_archive keeps the old rule for it: with the default part size nothing was handed out
    # yet
    whole = read_ijw_archive(path, delivery_for(path), PSEUDONYMISER, None, None)
    assert whole.quarantine.row_locator.tolist() == [name] and whole.rows_read == 1
    assert "broke after" not in whole.quarantine.reason.iloc[0]


# ---------------------------------------------------------------------------------------------
# Quarantine of whole members, broken archives
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("validate", [True, False])
def test_broken_members_are_quarantined_once_and_the_rest_loads(
    tmp_path: Path, xsd_if_present: Path | None, validate: bool
) -> None:
    good = all_messages()
    name, declaration = one(render_jw323, [line("DEC2", BSN_A, f"L{i}") for i in range(5)])
    # after two complete lines
    truncated = ("JW323_truncated.xml", declaration[: declaration.index(b"L3")])
    not_xml = ("JW315_garbage.xml", b"\x00\x01 this is not XML <<<")
    foreign = (
        "JW315_foreign.xml",
        b'<?xml version="1.0"?><Bericht xmlns="urn:example:other"><Header/></Bericht>',
    )
    members = [*good, truncated, not_xml, foreign]
    if validate:
        _, request = one(render_jw315, [trajectory(9)])
        members.append(
            (
                "JW315_invalid.xml",
                replace_once(
                    request, b"<ijw:Eenheid>04</ijw:Eenheid>", b"<ijw:Eenheid>99</ijw:Eenheid>"
                ),
            )
        )
    result = read(write_archive(tmp_path, members), schema_for_mode(xsd_if_present, validate))
    assert sum(len(rows) for rows in result.tables.values()) == 5  # every good message
    quarantine = result.quarantine.set_index("row_locator")
    assert quarantine.index.is_unique
    expected = {"JW323_truncated.xml", "JW315_garbage.xml", "JW315_foreign.xml"} | (
        {"JW315_invalid.xml"} if validate else set()
    )
    assert set(quarantine.index) == expected
    assert set(quarantine.reason_code) == {"schema_invalid"}
    assert quarantine.pseudonym.isna().all()
    assert "unknown message type" in quarantine.loc["JW315_foreign.xml", "reason"]
    assert "not well-formed" in quarantine.loc["JW315_garbage.xml", "reason"]
    if validate:
        assert quarantine.loc["JW315_invalid.xml", "target_table"] == "ijw_requests"
        assert "Eenheid" in quarantine.loc["JW315_invalid.xml", "reason"]
    assert result.rows_read == 5 + len(expected)


@pytest.mark.parametrize(
    "cut, detail",
    [
        (rb"<Header>.*</Header>", "Header"),  # the row is quarantined
        (rb"<Client>.*</Client>", "StartProduct"),  # the member as a whole
        (rb"<StartProducten>.*</StartProducten>", "StartProduct"),
    ],
)
def test_missing_parts_without_validation_are_quarantined(
    tmp_path: Path, cut: bytes, detail: str
) -> None:
    name, start = one(render_jw305, [trajectory(1)])
    result = read(write_archive(tmp_path, [(name, re.sub(cut, b"", start))]), None)
    (row,) = result.quarantine.to_dict("records")
    assert (row["row_locator"], row["reason_code"], row["target_table"]) == (
        name,
        "missing_field",
        "ijw_starts",
    )
    assert detail in row["reason"]


def test_declaration_without_lines_is_quarantined_as_a_whole(tmp_path: Path) -> None:
    name, payload = one(render_jw323, [line("DEC1", BSN_A, "L1")])
    result = read(
        write_archive(tmp_path, [(name, re.sub(rb"<Prestaties>.*</Prestaties>", b"", payload))]),
        None,
    )
    assert result.quarantine[["row_locator", "reason_code", "target_table"]].values.tolist() == [
        [name, "missing_field", "ijw_declaration_lines"]
    ]
    assert result.rows_read == 1


@pytest.mark.parametrize(
    "namespace", [b"http://www.istandaarden.nl/ijw/}3_2/jw305/schema", b"urn:x:{odd}"]
)
def test_odd_namespace_uris_are_an_unknown_type(
    tmp_path: Path, schema_dir: Path | None, namespace: bytes
) -> None:
    name, start = one(render_jw305, [trajectory(1)])
    start = replace_once(
        start,
        b'xmlns="http://www.istandaarden.nl/ijw/3_2/jw305/schema"',
        b'xmlns="' + namespace + b'"',
    )
    result = read(write_archive(tmp_path, [(name, start)]), schema_dir)
    assert result.quarantine[["row_locator", "reason_code"]].values.tolist() == [
        [name, "schema_invalid"]
    ]


def test_schema_errors_are_scrubbed_of_values(tmp_path: Path, ijw_xsd_dir: Path) -> None:
    name, request = one(render_jw315, [trajectory(1)])
    request = replace_once(request, f"<Bsn>{BSN_A}</Bsn>".encode(), f"<Bsn>{BSN_A}0</Bsn>".encode())
    result = read(write_archive(tmp_path, [(name, request)]), ijw_xsd_dir)
    (row,) = result.quarantine.to_dict("records")
    assert row["reason_code"] == "schema_invalid" and "element Bsn" in row["reason"]
    assert BSN_A not in row["reason"] and not re.search(r"\d{8,}", row["reason"])


def test_member_with_a_dtd_and_entities_does_not_crash(
    tmp_path: Path, xsd_if_present: Path | None
) -> None:
    name, request = one(render_jw315, [trajectory(1)])
    body = request.split(b"?>", 1)[1]
    with_dtd = (
        b'<?xml version="1.0"?><!DOCTYPE Bericht [<!ENTITY who "'
        + SURNAME.encode()
        + b'">]>'
        + body.replace(SURNAME.encode(), b"&who;")
    )
    for schema_dir in {xsd_if_present, None}:
        result = read(write_archive(tmp_path, [(name, with_dtd)]), schema_dir)
        assert result.rows_read == 1
        assert SURNAME not in everything_as_text(result)


def test_empty_archive_is_a_valid_delivery(tmp_path: Path, schema_dir: Path | None) -> None:
    path = tmp_path / ARCHIVE_NAME
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("folder/"), b"")  # directory entries are not messages
    result = read(path, schema_dir)
    assert result.rows_read == 0 and result.quarantine.empty
    assert all(rows.empty for rows in result.tables.values())


def test_not_a_zip_raises_delivery_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / ARCHIVE_NAME
    path.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    with pytest.raises(DeliveryError) as error:
        read(path, None)
    assert ARCHIVE_NAME in str(error.value) and "ZIP" in error.value.problem


def test_truncated_zip_raises_delivery_error(tmp_path: Path) -> None:
    complete = write_archive(tmp_path, all_messages(), "complete.zip").read_bytes()
    path = tmp_path / ARCHIVE_NAME
    path.write_bytes(complete[: len(complete) // 2])
    with pytest.raises(DeliveryError, match=ARCHIVE_NAME):
        read(path, None)


def test_corrupt_member_data_raises_delivery_error(tmp_path: Path) -> None:
    path = write_archive(tmp_path, all_messages())
    with zipfile.ZipFile(path) as archive:
        info = archive.infolist()[1]
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF  # inside the deflated payload
    path.write_bytes(bytes(data))
    with pytest.raises(DeliveryError) as error:
        read(path, None)
    assert ARCHIVE_NAME in str(error.value)
    assert info.filename in error.value.problem


# ---------------------------------------------------------------------------------------------
# Validation switches, caching, streaming
# ---------------------------------------------------------------------------------------------


def test_without_schema_dir_validation_is_skipped_and_noted(tmp_path: Path) -> None:
    result = read(write_archive(tmp_path, all_messages()), None)
    assert any("XSD validation skipped" in note for note in result.notes)
    assert result.rows_read == 5 and result.quarantine.empty


def test_members_above_the_whole_tree_limit_are_validated_while_streaming(
    tmp_path: Path, ijw_xsd_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, request = one(render_jw315, [trajectory(1)])
    # XSD-invalid
    request = replace_once(request, f"<Bsn>{BSN_A}</Bsn>".encode(), b"<Bsn>12345678A</Bsn>")
    path = write_archive(tmp_path, [(name, request)])
    assert read(path, ijw_xsd_dir).quarantine.reason_code.tolist() == ["schema_invalid"]
    monkeypatch.setenv("PILOTMONITOR_LIMIT_WHOLE_TREE_BYTES", "100")
    result = read(path, ijw_xsd_dir)
    (row,) = result.quarantine.to_dict("records")
    assert (row["row_locator"], row["reason_code"]) == (name, "schema_invalid")
    assert (
        "JW315" in row["reason"]
        and "element Bsn" in row["reason"]
        and "12345678" not in row["reason"]
    )
    assert not any("without XSD validation" in note for note in result.notes)


def test_compiled_schemas_are_cached(ijw_xsd_dir: Path) -> None:
    assert schema_for(ijw_xsd_dir, "JW323") is schema_for(Path(str(ijw_xsd_dir)), "JW323")


def big_declaration(lines: int) -> tuple[str, bytes]:
    clients = [valid_bsn(40000000 + 13 * i) for i in range(lines // 4)]
    rows = pd.DataFrame(
        [line("BIG1", clients[i // 4 % len(clients)], f"R{i:09d}") for i in range(lines)]
    )
    return one(render_jw323, rows.to_dict("records"))


@pytest.fixture(scope="module")
def big_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    name, payload = big_declaration(20_000)
    path = write_archive(tmp_path_factory.mktemp("big"), [(name, payload)])
    return path, len(payload)


def test_large_declaration_is_streamed(
    big_archive: tuple[Path, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parse tree never holds more than a parser chunk of lines, and no member is read whole."""
    path, _ = big_archive
    lines_in_tree: list[int] = []
    on_line = ijw._MemberExtraction.on_line

    def spy(self: ijw._MemberExtraction, element: etree._Element) -> None:
        if self.line_number % 500 == 0:
            lines_in_tree.append(sum(1 for _ in element.getroottree().iter("{*}Prestatie")))
        on_line(self, element)

    def refuse(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("a member was read whole")

    monkeypatch.setattr(ijw._MemberExtraction, "on_line", spy)
    monkeypatch.setattr(zipfile.ZipFile, "read", refuse)
    result = read(path, None)
    assert len(result.tables["ijw_declaration_lines"]) == 20_000
    assert len(lines_in_tree) == 40
    # lxml parses ahead by 32 kB chunks (~60 lines); unstreamed: up to 20,000
    assert max(lines_in_tree) <= 200


def test_large_declaration_reads_with_bounded_memory(big_archive: tuple[Path, int]) -> None:
    """Python-side memory: the result itself plus bounded overhead, never a copy of the member.

    The output of 20,000 lines is itself about as large as the XML, so the bounds are relative
    to the member size: peak below 3x, and the transient overhead (peak minus what the result
    keeps: the row buffer while the frames are built, ~0.8x) below 1.25x. Reading the member
    whole into memory adds 1x and fails the second bound.
    """
    path, member_size = big_archive
    read(path, None)  # warm caches and imports
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = read(path, None)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(result.tables["ijw_declaration_lines"]) == 20_000
    assert peak - before < 3 * member_size, (peak - before, member_size)
    assert peak - current < 1.25 * member_size, (peak - current, member_size)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
VALID_MEMBERS = all_messages()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory reused by every example (examples overwrite their archive)."""
    return tmp_path_factory.mktemp("fuzz")


def read_or_delivery_error(path: Path, schema_dir: Path | None) -> ReadResult | None:
    try:
        return read(path, schema_dir)
    except DeliveryError as error:
        assert path.name in str(error)
        return None


@FUZZ
@given(content=st.binary(max_size=2048))
def test_arbitrary_bytes_as_file_give_delivery_error_or_result(
    scratch: Path, content: bytes
) -> None:
    path = scratch / ARCHIVE_NAME
    path.write_bytes(content)
    read_or_delivery_error(path, None)


@FUZZ
@given(data=st.data())
def test_damaged_archive_gives_delivery_error_or_result(scratch: Path, data: st.DataObject) -> None:
    path = scratch / ARCHIVE_NAME
    original = write_archive(scratch, VALID_MEMBERS, "original.zip").read_bytes()
    position = data.draw(st.integers(0, len(original) - 1))
    value = data.draw(st.integers(0, 255))
    cut = data.draw(st.booleans())
    damaged = (
        original[:position]
        if cut
        else original[:position] + bytes([value]) + original[position + 1 :]
    )
    path.write_bytes(damaged)
    result = read_or_delivery_error(path, None)
    if result is not None:
        assert result.rows_read <= len(VALID_MEMBERS)


@FUZZ
@given(
    payload=st.binary(max_size=512)
    | st.text(max_size=200).map(lambda text: ("<Bericht>" + text).encode()),
    validate=st.booleans(),
)
def test_arbitrary_member_becomes_one_quarantine_row(
    scratch: Path, xsd_if_present: Path | None, payload: bytes, validate: bool
) -> None:
    path = write_archive(
        scratch, [("JW315_fuzz.xml", payload), VALID_MEMBERS[2]], "member_fuzz.zip"
    )
    result = read(path, xsd_if_present if validate else None)
    assert len(result.tables["ijw_starts"]) == 1
    assert len(result.quarantine) == 1 and result.quarantine.row_locator.tolist() == [
        "JW315_fuzz.xml"
    ]
    assert result.rows_read == 2


@FUZZ
@given(data=st.data(), validate=st.booleans())
def test_truncated_message_becomes_one_quarantine_row(
    scratch: Path, xsd_if_present: Path | None, data: st.DataObject, validate: bool
) -> None:
    name, payload = data.draw(st.sampled_from(VALID_MEMBERS))
    complete = payload.rindex(b"</Bericht>") + len(b"</Bericht>")
    offset = data.draw(st.integers(0, complete - 1))
    path = write_archive(scratch, [(name, payload[:offset])], "truncated_fuzz.zip")
    result = read(path, xsd_if_present if validate else None)
    assert result.rows_read == 1
    assert result.quarantine.row_locator.tolist() == [name]
    assert BSN_A not in everything_as_text(result)
