"""Tests for the school export readers (pilotmonitor.ingest.readers.school_exports).

Inputs are written with the synthetic senders' own renderer and dialect writers
(pilotmonitor.synth.school_exports.render, pilotmonitor.synth.dialects), so every export
dialect the pipeline meets is covered without the generated landing area.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilotmonitor.ingest.contracts import (
    QUARANTINE_COLUMNS,
    RAW_TABLES,
    REASONS,
    DeliveryError,
    ReadResult,
    combine_parts,
)
from pilotmonitor.ingest.deliveries import Delivery
from pilotmonitor.ingest.pseudonymise import Pseudonymiser, PseudonymKey
from pilotmonitor.ingest.readers.school_exports import (
    read_many_absence,
    read_many_enrolments,
    read_school_absence,
    read_school_enrolments,
)
from pilotmonitor.synth.dialects import Dialect
from pilotmonitor.synth.school_exports import ExportFile, render

PSEUDONYMISER = Pseudonymiser(PseudonymKey("test", bytes(range(32))))
SCHOOL = "99WA00"
DIALECTS = [
    Dialect("semicolon_cp1252"),
    Dialect("comma_utf8"),
    Dialect("comma_utf8", bom=True),
    Dialect("xlsx"),
]
DIALECT_IDS = ["semicolon_cp1252", "comma_utf8", "comma_utf8_bom", "xlsx"]
FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
UTF16_MESSAGE = (
    "contains NUL bytes: looks like UTF-16 without byte-order mark; re-export as UTF-8 or "
    "Windows-1252"
)

T = pd.Timestamp
PUPILS = pd.DataFrame(
    [
        # bsn, onderwijsnummer, surname, prefix, given name, sex, birth, street, no., postcode,
        # city, group, start, end, destination
        [
            "999900006",
            "",
            "Özdemir-Synthetisch",
            "",
            "Zoë",
            "V",
            T("2010-03-14"),
            "Proefstraat",
            "12",
            "9673 MM",
            "Winschoten",
            "7",
            T("2013-08-01"),
            pd.NaT,
            "",
        ],
        [
            "",
            "100000004",
            "Bakker-Synthetisch",
            "de",
            "René",
            "M",
            T("2011-11-30"),
            "Synthetische Laan",
            "3a",
            "9675 AB",
            "Oostwold",
            "6",
            T("2014-08-01"),
            T("2017-03-01"),
            "SBO",
        ],
        [
            "012345672",
            "",
            "Visser-Synthetisch",
            "van",
            "Daniëlle",
            "V",
            T("2012-01-01"),
            "Fictieve Kade",
            "101",
            "9671 ZZ",
            "Scheemda",
            "SO-4",
            T("2016-09-01"),
            pd.NaT,
            "",
        ],
        [
            "999900018",
            "",
            "Wiersma-Synthetisch",
            "",
            "Joël",
            "M",
            T("2009-07-09"),
            "Testweg",
            "8",
            "9673",
            "Finsterwolde",
            "8",
            T("2012-08-01"),
            T("2017-07-31"),
            "VO",
        ],
    ],
    columns=[
        "bsn",
        "onderwijsnummer",
        "surname",
        "surname_prefix",
        "given_name",
        "sex",
        "birth_date",
        "street",
        "house_number",
        "postcode",
        "city",
        "group",
        "enrol_start",
        "enrol_end",
        "destination",
    ],
)
PHONE = "06-98765432"
COMMENT = "Moeder Zoë belde af"
PERSONAL = [
    *PUPILS.surname,
    *PUPILS.given_name,
    *PUPILS.street,
    *PUPILS.city,
    PHONE,
    COMMENT,
    "Zoë",
    "Daniëlle",
    "Özdemir",
    "Proefstraat",
]
ABSENCE = pd.DataFrame(
    [
        ["999900006", "", T("2016-09-01"), 5.5, "Geoorloofd", "Ziek", COMMENT],
        ["", "100000004", T("2016-09-02"), 2.0, "Ongeoorloofd", "Te laat", ""],
        [
            "012345672",
            "",
            T("2016-10-03"),
            6.0,
            "Geoorloofd",
            "Geëxcuseerd – bezoek",
            f"Vader belt {PHONE}",
        ],
        ["999900018", "", T("2017-01-09"), 0.5, "Ongeoorloofd", "Langdurig verzuim", ""],
    ],
    columns=["bsn", "onderwijsnummer", "date", "hours", "kind", "reason", "comment"],
)


def delivery(source: str, sender: str = SCHOOL) -> Delivery:
    kind = "inschrijvingen" if source == "school_enrolments" else "verzuim"
    return Delivery(
        f"schools/{sender}/{sender}_{kind}_2016-2017_20170810.csv",
        source,
        sender,
        "2016-2017",
        dt.date(2017, 8, 10),
        "0" * 64,
        0,
    )


def enrolment_rows(pupils: pd.DataFrame = PUPILS) -> pd.DataFrame:
    rows = pupils.assign(brin="99WA", vestiging="00", planted=None)
    if "enrolment_kind" not in rows:
        rows["enrolment_kind"] = "Hoofdinschrijving"
    return rows


def export_bytes(
    source: str, rows: pd.DataFrame, dialect: Dialect, extra: dict | None = None, headers=None
) -> bytes:
    frame = render(
        ExportFile(SCHOOL, source, 2016, T("2017-08-10"), dialect, rows.reset_index(drop=True))
    )
    for name, value in (extra or {}).items():
        frame[name] = value
    if headers is not None:
        frame.columns = [headers(c) for c in frame.columns]
    return dialect.to_bytes(frame)


def write(tmp_path: Path, data: bytes, suffix: str = ".csv") -> Path:
    path = tmp_path / f"export{suffix}"
    path.write_bytes(data)
    return path


def read(source: str, path: Path, sender: str = SCHOOL) -> ReadResult:
    """The file read alone; every test also checks that reading it with other files
    (read_many, as the loader does) gives the same result."""
    reader = read_school_enrolments if source == "school_enrolments" else read_school_absence
    try:
        alone: ReadResult | DeliveryError = reader(path, delivery(source, sender), PSEUDONYMISER)
    except DeliveryError as error:
        alone = error
    assert_same_result(alone, read_together(source, path, sender))
    if isinstance(alone, DeliveryError):
        raise alone
    return alone


OTHER_SCHOOL = "99WB00"


def read_together(source: str, path: Path, sender: str) -> list[ReadResult] | DeliveryError:
    """The file read by read_many between another school's export and a second copy of
    itself (which must read the same: no duplicate across files)."""
    many = read_many_enrolments if source == "school_enrolments" else read_many_absence
    rows = enrolment_rows() if source == "school_enrolments" else ABSENCE.assign(planted=None)
    other = path.parent / f"other_{path.name}.csv"
    # its rows name school 99WA00: quarantined as another school's, per row of this file
    other.write_bytes(export_bytes(source, rows, Dialect("semicolon_cp1252")))
    first, alone, again = many(
        [
            (other, delivery(source, OTHER_SCHOOL)),
            (path, delivery(source, sender)),
            (path, delivery(source, sender)),
        ],
        PSEUDONYMISER,
    )
    reader = read_school_enrolments if source == "school_enrolments" else read_school_absence
    assert_same_result(reader(other, delivery(source, OTHER_SCHOOL), PSEUDONYMISER), first)
    assert_same_result(again if isinstance(again, DeliveryError) else combine_parts(again), alone)
    other.unlink()
    return alone


def assert_same_result(
    alone: ReadResult | DeliveryError, together: ReadResult | list[ReadResult] | DeliveryError
) -> None:
    if isinstance(alone, DeliveryError):
        assert isinstance(together, DeliveryError) and str(together) == str(alone)
        return
    assert not isinstance(together, DeliveryError), together
    together = combine_parts(together)
    assert (together.rows_read, together.notes) == (alone.rows_read, alone.notes)
    assert together.tables.keys() == alone.tables.keys()
    for table, frame in alone.tables.items():
        pd.testing.assert_frame_equal(together.tables[table], frame)
    pd.testing.assert_frame_equal(together.quarantine, alone.quarantine)


def all_text(result: ReadResult) -> str:
    """Every value of every output table, the quarantine and the notes, as one string."""
    parts = list(result.notes)
    for frame in [*result.tables.values(), result.quarantine]:
        parts.extend(frame.astype(str).to_numpy().ravel().tolist())
        parts.extend(str(c) for c in frame.columns)
    return "\n".join(parts)


def assert_contract(result: ReadResult, table: str) -> None:
    loaded = sum(len(frame) for frame in result.tables.values())
    assert result.rows_read == loaded + len(result.quarantine)
    result.check_accounting()
    assert list(result.tables) == [table]
    assert list(result.tables[table].columns) == [*RAW_TABLES[table], "row_locator"]
    assert list(result.quarantine.columns) == list(QUARANTINE_COLUMNS)
    text = all_text(result)
    leaked = [p for p in PERSONAL if p in text]
    assert not leaked, f"personal data in the read result: {leaked}"


def pseudonym(kind: str, number: str) -> str:
    return PSEUDONYMISER.pseudonym(kind, number)


def quarantined(result: ReadResult) -> dict[str, str]:
    return dict(zip(result.quarantine.row_locator, result.quarantine.reason_code))


# --- every dialect -------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS, ids=DIALECT_IDS)
def test_enrolments_in_every_dialect(tmp_path: Path, dialect: Dialect):
    kinds = ["Hoofdinschrijving", "Hoofdinschrijving", "Neveninschrijving", "hoofd"]
    path = write(
        tmp_path,
        export_bytes(
            "school_enrolments",
            enrolment_rows(PUPILS.assign(enrolment_kind=kinds)),
            dialect,
            extra={"Telefoon": PHONE},
        ),
        f".{dialect.extension}",
    )
    result = read("school_enrolments", path)
    assert_contract(result, "school_enrolments")
    assert result.quarantine.empty
    out = result.tables["school_enrolments"]
    assert out.enrolment_kind.tolist() == ["main", "main", "secondary", "main"]
    assert out.row_locator.tolist() == ["1", "2", "3", "4"]
    assert out.pupil_pseudonym.tolist() == [
        pseudonym("bsn", "999900006"),
        pseudonym("onderwijsnummer", "100000004"),
        pseudonym("bsn", "012345672"),
        pseudonym("bsn", "999900018"),
    ]
    assert out.id_kind.tolist() == ["bsn", "onderwijsnummer", "bsn", "bsn"]
    assert set(out.key_version) == {"test"}
    assert (
        set(out.school_id) == {SCHOOL}
        and set(out.brin) == {"99WA"}
        and set(out.vestiging) == {"00"}
    )
    assert out.birth_month.tolist() == [
        T("2010-03-01"),
        T("2011-11-01"),
        T("2012-01-01"),
        T("2009-07-01"),
    ]
    assert out.sex.tolist() == ["V", "M", "V", "M"]
    assert out.postcode4.tolist() == ["9673", "9675", "9671", "9673"]
    assert out.school_group.tolist() == ["7", "6", "SO-4", "8"]
    assert out.enrol_start.tolist() == PUPILS.enrol_start.tolist()
    assert out.enrol_end.isna().tolist() == [True, False, True, False]
    assert out.enrol_end.iloc[1] == T("2017-03-01")
    assert out.destination.tolist() == [None, "SBO", None, "VO"]
    assert "telefoon" in result.notes[0] and "achternaam" in result.notes[0]


@pytest.mark.parametrize("dialect", DIALECTS, ids=DIALECT_IDS)
def test_absence_in_every_dialect(tmp_path: Path, dialect: Dialect):
    path = write(
        tmp_path,
        export_bytes("school_absence", ABSENCE.assign(planted=None), dialect),
        f".{dialect.extension}",
    )
    result = read("school_absence", path)
    assert_contract(result, "school_absence")
    assert result.quarantine.empty
    out = result.tables["school_absence"]
    assert out.school_id.tolist() == [SCHOOL] * 4
    assert out.absence_date.tolist() == ABSENCE.date.tolist()
    assert out.hours.tolist() == [5.5, 2.0, 6.0, 0.5]
    assert out.authorised.tolist() == [True, False, True, False]
    # cp1252 diacritics and dash kept
    assert out.reason.tolist() == ["Ziek", "Te laat", "Geëxcuseerd – bezoek", "Langdurig verzuim"]
    assert out.pupil_pseudonym.iloc[1] == pseudonym("onderwijsnummer", "100000004")


def test_headers_in_any_case_spacing_and_order(tmp_path: Path):
    rng = np.random.default_rng(7)
    spelled = {
        "BSN": "  bsn ",
        "Datum": "DATUM",
        "Soort verzuim": " Soort   VERZUIM",
        "Uren": "uren",
        "Reden": "REDEN ",
        "Onderwijsnummer": "OnderwijsNummer",
        "Opmerking": "opmerking",
    }
    frame = render(
        ExportFile(
            SCHOOL,
            "school_absence",
            2016,
            T("2017-08-10"),
            Dialect("semicolon_cp1252"),
            ABSENCE.assign(planted=None),
        )
    )
    frame = frame.rename(columns=spelled)[list(rng.permutation(list(spelled.values())))]
    path = write(tmp_path, Dialect("semicolon_cp1252").to_bytes(frame))
    result = read("school_absence", path)
    assert_contract(result, "school_absence")
    assert len(result.tables["school_absence"]) == 4 and result.quarantine.empty


def test_spreadsheet_number_cells_for_identifiers(tmp_path: Path):
    """A BSN stored as a number loses its leading zero; it is still the same pupil."""
    rows = ABSENCE.assign(
        planted=None,
        bsn=[999900006, None, 12345672, 999900018],
        onderwijsnummer=[None, 100000004, None, None],
    )
    result = read(
        "school_absence",
        write(tmp_path, export_bytes("school_absence", rows, Dialect("xlsx")), ".xlsx"),
    )
    assert_contract(result, "school_absence")
    assert result.tables["school_absence"].pupil_pseudonym.iloc[2] == pseudonym("bsn", "012345672")


# --- quarantine ----------------------------------------------------------------------


def absence_file(
    tmp_path: Path, rows: list[list[str]], dialect: Dialect = Dialect("semicolon_cp1252")
) -> Path:
    frame = pd.DataFrame(
        rows, columns=["bsn", "onderwijsnummer", "date", "hours", "kind", "reason", "comment"]
    ).assign(planted=None)
    return write(tmp_path, export_bytes("school_absence", frame, dialect), f".{dialect.extension}")


def test_every_absence_quarantine_reason(tmp_path: Path):
    good = ["999900006", "", "01-09-2016", "2", "Geoorloofd", "Ziek", ""]
    rows = [
        good,  # 1 loaded
        ["999900007", "", "01-09-2016", "2", "Geoorloofd", "Ziek", ""],  # 2 invalid_bsn
        ["000000000", "", "01-09-2016", "2", "Geoorloofd", "Ziek", ""],  # 3 reserved_bsn
        ["999999999", "", "01-09-2016", "2", "Geoorloofd", "Ziek", ""],  # 4 reserved_bsn
        ["", "100000005", "01-09-2016", "2", "Geoorloofd", "Ziek", ""],  # 5 invalid_onderwijsnummer
        ["99990000X", "", "01-09-2016", "2", "Geoorloofd", "Ziek", ""],  # 6 malformed_identifier
        ["", "", "01-09-2016", "2", "Geoorloofd", "Ziek", COMMENT],  # 7 missing_identifier
        ["999900006", "", "", "2", "Geoorloofd", "Ziek", ""],  # 8 missing_field
        ["999900006", "", "31-04-2017", "2", "Geoorloofd", "Ziek", ""],  # 9 invalid_date
        ["999900006", "", "01-09-2016", "twee", "Geoorloofd", "Ziek", ""],  # 10 invalid_number
        # 11 invalid_number (> 24 hours)
        ["999900006", "", "01-09-2016", "25", "Geoorloofd", "Ziek", ""],
        # 12 invalid_number (no hours)
        ["999900006", "", "01-09-2016", "0", "Geoorloofd", "Ziek", ""],
        ["999900006", "", "01-09-2016", "2", "Misschien", "Ziek", ""],  # 13 invalid_code
        good,  # 14 duplicate_row
        # 15 invalid_bsn: the first rule wins
        ["999900007", "", "31-04-2017", "x", "Misschien", "Ziek", ""],
        ["999900006", "", "01-09-2016", "3,5", "ONGEOORLOOFD", "Te laat", ""],  # 16 loaded
    ]
    result = read("school_absence", absence_file(tmp_path, rows))
    assert_contract(result, "school_absence")
    assert quarantined(result) == {
        "2": "invalid_bsn",
        "3": "reserved_bsn",
        "4": "reserved_bsn",
        "5": "invalid_onderwijsnummer",
        "6": "malformed_identifier",
        "7": "missing_identifier",
        "8": "missing_field",
        "9": "invalid_date",
        "10": "invalid_number",
        "11": "invalid_number",
        "12": "invalid_number",
        "13": "invalid_code",
        "14": "duplicate_row",
        "15": "invalid_bsn",
    }
    assert result.tables["school_absence"].row_locator.tolist() == ["1", "16"]
    assert result.tables["school_absence"].hours.tolist() == [2.0, 3.5]
    q = result.quarantine.set_index("row_locator")
    assert "column Datum: 31-04-2017 does not exist" in q.loc["9", "reason"]
    assert "column Uren: 25 is out of range" in q.loc["11", "reason"]
    assert q.loc["14", "reason"].endswith("same as row 1")
    # Identifier problems carry the keyed pseudonym of what was delivered, never the number.
    assert (
        q.loc["2", "pseudonym"] == pseudonym("bsn", "999900007")
        and q.loc["2", "key_version"] == "test"
    )
    assert q.loc["5", "pseudonym"] == pseudonym("onderwijsnummer", "100000005")
    assert pd.isna(q.loc["7", "pseudonym"])  # nothing delivered, nothing to pseudonymise
    # Other faults keep the pupil's pseudonym too, so a steward can tell whose record it was.
    assert (
        q.loc["9", "pseudonym"] == q.loc["14", "pseudonym"] == pseudonym("bsn", "999900006")
        and q.loc["9", "key_version"] == "test"
    )
    # (the standard text of reserved_bsn names the reserved values; what a reader adds must not)
    details = result.quarantine.assign(
        reason=[
            r.removeprefix(REASONS[c])
            for r, c in zip(result.quarantine.reason, result.quarantine.reason_code)
        ]
    )
    quarantine_text = details.astype(str).to_numpy().ravel().tolist()
    for number in ["999900007", "000000000", "999999999", "100000005", "99990000X", "999900006"]:
        assert not any(number in value for value in quarantine_text)


def test_every_enrolment_quarantine_reason(tmp_path: Path):
    pupils = pd.concat([PUPILS.iloc[[0]]] * 8, ignore_index=True).astype(object)
    pupils["bsn"] = [
        "999900006",
        "999900018",
        "999900031",
        "999900043",
        "999900055",
        "999900067",
        "999900079",
        "999900080",
    ]
    pupils.loc[1, "birth_date"] = "31-02-2010"  # invalid_date, the birth date itself never quoted
    pupils.loc[2, "sex"] = "X"  # invalid_code
    pupils.loc[3, "postcode"] = "ABCD EF"  # invalid_code
    pupils.loc[4, "enrol_end"] = T("2012-07-31")  # invalid_date: ends before it starts
    pupils.loc[5, "enrol_start"] = ""  # missing_field
    pupils.loc[6, "sex"] = "vrouw"  # loaded
    rows = enrolment_rows(pupils)
    rows.loc[7, "brin"] = "99WB"  # invalid_code: another school's pupil
    result = read(
        "school_enrolments",
        write(tmp_path, export_bytes("school_enrolments", rows, Dialect("semicolon_cp1252"))),
    )
    assert_contract(result, "school_enrolments")
    assert quarantined(result) == {
        "2": "invalid_date",
        "3": "invalid_code",
        "4": "invalid_code",
        "5": "invalid_date",
        "6": "missing_field",
        "8": "invalid_code",
    }
    q = result.quarantine.set_index("row_locator").reason
    assert "31-02-2010" not in q.loc["2"] and "Geboortedatum" in q.loc["2"]
    assert "ends before it starts" in q.loc["5"]
    assert "row is for school 99WB00, the file was delivered by school 99WA00" in q.loc["8"]
    assert result.tables["school_enrolments"].sex.tolist() == ["V", "V"]


def test_duplicate_rows_compare_every_delivered_field(tmp_path: Path):
    row = ["999900006", "", "01-09-2016", "2", "Geoorloofd", "Ziek", ""]
    rows = [
        row,
        ["999900018", "", "02-09-2016", "2", "Geoorloofd", "Ziek", ""],
        row,
        row[:6] + ["Andere opmerking"],
        row,
    ]
    result = read("school_absence", absence_file(tmp_path, rows))
    assert_contract(result, "school_absence")
    # row 4 differs in the dropped remark
    assert quarantined(result) == {"3": "duplicate_row", "5": "duplicate_row"}
    assert result.quarantine.reason.str.endswith("same as row 1").all()


def test_a_row_repeated_in_another_file_read_together_is_no_duplicate(tmp_path: Path):
    first = ["999900006", "", "01-09-2016", "2", "Geoorloofd", "Ziek", ""]
    second = ["999900018", "", "02-09-2016", "2", "Geoorloofd", "Ziek", ""]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    earlier = absence_file(tmp_path / "a", [first, second])
    later = absence_file(tmp_path / "b", [second, first])  # rows 1 and 2 of the earlier file
    results = read_many_absence(
        [(earlier, delivery("school_absence")), (later, delivery("school_absence"))],
        PSEUDONYMISER,
    )
    for parts in results:
        result = combine_parts(parts)
        assert result.quarantine.empty and len(result.tables["school_absence"]) == 2


def test_duplicates_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from pilotmonitor.ingest.readers import tabular

    monkeypatch.setattr(tabular, "CHUNK_ROWS", 2)
    rows = [["999900006", "", f"0{d}-09-2016", "2", "Geoorloofd", "Ziek", ""] for d in range(1, 6)]
    result = read(
        "school_absence",
        absence_file(tmp_path, [*rows, rows[0], rows[3], ["", "", "", "", "", "x", ""]]),
    )
    assert_contract(result, "school_absence")
    assert quarantined(result) == {
        "6": "duplicate_row",
        "7": "duplicate_row",
        "8": "missing_identifier",
    }
    assert result.quarantine.reason.tolist()[:2] == [
        "exact duplicate of an earlier row in the same delivery: same as row 1",
        "exact duplicate of an earlier row in the same delivery: same as row 4",
    ]


def test_absence_in_parts_per_chunk(tmp_path: Path):
    from pilotmonitor.ingest.readers.school_exports import iter_school_absence

    rows = [["999900006", "", f"0{d}-09-2016", "2", "Geoorloofd", "Ziek", ""] for d in range(1, 6)]
    path = absence_file(tmp_path, [*rows, rows[0], ["", "", "", "", "", "x", ""], rows[4]])
    parts = list(iter_school_absence(path, delivery("school_absence"), PSEUDONYMISER, chunk_rows=3))
    assert [p.rows_read for p in parts] == [3, 3, 2, 0]  # one part per chunk, then the notes
    for part in parts:
        part.check_accounting()
    assert [p.tables["school_absence"].row_locator.tolist() for p in parts] == [
        ["1", "2", "3"],
        ["4", "5"],
        [],
        [],
    ]
    assert [dict(zip(p.quarantine.row_locator, p.quarantine.reason_code)) for p in parts] == [
        {},
        {"6": "duplicate_row"},
        {"7": "missing_identifier", "8": "duplicate_row"},
        {},
    ]
    assert parts[2].quarantine.reason.iloc[1].endswith("same as row 5")
    assert parts[-1].notes[1] == "2 exact duplicate row(s) quarantined"
    whole = read_school_absence(path, delivery("school_absence"), PSEUDONYMISER)
    assert whole.rows_read == 8 and whole.tables["school_absence"].row_locator.tolist() == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    assert whole.notes == parts[-1].notes


def test_short_rows_and_blank_lines(tmp_path: Path):
    raw = (
        "BSN;Onderwijsnummer;Datum;Uren;Soort verzuim;Reden;Opmerking\r\n"
        "\r\n"
        "999900006;;01-09-2016;2;Geoorloofd;Ziek;\r\n"
        "999900006;;02-09-2016\r\n"
        ";;;;;;\r\n"
        "999900018;;03-09-2016;1;Geoorloofd;Ziek;\r\n"
        "\r\n"
    )
    result = read("school_absence", write(tmp_path, raw.encode("cp1252")))
    assert_contract(result, "school_absence")
    assert quarantined(result) == {"2": "missing_field"}
    assert "row has 3 of the 7 fields" in result.quarantine.reason.iloc[0]
    assert result.tables["school_absence"].row_locator.tolist() == ["1", "3"]


# --- whole-file problems -------------------------------------------------------------


def test_utf16_export_without_bom_is_refused(tmp_path: Path):
    frame = render(
        ExportFile(
            SCHOOL,
            "school_absence",
            2016,
            T("2017-08-10"),
            Dialect("semicolon_cp1252"),
            ABSENCE.assign(planted=None),
        )
    )
    # as pilotmonitor.synth.file_defects plants it
    path = write(tmp_path, frame.to_csv(sep=";", index=False).encode("utf-16-le"))
    with pytest.raises(DeliveryError) as info:
        read("school_absence", path)
    assert info.value.problem == UTF16_MESSAGE
    assert str(info.value).startswith("export.csv: ")


@pytest.mark.parametrize(
    ("source", "dropped", "named"),
    [
        ("school_absence", "Datum", "datum"),
        ("school_absence", "Soort verzuim", "soort_verzuim"),
        ("school_enrolments", "Geboortedatum", "geboortedatum"),
        ("school_enrolments", "BRIN", "brin"),
    ],
)
def test_missing_mandatory_column(tmp_path: Path, source: str, dropped: str, named: str):
    rows = enrolment_rows() if source == "school_enrolments" else ABSENCE.assign(planted=None)
    frame = render(
        ExportFile(SCHOOL, source, 2016, T("2017-08-10"), Dialect("semicolon_cp1252"), rows)
    ).drop(columns=dropped)
    with pytest.raises(DeliveryError) as info:
        read(source, write(tmp_path, Dialect("semicolon_cp1252").to_bytes(frame)))
    assert f"missing mandatory column(s): {named}" in info.value.problem
    assert "columns present:" in info.value.problem


def test_no_identifier_column_at_all(tmp_path: Path):
    frame = render(
        ExportFile(
            SCHOOL,
            "school_absence",
            2016,
            T("2017-08-10"),
            Dialect("comma_utf8"),
            ABSENCE.assign(planted=None),
        )
    ).drop(columns=["bsn", "onderwijsnummer"])
    with pytest.raises(DeliveryError, match="bsn or onderwijsnummer"):
        read("school_absence", write(tmp_path, Dialect("comma_utf8").to_bytes(frame)))


# --- properties ----------------------------------------------------------------------

FUZZ_DIR = Path(tempfile.mkdtemp(prefix="pm_reader_fuzz_"))
VALID = {
    (source, name): export_bytes(source, rows, dialect, extra={"Telefoon": PHONE})
    for source, rows in [
        ("school_enrolments", enrolment_rows()),
        ("school_absence", ABSENCE.assign(planted=None)),
    ]
    for dialect, name in zip(DIALECTS, DIALECT_IDS)
}
SOURCES = ["school_enrolments", "school_absence"]


MIXED = "mixes UTF-8 and Windows-1252"


def read_or_refuse(source: str, data: bytes, suffix: str = ".csv") -> ReadResult | DeliveryError:
    path = FUZZ_DIR / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        result = read(source, path)
    except DeliveryError as exc:
        assert exc.problem and "999900006" not in str(exc)
        return exc
    assert_contract(result, source)
    return result


@FUZZ
@given(source=st.sampled_from(SOURCES), data=st.binary(max_size=800))
def test_arbitrary_bytes_are_refused_or_read_with_exact_accounting(source: str, data: bytes):
    read_or_refuse(source, data)


@FUZZ
@given(key=st.sampled_from(sorted(VALID)), cut=st.floats(0, 1))
def test_truncated_export_is_refused_or_read_with_exact_accounting(
    key: tuple[str, str], cut: float
):
    data = VALID[key]
    read_or_refuse(key[0], data[: int(len(data) * cut)], ".xlsx" if key[1] == "xlsx" else ".csv")


FIELD_TEXT = st.text(
    alphabet=st.characters(
        codec="cp1252", exclude_categories=("Cc", "Cs"), exclude_characters=';,"'
    ),
    min_size=1,
    max_size=12,
)


@FUZZ
@given(
    data=st.data(),
    source=st.sampled_from(SOURCES),
    dialect_index=st.integers(0, len(DIALECTS) - 1),
    text=FIELD_TEXT,
)
def test_text_injected_into_one_field_is_quarantined_or_loaded(
    data, source: str, dialect_index: int, text: str
):
    dialect = DIALECTS[dialect_index]
    rows = enrolment_rows() if source == "school_enrolments" else ABSENCE.assign(planted=None)
    frame = render(ExportFile(SCHOOL, source, 2016, T("2017-08-10"), dialect, rows)).astype(object)
    row = data.draw(st.integers(0, len(frame) - 1))
    column = data.draw(st.integers(0, len(frame.columns) - 1))
    value = frame.iat[row, column]
    value = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    at = data.draw(st.integers(0, len(value)))
    frame.iat[row, column] = value[:at] + text + value[at:]
    result = read_or_refuse(source, dialect.to_bytes(frame), f".{dialect.extension}")
    if isinstance(result, DeliveryError):
        # Windows-1252 text that happens to form UTF-8 (e.g. "Â" + NBSP) next to plain
        # Windows-1252 letters reads as a file of mixed encodings: refused, by design.
        assert dialect.name == "semicolon_cp1252" and MIXED in result.problem
        return
    assert result.rows_read == len(frame)  # the structure survives: every row loaded or quarantined
    locators = set(result.quarantine.row_locator) | set(
        next(iter(result.tables.values())).row_locator
    )
    assert locators == {str(i + 1) for i in range(len(frame))}


@FUZZ
@given(
    key=st.sampled_from([k for k in sorted(VALID) if k[1] != "xlsx"]),
    at=st.floats(0.15, 1),
    junk=st.binary(min_size=1, max_size=6),
)
def test_random_bytes_injected_into_a_csv_export_never_crash(
    key: tuple[str, str], at: float, junk: bytes
):
    data = VALID[key]
    offset = int(len(data) * at)
    read_or_refuse(key[0], data[:offset] + junk + data[offset:])


def test_enrolment_kind_is_optional_and_checked(tmp_path: Path):
    """Without a 'Soort inschrijving' column every enrolment is a main one (null, read as
    main by the warehouse); a value that is neither hoofd- nor neveninschrijving fails."""
    dialect = Dialect("semicolon_cp1252")
    without = render(
        ExportFile(
            SCHOOL,
            "school_enrolments",
            2016,
            T("2017-08-10"),
            dialect,
            enrolment_rows().reset_index(drop=True),
        )
    ).drop(columns="Soort inschrijving")
    result = read("school_enrolments", write(tmp_path, dialect.to_bytes(without)))
    assert (
        result.tables["school_enrolments"].enrolment_kind.isna().all() and result.quarantine.empty
    )
    odd = enrolment_rows(
        PUPILS.assign(
            enrolment_kind=[
                "Hoofdinschrijving",
                "Gastleerling",
                "Hoofdinschrijving",
                "Hoofdinschrijving",
            ]
        )
    )
    result = read(
        "school_enrolments", write(tmp_path, export_bytes("school_enrolments", odd, dialect))
    )
    assert quarantined(result) == {"2": "invalid_code"}
    assert (
        "Soort inschrijving" in result.quarantine.reason.iloc[0]
        and "Gastleerling" not in result.quarantine.reason.iloc[0]
    )
