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
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from pilotmonitor.synth import xlsx_sheet

DIALECTS = ("semicolon_cp1252", "comma_utf8", "xlsx")
# Workbooks carry creation times; fixing them keeps generated files byte-identical per seed.
FIXED_TIMESTAMP = datetime(2000, 1, 1)


def _with_fixed_zip_times(payload: bytes, replaced: dict[str, bytes] | None = None) -> bytes:
    """Rewrite a ZIP container (an .xlsx) with a fixed timestamp on every member (and the
    sheet's rows and shared strings from ``replaced``: xlsx_sheet)."""
    replaced = replaced or {}
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
            elif info.filename == xlsx_sheet.SHEET and info.filename in replaced:
                content = xlsx_sheet.sheet_data_replaced(content, replaced[info.filename])
            elif info.filename in replaced:
                content = replaced[info.filename]
            target.writestr(fixed, content)
    return out.getvalue()


def _workbook_bytes(frame: pd.DataFrame) -> bytes:
    """One sheet "Export" with a header row; dates as date cells (Excel's date-time format),
    text always as text (never a formula or a link), missing values as empty cells: what
    xlsxwriter writes cell by cell, made by xlsx_sheet in a fraction of its time."""
    columns = [
        frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in frame.columns
    ]
    scaffold, replaced = xlsx_sheet.workbook_parts(
        [str(name) for name in frame.columns], columns, FIXED_TIMESTAMP
    )
    return _with_fixed_zip_times(scaffold, replaced)


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
            return _workbook_bytes(frame)
        if self.name == "semicolon_cp1252":
            text = frame.to_csv(sep=";", index=False, lineterminator="\r\n")
            return text.encode("cp1252")
        text = frame.to_csv(sep=",", index=False, lineterminator="\n")
        return ("\ufeff" + text).encode("utf-8") if self.bom else text.encode("utf-8")

    def write(self, frame: pd.DataFrame, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.to_bytes(frame))
