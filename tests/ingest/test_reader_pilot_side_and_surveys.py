"""Tests for the pilot-side readers (activity log, costs) and the survey reader.

Inputs are written the way the synthetic senders write them (pilotmonitor.synth.pilot_side
and pilotmonitor.synth.surveys): activity logs as semicolon Windows-1252 CSV or XLSX,
costs as semicolon CSV with decimal commas, surveys as comma UTF-8 CSV with a BOM.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilotmonitor.ingest.contracts import QUARANTINE_COLUMNS, RAW_TABLES, DeliveryError, ReadResult
from pilotmonitor.ingest.deliveries import Delivery
from pilotmonitor.ingest.pseudonymise import Pseudonymiser, PseudonymKey
from pilotmonitor.ingest.readers.pilot_side import read_pilot_activity, read_pilot_costs
from pilotmonitor.ingest.readers.surveys import read_survey_responses as read_survey_with
from pilotmonitor.synth.dialects import Dialect

PSEUDONYMISER = Pseudonymiser(
    PseudonymKey(
        "test", bytes.fromhex("8f3a9c1d5e7b2064f1c8a3e95d7b6c2049e1f3a7c5d8b2e6a0f4c9d1e7b3a5c8")
    )
)


def read_survey_responses(path: Path, delivery: Delivery) -> ReadResult:
    return read_survey_with(path, delivery, PSEUDONYMISER)


PILOT = "winschoten-sbo"
FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
WORKERS = ["Zoë Synthetisch-Werker", "René Synthetisch-Werker"]
NOTES = ["Huisbezoek bij familie Özdemir", "Overleg met wijkteam (tel. 06-12345678)"]
REMARKS = ["Mijn dochter Daniëlle gaat met plezier", "Juf Anneloes is geweldig"]
PERSONAL = [
    *WORKERS,
    *NOTES,
    *REMARKS,
    "Zoë",
    "René",
    "Özdemir",
    "06-12345678",
    "Daniëlle",
    "Anneloes",
]


def delivery(source: str, sender: str) -> Delivery:
    return Delivery(
        f"x/{sender}/{source}.csv", source, sender, "2024-2025", dt.date(2025, 8, 20), "0" * 64, 0
    )


def write(tmp_path: Path, data: bytes, suffix: str = ".csv") -> Path:
    path = tmp_path / f"delivery{suffix}"
    path.write_bytes(data)
    return path


def all_text(result: ReadResult) -> str:
    parts = list(result.notes)
    for frame in [*result.tables.values(), result.quarantine]:
        parts.extend(frame.astype(str).to_numpy().ravel().tolist())
    return "\n".join(parts)


def assert_contract(result: ReadResult, table: str) -> None:
    result.check_accounting()
    assert result.rows_read == len(result.tables[table]) + len(result.quarantine)
    assert list(result.tables[table].columns) == [*RAW_TABLES[table], "row_locator"]
    assert list(result.quarantine.columns) == list(QUARANTINE_COLUMNS)
    leaked = [p for p in PERSONAL if p in all_text(result)]
    assert not leaked, f"personal data in the read result: {leaked}"


def quarantined(result: ReadResult) -> dict[str, str]:
    return dict(zip(result.quarantine.row_locator, result.quarantine.reason_code))


# --- activity log --------------------------------------------------------------------


def activity_frame(n: int = 4) -> pd.DataFrame:
    months = ["2024-09", "2024-09", "2024-10", "2024-10", "2024-11", "2024-11"][:n]
    return pd.DataFrame(
        {
            "Maand": months,
            "BRIN": ["99WA", "99WB"] * (n // 2),
            "Vestiging": "00",
            "Medewerker": [WORKERS[i % 2] for i in range(n)],
            "Contacten leerlingen": [20 + i for i in range(n)],
            "Contacten ouders": [10 + i for i in range(n)],
            "Groepsbijeenkomsten": [2] * n,
            "Consultaties leerkrachten": [5] * n,
            "Overleg zorgaanbieders": [1] * n,
            "Opmerkingen": [NOTES[i % 2] for i in range(n)],
        }
    )


@pytest.mark.parametrize(
    "dialect",
    [Dialect("semicolon_cp1252"), Dialect("xlsx"), Dialect("comma_utf8", bom=True)],
    ids=["cp1252", "xlsx", "utf8_bom"],
)
def test_activity_log(tmp_path: Path, dialect: Dialect):
    result = read_pilot_activity(
        write(tmp_path, dialect.to_bytes(activity_frame()), f".{dialect.extension}"),
        delivery("pilot_activity", PILOT),
    )
    assert_contract(result, "pilot_activity")
    out = result.tables["pilot_activity"]
    assert result.quarantine.empty
    assert set(out.pilot_id) == {PILOT}
    assert out.month.tolist() == [pd.Timestamp("2024-09-01")] * 2 + [pd.Timestamp("2024-10-01")] * 2
    assert out.school_id.tolist() == ["99WA00", "99WB00", "99WA00", "99WB00"]
    assert (
        out.contacts_pupils.tolist() == [20, 21, 22, 23]
        and out.consultations_providers.tolist() == [1] * 4
    )
    assert "medewerker" in result.notes[0] and "opmerkingen" in result.notes[0]


def test_activity_month_as_excel_date_cell_and_other_spellings(tmp_path: Path):
    frame = activity_frame().astype(object)
    frame["Maand"] = [dt.datetime(2024, 9, 1), "09-2024", "2024-10-01", "2024-10"]
    result = read_pilot_activity(
        write(tmp_path, Dialect("xlsx").to_bytes(frame), ".xlsx"), delivery("pilot_activity", PILOT)
    )
    assert_contract(result, "pilot_activity")
    assert result.tables["pilot_activity"].month.dt.strftime("%Y-%m-%d").tolist() == [
        "2024-09-01",
        "2024-09-01",
        "2024-10-01",
        "2024-10-01",
    ]


def test_activity_quarantine(tmp_path: Path):
    frame = activity_frame(6).astype(object)
    frame.loc[0, "Maand"] = "2024-13"  # invalid_date
    frame.loc[1, "Contacten ouders"] = "-3"  # invalid_number
    frame.loc[2, "Groepsbijeenkomsten"] = "twee"  # invalid_number
    frame.loc[3, "BRIN"] = "9WA"  # invalid_code
    frame.loc[4, "Overleg zorgaanbieders"] = ""  # missing_field
    frame = pd.concat([frame, frame.iloc[[5]]], ignore_index=True)  # duplicate_row
    result = read_pilot_activity(
        write(tmp_path, Dialect("semicolon_cp1252").to_bytes(frame)),
        delivery("pilot_activity", PILOT),
    )
    assert_contract(result, "pilot_activity")
    assert quarantined(result) == {
        "1": "invalid_date",
        "2": "invalid_number",
        "3": "invalid_number",
        "4": "invalid_code",
        "5": "missing_field",
        "7": "duplicate_row",
    }
    assert "column Maand: 2024-13 is not a month" in result.quarantine.reason.iloc[0]
    assert (
        "column Contacten ouders: -3 is out of range (must be at least 0)"
        in result.quarantine.reason.iloc[1]
    )


def test_activity_missing_column(tmp_path: Path):
    frame = activity_frame().drop(columns="Groepsbijeenkomsten")
    with pytest.raises(DeliveryError, match="missing mandatory column\\(s\\): groepsbijeenkomsten"):
        read_pilot_activity(
            write(tmp_path, Dialect("semicolon_cp1252").to_bytes(frame)),
            delivery("pilot_activity", PILOT),
        )


# --- costs ---------------------------------------------------------------------------


def costs_bytes(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    # as pilotmonitor.synth.pilot_side writes it
    pd.DataFrame(rows).to_csv(buffer, sep=";", decimal=",", index=False)
    return buffer.getvalue().encode("utf-8")


COSTS = [
    {
        "jaar": 2024,
        "fte": 1.5,
        "kosten_per_fte": 80705.72,
        "overige_kosten": 14327.14,
        "totaal": 135385.72,
    },
    {
        "jaar": 2025,
        "fte": 1.5,
        "kosten_per_fte": 83695.51,
        "overige_kosten": 7642.44,
        "totaal": 133185.7,
    },
]


def test_costs_with_decimal_commas(tmp_path: Path):
    result = read_pilot_costs(write(tmp_path, costs_bytes(COSTS)), delivery("pilot_costs", PILOT))
    assert_contract(result, "pilot_costs")
    out = result.tables["pilot_costs"]
    assert out.year.tolist() == [2024, 2025] and out.fte.tolist() == [1.5, 1.5]
    assert out.cost_per_fte_eur.tolist() == [80705.72, 83695.51] and out.total_eur.tolist() == [
        135385.72,
        133185.7,
    ]
    assert set(out.pilot_id) == {PILOT}


def test_costs_total_must_add_up(tmp_path: Path):
    rows = [
        COSTS[0],
        {**COSTS[1], "totaal": 133186.2},
        {**COSTS[1], "jaar": 2026, "totaal": 140000.0},
        {**COSTS[1], "jaar": "2027", "fte": "anderhalf"},
    ]
    result = read_pilot_costs(write(tmp_path, costs_bytes(rows)), delivery("pilot_costs", PILOT))
    assert_contract(result, "pilot_costs")
    # row 2 is within one euro
    assert quarantined(result) == {"3": "invalid_number", "4": "invalid_number"}
    assert (
        "column totaal: 140000.00 differs from fte x kosten_per_fte + overige_kosten = "
        "133185.70 by +6814.30"
    ) in result.quarantine.reason.iloc[0]


def test_costs_with_thousands_separators_and_points(tmp_path: Path):
    raw = (
        "Jaar;FTE;Kosten per FTE;Overige kosten;Totaal\r\n"
        "2024;1.5;80.705,72;14.327,14;135.385,72\r\n"
    ).encode("cp1252")
    result = read_pilot_costs(write(tmp_path, raw), delivery("pilot_costs", PILOT))
    assert_contract(result, "pilot_costs")
    assert result.tables["pilot_costs"].total_eur.tolist() == [135385.72]


# --- surveys -------------------------------------------------------------------------


def survey_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "respondent": ["R2025OU00000", "R2025OU00001", "R2025OU00002"],
            "brin": ["99WA", "99WB", "99WA"],
            "vestiging": ["00", "00", "00"],
            "afnamedatum": ["2025-03-17", "2025-03-20", "2025-04-02"],
            **{f"sfeer_{i}": [3, 4, 5] for i in range(1, 6)},
            "tevredenheid": [7, 8, 10],
            "toelichting": [REMARKS[0], "", REMARKS[1]],
        }
    )


@pytest.mark.parametrize(
    "dialect",
    [
        Dialect("comma_utf8", bom=True),
        Dialect("comma_utf8"),
        Dialect("semicolon_cp1252"),
        Dialect("xlsx"),
    ],
    ids=["utf8_bom", "utf8", "cp1252", "xlsx"],
)
def test_survey_responses(tmp_path: Path, dialect: Dialect):
    result = read_survey_responses(
        write(tmp_path, dialect.to_bytes(survey_frame()), f".{dialect.extension}"),
        delivery("survey_responses", "ouders"),
    )
    assert_contract(result, "survey_responses")
    out = result.tables["survey_responses"]
    assert result.quarantine.empty
    assert set(out.respondent_group) == {"ouders"}
    # The tool's respondent numbers are kept only as keyed reference pseudonyms.
    assert out.respondent_id.tolist() == [
        PSEUDONYMISER.reference(r) for r in ["R2025OU00000", "R2025OU00001", "R2025OU00002"]
    ]
    assert not any("R2025" in value for value in out.respondent_id)
    assert out.school_id.tolist() == ["99WA00", "99WB00", "99WA00"]
    assert out.response_date.tolist() == [
        pd.Timestamp("2025-03-17"),
        pd.Timestamp("2025-03-20"),
        pd.Timestamp("2025-04-02"),
    ]
    assert out.climate_3.tolist() == [3, 4, 5] and out.satisfaction.tolist() == [7, 8, 10]


def test_survey_quarantine_and_unanswered_items(tmp_path: Path):
    frame = pd.concat([survey_frame()] * 3, ignore_index=True).astype(object)
    frame["respondent"] = [f"R{i}" for i in range(len(frame))]
    frame.loc[0, "sfeer_2"] = 6  # invalid_code (outside 1-5)
    frame.loc[1, "sfeer_5"] = 0  # invalid_code
    frame.loc[2, "tevredenheid"] = 11  # invalid_code (outside 1-10)
    frame.loc[3, "afnamedatum"] = "2025-02-30"  # invalid_date
    frame.loc[4, "sfeer_1"] = "drie"  # invalid_number
    frame.loc[5, "respondent"] = ""  # missing_field
    frame.loc[6, "sfeer_4"] = ""  # unanswered: loaded as NULL
    frame.loc[7, "sfeer_1"] = 7  # invalid_number wins over invalid_code on another item
    frame.loc[7, "sfeer_3"] = "?"
    result = read_survey_responses(
        write(tmp_path, Dialect("comma_utf8", bom=True).to_bytes(frame)),
        delivery("survey_responses", "leerlingen"),
    )
    assert_contract(result, "survey_responses")
    assert quarantined(result) == {
        "1": "invalid_code",
        "2": "invalid_code",
        "3": "invalid_code",
        "4": "invalid_date",
        "5": "invalid_number",
        "6": "missing_field",
        "8": "invalid_number",
    }
    out = result.tables["survey_responses"].set_index("row_locator")
    assert pd.isna(out.loc["7", "climate_4"]) and out.loc["7", "climate_1"] == 3
    assert (
        "column sfeer_2: 6 is out of range (must be at least 1 and at most 5)"
        in result.quarantine.reason.iloc[0]
    )


# --- properties ----------------------------------------------------------------------

FUZZ_DIR = Path(tempfile.mkdtemp(prefix="pm_pilot_fuzz_"))
READERS = {
    "pilot_activity": (
        read_pilot_activity,
        PILOT,
        Dialect("semicolon_cp1252").to_bytes(activity_frame(6)),
    ),
    "pilot_costs": (read_pilot_costs, PILOT, costs_bytes(COSTS)),
    "survey_responses": (
        read_survey_responses,
        "ouders",
        Dialect("comma_utf8", bom=True).to_bytes(survey_frame()),
    ),
}


def read_or_refuse(source: str, data: bytes, suffix: str = ".csv") -> ReadResult | DeliveryError:
    reader, sender, _ = READERS[source]
    path = FUZZ_DIR / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        result = reader(path, delivery(source, sender))
    except DeliveryError as exc:
        assert exc.problem
        return exc
    assert_contract(result, source)
    return result


@FUZZ
@given(source=st.sampled_from(sorted(READERS)), data=st.binary(max_size=600))
def test_arbitrary_bytes_are_refused_or_read_with_exact_accounting(source: str, data: bytes):
    read_or_refuse(source, data)


@FUZZ
@given(source=st.sampled_from(sorted(READERS)), cut=st.floats(0, 1))
def test_truncated_delivery_is_refused_or_read_with_exact_accounting(source: str, cut: float):
    data = READERS[source][2]
    read_or_refuse(source, data[: int(len(data) * cut)])


@FUZZ
@given(
    source=st.sampled_from(sorted(READERS)),
    data=st.data(),
    text=st.text(
        alphabet=st.characters(
            codec="cp1252", exclude_categories=("Cc", "Cs"), exclude_characters=';,"'
        ),
        min_size=1,
        max_size=10,
    ),
)
def test_text_injected_into_one_field_is_quarantined_or_loaded(source: str, data, text: str):
    raw = READERS[source][2]
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252"
    lines = raw.decode(encoding).splitlines(keepends=True)
    delimiter = ";" if ";" in lines[0] else ","
    row = data.draw(st.integers(1, len(lines) - 1))
    fields = lines[row].rstrip("\r\n").split(delimiter)
    column = data.draw(st.integers(0, len(fields) - 1))
    at = data.draw(st.integers(0, len(fields[column])))
    fields[column] = fields[column][:at] + text + fields[column][at:]
    lines[row] = delimiter.join(fields) + lines[row][len(lines[row].rstrip("\r\n")) :]
    result = read_or_refuse(source, "".join(lines).encode(encoding))
    if isinstance(result, DeliveryError):
        # Windows-1252 text forming UTF-8 by accident (e.g. "Â" + NBSP) beside plain
        # Windows-1252 letters reads as a file of mixed encodings: refused, by design.
        assert encoding == "cp1252" and "mixes UTF-8 and Windows-1252" in result.problem
        return
    assert result.rows_read == len(lines) - 1


def test_bad_header_in_any_reader_names_the_problem(tmp_path: Path):
    path = write(tmp_path, b"foo;bar\r\n1;2\r\n")
    for source, (reader, sender, _) in READERS.items():
        with pytest.raises(DeliveryError, match="does not look like the header"):
            reader(path, delivery(source, sender))


def test_empty_delivery_with_header_only(tmp_path: Path):
    result = read_survey_responses(
        write(tmp_path, survey_frame().iloc[:0].to_csv(index=False).encode()),
        delivery("survey_responses", "leerkrachten"),
    )
    assert (
        result.rows_read == 0
        and result.tables["survey_responses"].empty
        and result.quarantine.empty
    )
    assert np.array_equal(
        result.tables["survey_responses"].columns, [*RAW_TABLES["survey_responses"], "row_locator"]
    )
