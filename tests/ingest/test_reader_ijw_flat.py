"""Tests for the flat iJw CSV extract reader (pilotmonitor.ingest.readers.ijw_flat).

All people, numbers and addresses are synthetic.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilotmonitor.ingest.contracts import DeliveryError, ReadResult
from pilotmonitor.ingest.deliveries import Delivery, recognise
from pilotmonitor.ingest.loader import load_source
from pilotmonitor.ingest.readers.ijw_flat import iter_ijw_extract, read_ijw_extract
from pilotmonitor.ingest.sources import SOURCES_BY_NAME, ReadContext
from tests.ingest.test_reader_ijw import (
    BSN_A,
    BSN_B,
    IJW_TABLES,
    INVALID_BSN,
    PRODUCTS,
    PSEUDONYMISER,
    RESERVED_BSN,
    all_messages,
    assert_contract,
    everything_as_text,
    read,
    write_archive,
)

NAME = "GM1895_jeugdhulp_extract_2024-03_20240410.csv"
SURNAME, GIVEN, STREET, CITY, PHONE, POSTCODE = (
    "Zwartewaalstra",
    "Quirijntje",
    "Lindelaantjesweg",
    "Oudeschildwerf",
    "0612398745",
    "9671ZX",
)
PERSONAL = [SURNAME, GIVEN, STREET, CITY, PHONE, POSTCODE]

HEADER = [
    "berichttype",
    "bericht_id",
    "aanbieder_agb",
    "gemeente",
    "berichtdatum",
    "bsn",
    "geboortedatum",
    "geslacht",
    "naam",
    "voornamen",
    "adres",
    "postcode",
    "woonplaats",
    "telefoon",
    "referentie_aanbieder",
    "productcategorie",
    "productcode",
    "toewijzingnummer",
    "toewijzingsdatum",
    "ingangsdatum",
    "einddatum",
    "begindatum",
    "volume",
    "eenheid",
    "frequentie",
    "verwijzer_type",
    "reden_beeindiging",
    "budget",
    "declaratienummer",
    "declaratiedatum",
    "declaratieperiode_begin",
    "declaratieperiode_eind",
    "product_referentie",
    "vorig_product_referentie",
    "product_periode_begin",
    "product_periode_eind",
    "tarief",
    "bedrag",
    "debet_credit",
]
PERSON = {
    "naam": SURNAME,
    "voornamen": GIVEN,
    "adres": f"{STREET} 12",
    "postcode": POSTCODE,
    "woonplaats": CITY,
    "telefoon": PHONE,
}
CLIENT = {
    "aanbieder_agb": "87654321",
    "gemeente": "1895",
    "berichtdatum": "2024-03-05",
    "geboortedatum": "2012-03-17",
    "geslacht": "1",
    **PERSON,
}


def row(kind: str, bsn: str = BSN_A, **overrides: str) -> dict[str, str]:
    base = {
        "JW315": {
            "berichttype": "JW315",
            "bericht_id": "M315",
            **CLIENT,
            "referentie_aanbieder": "REF-1",
            "productcategorie": "45",
            "productcode": "45A01",
            "ingangsdatum": "2024-02-01",
            "einddatum": "2024-07-31",
            "volume": "3",
            "eenheid": "04",
            "frequentie": "2",
            "verwijzer_type": "02",
        },
        "JW301": {
            "berichttype": "JW301",
            "bericht_id": "M301",
            **CLIENT,
            "toewijzingnummer": "700001",
            "referentie_aanbieder": "REF-1",
            "productcategorie": "45",
            "productcode": "45A01",
            "toewijzingsdatum": "2024-01-20",
            "ingangsdatum": "01-02-2024",
            "einddatum": "31-07-2024",
            "volume": "3",
            "eenheid": "04",
            "frequentie": "2",
            "budget": "120000",
        },
        "JW305": {
            "berichttype": "JW305",
            "bericht_id": "M305",
            **CLIENT,
            "toewijzingnummer": "700001",
            "productcategorie": "45",
            "productcode": "45A01",
            "begindatum": "2024-02-05",
        },
        "JW307": {
            "berichttype": "JW307",
            "bericht_id": "M307",
            **CLIENT,
            "toewijzingnummer": "700001",
            "productcategorie": "45",
            "productcode": "45A01",
            "begindatum": "2024-02-05",
            "einddatum": "2024-06-28",
            "reden_beeindiging": "31",
        },
        "JW323": {
            "berichttype": "JW323",
            "bericht_id": "M323",
            "aanbieder_agb": "87654321",
            "gemeente": "1895",
            **PERSON,
            "declaratienummer": "DEC1",
            "declaratiedatum": "2024-04-05",
            "declaratieperiode_begin": "2024-03-01",
            "declaratieperiode_eind": "2024-03-31",
            "product_referentie": "L0001",
            "toewijzingnummer": "700001",
            "productcategorie": "45",
            "productcode": "45A01",
            "product_periode_begin": "2024-03-01",
            "product_periode_eind": "2024-03-31",
            "volume": "10",
            "eenheid": "04",
            "tarief": "9500",
            "bedrag": "95000",
            "debet_credit": "D",
        },
    }[kind]
    return {**base, "bsn": bsn, **overrides}


def every_type(bsn: str = BSN_A) -> list[dict[str, str]]:
    return [row(k, bsn) for k in ("JW315", "JW301", "JW305", "JW307", "JW323")]


def write_csv(
    directory: Path, rows: list[dict[str, str]], encoding: str = "utf-8", name: str = NAME
) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, HEADER, delimiter=";", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path = directory / name
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def delivery_for(path: Path) -> Delivery:
    return Delivery(
        f"ijw/GM1895/{path.name}",
        "ijw_extracts",
        "GM1895",
        "2024-03",
        date(2024, 4, 10),
        "0" * 64,
        path.stat().st_size,
    )


def read_flat(path: Path, products: set[str] | None = PRODUCTS) -> ReadResult:
    result = read_ijw_extract(path, delivery_for(path), PSEUDONYMISER, products)
    assert_contract(result)
    return result


def reasons(result: ReadResult) -> list[tuple[str, str, str]]:
    return sorted(
        result.quarantine[["row_locator", "target_table", "reason_code"]].itertuples(
            index=False, name=None
        )
    )


def test_file_name_is_recognised():
    source, parts = recognise(f"ijw/GM1895/{NAME}")
    assert (source, parts["sender"], parts["period"]) == ("ijw_extracts", "GM1895", "2024-03")
    assert SOURCES_BY_NAME["ijw_extracts"].identifies_people


def test_every_type_loads_with_the_same_pseudonyms_as_the_xml_reader(tmp_path):
    flat = read_flat(write_csv(tmp_path, every_type()))
    assert flat.quarantine.empty
    xml = read(write_archive(tmp_path, all_messages(BSN_A)), None, PRODUCTS)
    for table in IJW_TABLES:
        assert len(flat.tables[table]) == 1, table
        got, expected = flat.tables[table].iloc[0].to_dict(), xml.tables[table].iloc[0].to_dict()
        assert (got["client_pseudonym"], got["id_kind"], got["key_version"]) == (
            expected["client_pseudonym"],
            "bsn",
            "test",
        )
        assert got["row_locator"] == str(IJW_TABLES.index(table) + 1)
    allocation = flat.tables["ijw_allocations"].iloc[0]
    assert (
        allocation["message_id"] == PSEUDONYMISER.reference("M301")
        and allocation["birth_month"] == date(2012, 3, 1)
        and allocation["sex"] == "1"
    )
    assert (
        allocation["allocation_start"] == date(2024, 2, 1) and allocation["budget_cents"] == 120000
    )
    line = flat.tables["ijw_declaration_lines"].iloc[0]
    assert (
        line["amount_cents"],
        line["tariff_cents"],
        line["debit_credit"],
        line["declaration_number"],
    ) == (95000, 9500, "D", PSEUDONYMISER.reference("DEC1"))
    assert flat.tables["ijw_stops"].iloc[0]["end_reason"] == "31"
    # the same values as the XML reader where both deliver the field
    for column in (
        "provider_agb",
        "municipality_code",
        "product_code",
        "start_date",
        "end_date",
        "end_reason",
        "allocation_number",
    ):
        assert (
            flat.tables["ijw_stops"].iloc[0][column] == xml.tables["ijw_stops"].iloc[0][column]
        ), column
    # and the same reference pseudonyms, so a flat extract links with messages
    assert (
        flat.tables["ijw_requests"].iloc[0]["provider_reference"]
        == xml.tables["ijw_requests"].iloc[0]["provider_reference"]
        == PSEUDONYMISER.reference("REF-1")
    )


def test_no_name_address_or_phone_anywhere(tmp_path):
    result = read_flat(
        write_csv(tmp_path, [*every_type(), row("JW305", INVALID_BSN), row("JW305", bericht_id="")])
    )
    text = everything_as_text(result)
    for value in [*PERSONAL, BSN_A, INVALID_BSN]:
        assert value not in text


def test_each_quarantine_reason(tmp_path):
    rows = [
        row("JW315", INVALID_BSN),  # 1 invalid_bsn
        row("JW301", RESERVED_BSN),  # 2 reserved_bsn
        row("JW305", ""),  # 3 missing_identifier
        row("JW305", "12A456789"),  # 4 malformed_identifier
        row("JW305", berichttype="JW999"),  # 5 invalid_code (unknown berichttype)
        row("JW307", reden_beeindiging=""),  # 6 missing_field
        row("JW315", ingangsdatum="2024-02-30"),  # 7 invalid_date
        row("JW323", bedrag="12,50"),  # 8 invalid_number
        row("JW323", debet_credit="X"),  # 9 invalid_code
        row("JW305", productcode="99Z99"),  # 10 unknown_product_code
        row("JW305"),  # 11 loaded
        row("JW305"),  # 12 duplicate_row
    ]
    result = read_flat(write_csv(tmp_path, rows))
    assert reasons(result) == sorted(
        [
            ("1", "ijw_requests", "invalid_bsn"),
            ("2", "ijw_allocations", "reserved_bsn"),
            ("3", "ijw_starts", "missing_identifier"),
            ("4", "ijw_starts", "malformed_identifier"),
            ("5", "ijw_messages", "invalid_code"),
            ("6", "ijw_stops", "missing_field"),
            ("7", "ijw_requests", "invalid_date"),
            ("8", "ijw_declaration_lines", "invalid_number"),
            ("9", "ijw_declaration_lines", "invalid_code"),
            ("10", "ijw_starts", "unknown_product_code"),
            ("12", "ijw_starts", "duplicate_row"),
        ]
    )
    assert list(result.tables["ijw_starts"].row_locator) == ["11"]
    assert result.rows_read == 12
    pseudonym = result.tables["ijw_starts"].iloc[0]["client_pseudonym"]
    assert result.quarantine.set_index("row_locator").loc["12", "pseudonym"] == pseudonym
    assert result.quarantine.set_index("row_locator").loc["1", "pseudonym"] not in (None, pseudonym)
    assert "same as row 11" in result.quarantine.set_index("row_locator").loc["12", "reason"]


def test_short_row_is_missing_field(tmp_path):
    path = write_csv(tmp_path, [row("JW305")])
    path.write_bytes(path.read_bytes() + b"JW305;M2;87654321\r\n")
    result = read_flat(path)
    assert reasons(result) == [("2", "ijw_starts", "missing_field")]


def test_product_check_skipped_without_product_list(tmp_path):
    result = read_flat(write_csv(tmp_path, [row("JW305", productcode="99Z99")]), products=None)
    assert len(result.tables["ijw_starts"]) == 1


def test_windows_1252(tmp_path):
    rows = [row("JW305", woonplaats="Sûdwest-Fryslân", naam="Eëlco"), row("JW323", BSN_B)]
    result = read_flat(write_csv(tmp_path, rows, encoding="windows-1252"))
    assert (
        result.quarantine.empty
        and len(result.tables["ijw_starts"]) == 1
        and len(result.tables["ijw_declaration_lines"]) == 1
    )
    assert any("windows-1252" in note for note in result.notes)
    assert "Eëlco" not in everything_as_text(result)


def test_accounting_over_parts(tmp_path):
    rows = [row("JW323", product_referentie=f"L{i:04d}") for i in range(25)] + [
        row("JW323", product_referentie="L0003")
    ]
    path = write_csv(tmp_path, rows)
    parts = list(iter_ijw_extract(path, delivery_for(path), PSEUDONYMISER, PRODUCTS, chunk_rows=7))
    assert len(parts) == 5
    for part in parts:
        part.check_accounting()
    assert sum(p.rows_read for p in parts) == 26
    assert sum(len(p.tables["ijw_declaration_lines"]) for p in parts) == 25
    assert [q for p in parts for q in p.quarantine.row_locator] == ["26"]


def test_missing_mandatory_column_fails_the_delivery(tmp_path):
    path = tmp_path / NAME
    path.write_text("bericht_id;bsn\nM1;123456782\n", encoding="utf-8")
    with pytest.raises(DeliveryError, match="berichttype"):
        read_ijw_extract(path, delivery_for(path), PSEUDONYMISER, PRODUCTS)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flat_fuzz")


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    payload=st.one_of(
        st.binary(max_size=400),
        st.binary(max_size=200).map(lambda b: ";".join(HEADER).encode() + b"\n" + b),
    )
)
def test_arbitrary_bytes_are_a_delivery_error_or_a_valid_result(scratch, payload):
    path = scratch / NAME
    path.write_bytes(payload)
    try:
        result = read_ijw_extract(path, delivery_for(path), PSEUDONYMISER, PRODUCTS)
    except DeliveryError:
        return
    assert_contract(result)


def test_loader_loads_the_extract_into_the_raw_ijw_tables(tmp_path):
    landing = tmp_path / "landing"
    (landing / "ijw" / "GM1895").mkdir(parents=True)
    write_csv(landing / "ijw" / "GM1895", [*every_type(), row("JW305", INVALID_BSN)])
    source = SOURCES_BY_NAME["ijw_extracts"]
    ctx = ReadContext(PSEUDONYMISER, None, frozenset(PRODUCTS))
    conn = duckdb.connect()
    summary = load_source(
        conn,
        landing,
        source.name,
        source.tables,
        lambda path, delivery: source.read(path, delivery, ctx),
    )
    assert (
        summary.count("loaded"),
        summary.total("rows_read"),
        summary.total("rows_loaded"),
        summary.total("rows_quarantined"),
    ) == (1, 6, 5, 1)
    for table in IJW_TABLES:
        assert conn.execute(f"select count(*) from raw.{table}").fetchone()[0] == 1, table
    assert conn.execute("select reason_code from raw.quarantine").fetchall() == [("invalid_bsn",)]
    again = load_source(
        conn,
        landing,
        source.name,
        source.tables,
        lambda path, delivery: source.read(path, delivery, ctx),
    )
    assert again.unchanged == 1
