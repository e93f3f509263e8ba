"""Tests for the public-data readers (pilotmonitor.ingest.readers.public_data).

Inputs are small files written here in the formats of pilotmonitor.synth.public_data
(synthetic values; school codes start with 99).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilotmonitor.ingest import warehouse_raw
from pilotmonitor.ingest.contracts import (
    QUARANTINE_COLUMNS,
    RAW_TABLES,
    REASONS,
    DeliveryError,
    ReadResult,
)
from pilotmonitor.ingest.deliveries import describe
from pilotmonitor.ingest.readers.public_data import (
    read_cbs_youth_care,
    read_duo_pupil_counts,
    read_duo_schools,
    read_product_list,
)

PRODUCTS_CSV = """productcategorie;productcode;omschrijving;eenheid;frequentie;tarief_eurocent
45;45A01;Ambulante jeugdhulp individueel;04;2;10500
54;54001;Jeugd-ggz diagnostiek en behandeling;04;2;13500
48;48A01;Ondertoezichtstelling (jeugdbescherming);82;4;95000
"""
SCHOOLS_CSV = """PROVINCIE;BRIN NUMMER;VESTIGINGSNUMMER;VESTIGINGSNAAM;PLAATSNAAM;GEMEENTENUMMER;GEMEENTENAAM;SOORT PO;CLUSTER
Groningen;99WA;00;Bladergroenschool;WINSCHOTEN;1895;Oldambt;Speciaal basisonderwijs;
Groningen;99GA;00;De Wingerd;GRONINGEN;0014;Groningen;Speciaal onderwijs;3
Fryslân;99FA;01;De Terp;LEEUWARDEN;0080;Leeuwarden;Basisonderwijs;
"""  # noqa: E501
PUPILS_CSV = """BRIN NUMMER;VESTIGINGSNUMMER;PEILDATUM;LEEFTIJD;AANTAL LEERLINGEN
99GA;00;20241001;6;<5
99GA;00;20241001;7;12
99GA;00;20241001;8;5
99WA;00;20241001;9;3
"""
PUPILS_NAME = "public/duo/duo_leerlingen_po_leeftijd_2024_20250315.csv"
SCHOOLS_NAME = "public/duo/duo_vestigingen_po_20250101.csv"
PRODUCTS_NAME = "reference/productcodelijst_jeugd_20250101.csv"
CBS_NAME = "public/cbs/85098NED_TypedDataSet_20250101.json"


def cbs_row(
    region: str = "GM0014  ",
    period: str = "2022JJ00",
    count: object = 4701.0,
    percentage: object = 10.3,
    **extra: object,
) -> dict:
    return {
        "ID": 0,
        "RegioS": region,
        "Perioden": period,
        "JongerenMetJeugdhulp_1": count,
        "JongerenMetJeugdhulpInProcenten_2": percentage,
        **extra,
    }


def cbs_document(*rows: dict, v4: bool = False) -> str:
    head = (
        {"@odata.context": "https://example.invalid/odata/$metadata#85098NED"}
        if v4
        else {
            "odata.metadata": "https://opendata.cbs.nl/ODataApi/odata/85098NED/$metadata#Cbs.OData.WebAPI.TypedDataSet"
        }
    )
    return json.dumps({**head, "value": list(rows)}, ensure_ascii=False)


def land(tmp_path: Path, relative: str, content: str | bytes):
    """Write a file into a landing area under its conventional name: (path, delivery)."""
    path = tmp_path / "landing" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path, describe(tmp_path / "landing", path)


def assert_valid(result: ReadResult, table: str) -> None:
    """The reader contract: exact accounting, the table's columns, known reason codes."""
    assert isinstance(result, ReadResult)
    result.check_accounting()
    assert set(result.tables) == {table}
    frame = result.tables[table]
    assert list(frame.columns) == ["row_locator", *RAW_TABLES[table]]
    assert list(result.quarantine.columns) == list(QUARANTINE_COLUMNS)
    assert set(result.quarantine.reason_code) <= set(REASONS)
    locators = list(frame.row_locator) + list(result.quarantine.row_locator)
    assert len(locators) == len(set(locators)) == result.rows_read


def reasons(result: ReadResult) -> dict[str, str]:
    """row_locator -> reason_code of the quarantined rows."""
    return dict(zip(result.quarantine.row_locator, result.quarantine.reason_code))


# --------------------------------------------------------------------------- product list


def test_product_list(tmp_path):
    path, delivery = land(tmp_path, PRODUCTS_NAME, PRODUCTS_CSV)
    result = read_product_list(path, delivery)

    assert_valid(result, "product_list")
    table = result.tables["product_list"]
    assert table.product_code.tolist() == ["45A01", "54001", "48A01"]
    assert table.tariff_cents.tolist() == [10500, 13500, 95000]
    assert str(table.tariff_cents.dtype) == "Int64"
    assert table.row_locator.tolist() == ["1", "2", "3"]
    assert result.quarantine.empty


def test_product_list_values_are_checked(tmp_path):
    text = PRODUCTS_CSV + "\n".join(
        [
            "4;45A03;Categorie een cijfer;04;2;1000",  # 4 invalid category
            "45;45X;Te korte code;04;2;1000",  # 5 invalid code
            "45;;Geen code;04;2;1000",  # 6 missing code
            "45;45A04;Tarief in euro;04;2;105,00",  # 7 invalid number
            "45;45A05;Eenheid zonder voorloopnul;4;02;",  # 8 fine: unit 04, frequency 2, no tariff
            "45;45A01;Ambulante jeugdhulp individueel;04;2;10500",  # 9 exact duplicate of row 1
            "54;54001;Jeugd-ggz anders;04;2;14000",  # 10 conflicts with row 2
            "45;45A06;Eenheid onbekend;uur;2;1000",  # 11 invalid unit
        ]
    )
    path, delivery = land(tmp_path, PRODUCTS_NAME, text)
    result = read_product_list(path, delivery)

    assert_valid(result, "product_list")
    assert reasons(result) == {
        "2": "invalid_code",
        "4": "invalid_code",
        "5": "invalid_code",
        "6": "missing_field",
        "7": "invalid_number",
        "9": "duplicate_row",
        "10": "invalid_code",
        "11": "invalid_code",
    }
    row = result.tables["product_list"].set_index("product_code").loc["45A05"]
    assert (row.unit, row.frequency) == ("04", "2")
    assert pd.isna(row.tariff_cents)
    conflict = result.quarantine.set_index("row_locator").loc["10", "reason"]
    assert "conflicting rows" in conflict and "54/54001" in conflict


def test_product_list_missing_column_names_it(tmp_path):
    path, delivery = land(tmp_path, PRODUCTS_NAME, "productcategorie;omschrijving\n45;x\n")
    with pytest.raises(DeliveryError, match="PRODUCTCODE"):
        read_product_list(path, delivery)


# --------------------------------------------------------------------------- DUO schools


def test_duo_schools(tmp_path):
    path, delivery = land(tmp_path, SCHOOLS_NAME, SCHOOLS_CSV)
    result = read_duo_schools(path, delivery)

    assert_valid(result, "duo_schools")
    table = result.tables["duo_schools"]
    assert table.school_id.tolist() == ["99WA00", "99GA00", "99FA01"]
    assert table.brin.tolist() == ["99WA", "99GA", "99FA"]
    assert table.vestiging.tolist() == ["00", "00", "01"]
    assert table.municipality_code.tolist() == ["GM1895", "GM0014", "GM0080"]
    assert table.province.tolist() == ["Groningen", "Groningen", "Fryslân"]
    assert table.school_type.tolist() == ["SBO", "SO", "BAO"]
    assert table.cluster.tolist() == [pd.NA, 3, pd.NA]
    assert table.school_name.tolist() == ["Bladergroenschool", "De Wingerd", "De Terp"]
    assert "PLAATSNAAM" not in " ".join(table.columns).upper()


def test_duo_schools_liberal_on_structure(tmp_path):
    """BOM, header case/underscores/spaces, CRLF, comma delimiter, extra column,
    trailing blank lines and a spreadsheet's empty row: the same rows come out."""
    lines = SCHOOLS_CSV.strip().split("\n")
    header = (
        ",".join(f" {name.lower().replace(' ', '_')} " for name in lines[0].split(";")) + ",EXTRA"
    )
    rows = [",".join(line.split(";")) + ",x" for line in lines[1:]]
    text = "\ufeff" + "\r\n".join([header, rows[0], ",,,,,,,,,", *rows[1:], "", ""]) + "\r\n"
    path, delivery = land(tmp_path, SCHOOLS_NAME, text)
    result = read_duo_schools(path, delivery)

    assert_valid(result, "duo_schools")
    expected = read_duo_schools(*land(tmp_path / "plain", SCHOOLS_NAME, SCHOOLS_CSV)).tables[
        "duo_schools"
    ]
    got = result.tables["duo_schools"]
    assert got.row_locator.tolist() == ["1", "2", "3"]  # blank rows are not data rows
    pd.testing.assert_frame_equal(got, expected)
    assert result.rows_read == 3


def test_duo_schools_excel_sep_line_and_trailing_delimiters(tmp_path):
    lines = SCHOOLS_CSV.strip().split("\n")
    text = "sep=;\r\n" + "".join(f"{line};\r\n" for line in lines)
    path, delivery = land(tmp_path, SCHOOLS_NAME, text)
    result = read_duo_schools(path, delivery)

    assert_valid(result, "duo_schools")
    assert result.tables["duo_schools"].school_id.tolist() == ["99WA00", "99GA00", "99FA01"]
    assert result.tables["duo_schools"].cluster.tolist() == [pd.NA, 3, pd.NA]


def test_duo_schools_codes_are_checked(tmp_path):
    text = SCHOOLS_CSV + "\n".join(
        [
            "Groningen;9WA;00;Foute brin;X;1895;Oldambt;Basisonderwijs;",  # 4
            "Groningen;99WD;1A;Foute vestiging;X;1895;Oldambt;Basisonderwijs;",  # 5
            # 6 unknown label
            ("Groningen;99WE;00;Mbo-school;X;1895;Oldambt;Middelbaar beroepsonderwijs;"),
            "Groningen;99WF;00;Cluster acht;X;1895;Oldambt;Speciaal onderwijs;8",  # 7
            "Groningen;99WG;00;Geen gemeente;X;;Oldambt;Basisonderwijs;",  # 8
            # 9 fine: 00, GM0014, SBO
            ("Groningen;99WH;0;Nul kwijt;X;14;Groningen;speciaal  BASISONDERWIJS;"),
            "Groningen;99WJ;99WJ01;Volledige code;X;GM0014;Groningen;SO;2",  # 10 fine
            "Groningen;99WK;00;Gemeente tekst;X;Groningen;Groningen;Basisonderwijs;",  # 11
            "Groningen;99WL;00;Geen soort;X;0014;Groningen;;",  # 12
            # 13 fine: VO (seed school_types)
            ("Drenthe;99HV;00;Vo-school;X;0118;Hoogeveen;Voortgezet onderwijs;"),
            "Drenthe;99HP;00;Pro-school;X;0118;Hoogeveen;Praktijkonderwijs;",  # 14 fine: PRO
        ]
    )
    path, delivery = land(tmp_path, SCHOOLS_NAME, text)
    result = read_duo_schools(path, delivery)

    assert_valid(result, "duo_schools")
    assert reasons(result) == {
        "4": "invalid_code",
        "5": "invalid_code",
        "6": "invalid_code",
        "7": "invalid_code",
        "8": "missing_field",
        "11": "invalid_code",
        "12": "missing_field",
    }
    assert (
        "Middelbaar beroepsonderwijs"
        in result.quarantine.set_index("row_locator").loc["6", "reason"]
    )
    table = result.tables["duo_schools"].set_index("row_locator")
    assert table.loc["9", ["school_id", "municipality_code", "school_type"]].tolist() == [
        "99WH00",
        "GM0014",
        "SBO",
    ]
    assert table.loc["10", ["school_id", "vestiging", "school_type", "cluster"]].tolist() == [
        "99WJ01",
        "01",
        "SO",
        2,
    ]
    assert table.loc[["13", "14"], "school_type"].tolist() == ["VO", "PRO"]


def test_duo_schools_duplicates(tmp_path):
    lines = SCHOOLS_CSV.strip().split("\n")
    conflicting = lines[2].replace("De Wingerd", "De Wingerd-Oost")
    path, delivery = land(tmp_path, SCHOOLS_NAME, "\n".join([*lines, lines[1], conflicting]) + "\n")
    result = read_duo_schools(path, delivery)

    assert_valid(result, "duo_schools")
    assert reasons(result) == {"4": "duplicate_row", "2": "invalid_code", "5": "invalid_code"}
    assert result.tables["duo_schools"].school_id.tolist() == ["99WA00", "99FA01"]


def test_duo_schools_missing_columns_are_named(tmp_path):
    path, delivery = land(
        tmp_path, SCHOOLS_NAME, "PROVINCIE;VESTIGINGSNUMMER;GEMEENTENUMMER\nGroningen;00;0014\n"
    )
    with pytest.raises(DeliveryError) as caught:
        read_duo_schools(path, delivery)
    assert "BRIN NUMMER" in str(caught.value) and "SOORT PO" in str(caught.value)
    assert caught.value.path == str(path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (SCHOOLS_CSV.encode("cp1252"), "UTF-8"),
        (SCHOOLS_CSV.encode("utf-16"), "UTF-16"),
        (SCHOOLS_CSV.encode("utf-16-le"), "NUL"),
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "NUL"),
        ((SCHOOLS_CSV + 'Groningen;99WZ;00;"open quote\n').encode(), "CSV"),
        (
            (
                SCHOOLS_CSV
                + "Groningen;99WZ;00;Naam; met puntkomma;X;0014;Groningen;Basisonderwijs;\n"
            ).encode(),
            "data row 4 has 10 fields",
        ),
        (
            (
                SCHOOLS_CSV
                + "Groningen;99WZ;00;Naam; met puntkomma;X;0014;Groningen;Speciaal onderwijs;3\n"
            ).encode(),
            "data row 4 has 10 fields",
        ),
    ],
)
def test_duo_schools_unreadable_files(tmp_path, content, problem):
    path, delivery = land(tmp_path, SCHOOLS_NAME, content)
    with pytest.raises(DeliveryError, match=problem):
        read_duo_schools(path, delivery)


def test_duo_schools_header_only(tmp_path):
    path, delivery = land(tmp_path, SCHOOLS_NAME, SCHOOLS_CSV.split("\n")[0] + "\n")
    result = read_duo_schools(path, delivery)
    assert_valid(result, "duo_schools")
    assert result.rows_read == 0


def test_duo_schools_duplicate_header_is_an_error(tmp_path):
    path, delivery = land(tmp_path, SCHOOLS_NAME, SCHOOLS_CSV.replace("CLUSTER", "SOORT PO"))
    with pytest.raises(DeliveryError, match="more than once"):
        read_duo_schools(path, delivery)


# --------------------------------------------------------------------------- DUO pupil counts


def test_duo_pupil_counts_below_five(tmp_path):
    path, delivery = land(tmp_path, PUPILS_NAME, PUPILS_CSV)
    result = read_duo_pupil_counts(path, delivery)

    assert_valid(result, "duo_pupil_counts")
    table = result.tables["duo_pupil_counts"]
    assert table.school_id.tolist() == ["99GA00", "99GA00", "99GA00", "99WA00"]
    assert table.count_date.tolist() == [pd.Timestamp("2024-10-01")] * 4
    assert table.age.tolist() == [6, 7, 8, 9]
    assert table.pupils.tolist() == [pd.NA, 12, 5, 3]  # "<5" is NULL, not an error
    assert table.pupils_below_five.tolist() == [True, False, False, True]
    assert result.quarantine.empty
    assert not result.notes


def test_duo_pupil_counts_values_are_checked(tmp_path):
    text = PUPILS_CSV + "\n".join(
        [
            "99GA;00;20240231;6;7",  # 5 impossible date
            "99GA;00;2024-10-01;10;< 5",  # 6 fine: ISO date, "< 5"
            "99GA;00;20241001;zes;7",  # 7 age not a number
            "99GA;00;20241001;11;-1",  # 8 count not a number
            "99GA;00;20241001;12;",  # 9 count missing
            "99GA;00;20241001;13;<10",  # 10 other suppression marker
            "99GA;00;20241001;99;7",  # 11 age out of range
            "99GA;00;;14;7",  # 12 date missing
            "99GA;00;20241001;6;<5",  # 13 exact duplicate of row 1
        ]
    )
    path, delivery = land(tmp_path, PUPILS_NAME, text)
    result = read_duo_pupil_counts(path, delivery)

    assert_valid(result, "duo_pupil_counts")
    assert reasons(result) == {
        "5": "invalid_date",
        "7": "invalid_number",
        "8": "invalid_number",
        "9": "missing_field",
        "10": "invalid_number",
        "11": "invalid_number",
        "12": "missing_field",
        "13": "duplicate_row",
    }
    row = result.tables["duo_pupil_counts"].set_index("row_locator").loc["6"]
    assert (row.count_date, row.age, row.pupils_below_five) == (
        pd.Timestamp("2024-10-01"),
        10,
        True,
    )
    assert pd.isna(row.pupils)


def test_duo_pupil_counts_note_when_year_differs_from_file_name(tmp_path):
    path, delivery = land(tmp_path, PUPILS_NAME.replace("_2024_", "_2023_"), PUPILS_CSV)
    result = read_duo_pupil_counts(path, delivery)
    assert_valid(result, "duo_pupil_counts")
    assert any("2024" in note and "2023" in note for note in result.notes)


def test_duo_pupil_counts_missing_column(tmp_path):
    path, delivery = land(
        tmp_path, PUPILS_NAME, PUPILS_CSV.replace("AANTAL LEERLINGEN", "AANTAL_X")
    )
    with pytest.raises(DeliveryError, match="AANTAL LEERLINGEN"):
        read_duo_pupil_counts(path, delivery)


# --------------------------------------------------------------------------- CBS


def test_cbs_youth_care(tmp_path):
    document = cbs_document(
        cbs_row("GM0014  ", "2021JJ00", 4525.0, 9.9),
        cbs_row("GM0014  ", "2022JJ00", 4701.0, 10.3),
        cbs_row("GM1895  ", "2022JJ00", None, "."),
        cbs_row("GM1895", "2021JJ00", ".", None),
    )
    path, delivery = land(tmp_path, CBS_NAME, document)
    result = read_cbs_youth_care(path, delivery)

    assert_valid(result, "cbs_youth_care")
    table = result.tables["cbs_youth_care"]
    assert table.municipality_code.tolist() == ["GM0014", "GM0014", "GM1895", "GM1895"]
    assert table.year.tolist() == [2021, 2022, 2022, 2021]
    assert table.young_people_with_youth_care.tolist() == [4525.0, 4701.0, pd.NA, pd.NA]
    assert table.percentage_with_youth_care.tolist() == [9.9, 10.3, pd.NA, pd.NA]
    assert (
        str(table.year.dtype) == "Int32"
        and str(table.percentage_with_youth_care.dtype) == "Float64"
    )
    assert result.quarantine.empty


def test_cbs_odata_v4_document(tmp_path):
    path, delivery = land(tmp_path, CBS_NAME, cbs_document(cbs_row(), v4=True))
    result = read_cbs_youth_care(path, delivery)
    assert_valid(result, "cbs_youth_care")
    assert result.tables["cbs_youth_care"].municipality_code.tolist() == ["GM0014"]


def test_cbs_other_region_levels_are_set_aside(tmp_path):
    document = cbs_document(
        cbs_row("NL01    "),
        cbs_row("PV20    "),
        cbs_row("LD01    "),
        cbs_row("GM0014  "),
        cbs_row("CR01    "),
        cbs_row("Groningen"),
    )
    path, delivery = land(tmp_path, CBS_NAME, document)
    result = read_cbs_youth_care(path, delivery)

    assert_valid(result, "cbs_youth_care")
    assert result.rows_read == 6
    assert result.tables["cbs_youth_care"].row_locator.tolist() == ["4"]
    quarantine = result.quarantine.set_index("row_locator")
    assert set(quarantine.reason_code) == {"invalid_code"}
    for locator in ["1", "2", "3", "5"]:
        assert "region level not a municipality" in quarantine.loc[locator, "reason"]
    assert "not a CBS region key" in quarantine.loc["6", "reason"]
    assert any("4 row(s) for other region levels" in note for note in result.notes)


def test_cbs_periods_and_numbers_are_checked(tmp_path):
    document = cbs_document(
        cbs_row(period="2022KW01"),  # 1 quarter
        cbs_row(period="2022MM03"),  # 2 month
        cbs_row(period="2022"),  # 3 not a CBS key
        cbs_row(count=-5.0),  # 4 negative count
        cbs_row(percentage=101.0),  # 5 percentage above 100
        cbs_row(count="veel"),  # 6 text
        cbs_row(count=True),  # 7 boolean
        cbs_row(region=None),  # 8 missing region
        cbs_row(region="GM0080", count="4701"),  # 9 fine: numeric text
    )
    path, delivery = land(tmp_path, CBS_NAME, document)
    result = read_cbs_youth_care(path, delivery)

    assert_valid(result, "cbs_youth_care")
    assert reasons(result) == {
        "1": "invalid_code",
        "2": "invalid_code",
        "3": "invalid_code",
        "4": "invalid_number",
        "5": "invalid_number",
        "6": "invalid_number",
        "7": "invalid_number",
        "8": "missing_field",
    }
    quarantine = result.quarantine.set_index("row_locator")
    assert "period type not a year" in quarantine.loc["1", "reason"]
    assert result.tables["cbs_youth_care"].young_people_with_youth_care.tolist() == [4701.0]


def test_cbs_duplicates(tmp_path):
    document = cbs_document(
        cbs_row(),
        cbs_row(),
        cbs_row(count=1.0, region="GM0080"),
        cbs_row(count=2.0, region="GM0080"),
    )
    path, delivery = land(tmp_path, CBS_NAME, document)
    result = read_cbs_youth_care(path, delivery)
    assert_valid(result, "cbs_youth_care")
    assert reasons(result) == {"2": "duplicate_row", "3": "invalid_code", "4": "invalid_code"}


def test_cbs_measure_suffix_may_change(tmp_path):
    row = {
        "ID": 0,
        "RegioS": "GM0014  ",
        "Perioden": "2022JJ00",
        "JongerenMetJeugdhulp_3": 4701.0,
        "JongerenMetJeugdhulpInProcenten_4": 10.3,
    }
    path, delivery = land(tmp_path, CBS_NAME, cbs_document(row))
    result = read_cbs_youth_care(path, delivery)
    assert result.tables["cbs_youth_care"].young_people_with_youth_care.tolist() == [4701.0]


def test_cbs_empty_table(tmp_path):
    path, delivery = land(tmp_path, CBS_NAME, cbs_document())
    result = read_cbs_youth_care(path, delivery)
    assert_valid(result, "cbs_youth_care")
    assert result.rows_read == 0


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"value": [', "not valid JSON"),
        ('{"value": [NaN]}', "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ('{"odata.metadata": "x"}', 'no "value" list'),
        ('{"value": {"a": 1}}', 'no "value" list'),
        ("[1, 2]", 'no "value" list'),
        ('{"value": [1]}', "element 1"),
        (
            json.dumps({"value": [{"RegioS": "GM0014", "Perioden": "2022JJ00"}]}),
            "JongerenMetJeugdhulp, JongerenMetJeugdhulpInProcenten",
        ),
        (b"\xff\xfe{}", "UTF-16"),
        ("", "empty"),
    ],
)
def test_cbs_unreadable_documents(tmp_path, content, problem):
    path, delivery = land(tmp_path, CBS_NAME, content)
    with pytest.raises(DeliveryError, match=problem):
        read_cbs_youth_care(path, delivery)


# --------------------------------------------------------------------------- into the warehouse


def test_frames_fit_the_raw_tables(tmp_path):
    """What the readers return inserts into the raw layer with the loader's casts."""
    results = {
        "product_list": read_product_list(*land(tmp_path, PRODUCTS_NAME, PRODUCTS_CSV)),
        "duo_schools": read_duo_schools(*land(tmp_path, SCHOOLS_NAME, SCHOOLS_CSV)),
        "duo_pupil_counts": read_duo_pupil_counts(*land(tmp_path, PUPILS_NAME, PUPILS_CSV)),
        "cbs_youth_care": read_cbs_youth_care(
            *land(
                tmp_path,
                CBS_NAME,
                cbs_document(cbs_row(), cbs_row("GM1895", count=None, percentage=".")),
            )
        ),
    }
    conn = duckdb.connect()
    warehouse_raw.ensure_schema(conn)
    for table, result in results.items():
        warehouse_raw.insert_frame(
            conn,
            table,
            result.tables[table].assign(delivery_id="d"),
            warehouse_raw.raw_columns(table),
        )
        assert conn.execute(f"select count(*) from raw.{table}").fetchall() == [
            (len(result.tables[table]),)
        ]
    assert conn.execute(
        "select pupils, pupils_below_five, count_date from raw.duo_pupil_counts order by "
        "row_locator"
    ).fetchall()[0] == (None, True, pd.Timestamp("2024-10-01").date())
    assert conn.execute(
        "select count(*) from raw.cbs_youth_care where young_people_with_youth_care is null"
    ).fetchall() == [(1,)]


# --------------------------------------------------------------------------- properties

READERS = [
    (read_product_list, PRODUCTS_NAME, "product_list"),
    (read_duo_schools, SCHOOLS_NAME, "duo_schools"),
    (read_duo_pupil_counts, PUPILS_NAME, "duo_pupil_counts"),
    (read_cbs_youth_care, CBS_NAME, "cbs_youth_care"),
]
FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read_or_refuse(reader, relative: str, table: str, content: bytes) -> None:
    """The only acceptable outcomes: DeliveryError, or a ReadResult keeping the contract."""
    with tempfile.TemporaryDirectory() as directory:
        path, delivery = land(Path(directory), relative, content)
        try:
            result = reader(path, delivery)
        except DeliveryError:
            return
        assert_valid(result, table)


@pytest.mark.parametrize(("reader", "relative", "table"), READERS, ids=[r[2] for r in READERS])
@FUZZ
@given(content=st.binary(max_size=400))
def test_arbitrary_bytes_are_read_or_refused(reader, relative, table, content):
    read_or_refuse(reader, relative, table, content)


TOKENS = list("09AZaz<5 ;,\"'\n\r.-é") + [
    "GM",
    "99WA",
    "00",
    "<5",
    "20241001",
    "Speciaal onderwijs",
    "3",
]
CELL = st.lists(st.sampled_from(TOKENS), max_size=4).map("".join)


@pytest.mark.parametrize(
    ("reader", "relative", "table", "header"),
    [
        (read_product_list, PRODUCTS_NAME, "product_list", PRODUCTS_CSV.split("\n")[0]),
        (read_duo_schools, SCHOOLS_NAME, "duo_schools", SCHOOLS_CSV.split("\n")[0]),
        (read_duo_pupil_counts, PUPILS_NAME, "duo_pupil_counts", PUPILS_CSV.split("\n")[0]),
    ],
    ids=["product_list", "duo_schools", "duo_pupil_counts"],
)
@FUZZ
@given(rows=st.lists(st.lists(CELL, min_size=1, max_size=10), max_size=8))
def test_csv_with_a_good_header_and_arbitrary_cells(reader, relative, table, header, rows):
    text = header + "\n" + "\n".join(";".join(cells) for cells in rows)
    read_or_refuse(reader, relative, table, text.encode("utf-8"))


CBS_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=10),
    st.sampled_from(["GM0014  ", "NL01", "2022JJ00", "2022KW01", ".", "12.5"]),
    st.lists(st.integers(), max_size=2),
)


@FUZZ
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                key: CBS_VALUE
                for key in [
                    "RegioS",
                    "Perioden",
                    "JongerenMetJeugdhulp_1",
                    "JongerenMetJeugdhulpInProcenten_2",
                    "ID",
                ]
            },
        ),
        max_size=8,
    )
)
def test_cbs_rows_with_arbitrary_values(rows):
    read_or_refuse(
        read_cbs_youth_care, CBS_NAME, "cbs_youth_care", json.dumps({"value": rows}).encode()
    )
