"""End-to-end tests of the generator's file formats: school export dialects, public data,
iJw archives (XSD-valid, carrying personal data) and the identifiers in them."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from lxml import etree
from stdnum.nl import bsn as stdnum_bsn
from stdnum.nl import onderwijsnummer as stdnum_onderwijsnummer

from pilotmonitor.synth import public_data
from pilotmonitor.synth.delivery_log import DeliveryLog
from pilotmonitor.synth.scenario import load_scenario
from tests.synth.conftest import (
    DEMO_SCENARIO,
    IJW_BASIS_NS,
    SchoolTable,
    demo_scenario,
    parse_export_date,
    planted_message_names,
    planted_row_numbers,
    text,
)

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DUTCH_DATE = re.compile(r"[0-9]{2}-[0-9]{2}-[0-9]{4}")
DATE_COLUMNS = {"geboortedatum", "datum_inschrijving", "datum_uitschrijving", "datum"}
MESSAGE_TYPES = ["JW315", "JW301", "JW305", "JW307", "JW323"]
NS = {"ijw": IJW_BASIS_NS}


def _clean_rows(table: SchoolTable, bad: dict[str, dict[int, str]]) -> list[list[object]]:
    skip = bad.get(table.path, {})
    return [row for number, row in enumerate(table.rows, start=1) if number not in skip]


def _date_cells(table: SchoolTable, rows: list[list[object]]) -> list[object]:
    columns = [table.column(name) for name in table.header if name in DATE_COLUMNS]
    return [row[i] for row in rows for i in columns if row[i] not in (None, "")]


@pytest.fixture(scope="module")
def bad_rows(planted: pd.DataFrame) -> dict[str, dict[int, str]]:
    return planted_row_numbers(planted)


@pytest.fixture(scope="module")
def messages(ijw_members: dict[str, list[tuple[str, bytes]]]) -> list[tuple[str, str, bytes]]:
    """(zip path, member name, payload) for every message of the five types the warehouse
    reads (the retour messages beside them are left out)."""
    return [
        (path, name, payload)
        for path, members in ijw_members.items()
        for name, payload in members
        if name[:5] in MESSAGE_TYPES
    ]


# --- school export dialects --------------------------------------------------------------


def test_the_three_export_dialects_occur(deliveries: pd.DataFrame) -> None:
    schools = deliveries[deliveries.source.isin(["school_enrolments", "school_absence"])]
    counts = Counter(schools.encoding)
    for encoding in ["windows-1252", "utf-8", "utf-8-sig", "xlsx"]:
        assert counts[encoding] > 0, counts


def test_semicolon_exports_are_windows_1252_with_dutch_dates_and_decimal_commas(
    landing: Path, school_tables: dict[str, SchoolTable], bad_rows: dict
) -> None:
    tables = [t for t in school_tables.values() if t.encoding == "windows-1252"]
    assert tables
    decimal_commas = 0
    for table in tables:
        raw = (landing / table.path).read_bytes()
        first_line = raw.split(b"\r\n", 1)[0]
        assert first_line in (
            b"BRIN;Vestiging;BSN;Onderwijsnummer;Achternaam;Tussenvoegsel;Roepnaam;Geslacht;"
            b"Geboortedatum;Straat;Huisnummer;Postcode;Woonplaats;Groep;Datum inschrijving;"
            b"Datum uitschrijving;Uitstroombestemming;Soort inschrijving",
            b"BSN;Onderwijsnummer;Datum;Uren;Soort verzuim;Reden;Opmerking",
        ), first_line
        assert raw.count(b"\r\n") == len(table.rows) + 1, "CRLF line ends expected"
        assert not raw.startswith(b"\xef\xbb\xbf")
        rows = _clean_rows(table, bad_rows)
        assert all(DUTCH_DATE.fullmatch(value) for value in _date_cells(table, rows)), table.path
        if "uren" in table.header:
            hours = [row[table.column("uren")] for row in rows]
            assert all(re.fullmatch(r"[0-9]+(,[0-9]+)?", h) for h in hours), table.path
            decimal_commas += sum("," in h for h in hours)
    assert decimal_commas > 0


def test_windows_1252_exports_with_diacritics_are_not_utf8(
    landing: Path, school_tables: dict[str, SchoolTable]
) -> None:
    """Names such as Joël, Zoë, Daniëlle, René and Özdemir are single cp1252 bytes; such a
    file does not decode as UTF-8 (a reader must honour the encoding)."""
    with_diacritics = 0
    for table in school_tables.values():
        if table.encoding != "windows-1252":
            continue
        raw = (landing / table.path).read_bytes()
        if any(byte in raw for byte in (b"\xeb", b"\xd6", b"\xe9")):
            with_diacritics += 1
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
            decoded = raw.decode("cp1252")
            assert any(name in decoded for name in ["Joël", "Zoë", "Daniëlle", "René", "Özdemir"])
    assert with_diacritics > 0


def test_comma_exports_are_utf8_with_iso_dates_and_decimal_points(
    landing: Path, school_tables: dict[str, SchoolTable], bad_rows: dict
) -> None:
    tables = [t for t in school_tables.values() if t.encoding in ("utf-8", "utf-8-sig")]
    assert {t.encoding for t in tables} == {"utf-8", "utf-8-sig"}
    utf8_diacritics = 0
    for table in tables:
        raw = (landing / table.path).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") == (table.encoding == "utf-8-sig"), table.path
        assert b"\r\n" not in raw and b";" not in raw.split(b"\n", 1)[0]
        assert all(re.fullmatch(r"[a-z_]+", name) for name in table.header), table.header
        assert table.header[0] == "bsn", "comma exports put the identifiers first"
        raw.decode("utf-8")  # must not raise
        utf8_diacritics += any(seq in raw for seq in ("ë".encode(), "Ö".encode(), "é".encode()))
        rows = _clean_rows(table, bad_rows)
        assert all(ISO_DATE.fullmatch(value) for value in _date_cells(table, rows)), table.path
        if "uren" in table.header:
            assert all(
                re.fullmatch(r"[0-9]+(\.[0-9]+)?", row[table.column("uren")]) for row in rows
            )
    assert utf8_diacritics > 0


def test_xlsx_exports_have_real_date_and_number_cells(
    landing: Path, school_tables: dict[str, SchoolTable], bad_rows: dict
) -> None:
    tables = [t for t in school_tables.values() if t.encoding == "xlsx"]
    assert tables
    for table in tables:
        rows = _clean_rows(table, bad_rows)
        dates = _date_cells(table, rows)
        assert dates and all(isinstance(value, dt.datetime) for value in dates), table.path
        if "uren" in table.header:
            assert all(isinstance(row[table.column("uren")], (int, float)) for row in rows)
    # openpyxl (not only our reader) flags them as date cells with a date format.
    workbook = openpyxl.load_workbook(landing / tables[0].path)
    sheet = workbook.active
    header = [cell.value for cell in sheet[1]]
    date_column = next(i for i, name in enumerate(header) if name in ("Datum", "Geboortedatum"))
    cell = sheet.cell(row=2, column=date_column + 1)
    assert cell.is_date and isinstance(cell.value, dt.datetime)


# --- public data -------------------------------------------------------------------------


def test_duo_pupil_counts_suppress_small_numbers(landing: Path, deliveries: pd.DataFrame) -> None:
    paths = deliveries.path[deliveries.source == "duo_pupil_counts"].tolist()
    assert paths
    values = pd.concat(
        [pd.read_csv(landing / p, sep=";", dtype=str)["AANTAL LEERLINGEN"] for p in paths]
    )
    assert (values == "<5").any()
    numbers = values[values != "<5"]
    assert numbers.str.fullmatch(r"[0-9]+").all()
    assert (numbers.astype(int) >= 5).all(), "counts below five must be published as <5"


def _age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((birth.month, birth.day) > (day.month, day.day))


def test_duo_pupil_counts_match_the_enrolment_exports(
    landing: Path, deliveries: pd.DataFrame, school_tables: dict[str, SchoolTable], bad_rows: dict
) -> None:
    """Pupils per school and age on 1 October recounted from the schools' own exports.
    Cells touched by a pupil born on 1 October are left out here: a separate test covers them.
    DUO counts a pupil at the school of the main enrolment only (not a symbiose school)."""
    pupils: dict[tuple[str, str], list] = {}
    for table in school_tables.values():
        if table.source != "school_enrolments":
            continue
        c = {
            n: table.column(n)
            for n in [
                "bsn",
                "onderwijsnummer",
                "geboortedatum",
                "datum_inschrijving",
                "datum_uitschrijving",
                "soort_inschrijving",
            ]
        }
        skip = bad_rows.get(table.path, {})
        for number, row in enumerate(table.rows, start=1):
            if number in skip or text(row[c["soort_inschrijving"]]) == "Neveninschrijving":
                continue
            who = (table.sender, text(row[c["bsn"]]) or text(row[c["onderwijsnummer"]]))
            end = parse_export_date(row[c["datum_uitschrijving"]])
            record = pupils.setdefault(
                who,
                [
                    parse_export_date(row[c["geboortedatum"]]),
                    parse_export_date(row[c["datum_inschrijving"]]),
                    end,
                ],
            )
            if end is not None and (record[2] is None or end > record[2]):
                record[2] = end
    published = pd.concat(
        [
            pd.read_csv(landing / p, sep=";", dtype=str)
            for p in deliveries.path[deliveries.source == "duo_pupil_counts"]
        ]
    )
    count_dates = sorted(set(published.PEILDATUM))
    recount: Counter = Counter()
    touched = set()
    for (school, _who), (birth, start, end) in pupils.items():
        for stamp in count_dates:
            day = dt.date(int(stamp[:4]), 10, 1)
            if start <= day and (end is None or end >= day):
                key = (school[:4], stamp, str(_age_on(birth, day)))
                recount[key] += 1
                if (birth.month, birth.day) == (10, 1):
                    touched |= {key, (key[0], key[1], str(int(key[2]) - 1))}
    expected = {k: ("<5" if n < 5 else str(n)) for k, n in recount.items() if k not in touched}
    got = {
        k: v
        for k, v in zip(
            zip(published["BRIN NUMMER"], published.PEILDATUM, published.LEEFTIJD),
            published["AANTAL LEERLINGEN"],
        )
        if k not in touched
    }
    assert len(got) > 100
    assert got == expected


def test_duo_age_counts_a_birthday_on_the_count_date(tmp_path: Path) -> None:
    scenario = load_scenario(DEMO_SCENARIO)
    schools = pd.DataFrame({"school_index": [0], "brin": ["99ZZ"], "vestiging": ["00"]})
    births = [pd.Timestamp("2010-10-01")] * 5 + [pd.Timestamp("2010-10-02")] * 5
    pupils = pd.DataFrame(
        {
            "school_index": 0,
            "enrol_start": pd.Timestamp("2018-08-01"),
            "enrol_end": pd.NaT,
            "birth_date": births,
        }
    )
    (tmp_path / "public" / "duo").mkdir(parents=True)
    public_data.write_duo_pupil_counts(pupils, schools, scenario, tmp_path, DeliveryLog(tmp_path))
    (path,) = (tmp_path / "public" / "duo").glob("duo_leerlingen_po_leeftijd_2020_*.csv")
    frame = pd.read_csv(path, sep=";", dtype=str)
    assert dict(zip(frame.LEEFTIJD, frame["AANTAL LEERLINGEN"])) == {"9": "5", "10": "5"}


def test_cbs_json_is_statline_odata(landing: Path, deliveries: pd.DataFrame) -> None:
    (path,) = deliveries.path[deliveries.source == "cbs_youth_care"]
    document = json.loads((landing / path).read_text(encoding="utf-8"))
    rows = document["value"]
    assert rows
    assert all(re.fullmatch(r"GM[0-9]{4}  ", row["RegioS"]) for row in rows)
    assert all(re.fullmatch(r"[0-9]{4}JJ00", row["Perioden"]) for row in rows)
    assert {row["RegioS"].strip() for row in rows} == set(demo_scenario()["municipalities"])
    assert any(row["RegioS"] == "GM0014  " and row["Perioden"] == "2022JJ00" for row in rows)


# --- iJw archives ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schemas(ijw_xsd_dir: Path) -> dict[str, etree.XMLSchema]:
    return {
        name: etree.XMLSchema(etree.parse(str(ijw_xsd_dir / f"{name}.xsd")))
        for name in MESSAGE_TYPES
    }


def test_archive_messages_validate_against_the_xsds(
    messages: list[tuple[str, str, bytes]],
    ijw_members: dict[str, list],
    schemas: dict[str, etree.XMLSchema],
) -> None:
    """Every message of every archive (all five types) is valid iJw 3.2."""
    archives_with_messages = sum(1 for members in ijw_members.values() if members)
    assert archives_with_messages > 100
    seen = Counter()
    for path, name, payload in messages:
        kind = name[:5]
        schema = schemas[kind]
        document = etree.fromstring(payload)
        assert schema.validate(document), f"{path}!{name}: {schema.error_log.last_error}"
        seen[kind] += 1
    assert set(seen) == set(MESSAGE_TYPES), seen


def test_jw301_carries_the_childs_name_and_address(
    messages: list[tuple[str, str, bytes]], clean_enrolments: dict[str, dict]
) -> None:
    """Allocations carry name, BRP address and phone, as real ones do, and they are the
    same child as in the school's enrolment export (linkable by BSN)."""
    checked = 0
    for _path, name, payload in messages:
        if not name.startswith("JW301"):
            continue
        client = etree.fromstring(payload).find("{*}Client")
        bsn = client.findtext("{*}Bsn")
        child = clean_enrolments[bsn]
        assert (
            client.findtext("{*}Naam/ijw:Geslachtsnaam/ijw:Achternaam", namespaces=NS)
            == child["surname"]
        )
        assert (
            client.findtext("{*}Naam/ijw:Geslachtsnaam/ijw:Voorvoegsel", namespaces=NS) or ""
        ) == child["prefix"]
        assert client.findtext("{*}Naam/ijw:Voornamen", namespaces=NS) == child["given_name"]
        address = client.find("{*}Contactgegevens/{*}Contact/{*}Adres")
        assert address.findtext("ijw:Postcode", namespaces=NS) == child["postcode"]
        assert address.findtext("ijw:Huis/ijw:Huisnummer", namespaces=NS) == child["house_number"]
        assert address.findtext("ijw:Plaatsnaam", namespaces=NS) == child["city"]
        assert child["street"].startswith(address.findtext("ijw:Straatnaam", namespaces=NS))
        assert client.find("{*}Contactgegevens//ijw:Telefoonnummer", namespaces=NS) is not None
        assert client.find("{*}Relaties/{*}Relatie/{*}Naam", namespaces=NS) is not None
        checked += 1
    assert checked > 100


def test_messages_sit_in_the_archive_of_their_municipality_and_month(
    messages: list[tuple[str, str, bytes]], deliveries: pd.DataFrame
) -> None:
    """A message is in the ZIP of the municipality it was exchanged with and of the month
    of its Dagtekening; per trajectory the dates run request <= allocation <= start <= end;
    declaration lines lie in their one-month declaration period and are declared after it."""
    archive = {
        row.path: (row.sender, row.period)
        for row in deliveries.itertuples(index=False)
        if row.source == "ijw_messages"
    }
    dates: dict[str, dict[str, str]] = {}
    for path, name, payload in messages:
        kind = name[:5]
        header = etree.fromstring(payload).find("{*}Header")
        day = header.findtext("{*}BerichtIdentificatie/ijw:Dagtekening", namespaces=NS)
        municipality = header.findtext("{*}Afzender" if kind == "JW301" else "{*}Ontvanger")
        assert archive[path] == (f"GM{municipality}", day[:7]), f"{path}!{name}"
        if kind == "JW323":
            document = etree.fromstring(payload)
            begin = document.findtext(".//{*}DeclaratiePeriode/ijw:Begindatum", namespaces=NS)
            end = document.findtext(".//{*}DeclaratiePeriode/ijw:Einddatum", namespaces=NS)
            assert begin[:7] == end[:7] and day > end, name
            for line in document.iterfind(".//{*}Prestatie"):
                first = line.findtext("{*}ProductPeriode/ijw:Begindatum", namespaces=NS)
                last = line.findtext("{*}ProductPeriode/ijw:Einddatum", namespaces=NS)
                assert begin <= first <= last <= end, name
        else:
            trajectory = header.findtext(
                "{*}BerichtIdentificatie/ijw:Identificatie", namespaces=NS
            )[3:]
            dates.setdefault(trajectory, {})[kind] = day
    for trajectory, by_kind in dates.items():
        assert "JW315" in by_kind, f"trajectory {trajectory} has no request"
        sequence = [by_kind[k] for k in ["JW315", "JW301", "JW305", "JW307"] if k in by_kind]
        assert sequence == sorted(sequence), (trajectory, by_kind)
        assert "JW301" in by_kind or "JW305" not in by_kind, (
            f"care started without allocation: {trajectory}"
        )


def test_archives_hold_what_real_exports_hold(
    ijw_members: dict[str, list[tuple[str, bytes]]], messages: list[tuple[str, str, bytes]]
) -> None:
    """Besides one message per product: requests for two products in one message, retour
    messages answering a message of the same archive, prefixed namespaces from half of
    the senders, and references declared month by month."""
    retours = Counter()
    for path, members in ijw_members.items():
        names = {name for name, _ in members}
        for name, payload in members:
            if name[:5] in MESSAGE_TYPES:
                continue
            answered = etree.fromstring(payload).findtext("{*}Header/{*}IdentificatieRetour")
            assert any(
                other.endswith(f"_{answered}.xml") and other[:5] != name[:5] for other in names
            ), f"{path}!{name}"
            retours[name[:5]] += 1
    assert set(retours) == {"JW302", "JW306", "JW308", "JW316", "JW325"}, retours
    products = Counter()
    prefixed = Counter()
    references: dict[str, set[str]] = {}
    for _path, name, payload in messages:
        root = etree.fromstring(payload)
        prefixed[root.prefix is not None] += 1
        if name.startswith("JW315"):
            products[len(root.findall(".//{*}AangevraagdProduct"))] += 1
        if name.startswith("JW323"):
            for line in root.iterfind(".//{*}Prestatie"):
                reference = line.findtext(
                    "{*}ProductReferentie/ijw:ReferentieNummer", namespaces=NS
                )
                references.setdefault(reference, set()).add(
                    line.findtext("{*}ProductPeriode/ijw:Begindatum", namespaces=NS)
                )
    assert 0.03 < products[2] / sum(products.values()) < 0.15, products
    assert prefixed[True] > 100 and prefixed[False] > 100, prefixed
    assert sum(len(periods) > 1 for periods in references.values()) > 100


# --- identifiers -------------------------------------------------------------------------


def test_clean_rows_carry_valid_bsn_or_onderwijsnummer(
    school_tables: dict[str, SchoolTable], bad_rows: dict
) -> None:
    counts = Counter()
    for table in school_tables.values():
        i_bsn, i_onr = table.column("bsn"), table.column("onderwijsnummer")
        for row in _clean_rows(table, bad_rows):
            bsn, onr = text(row[i_bsn]), text(row[i_onr])
            assert bool(bsn) != bool(onr), (
                f"{table.path}: exactly one identifier expected, got {bsn!r}/{onr!r}"
            )
            if bsn:
                assert stdnum_bsn.is_valid(bsn), f"{table.path}: BSN {bsn}"
                counts["bsn"] += 1
            else:
                assert stdnum_onderwijsnummer.is_valid(onr), f"{table.path}: onderwijsnummer {onr}"
                counts["onderwijsnummer"] += 1
    assert counts["bsn"] > 10_000 and counts["onderwijsnummer"] > 100, counts


def test_ijw_bsns_are_valid_and_link_to_school_exports(
    messages: list[tuple[str, str, bytes]], planted: pd.DataFrame, clean_enrolments: dict[str, dict]
) -> None:
    """Apart from the planted invalid requests, every BSN in the messages is 11-proof and
    belongs to a child in some school's enrolment export."""
    planted_names = planted_message_names(planted)
    linked = set()
    for path, name, payload in messages:
        if planted_names.get((path, name)) == "invalid_bsn":
            continue
        for bsn in etree.fromstring(payload).xpath("//*[local-name()='Bsn']/text()"):
            assert stdnum_bsn.is_valid(bsn), f"{path}!{name}: {bsn}"
            assert bsn in clean_enrolments, f"{path}!{name}: BSN {bsn} not in any enrolment export"
            linked.add(bsn)
    assert len(linked) > 100
