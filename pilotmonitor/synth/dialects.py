"""How Dutch school administration systems export a table: the export dialects.

Real exports differ in separator, encoding, date format, decimal mark, header spelling
and column order. Three dialects are modelled on common systems:

- ``semicolon_cp1252``: semicolon-separated, Windows-1252, dd-mm-yyyy, decimal comma,
  CRLF line ends, capitalised Dutch headers (the default of Dutch Excel);
- ``comma_utf8``: comma-separated UTF-8 (optionally with a byte-order mark), ISO dates,
  decimal point, lower-case snake_case headers in another column order;
- ``xlsx``: an Excel workbook with real date cells and the capitalised headers.

A value that is already a string is written as given: planted bad values (an impossible
date, an empty field) pass through untouched.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

DIALECTS = ("semicolon_cp1252", "comma_utf8", "xlsx")
# Workbooks carry creation times; fixing them keeps generated files byte-identical per seed.
FIXED_TIMESTAMP = datetime(2000, 1, 1)


def _with_fixed_zip_times(payload: bytes) -> bytes:
    """Rewrite a ZIP container (an .xlsx) with a fixed timestamp on every member."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(payload)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIMESTAMP.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            content = source.read(info)
            if info.filename == "docProps/core.xml":  # a writer may stamp the save time here
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z", content
                )
            target.writestr(fixed, content)
    return out.getvalue()


_EXCEL_EPOCH = datetime(1899, 12, 31)


def _excel_serial(value: date) -> float:
    """Excel's number for a naive date or date-time, as xlsxwriter's write_datetime stores
    it: days since 1899-12-31 plus the fraction of the day, one more from March 1900 on
    (Excel counts a 29 February 1900)."""
    if not isinstance(value, datetime):
        value = datetime.fromordinal(value.toordinal())
    delta = value - _EXCEL_EPOCH
    serial = delta.days + (float(delta.seconds) + float(delta.microseconds) / 1e6) / (60 * 60 * 24)
    return serial + 1 if serial > 59 else serial


def _workbook_bytes(frame: pd.DataFrame) -> bytes:
    """One sheet "Export" with a header row; dates as date cells (Excel's date-time format),
    text always as text (never a formula or a link), missing values as empty cells.
    xlsxwriter in constant-memory mode: half of openpyxl's write-only time (about 70 ms
    against 140 ms for a school's 1,600 absence records), which was a third of the
    generator's CPU at demo scale."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"constant_memory": True, "in_memory": True})
    book.set_properties({"created": FIXED_TIMESTAMP})
    date_format = book.add_format({"num_format": "yyyy-mm-dd h:mm:ss"})
    sheet = book.add_worksheet("Export")
    text, number, boolean = sheet.write_string, sheet.write_number, sheet.write_boolean
    for c, name in enumerate(frame.columns):
        text(0, c, str(name))
    columns = [
        frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in frame.columns
    ]
    # a date cell is its Excel serial number in a date format (what write_datetime stores),
    # converted once per distinct date: xlsxwriter's conversion per cell was about a tenth
    # of the writers' time on the demo (2.6 of 25 s, sampled)
    serials: dict[date, float] = {}
    for r, row in enumerate(zip(*columns), start=1):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, str):  # numpy's str_ too
                text(r, c, value)
            elif isinstance(value, bool | np.bool_):
                boolean(r, c, bool(value))
            elif isinstance(value, date):
                serial = serials.get(value)
                if serial is None:
                    serial = serials[value] = _excel_serial(value)
                number(r, c, serial, date_format)
            else:
                number(r, c, value)
    book.close()
    return buffer.getvalue()


@dataclass(frozen=True)
class Dialect:
    name: str
    bom: bool = False

    @property
    def extension(self) -> str:
        return "xlsx" if self.name == "xlsx" else "csv"

    @property
    def encoding(self) -> str:
        return {
            "semicolon_cp1252": "windows-1252",
            "comma_utf8": "utf-8-sig" if self.bom else "utf-8",
            "xlsx": "xlsx",
        }[self.name]

    def header(self, capitalised: str, snake: str) -> str:
        return snake if self.name == "comma_utf8" else capitalised

    def format_date(self, value: object) -> object:
        if (
            isinstance(value, str)
            or value is None
            or (isinstance(value, float) and pd.isna(value))
            or value is pd.NaT
        ):
            return (
                ""
                if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value))
                else value
            )
        stamp = pd.Timestamp(value)
        if self.name == "semicolon_cp1252":
            return stamp.strftime("%d-%m-%Y")
        if self.name == "comma_utf8":
            return stamp.strftime("%Y-%m-%d")
        return stamp.to_pydatetime()

    def format_dates(self, values: pd.Series) -> pd.Series:
        """format_date over a column; a pure date column (no planted strings) in one go."""
        if not pd.api.types.is_datetime64_any_dtype(values):
            return values.map(self.format_date)
        if self.name == "xlsx":
            if values.dt.tz is not None:
                return values.map(self.format_date)
            # numpy makes the datetime objects (NaT: None, written as an empty string)
            cells = values.to_numpy(dtype="datetime64[us]").astype(object)
            cells[pd.isna(values).to_numpy()] = ""
            return pd.Series(cells, index=values.index, name=values.name)
        pattern = "%d-%m-%Y" if self.name == "semicolon_cp1252" else "%Y-%m-%d"
        # once per distinct date: pandas formats a pattern other than ISO's date by date in
        # Python (5 s per million against a few thousand distinct dates in an export);
        # a missing date (code -1) takes the empty string appended last
        codes, uniques = pd.factorize(values)
        text = np.append(np.asarray(uniques.strftime(pattern), dtype=object), "")
        return pd.Series(text[codes], index=values.index, name=values.name)

    def format_decimals(self, values: pd.Series) -> pd.Series:
        """format_decimal over a column, once per distinct value (the column's type as
        ``map`` would give it: numbers for a workbook, text for a CSV)."""
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        per_value = np.array([self.format_decimal(u) for u in uniques], dtype=object)
        return pd.Series(per_value[codes], index=values.index, name=values.name).infer_objects()

    def format_decimal(self, value: object) -> object:
        if isinstance(value, str):
            return value
        if self.name == "semicolon_cp1252":
            return f"{value:g}".replace(".", ",")
        if self.name == "comma_utf8":
            return f"{value:g}"
        return float(value)  # type: ignore[arg-type]

    def to_bytes(self, frame: pd.DataFrame) -> bytes:
        if self.name == "xlsx":
            return _with_fixed_zip_times(_workbook_bytes(frame))
        if self.name == "semicolon_cp1252":
            text = frame.to_csv(sep=";", index=False, lineterminator="\r\n")
            return text.encode("cp1252")
        text = frame.to_csv(sep=",", index=False, lineterminator="\n")
        return ("\ufeff" + text).encode("utf-8") if self.bom else text.encode("utf-8")

    def write(self, frame: pd.DataFrame, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.to_bytes(frame))
