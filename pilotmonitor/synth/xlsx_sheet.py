"""A data frame as a one-sheet Excel workbook, byte for byte what xlsxwriter writes cell by
cell, at a fraction of its time.

xlsxwriter's cell API costs about 7 µs a cell (argument checks, a row-and-column table of
cell tuples, then the XML written from that table); the demo's workbooks hold a few million
cells, and writing them was 20 of the generator's 34 CPU-seconds (py-spy, 2026-12-07). Here
xlsxwriter still writes the workbook around the data (content types, styles, properties,
the shared-string table's XML) from the header row, and the sheet's rows are formatted in
one pass over the values, in xlsxwriter's own layout: cells in row order, strings through
its shared-string table (first occurrence order), numbers as ``{:.16G}``, row spans per
block of 16 rows. tests/synth/test_xlsx_sheet.py compares the bytes with xlsxwriter's
cell-by-cell output on hostile frames; that test fails if a new xlsxwriter writes
otherwise.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from datetime import date, datetime

import numpy as np
import pandas as pd
import xlsxwriter
from xlsxwriter.sharedstrings import SharedStrings, SharedStringTable
from xlsxwriter.utility import _utf16_len, _utf16_truncate, xl_col_to_name

SHEET = "xl/worksheets/sheet1.xml"
STRINGS = "xl/sharedStrings.xml"
_MAX_ROWS = 1_048_576  # Excel's rows per sheet
_MAX_STRING = 32_767  # UTF-16 units in a cell (xlsxwriter truncates longer strings)
_EXCEL_EPOCH = datetime(1899, 12, 31)


def excel_serial(value: date) -> float:
    """Excel's number for a naive date or date-time, as xlsxwriter's write_datetime stores
    it: days since 1899-12-31 plus the fraction of the day, one more from March 1900 on
    (Excel counts a 29 February 1900)."""
    if not isinstance(value, datetime):
        value = datetime.fromordinal(value.toordinal())
    delta = value - _EXCEL_EPOCH
    serial = delta.days + (float(delta.seconds) + float(delta.microseconds) / 1e6) / (60 * 60 * 24)
    return serial + 1 if serial > 59 else serial


def workbook_parts(
    header: Sequence[str], columns: Sequence[list], created: datetime
) -> tuple[bytes, dict[str, bytes]]:
    """The workbook xlsxwriter writes for ``header`` and the ``columns``' values (None: an
    empty cell; str: text, never a formula or link; bool; a date or date-time: a date cell
    in Excel's date-time format; anything else a number): the scaffold xlsxwriter wrote and
    the members that replace its sheet and shared strings."""
    n = len(columns[0]) if columns else 0
    if n + 1 > _MAX_ROWS:
        raise ValueError(f"{n:,} rows do not fit in one Excel sheet")
    grid = np.empty((n, len(header)), dtype=object)
    for c, values in enumerate(columns):
        grid[:, c] = values
    kinds = _kinds(grid) if grid.size else np.zeros(grid.shape, np.int8)
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    book.set_properties({"created": created})
    date_format = book.add_format({"num_format": "yyyy-mm-dd h:mm:ss"})
    sheet = book.add_worksheet("Export")
    for c, name in enumerate(header):
        sheet.write_string(0, c, name)
    if (kinds == _DATE).any():  # the date format is in the styles only when a cell uses it
        sheet.write_number(1, 0, 0, date_format)
    book.close()
    if not header:
        return buffer.getvalue(), {}
    table = SharedStringTable()
    tails, header_codes = _tails(header, grid, kinds, table)
    return buffer.getvalue(), {
        SHEET: _sheet_xml(tails, kinds, header_codes).encode("utf-8"),
        STRINGS: _strings_xml(table).encode("utf-8"),
    }


_DIMENSION = re.compile(rb'<dimension ref="[^"]*"/>')
_ROWS = re.compile(rb"<sheetData>.*</sheetData>", re.DOTALL)


def sheet_data_replaced(scaffold: bytes, ours: bytes) -> bytes:
    """The scaffold's sheet XML with its dimension and rows taken from ours."""
    scaffold = _DIMENSION.sub(lambda _: _DIMENSION.search(ours).group(0), scaffold, count=1)
    return _ROWS.sub(lambda _: _ROWS.search(ours).group(0), scaffold, count=1)


_EMPTY, _TEXT, _BOOL, _DATE, _NUMBER = range(5)


def _kind(of: type) -> int:
    """What xlsxwriter's cell call the generator made for a value of this type."""
    if of is type(None):
        return _EMPTY
    if issubclass(of, str):  # numpy's str_ too
        return _TEXT
    if of is bool or of is np.bool_:
        return _BOOL
    return _DATE if issubclass(of, date) else _NUMBER


def _kinds(grid: np.ndarray) -> np.ndarray:
    """Each cell's kind, decided once per type present."""
    types = np.fromiter(map(type, grid.ravel()), dtype=object, count=grid.size)
    codes, present = pd.factorize(types)
    return np.array([_kind(t) for t in present], dtype=np.int8)[codes].reshape(grid.shape)


def _tails(
    header: Sequence[str], grid: np.ndarray, kinds: np.ndarray, table: SharedStringTable
) -> tuple[np.ndarray, np.ndarray]:
    """Each data cell's XML after its reference (``r="A2`` comes before it) and the header
    names' string numbers; the header's and the cells' strings entered in ``table`` in
    xlsxwriter's order (row by row)."""
    flat, flat_kinds = grid.ravel(), kinds.ravel()  # row by row, as xlsxwriter writes them
    text = flat_kinds == _TEXT
    strings = [*header, *flat[text]]
    if max(map(len, strings), default=0) > _MAX_STRING // 2:
        strings = [_fit(t) for t in strings]
    codes, uniques = pd.factorize(np.asarray(strings, dtype=object), use_na_sentinel=False)
    table.string_table = {u: i for i, u in enumerate(uniques)}
    table.count, table.unique_count = len(strings), len(uniques)
    tails = np.empty(flat.shape, dtype=object)
    per_code = np.array([f'" t="s"><v>{i}</v></c>' for i in range(len(uniques))], dtype=object)
    tails[text] = per_code[codes[len(header) :]]
    serials: dict[date, str] = {}
    numbers: dict[object, str] = {}
    others = np.flatnonzero(~text & (flat_kinds != _EMPTY))
    for i, value, kind in zip(others, flat[others], flat_kinds[others]):
        if kind == _BOOL:
            tails[i] = f'" t="b"><v>{int(bool(value))}</v></c>'
        elif kind == _DATE:
            tail = serials.get(value)
            if tail is None:  # 1: the only format added, numbered after the default
                tail = serials[value] = f'" s="1"><v>{excel_serial(value):.16G}</v></c>'
            tails[i] = tail
        else:
            tail = numbers.get(value)
            if tail is None:
                if not math.isfinite(value):  # as xlsxwriter's write_number
                    raise TypeError("NAN/INF not supported in an Excel number cell")
                tail = numbers[value] = f'"><v>{value:.16G}</v></c>'
            tails[i] = tail
    return tails.reshape(grid.shape), codes[: len(header)]


def _fit(text: str) -> str:
    if len(text) > _MAX_STRING // 2 and _utf16_len(text) > _MAX_STRING:
        return _utf16_truncate(text, _MAX_STRING)
    return text


def _sheet_xml(tails: np.ndarray, kinds: np.ndarray, header_codes: np.ndarray) -> str:
    """The sheet's dimension and rows: the header, then each row with a value; a row's
    span is the columns used in its block of 16 rows (xlsxwriter's _calculate_spans)."""
    n, width = len(tails), len(header_codes)
    letters = [xl_col_to_name(c) for c in range(width)]
    numbers = np.array([str(r) for r in range(2, n + 2)], dtype=object)
    rows = np.full(n, "", dtype=object)
    present = kinds != _EMPTY
    for c in range(width):
        cells = ('<c r="' + letters[c]) + numbers + np.where(present[:, c], tails[:, c], "")
        rows += np.where(present[:, c], cells, "")
    used = present.any(axis=1)
    # per block of 16 sheet rows (the header is sheet row 0): the first and last column used
    block = np.arange(1, n + 1) // 16
    first = np.where(used, present.argmax(axis=1), width)
    last = np.where(used, width - 1 - present[:, ::-1].argmax(axis=1), -1)
    low = pd.Series(first).groupby(block).min().to_dict()
    high = pd.Series(last).groupby(block).max().to_dict()
    low[0], high[0] = 0, width - 1  # the header: every column
    spans = {b: f"{low[b] + 1}:{high[b] + 1}" for b in low}
    header = "".join(
        f'<c r="{letter}1" t="s"><v>{code}</v></c>' for letter, code in zip(letters, header_codes)
    )
    body = [f'<row r="1" spans="{spans[0]}">{header}</row>']
    kept = np.flatnonzero(used)
    body.extend(f'<row r="{i + 2}" spans="{spans[(i + 1) // 16]}">{rows[i]}</row>' for i in kept)
    last_row = int(kept[-1]) + 2 if len(kept) else 1
    corner = f"{letters[-1]}{last_row}"
    dimension = "A1" if corner == "A1" else f"A1:{corner}"
    return f'<dimension ref="{dimension}"/><sheetData>{"".join(body)}</sheetData>'


def _strings_xml(table: SharedStringTable) -> str:
    table._sort_string_data()
    writer = SharedStrings()
    writer.string_table = table
    out = _KeptOpen()
    writer._set_filehandle(out)
    writer._assemble_xml_file()  # closes its file at the end
    return out.getvalue()


class _KeptOpen(io.StringIO):
    def close(self) -> None:
        pass
