"""Tests for the shared decoding of messy tabular exports (pilotmonitor.ingest.readers.tabular)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilotmonitor.ingest.contracts import DeliveryError
from pilotmonitor.ingest.readers.tabular import (
    decode_text,
    normalise_header,
    parse_dates,
    parse_decimal,
    parse_int,
    read_table,
    require_columns,
)
from pilotmonitor.synth.dialects import Dialect

UTF16_MESSAGE = (
    "contains NUL bytes: looks like UTF-16 without byte-order mark; re-export as UTF-8 or "
    "Windows-1252"
)
FUZZ = settings(
    max_examples=80,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _xlsx(rows: list[list[object]], extra_sheet: bool = False) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    if extra_sheet:
        book.create_sheet("Tweede").append(["not", "read"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- decode_text ---------------------------------------------------------------------


def test_decode_utf8_with_bom_drops_the_bom():
    assert (
        decode_text("\ufeffNaam;Reden\r\nZoë;Ziek\r\n".encode("utf-8"), "f.csv")
        == "Naam;Reden\r\nZoë;Ziek\r\n"
    )


def test_decode_strict_utf8_and_windows_1252():
    text = "Reden\nGeëxcuseerd – “lang” verzuim €\n"
    assert decode_text(text.encode("utf-8"), "f.csv") == text
    assert decode_text(text.encode("cp1252"), "f.csv") == text


def test_utf16_without_bom_is_refused_with_a_specific_message():
    raw = "BSN;Datum\r\n999900006;01-09-2016\r\n".encode("utf-16-le")
    with pytest.raises(DeliveryError) as info:
        decode_text(raw, "f.csv")
    assert info.value.problem == UTF16_MESSAGE
    with pytest.raises(DeliveryError, match="UTF-16 without byte-order mark"):
        decode_text("BSN;Datum\r\n".encode("utf-16-be"), "f.csv")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("BSN;Datum\n".encode("utf-16"), "UTF-16 byte-order mark"),
        ("BSN;Datum\n".encode("utf-32"), "UTF-32"),
        (b"Reden\n\x81\n", "undefined in Windows-1252"),
        (b"Reden\nZiek \x9d\n", "undefined in Windows-1252"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL bytes: looks like a binary file"),
        (b"PK\x03\x04\x14\x00", "ZIP archive"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "old binary Excel"),
        (bytes(range(1, 32)) * 20, "control bytes"),
        ("a;b\nZoë;".encode() + b"\xeb\n", "mixes UTF-8 and Windows-1252"),
        ("a;b\nZoë;Zo".encode() + "ë".encode()[:1], "ends in the middle of a UTF-8 character"),
        (b"\xef\xbb\xbfa;b\n\xeb\n", "byte-order mark but is not valid UTF-8"),
    ],
)
def test_decode_refuses_what_is_no_text_export(raw: bytes, fragment: str):
    with pytest.raises(DeliveryError, match=fragment):
        decode_text(raw, "f.csv")


def test_windows_1252_letter_at_the_very_end_is_not_mistaken_for_truncated_utf8():
    assert decode_text("Reden\ncafé".encode("cp1252"), "f.csv") == "Reden\ncafé"


def test_windows_1252_that_forms_foreign_utf8_by_accident_stays_windows_1252():
    text = (
        "Naam;Reden\nZoë\xa0\xa0;Geëxcuseerd\n"  # "ë" + two NBSP is valid UTF-8 (a Hangul syllable)
    )
    assert decode_text(text.encode("cp1252"), "f.csv") == text


@FUZZ
@given(st.binary(max_size=400))
def test_decode_text_on_arbitrary_bytes_returns_text_or_refuses(raw: bytes):
    try:
        assert isinstance(decode_text(raw, "f.csv"), str)
    except DeliveryError as exc:
        assert exc.problem


# --- read_table: CSV -----------------------------------------------------------------


def test_semicolon_windows_1252_crlf_with_capitalised_headers(tmp_path: Path):
    frame = pd.DataFrame(
        {
            "BSN": ["999900006"],
            "Datum": ["01-09-2016"],
            "Uren": ["5,5"],
            "Soort verzuim": ["Geoorloofd"],
            "Reden": ["Geëxcuseerd"],
            "Opmerking": ["Moeder Zoë belde af"],
        }
    )
    path = _write(tmp_path, "f.csv", Dialect("semicolon_cp1252").to_bytes(frame))
    table, info = read_table(path)
    assert list(table.columns) == ["bsn", "datum", "uren", "soort_verzuim", "reden", "opmerking"]
    assert table.iloc[0].tolist() == [
        "999900006",
        "01-09-2016",
        "5,5",
        "Geoorloofd",
        "Geëxcuseerd",
        "Moeder Zoë belde af",
    ]
    assert (
        info["encoding"] == "windows-1252" and info["delimiter"] == ";" and info["format"] == "csv"
    )


@pytest.mark.parametrize("bom", [False, True])
def test_comma_utf8_with_and_without_bom(tmp_path: Path, bom: bool):
    frame = pd.DataFrame(
        {
            "soort_verzuim": ["Ongeoorloofd"],
            "bsn": ["999900006"],
            "datum": ["2016-09-01"],
            "reden": ["Te laat"],
        }
    )
    table, info = read_table(
        _write(tmp_path, "f.csv", Dialect("comma_utf8", bom=bom).to_bytes(frame))
    )
    # no BOM left in the first header
    assert list(table.columns) == ["soort_verzuim", "bsn", "datum", "reden"]
    assert info["encoding"] == ("utf-8-sig" if bom else "utf-8") and info["delimiter"] == ","


def test_tab_delimiter_is_sniffed(tmp_path: Path):
    table, info = read_table(_write(tmp_path, "f.csv", b"BSN\tDatum\n999900006\t01-09-2016\n"))
    assert info["delimiter"] == "\t" and table.iloc[0].tolist() == ["999900006", "01-09-2016"]


@pytest.mark.parametrize(
    "header",
    [
        "Soort verzuim",
        "  SOORT  VERZUIM ",
        "soort_verzuim",
        "Soort-Verzuim",
        "soort__verzuim",
        "\ufeffSoort verzuim",
        "Soort\u00a0verzuim",
    ],
)
def test_header_normalisation(header: str):
    assert normalise_header(header) == "soort_verzuim"


def test_blank_lines_separator_lines_and_quoting(tmp_path: Path):
    raw = (
        b"\r\n"
        b"BSN;Reden;Opmerking\r\n"
        b'999900006;"Ziek; koorts";"regel 1\r\n'
        b'regel 2"\r\n'
        b"\r\n"
        b'999900018;"Te ""laat""";\r\n'
        b";;\r\n"
        b"\r\n"
    )
    table, _ = read_table(_write(tmp_path, "f.csv", raw))
    assert len(table) == 2
    assert table.reden.tolist() == ["Ziek; koorts", 'Te "laat"']
    assert table.opmerking.iloc[0] == "regel 1\r\nregel 2"


def test_short_rows_are_reported_as_absent_fields(tmp_path: Path):
    table, _ = read_table(_write(tmp_path, "f.csv", b"a;b;c\n1;2;3\n4;5\n"))
    assert table.iloc[1].tolist() == ["4", "5", None]


def test_a_row_with_more_fields_than_the_header_makes_the_file_unreadable(tmp_path: Path):
    with pytest.raises(DeliveryError, match="data row 2 has 4 fields but the header has 3"):
        read_table(_write(tmp_path, "f.csv", b"a;b;c\n1;2;3\n4;5;6;7\n"))


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "empty"),
        (b"\r\n \r\n;;;\r\n", "empty"),
        (b'a;b\n1;"open\n', "cannot be parsed as CSV"),
    ],
)
def test_unreadable_structure(tmp_path: Path, raw: bytes, fragment: str):
    with pytest.raises(DeliveryError, match=fragment):
        read_table(_write(tmp_path, "f.csv", raw))


def test_header_only_gives_an_empty_frame(tmp_path: Path):
    table, _ = read_table(_write(tmp_path, "f.csv", b"BSN;Datum\r\n"))
    assert table.empty and list(table.columns) == ["bsn", "datum"]


def test_duplicate_and_empty_header_names_stay_distinct(tmp_path: Path):
    table, info = read_table(_write(tmp_path, "f.csv", b"BSN;bsn;;Datum\n1;2;3;4\n"))
    assert list(table.columns) == ["bsn", "bsn__2", "column_3", "datum"]
    assert info["duplicate_columns"] == ["bsn"]


# --- read_table: XLSX ----------------------------------------------------------------


def test_xlsx_keeps_date_cells_and_turns_other_cells_into_strings(tmp_path: Path):
    raw = _xlsx(
        [
            ["BSN", "Datum", "Uren", "Vestiging", "Reden"],
            [999900006, dt.datetime(2016, 9, 1), 5.5, 0, "Ziek"],
            [12345672, dt.date(2016, 9, 2), 2.0, None, None],
            [],
            [None, None],
        ],
        extra_sheet=True,
    )
    table, info = read_table(_write(tmp_path, "f.xlsx", raw))
    assert len(table) == 2
    assert table.iloc[0].tolist() == ["999900006", dt.datetime(2016, 9, 1), "5.5", "0", "Ziek"]
    assert table.iloc[1].tolist() == ["12345672", dt.datetime(2016, 9, 2), "2", "", ""]
    assert info["format"] == "xlsx" and info["sheets"] == 2


def test_xlsx_error_cells_stay_visible_as_text(tmp_path: Path):
    """#N/A and the like are values the checks must reject, not blanks (the fast reader
    reads them as blanks, so such workbooks take the other one); a row of error cells
    only is a row, not a blank line."""
    raw = _xlsx([["BSN", "Uren"], [999900006, "#N/A"], ["#REF!", "#DIV/0!"], [12345672, 2]])
    table, _ = read_table(_write(tmp_path, "f.xlsx", raw))
    assert table.values.tolist() == [["999900006", "#N/A"], ["#REF!", "#DIV/0!"], ["12345672", "2"]]


def test_synthetic_xlsx_dialect(tmp_path: Path):
    frame = pd.DataFrame({"BSN": ["999900006"], "Datum": [dt.datetime(2016, 9, 1)], "Uren": [5.5]})
    table, _ = read_table(_write(tmp_path, "f.xlsx", Dialect("xlsx").to_bytes(frame)))
    assert table.iloc[0].tolist() == ["999900006", dt.datetime(2016, 9, 1), "5.5"]


def test_content_decides_the_format_not_the_extension(tmp_path: Path):
    table, info = read_table(_write(tmp_path, "f.csv", _xlsx([["BSN"], ["999900006"]])))
    assert (
        info["format"] == "xlsx"
        and "extension_mismatch" in info
        and table.bsn.tolist() == ["999900006"]
    )


def test_zip_that_is_not_a_workbook(tmp_path: Path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(DeliveryError, match="not an Excel workbook"):
        read_table(_write(tmp_path, "f.xlsx", buffer.getvalue()))


def test_empty_workbook(tmp_path: Path):
    with pytest.raises(DeliveryError, match="no header row"):
        read_table(_write(tmp_path, "f.xlsx", _xlsx([])))


# --- parsers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("01-09-2016", "2016-09-01"),
        ("1-9-2016", "2016-09-01"),
        (" 2016-09-01 ", "2016-09-01"),
        ("2016-09-01 00:00:00", "2016-09-01"),
        ("29-02-2024", "2024-02-29"),
        (dt.datetime(2016, 9, 1), "2016-09-01"),
        (dt.date(2016, 9, 1), "2016-09-01"),
        ("31-04-2023", None),
        ("29-02-2023", None),
        ("2016-13-01", None),
        ("00-01-2016", None),
        ("01/09/2016", None),
        ("01-09-16", None),
        ("01-09-0216", None),
        ("2016-09-01 10:30:00", None),
        (dt.datetime(2016, 9, 1, 10, 30), None),
        ("morgen", None),
        ("01-09-２０１６", None),  # full-width digits are no digits here
    ],
)
def test_parse_dates_is_strict(value: object, expected: str | None):
    values, bad = parse_dates(pd.Series([value], dtype=object))
    if expected is None:
        assert bad.iloc[0] and pd.isna(values.iloc[0])
    else:
        assert not bad.iloc[0] and values.iloc[0] == pd.Timestamp(expected)


def test_parse_dates_empty_is_missing_not_bad():
    values, bad = parse_dates(pd.Series(["", None, "  "], dtype=object))
    assert values.isna().all() and not bad.any()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5,5", 5.5),
        ("5.5", 5.5),
        ("5", 5.0),
        (" 5 ", 5.0),
        ("-2", -2.0),
        ("+0,25", 0.25),
        ("1.234,56", 1234.56),
        ("1,234.56", 1234.56),
        ("80705,72", 80705.72),
        ("abc", None),
        ("5,5,5", None),
        ("1e5", None),
        ("inf", None),
        ("nan", None),
        ("5 5", None),
        ("1.23.4", None),
        ("€ 5", None),
        ("٣", None),
        ("５", None),
    ],
)
def test_parse_decimal(value: str, expected: float | None):
    values, bad = parse_decimal(pd.Series([value], dtype=object))
    if expected is None:
        assert bad.iloc[0] and np.isnan(values.iloc[0])
    else:
        assert not bad.iloc[0] and values.iloc[0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5),
        ("+5", 5),
        ("-5", -5),
        ("5,0", 5),
        ("007", 7),
        ("5.5", None),
        ("", "missing"),
        ("x", None),
    ],
)
def test_parse_int(value: str, expected):
    values, bad = parse_int(pd.Series([value], dtype=object))
    if expected is None:
        assert bad.iloc[0] and pd.isna(values.iloc[0])
    elif expected == "missing":
        assert not bad.iloc[0] and pd.isna(values.iloc[0])
    else:
        assert not bad.iloc[0] and values.iloc[0] == expected
    assert str(values.dtype) == "Int64"


def test_parsers_handle_date_cells_where_numbers_belong():
    _, bad = parse_decimal(pd.Series([dt.datetime(2016, 9, 1), "2"], dtype=object))
    assert bad.tolist() == [True, False]


# --- column resolution ---------------------------------------------------------------

ALIASES = {"absence_date": ["datum", "verzuimdatum"], "hours": ["uren"]}


def test_require_columns_renames_and_ignores_unknown_columns():
    frame = pd.DataFrame(
        {
            "opmerking": ["Moeder belde"],
            "verzuimdatum": ["01-09-2016"],
            "uren": ["2"],
            "achternaam": ["Jansen"],
        }
    )
    info: dict = {}
    out = require_columns(frame, ALIASES, "f.csv", optional={"reason": ["reden"]}, info=info)
    assert list(out.columns) == ["absence_date", "hours", "reason"]
    assert out.reason.tolist() == [""]
    assert info["ignored_columns"] == ["opmerking", "achternaam"]
    assert "Jansen" not in out.to_string() and "Moeder" not in out.to_string()


def test_missing_mandatory_column_names_missing_and_present_columns():
    frame = pd.DataFrame({"bsn": ["1"], "uren": ["2"], "reden": ["Ziek"]})
    with pytest.raises(DeliveryError) as info:
        require_columns(frame, ALIASES, "f.csv")
    assert "missing mandatory column(s): datum" in info.value.problem
    assert "columns present: bsn, uren, reden" in info.value.problem


def test_a_headerless_file_is_not_echoed_in_the_error():
    frame = pd.DataFrame(columns=["999900006", "jansen", "01-09-2016"])
    with pytest.raises(DeliveryError) as info:
        require_columns(frame, ALIASES, "f.csv")
    assert "does not look like the header" in info.value.problem
    assert "jansen" not in info.value.problem and "999900006" not in info.value.problem


def test_one_of_group_and_ambiguous_columns():
    frame = pd.DataFrame(columns=["datum", "uren"])
    with pytest.raises(DeliveryError, match="bsn or onderwijsnummer"):
        require_columns(
            frame,
            ALIASES,
            "f.csv",
            optional={"bsn": ["bsn"], "ond": ["onderwijsnummer"]},
            one_of=[("bsn", "ond")],
        )
    with pytest.raises(DeliveryError, match="ambiguous"):
        require_columns(pd.DataFrame(columns=["datum", "verzuimdatum", "uren"]), ALIASES, "f.csv")


# --- robustness ----------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=600), xlsx=st.booleans())
def test_read_table_on_arbitrary_bytes_never_raises_anything_else(
    tmp_path: Path, data: bytes, xlsx: bool
):
    path = _write(
        tmp_path, "fuzz.xlsx" if xlsx else "fuzz.csv", (b"PK\x03\x04" + data) if xlsx else data
    )
    try:
        frame, info = read_table(path)
    except DeliveryError as exc:
        assert exc.problem
    else:
        assert isinstance(frame, pd.DataFrame) and info["format"] in {"csv", "xlsx"}


TEXTISH = st.text(alphabet=st.sampled_from(list('ab1;,\t"\r\n é€-')), max_size=300)


@FUZZ
@given(text=TEXTISH, encoding=st.sampled_from(["utf-8", "cp1252", "utf-8-sig"]))
def test_read_table_on_arbitrary_csv_like_text(tmp_path: Path, text: str, encoding: str):
    path = _write(tmp_path, "fuzz.csv", text.encode(encoding))
    try:
        frame, _ = read_table(path)
    except DeliveryError:
        return
    width = len(frame.columns)
    assert all(len(row) == width for row in frame.itertuples(index=False))


# --- the pyarrow path for larger CSV files -------------------------------------------------

# Hand-written files for both CSV paths: regular ones the pyarrow path reads, and every
# irregular use of quotes, short and long rows, which must reach csv.reader's rules.
BOTH_PATHS = {
    "crlf and blank lines": (b"a;b\r\n1;2\r\n\r\n3;4\r\n", True),
    "old Mac line ends": (b"a;b\r1;2\r\r3;4\r", True),
    "separator-only and blank-field rows": (b"a;b\n1;2\n ; \n;\n3;4\n", True),
    "quoted separator and line break": (b'a;b\n"1;x";2\n"y\r\nz";3\n', True),
    "quoted header": (b'"a";"b"\n"1";"2"\n', True),
    "doubled quote": (b'a,b\n"Te ""laat""",2\n', True),
    "quoted empty and blank fields": (b'a;b\n"";""\n" ";" "\n3;4\n', True),
    "short row": (b"a;b\n1\n3;4\n", False),
    "long row": (b"a;b\n1;2;3\n", False),
    "text after a closing quote": (b'a;b\n"1"x;2\n', False),
    "space after a closing quote": (b'a;b\n"1" ;2\n', False),
    "quote inside a value": (b'a;b\n1"x;2\n', False),
    "unterminated quote": (b'a;b\n"1;2\n3;4\n', False),
    "row of one quoted empty field": (b'a;b\n1;2\n""\n3;4\n', False),
}


def _read_both_ways(path: Path, monkeypatch) -> tuple[list, list]:
    import pilotmonitor.ingest.readers.tabular as tabular

    outcomes = []
    for threshold in (0, 10**12):  # every file by pyarrow first, then none
        monkeypatch.setattr(tabular, "_ARROW_MIN_CHARS", threshold)
        try:
            frame, info = read_table(path)
            outcomes.append(("read", frame.to_dict("list"), info))
        except DeliveryError as exc:
            outcomes.append(("refused", str(exc)))
    return outcomes


@pytest.mark.parametrize("case", BOTH_PATHS)
def test_the_pyarrow_path_reads_exactly_as_csv_reader(tmp_path: Path, monkeypatch, case: str):
    import pilotmonitor.ingest.readers.tabular as tabular

    raw, by_pyarrow = BOTH_PATHS[case]
    calls: list[bool] = []
    split = tabular._split_rows
    monkeypatch.setattr(
        tabular, "_split_rows", lambda *a: calls.append(out := split(*a)) or out, raising=True
    )
    by_arrow, by_csv_reader = _read_both_ways(_write(tmp_path, "f.csv", raw), monkeypatch)
    assert by_arrow == by_csv_reader
    assert any(c is not None for c in calls) == by_pyarrow


@FUZZ
@given(text=TEXTISH, encoding=st.sampled_from(["utf-8", "cp1252", "utf-8-sig"]))
def test_the_pyarrow_path_agrees_on_arbitrary_csv_like_text(
    tmp_path: Path, monkeypatch, text: str, encoding: str
):
    by_arrow, by_csv_reader = _read_both_ways(
        _write(tmp_path, "fuzz.csv", text.encode(encoding)), monkeypatch
    )
    assert by_arrow == by_csv_reader


def test_xlsx_booleans_and_numbers_in_one_column_keep_their_own_text(tmp_path: Path):
    """Cells are converted per distinct value, and True == 1 == 1.0 for Python."""
    raw = _xlsx([["Geoorloofd", "Uren"], [True, 1], [1, 1.0], [1.0, True], [False, 0]])
    table, _ = read_table(_write(tmp_path, "f.xlsx", raw))
    assert table.values.tolist() == [["TRUE", "1"], ["1", "1"], ["1", "TRUE"], ["FALSE", "0"]]


def test_xlsx_cells_per_value_and_cell_by_cell_agree(tmp_path: Path, monkeypatch):
    """Large sheets are converted per distinct value, small ones cell by cell: the same
    table and notes either way (blank rows, values right of the header, dates, numbers,
    booleans among numbers, empty cells)."""
    import pilotmonitor.ingest.readers.tabular as tabular

    rows = [["BSN", "Datum", "Uren", "Geoorloofd"]]
    for i in range(30):
        rows.append([999900006 + i % 3, dt.date(2016, 9, 1 + i % 5), [1, 1.0, 2.5, None][i % 4]])
        rows[-1].append([True, 1, "ja", None, False][i % 5])
        if i % 11 == 0:
            rows[-1] += [None, "rechts van de kop"]
        if i % 7 == 0:
            rows.append([])
    path = _write(tmp_path, "f.xlsx", _xlsx(rows))
    outcomes = []
    for threshold in (0, 10**9):
        monkeypatch.setattr(tabular, "_PER_VALUE_MIN_ROWS", threshold)
        frame, info = read_table(path)
        outcomes.append((frame.to_dict("list"), info))
    assert outcomes[0] == outcomes[1]
    assert len(outcomes[0][0]["bsn"]) == 30 and outcomes[0][1]["cells_outside_header"] == 3
