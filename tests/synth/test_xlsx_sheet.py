"""The generator's workbooks (pilotmonitor/synth/xlsx_sheet.py) are byte for byte what
xlsxwriter writes cell by cell, on frames no export makes: every kind of value, hostile
text, empty cells, rows and columns, spans across blocks of 16 rows."""

import io
import zipfile
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
import xlsxwriter

from pilotmonitor.synth.dialects import FIXED_TIMESTAMP, Dialect, _with_fixed_zip_times
from pilotmonitor.synth.xlsx_sheet import excel_serial


def _cell_by_cell(frame: pd.DataFrame) -> bytes:
    """The reference: the generator's writer before xlsx_sheet, xlsxwriter's cell API."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"constant_memory": True, "in_memory": True})
    book.set_properties({"created": FIXED_TIMESTAMP})
    date_format = book.add_format({"num_format": "yyyy-mm-dd h:mm:ss"})
    sheet = book.add_worksheet("Export")
    for c, name in enumerate(frame.columns):
        sheet.write_string(0, c, str(name))
    columns = [
        frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in frame.columns
    ]
    for r, row in enumerate(zip(*columns), start=1):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, str):
                sheet.write_string(r, c, value)
            elif isinstance(value, bool | np.bool_):
                sheet.write_boolean(r, c, bool(value))
            elif isinstance(value, date):
                sheet.write_number(r, c, excel_serial(value), date_format)
            else:
                sheet.write_number(r, c, value)
    book.close()
    return _with_fixed_zip_times(buffer.getvalue())


HOSTILE_TEXT = [
    "plain",
    "a & <b> \"quoted\" 'single'",
    " leading space",
    "trailing space ",
    "\ttab",
    "_x0041_ looks like an escape",
    "control \x01\x1f chars",
    "<r>looks rich</r>",
    "",
    "Ünïcödé € ß 日本",
    "x" * 40_000,  # longer than a cell holds: truncated as xlsxwriter does
    "line\nbreak",
]


def _frames():
    rng = np.random.default_rng(7)
    n = 70  # five blocks of 16 rows
    yield (
        "every kind",
        pd.DataFrame(
            {
                "Text": [HOSTILE_TEXT[i % len(HOSTILE_TEXT)] for i in range(n)],
                "Int": pd.array(
                    [None if i % 7 == 0 else i * 1000 for i in range(n)], dtype="Int64"
                ),
                "Float": [np.nan if i % 5 == 0 else x for i, x in enumerate(rng.normal(0, 1e6, n))],
                "Date": [None if i % 4 == 0 else date(2015, 1, 1 + i % 28) for i in range(n)],
                "Stamp": [datetime(1900, 1 + i % 12, 1, i % 24, 30) for i in range(n)],
                "Flag": [None if i % 3 == 0 else bool(i % 2) for i in range(n)],
                "Mixed": [[1, "een", 2.5, True, date(2020, 2, 29), None][i % 6] for i in range(n)],
            }
        ),
    )
    # the first column empty in one block of 16 rows, the last in another; the last rows
    # and one in the middle empty altogether
    sparse = pd.DataFrame({"A": ["a"] * 40, "B": [1.0] * 40, "C": ["c"] * 40}, dtype=object)
    sparse.loc[16:31, "A"] = None
    sparse.loc[0:15, "C"] = None
    sparse.loc[35:, :] = None
    sparse.loc[20, :] = None
    yield "sparse", sparse
    yield "header only", pd.DataFrame({"Naam": [], "Datum": []})
    yield "one column", pd.DataFrame({"Alleen": ["x", None, "y"]})
    # a value equal to a header name: one shared string, the header's number
    yield "values named as headers", pd.DataFrame({"B": ["A", "B"], "A": ["B", "x"]})
    yield (
        "numpy values",
        pd.DataFrame(
            {"N": np.array([1, 2, 3], dtype=np.int32), "B": np.array([True, False, True])}
        ),
    )
    yield "dates only", pd.DataFrame({"D": pd.to_datetime(["2020-01-01", None, "2021-06-30"])})


@pytest.mark.parametrize("name,frame", list(_frames()), ids=[n for n, _ in _frames()])
def test_the_workbook_is_xlsxwriters_byte_for_byte(name, frame):
    assert Dialect("xlsx").to_bytes(frame) == _cell_by_cell(frame)


def test_a_value_excel_cannot_hold_is_refused_as_xlsxwriter_refuses_it():
    frame = pd.DataFrame({"X": [1.0, float("inf")]})
    with pytest.raises(TypeError):
        _cell_by_cell(frame)
    with pytest.raises(TypeError):
        Dialect("xlsx").to_bytes(frame)


def test_the_workbook_reads_back_with_the_values_written(tmp_path):
    """Not only equal to xlsxwriter's: a reader (calamine, as the ingestion reads
    workbooks) sees the text, numbers, dates and booleans."""
    from python_calamine import CalamineWorkbook

    frame = pd.DataFrame(
        {"Tekst": ["a & b", " x"], "Getal": [1.5, 2], "Datum": [date(2020, 3, 1), None]}
    )
    path = tmp_path / "export.xlsx"
    Dialect("xlsx").write(frame, path)
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Export").to_python()
    assert rows[0] == ["Tekst", "Getal", "Datum"]
    assert rows[1][:2] == ["a & b", 1.5] and rows[2][:2] == [" x", 2.0]
    assert rows[1][2] in (datetime(2020, 3, 1), date(2020, 3, 1)) and rows[2][2] == ""


def _members(payload: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_a_difference_shows_in_a_member():
    """Guards the test itself: a changed value changes the sheet, not only the bytes."""
    a = pd.DataFrame({"X": ["a", "b"]})
    b = pd.DataFrame({"X": ["a", "c"]})
    ours, theirs = _members(Dialect("xlsx").to_bytes(a)), _members(_cell_by_cell(b))
    assert ours["xl/sharedStrings.xml"] != theirs["xl/sharedStrings.xml"]
