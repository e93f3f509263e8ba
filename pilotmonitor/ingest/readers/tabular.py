"""Shared reading of messy tabular exports: CSV in several dialects and XLSX workbooks.

Liberal in form (encoding, delimiter, line ends, header spelling), strict on meaning
(dates never rolled over, unknown columns never carried into the output). Files are handed
to the readers in chunks of rows; row numbers ("row_locator") count data rows, 1-based.

Design notes: docs/design/ingest.md#pilotmonitoringestreaderstabularpy.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import gc
import io
import itertools
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pilotmonitor.ingest.bounded import (
    BoundedStream,
    LimitExceeded,
    archive_problem,
    file_problem,
    member_problem,
)
from pilotmonitor.ingest.contracts import (
    RAW_TABLES,
    DeliveryError,
    ReadResult,
    combine_parts,
    empty_quarantine,
    quarantine_rows,
    scrub,
)
from pilotmonitor.ingest.limits import ParseLimits, current_limits
from pilotmonitor.ingest.pseudonymise import Pseudonymiser

CHUNK_ROWS = 100_000
BLOCK_BYTES = 1 << 20
DELIMITERS = (";", "\t", ",")  # order breaks ties when sniffing
MIN_YEAR, MAX_YEAR = 1900, 2100

_UTF8_BOM = b"\xef\xbb\xbf"
_CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
# Control bytes that do not occur in text exports (tab, LF, CR, FF and the DOS EOF mark 0x1A
# excepted).
_CONTROL_BYTES = re.compile(rb"[\x01-\x08\x0b\x0e-\x19\x1b-\x1f\x7f]")
# not ASCII, Latin-1 letters, Latin Extended-A, punctuation, euro
_FOREIGN_SCRIPT = re.compile(r"[^\x00-\x7f\u00a0-\u017f\u2010-\u20ac]")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_HEADER_RUNS = re.compile(r"[\s_\-]+")
_QUOTED = re.compile(r'"[^"]*"')
_BLANK_FIELD = " \t\r\n\x1a\ufeff\xa0"


# --- decoding ------------------------------------------------------------------------


def _nul_problem(sample: bytes) -> str:
    sample = sample[:65536]
    half = max(len(sample) // 2, 1)
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if max(even, odd) > 0.3 * half and min(even, odd) < 0.25 * max(even, odd):
        return (
            "contains NUL bytes: looks like UTF-16 without byte-order mark; re-export as UTF-8 or "
            "Windows-1252"
        )
    return "contains NUL bytes: looks like a binary file, not a text export"


def _check_head(head: bytes, path: Path | str) -> None:
    """Refuse what is recognisably not a text export, from the first block of the file."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise DeliveryError(
            path,
            "is UTF-32 (it starts with a UTF-32 byte-order mark); re-export as UTF-8 or "
            "Windows-1252",
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DeliveryError(
            path,
            "is UTF-16 (it starts with a UTF-16 byte-order mark); re-export as UTF-8 or "
            "Windows-1252",
        )
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise DeliveryError(
            path,
            "is an old binary Excel (.xls) workbook or another OLE file; re-export as .xlsx or CSV",
        )
    if head.startswith(b"PK\x03\x04"):
        raise DeliveryError(path, "is a ZIP archive, not a text export")
    if b"\x00" in head:
        raise DeliveryError(path, _nul_problem(head))
    sample = head[:65536]
    controls = len(_CONTROL_BYTES.findall(sample))
    if controls > max(8, len(sample) // 100):
        raise DeliveryError(
            path,
            f"contains {controls} control bytes in its first {len(sample)} bytes: looks like a "
            "binary file, not a text export",
        )


def detect_encoding(blocks: Iterable[bytes], path: Path | str) -> str:
    """'utf-8-sig', 'utf-8' or 'windows-1252' for a text export given as blocks of bytes."""
    blocks = iter(blocks)
    head = next(blocks, b"")
    _check_head(head, path)
    has_bom = head.startswith(_UTF8_BOM)
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    utf8_error: int | None = None
    # Did the bytes before any UTF-8 error hold multi-byte characters a Dutch export would
    # contain (Latin letters, punctuation, the euro sign)? Then the file is UTF-8 and an
    # error later means mixed encodings. Windows-1252 text only rarely forms valid UTF-8
    # by accident, and then as letters from other scripts ("ë" + two NBSP -> Hangul).
    utf8_letters, utf8_doubtful = False, False
    undefined: int | None = None
    offset = 0

    def seen(text: str) -> None:
        nonlocal utf8_letters, utf8_doubtful
        if not text.isascii():
            utf8_doubtful = utf8_doubtful or bool(_FOREIGN_SCRIPT.search(text))
            utf8_letters = True

    for block in itertools.chain([head], blocks):
        if offset and b"\x00" in block:
            raise DeliveryError(path, _nul_problem(block))
        if utf8_error is None:
            pending = decoder.getstate()[0]
            try:
                seen(decoder.decode(block))
            except UnicodeDecodeError as exc:
                utf8_error = max(offset - len(pending) + exc.start, 0)
                seen((pending + block)[: exc.start].decode("utf-8", errors="ignore"))
        if undefined is None and (match := _CP1252_UNDEFINED.search(block)):
            undefined = offset + match.start()
        offset += len(block)
    utf8_proven = utf8_letters and not utf8_doubtful
    if utf8_error is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            if utf8_proven or has_bom:
                raise DeliveryError(
                    path,
                    "ends in the middle of a UTF-8 character: the file looks truncated; deliver "
                    "it again",
                ) from None
            utf8_error = offset
    if utf8_error is None:
        return "utf-8-sig" if has_bom else "utf-8"
    if has_bom:
        raise DeliveryError(
            path,
            "starts with a UTF-8 byte-order mark but is not valid UTF-8 (byte offset "
            f"{utf8_error}); re-export as UTF-8",
        )
    if utf8_proven:
        raise DeliveryError(
            path,
            "mixes UTF-8 and Windows-1252 characters (first byte that is not UTF-8 at offset "
            f"{utf8_error}); re-export in one encoding",
        )
    if undefined is not None:
        raise DeliveryError(
            path,
            f"is neither UTF-8 nor Windows-1252 (byte at offset {undefined} is undefined in "
            "Windows-1252); re-export as UTF-8 or Windows-1252",
        )
    return "windows-1252"


def decode_text(raw: bytes, path: Path | str) -> str:
    """The text of a delivered export: BOM -> UTF-8-sig; else strict UTF-8; else Windows-1252."""
    return raw.decode(detect_encoding([raw], path))


def _file_blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(BLOCK_BYTES):
            yield block


# --- headers and columns -------------------------------------------------------------


def normalise_header(name: object) -> str:
    text = str(name if name is not None else "").replace("\ufeff", "").strip().lower()
    return _HEADER_RUNS.sub("_", text).strip("_")


def _header_names(cells: list[object]) -> tuple[list[str], list[str], list[str]]:
    """Normalised unique names, delivered labels, and the names that occurred twice."""
    names, labels, duplicates, seen = [], [], [], set()
    for i, cell in enumerate(cells):
        label = _CONTROL_CHARS.sub(
            "", str(cell if cell is not None else "").replace("\ufeff", "")
        ).strip()
        name = normalise_header(label) or f"column_{i + 1}"
        if name in seen:
            duplicates.append(name)
            k = 2
            while f"{name}__{k}" in seen:
                k += 1
            name = f"{name}__{k}"
        seen.add(name)
        names.append(name)
        labels.append(label or name)
    return names, labels, duplicates


def _is_blank(fields: Iterable[object]) -> bool:
    return all(f is None or (isinstance(f, str) and not f.strip(_BLANK_FIELD)) for f in fields)


# --- opening a table -----------------------------------------------------------------


@dataclass
class Table:
    """An opened export: its header and its data rows in chunks.

    Chunks are DataFrames with the normalised column names, values as strings (date
    cells of a workbook as datetime), and None where a CSV row had fewer fields than the
    header; `first_row` is the data-row number of each chunk's first row.
    """

    path: Path
    columns: list[str]
    labels: dict[str, str]  # normalised name -> header as delivered
    info: dict
    chunks: Iterator[tuple[int, pd.DataFrame]]


def _bounded_lines(handle, path: Path, limit: int) -> Iterator[str]:
    """The file's lines, refusing one longer than ``limit`` characters before it is read
    whole (a CSV of one 2 GB line would otherwise become one 2 GB string)."""
    number = 0
    while line := handle.readline(limit + 1):
        number += 1
        if len(line) > limit:
            raise DeliveryError(
                path,
                f"line {number} is longer than the {limit:,}-character limit for one line (a file "
                "that is not a line-based export, or a missing line break)",
            )
        yield line


def _csv_table(path: Path, info: dict, chunk_rows: int, stack, limits: ParseLimits) -> Table:
    encoding = detect_encoding(_file_blocks(path), path)
    handle = stack(path.open("r", encoding=encoding, newline=""))
    # a file of fewer bytes than the limit has no line over it: its lines as the file gives them
    small = path.stat().st_size <= limits.line_chars
    lines = iter(handle) if small else _bounded_lines(handle, path, limits.line_chars)
    skipped = 0
    for line in lines:
        if line.strip(_BLANK_FIELD + ";,"):
            header_line = line
            break
        skipped += 1
    else:
        raise DeliveryError(path, "is empty: no header line")
    unquoted = _QUOTED.sub("", header_line)
    counts = {d: unquoted.count(d) for d in DELIMITERS}
    delimiter = max(DELIMITERS, key=lambda d: counts[d]) if any(counts.values()) else ","
    reader = csv.reader(
        itertools.chain([header_line], lines),
        delimiter=delimiter,
        quotechar='"',
        doublequote=True,
        strict=True,
    )
    try:
        header = next(reader)
    except csv.Error as exc:
        raise DeliveryError(path, f"header line cannot be parsed as CSV ({exc})") from None
    columns, labels, duplicates = _header_names(header)
    width = len(columns)
    info.update(
        format="csv",
        encoding=encoding,
        delimiter=delimiter,
        columns=columns,
        duplicate_columns=duplicates,
    )

    def chunks(reader) -> Iterator[tuple[int, pd.DataFrame]]:
        first = 1
        while True:
            try:
                batch = list(itertools.islice(reader, chunk_rows))
            except csv.Error as exc:
                raise DeliveryError(
                    path,
                    f"line {reader.line_num + skipped} cannot be parsed as CSV ({scrub(str(exc))})",
                ) from None
            if not batch:
                return
            blank_chars = _BLANK_FIELD + delimiter
            # blank lines dropped (a first field with text decides most rows at once)
            batch = [
                fields
                for fields in batch
                if (fields and fields[0].strip(blank_chars)) or "".join(fields).strip(blank_chars)
            ]
            lengths = np.fromiter(map(len, batch), dtype=np.int64, count=len(batch))
            if (lengths > width).any():
                at = int(np.argmax(lengths > width))
                raise DeliveryError(
                    path,
                    f"data row {first + at} has {lengths[at]} fields but the header has {width}: "
                    "the columns cannot be trusted (an unquoted separator inside a value?)",
                )
            for i in np.flatnonzero(lengths < width):
                batch[i] = batch[i] + [None] * (width - lengths[i])
            if batch:
                yield first, pd.DataFrame(batch, columns=columns, dtype=object)
                first += len(batch)

    if reader.line_num != 1 or not small:
        return Table(path, columns, dict(zip(columns, labels)), info, chunks(reader))
    # A file of 64k characters up to the line limit (read whole, so it holds no more than
    # one line may) quoted only in whole fields: split by pyarrow's CSV parser (C++),
    # values made once per distinct value. Any other use of quotes, or a row it cannot
    # split into the header's fields (a short or long row), sends the file through
    # csv.reader as above, which reports or pads it exactly as before.
    rest = handle.read()
    plain = (
        _split_rows(rest, delimiter, width)
        if len(rest) >= _ARROW_MIN_CHARS and _whole_fields_quoted(rest, delimiter)
        else None
    )
    if plain is not None:
        return Table(
            path,
            columns,
            dict(zip(columns, labels)),
            info,
            _plain_chunks(plain, columns, chunk_rows),
        )
    reader = csv.reader(
        itertools.chain([header_line], io.StringIO(rest, newline="")),
        delimiter=delimiter,
        quotechar='"',
        doublequote=True,
        strict=True,
    )
    next(reader)  # the header, again: line numbers in reasons count it
    return Table(path, columns, dict(zip(columns, labels)), info, chunks(reader))


_QUOTED_FIELD = re.compile(r'"(?:[^"]|"")*"')
# Below this many characters csv.reader is the faster: pyarrow costs about 0.8 ms per file
# to set up and encode. Measured: a school's enrolments (31 KB, 18 columns) 1.2 ms slower
# by pyarrow, its absence (110 KB, 7 columns) 2.2 ms faster.
_ARROW_MIN_CHARS = 65_536


def _whole_fields_quoted(text: str, delimiter: str) -> bool:
    """Whether every quote character of the text belongs to a field quoted whole: opened
    right after a separator or line break, "" inside, closed right before one. There
    pyarrow's parser and csv.reader(strict=True) agree; elsewhere (a quote inside a
    value, text after a closing quote, no closing quote) only csv.reader's reading and
    errors are the rule."""
    quotes = text.count('"')
    if not quotes:
        return True
    bounds = delimiter + "\r\n"
    covered = 0
    for match in _QUOTED_FIELD.finditer(text):
        start, end = match.span()
        if (start and text[start - 1] not in bounds) or (
            end < len(text) and text[end] not in bounds
        ):
            return False
        covered += match.group().count('"')
    return covered == quotes


def _split_rows(
    text: str, delimiter: str, width: int
) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """The data lines of a CSV whose quotes enclose whole fields (empty lines left out) as
    codes and distinct strings per field, or None when a line has more or fewer fields
    than ``width``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    names = [str(i) for i in range(width)]
    try:
        table = pa_csv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pa_csv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter,
                quote_char='"',
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,
                ignore_empty_lines=True,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None
    fields = []
    for name in names:
        encoded = pc.dictionary_encode(table.column(name)).combine_chunks()
        uniques = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)
        fields.append((encoded.indices.to_numpy(zero_copy_only=False), uniques))
    return fields


def _plain_chunks(
    fields: list[tuple[np.ndarray, np.ndarray]], columns: list[str], chunk_rows: int
) -> Iterator[tuple[int, pd.DataFrame]]:
    """Chunks of the rows of _split_rows, rows whose every field is blank dropped."""
    n = len(fields[0][0]) if fields else 0
    blank = np.ones(n, dtype=bool)
    for codes, uniques in fields:
        blank &= np.array([not v.strip(_BLANK_FIELD) for v in uniques], dtype=bool)[codes]
    kept = np.flatnonzero(~blank)
    for start in range(0, len(kept), chunk_rows):
        rows = kept[start : start + chunk_rows]
        frame = {name: uniques[codes[rows]] for name, (codes, uniques) in zip(columns, fields)}
        yield start + 1, pd.DataFrame(frame, dtype=object)


def _cell(value: object) -> object:
    """A workbook cell as the readers see it: date cells as datetime, the rest as strings."""
    if type(value) is str:  # most cells; checked first (a million cells per 76 workbooks)
        return value
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e18:
            return str(int(value))
        text = repr(value)
        return text if "e" not in text else f"{value:.15f}".rstrip("0").rstrip(".")
    return str(value)


def _calamine_sheet(path: Path, stack) -> tuple[str, int, Iterator[Sequence]]:
    from python_calamine import CalamineWorkbook, SheetTypeEnum

    with path.open("rb") as handle:  # a handle, not the path: the extension may be wrong
        book = stack(CalamineWorkbook.from_filelike(handle))
    worksheets = [m.name for m in book.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
    if not worksheets:
        raise DeliveryError(path, "is an Excel workbook without worksheets")
    return worksheets[0], len(worksheets), iter(book.get_sheet_by_name(worksheets[0]).iter_rows())


def _openpyxl_sheet(path: Path, stack) -> tuple[str, int, Iterator[Sequence]]:
    import openpyxl

    # a handle, not the path: openpyxl would refuse a workbook named .csv
    handle = stack(path.open("rb"))
    book = stack(openpyxl.load_workbook(handle, read_only=True, data_only=True))
    if not book.worksheets:
        raise DeliveryError(path, "is an Excel workbook without worksheets")
    sheet = book.worksheets[0]
    return sheet.title, len(book.worksheets), sheet.iter_rows(values_only=True)


_ERROR_CELL = b't="e"'
# Cell and row references that can stretch a sheet's grid: columns beyond Z, rows from
# 100,000 on. Narrower, shorter references need no look: the grid is then at most 26
# columns by 99,999 rows. Matched in any attribute value (quoted either way, spaces
# around '='), which can only overestimate; a literal '=' first keeps the scan fast.
_WIDE_REFERENCE = re.compile(rb'=\s*["\']([A-Z]{2,3})[0-9]')
_DEEP_REFERENCE = re.compile(rb'=\s*["\'][A-Z]{0,3}([0-9]{6,})')
_DIMENSION = re.compile(rb'<dimension\s+ref\s*=\s*["\'](?:[A-Z]*[0-9]*:)?([A-Z]{1,3})([0-9]{1,7})')
# Letters to "A", digits to "0": a block without "AA0" holds no wide reference, one
# without "000000" no deep one, and a substring search is ten times cheaper than the
# regular expressions, which then run only where they may find something.
_LETTERS_AND_DIGITS = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", b"A" * 26 + b"0" * 10
)


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


@dataclass
class _SheetScan:
    """What a worksheet's XML says before a reader opens it: error cells, and how far
    its references reach (python-calamine allocates the whole grid from the first to the
    last cell: two cells at A1 and XFD1048576 ask for 550 GB; openpyxl pads every row to
    the declared dimension)."""

    errors: bool = False
    columns: int = 26
    rows: int = 99_999
    _tail: bytes = b""

    def update(self, block: bytes) -> None:
        window = self._tail + block
        self.errors = self.errors or _ERROR_CELL in window
        dimension = _DIMENSION.findall(window)
        classes = window.translate(_LETTERS_AND_DIGITS)
        wide = _WIDE_REFERENCE.findall(window) if b"AA0" in classes else []
        deep = _DEEP_REFERENCE.findall(window) if b"000000" in classes else []
        self.columns = max(
            [self.columns, *map(_column_number, wide), *(_column_number(c) for c, _ in dimension)]
        )
        self.rows = max([self.rows, *map(int, deep), *(int(r) for _, r in dimension)])
        self._tail = block[-64:]  # a reference cut by the block boundary is seen whole next time

    @property
    def cells(self) -> int:
        return self.columns * self.rows


def _scan_workbook(archive: zipfile.ZipFile, path: Path, limits: ParseLimits) -> bool:
    """Refuse a workbook over the parsing limits before a reader opens it, and tell
    whether a worksheet holds an error cell (#N/A, #DIV/0!, ...: ``t="e"`` in the sheet
    XML). Every member is inflated once, through the same bounded stream as an iJw
    member: a zip bomb in a sheet stops within one block."""
    members = [info for info in archive.infolist() if not info.is_dir()]
    problem = archive_problem(members, limits) or next(
        (p for info in members if (p := member_problem(info, limits)) is not None), None
    )
    if problem is not None:
        raise DeliveryError(path, problem.reason)
    errors = False
    for info in members:
        sheet = info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")
        scan = _SheetScan()
        try:
            with archive.open(info) as member:
                stream = BoundedStream(
                    member,
                    f"member {info.filename}",
                    limits,
                    limits.member_bytes,
                    xml=info.filename.endswith((".xml", ".rels")),
                )
                while block := stream.read(1 << 20):
                    if sheet:
                        scan.update(block)
        except LimitExceeded as exc:
            raise DeliveryError(path, exc.reason) from None
        if scan.cells > limits.cells:
            raise DeliveryError(
                path,
                f"member {info.filename}: its cell references span {scan.rows:,} rows by "
                f"{scan.columns:,} columns, {scan.cells:,} cells, over the {limits.cells:,} "
                "limit for one sheet",
            )
        errors = errors or scan.errors
    return errors


def _xlsx_table(path: Path, info: dict, chunk_rows: int, stack, limits: ParseLimits) -> Table:
    """The first worksheet. Read with python-calamine (Rust): openpyxl's cell-by-cell XML
    parsing was 41 of 97 s of reading the demo's school_absence (88 workbooks). calamine
    reads error cells (#N/A, ...) as blanks, which would turn a rejected value into a
    missing one, so a workbook with error cells is read with openpyxl, which keeps them
    as text for the checks to reject."""

    def problem(exc: Exception) -> DeliveryError:
        detail = scrub(str(exc))[:160]
        return DeliveryError(
            path,
            "cannot be read as an Excel workbook "
            f"({type(exc).__name__}{': ' + detail if detail else ''})",
        )

    try:
        with zipfile.ZipFile(path) as archive:
            if "xl/workbook.xml" not in set(archive.namelist()):
                raise DeliveryError(
                    path,
                    "is a ZIP archive but not an Excel workbook (no xl/workbook.xml); deliver "
                    ".xlsx or CSV",
                )
            errors = _scan_workbook(archive, path, limits)
        sheet_name, sheets, iterator = (_openpyxl_sheet if errors else _calamine_sheet)(path, stack)
    except DeliveryError:
        raise
    except Exception as exc:  # calamine, openpyxl and zipfile raise many kinds on a damaged file
        raise problem(exc) from None

    def cells() -> Iterator[Sequence]:
        while True:
            try:
                row = next(iterator)
            except StopIteration:
                return
            except Exception as exc:
                raise problem(exc) from None
            yield row

    raw_rows = cells()
    for header in raw_rows:
        if not _is_blank(_cell(c) for c in header):
            break
    else:
        raise DeliveryError(path, f"is empty: the first sheet ({sheet_name}) has no header row")
    last = max(i for i, c in enumerate(header) if not _is_blank([_cell(c)])) + 1
    columns, labels, duplicates = _header_names(
        [c.isoformat()[:10] if isinstance(c, dt.date) else _cell(c) for c in header[:last]]
    )
    info.update(
        format="xlsx",
        encoding="xlsx",
        delimiter=None,
        sheet=sheet_name,
        sheets=sheets,
        columns=columns,
        duplicate_columns=duplicates,
    )
    info["cells_outside_header"] = 0
    return Table(
        path,
        columns,
        dict(zip(columns, labels)),
        info,
        _sheet_chunks(raw_rows, columns, chunk_rows, info),
    )


def _sheet_chunks(
    raw_rows: Iterator[Sequence], columns: list[str], chunk_rows: int, info: dict
) -> Iterator[tuple[int, pd.DataFrame]]:
    """The data rows under the header in chunks: blank rows dropped, cells converted by
    _cell, rows cut or padded to the header's width (a row with values right of the header
    counted in info["cells_outside_header"])."""
    first = 1
    while batch := list(itertools.islice(raw_rows, chunk_rows)):
        convert = _per_value if len(batch) >= _PER_VALUE_MIN_ROWS else _cell_by_cell
        frame, outside = convert(batch, columns)
        info["cells_outside_header"] += outside
        if len(frame):
            yield first, frame
            first += len(frame)


# Sheets of fewer rows are converted cell by cell: factorizing costs about 0.1 ms a column.
# Measured on the sample of the ZH+NH pool: 180-row enrolment sheets (18 columns) 1.0 ms
# each cell by cell, 2.6 ms per value; 2,000-row absence sheets (7 columns) 9.5 ms cell by
# cell, 3.8 ms per value.
_PER_VALUE_MIN_ROWS = 1_000


def _cell_by_cell(batch: list[Sequence], columns: list[str]) -> tuple[pd.DataFrame, int]:
    """The rows of _sheet_chunks and the number with values right of the header."""
    width, rows, outside = len(columns), [], 0
    for raw in batch:
        values = [_cell(c) for c in raw]
        if _is_blank(values):
            continue
        if len(values) > width:
            outside += not _is_blank(values[width:])
            values = values[:width]
        elif len(values) < width:
            values = values + [""] * (width - len(values))
        rows.append(values)
    return pd.DataFrame(rows, columns=columns, dtype=object), outside


def _per_value(batch: list[Sequence], columns: list[str]) -> tuple[pd.DataFrame, int]:
    """As _cell_by_cell, column by column and per distinct value (cell by cell in Python
    was most of reading a large workbook once calamine had parsed it)."""
    width = len(columns)
    longest = max(map(len, batch))
    if min(map(len, batch)) != longest:
        batch = [[*row, *[""] * (longest - len(row))] for row in batch]
    grid = np.empty((len(batch), longest), dtype=object)
    grid[:] = batch
    values, blank = [], []
    for j in range(longest):
        converted, empty = _cell_values(grid[:, j])
        values.append(converted)
        blank.append(empty)
    blank_cells = np.column_stack(blank) if blank else np.ones((len(batch), 0), dtype=bool)
    keep = ~blank_cells.all(axis=1)
    outside = int((keep & ~blank_cells[:, width:].all(axis=1)).sum()) if longest > width else 0
    padding = np.full(int(keep.sum()), "", dtype=object)
    frame = pd.DataFrame(
        {name: values[j][keep] if j < longest else padding for j, name in enumerate(columns)},
        dtype=object,
    )
    return frame, outside


def _cell_values(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """_cell of each value of a column of workbook cells, and whether it is blank, worked
    out once per distinct value (a sheet repeats its dates, codes and hours)."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    if _booleans_among_numbers(uniques, column):
        return _each_cell(column)
    per_value = np.array([_cell(v) for v in uniques] + [""], dtype=object)
    blank = np.array([_is_blank([v]) for v in per_value], dtype=bool)
    converted, empty = per_value[codes], blank[codes]
    missing = np.flatnonzero(codes == -1)  # None and NaN cells: factorize leaves them out
    if len(missing):
        converted[missing] = [_cell(v) for v in column[missing]]
        empty[missing] = [_is_blank([v]) for v in converted[missing]]
    return converted, empty


def _each_cell(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    converted = np.empty(len(column), dtype=object)
    converted[:] = [_cell(v) for v in column]
    return converted, np.array([_is_blank([v]) for v in converted], dtype=bool)


def _booleans_among_numbers(uniques: np.ndarray, column: np.ndarray) -> bool:
    """Whether a column holds both boolean and numeric cells that factorize took as one
    value (True == 1 == 1.0, False == 0), which _cell converts differently (TRUE, 1)."""
    if not any(type(u) is bool or (type(u) in (int, float) and u in (0, 1)) for u in uniques):
        return False
    types = set(map(type, column))
    return bool in types and bool(types & {int, float})


@contextmanager
def open_table(path: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[Table]:
    """Open a CSV or XLSX export (recognised by content, not by extension)."""
    path = Path(path)
    limits = current_limits()
    if (too_large := file_problem(path, limits)) is not None:
        raise DeliveryError(path, too_large.reason)
    with path.open("rb") as handle:
        magic = handle.read(8)
    info: dict = {"extension": path.suffix.lower()}
    opened: list = []

    def keep(resource):
        opened.append(resource)
        return resource

    try:
        if magic.startswith(b"PK\x03\x04"):
            table = _xlsx_table(path, info, chunk_rows, keep, limits)
        else:
            table = _csv_table(path, info, chunk_rows, keep, limits)
        if info["format"] != info["extension"].lstrip("."):
            info["extension_mismatch"] = (
                f"content is {info['format']}, extension {info['extension'] or '(none)'}"
            )
        yield table
    finally:
        for resource in reversed(opened):
            resource.close()


def read_table(path: Path) -> tuple[pd.DataFrame, dict]:
    """The whole export as one DataFrame (normalised headers) plus info for metadata:
    format, encoding, delimiter, columns, and for workbooks the sheet read."""
    with open_table(path) as table:
        chunks = [chunk for _, chunk in table.chunks]
        frame = (
            pd.concat(chunks, ignore_index=True)
            if chunks
            else pd.DataFrame({c: pd.Series(dtype=object) for c in table.columns})
        )
        return frame, table.info


# --- column resolution ---------------------------------------------------------------


@dataclass(frozen=True)
class Columns:
    """Which delivered column holds each canonical field."""

    source: dict[str, str | None]  # canonical -> normalised delivered name (None: absent optional)
    ignored: list[str]


def resolve_columns(
    present: list[str],
    aliases: dict[str, list[str]],
    path: Path | str,
    optional: dict[str, list[str]] | None = None,
    one_of: Iterable[tuple[str, ...]] = (),
    duplicates: Iterable[str] = (),
) -> Columns:
    optional = optional or {}
    one_of = [tuple(group) for group in one_of]
    in_groups = {c for group in one_of for c in group}
    available = set(present)
    duplicated = set(duplicates)
    source: dict[str, str | None] = {}
    for canonical, names in {**aliases, **optional}.items():
        found = [n for n in names if n in available]
        if any(n in duplicated for n in found):
            raise DeliveryError(
                path,
                f"column {found[0]} occurs more than once in the header: which one holds "
                f"{canonical} is ambiguous",
            )
        if len(found) > 1:
            raise DeliveryError(
                path, f"columns {' and '.join(found)} both hold {canonical}: ambiguous"
            )
        source[canonical] = found[0] if found else None
    missing = [aliases[c][0] for c in aliases if source[c] is None and c not in in_groups]
    for group in one_of:
        if all(source.get(c) is None for c in group):
            missing.append(" or ".join({**aliases, **optional}[c][0] for c in group))
    if missing:
        used = {n for n in source.values() if n}
        if not used:
            raise DeliveryError(
                path,
                "none of the expected columns "
                f"({', '.join(names[0] for names in aliases.values())}) found in the first line "
                f"({len(present)} fields): it does not look like the header of this export",
            )
        shown = ", ".join(scrub(p)[:40] for p in present)
        raise DeliveryError(
            path, f"missing mandatory column(s): {', '.join(missing)}; columns present: {shown}"
        )
    used = {n for n in source.values() if n}
    return Columns(source, [p for p in present if p not in used])


def require_columns(
    frame: pd.DataFrame,
    aliases: dict[str, list[str]],
    path: Path | str,
    optional: dict[str, list[str]] | None = None,
    info: dict | None = None,
    one_of: Iterable[tuple[str, ...]] = (),
) -> pd.DataFrame:
    """Rename to canonical names, keeping only the known columns.

    `aliases` are mandatory (canonical -> accepted normalised names), `optional` may be
    absent (then an empty column). A missing mandatory column raises DeliveryError naming
    the missing and the present columns; unknown columns are dropped and listed in
    info["ignored_columns"]. Groups in `one_of` need at least one present column.
    """
    resolved = resolve_columns([str(c) for c in frame.columns], aliases, path, optional, one_of)
    if info is not None:
        info["ignored_columns"] = resolved.ignored
    return pd.DataFrame(
        {
            c: (frame[s] if s else pd.Series("", index=frame.index, dtype=object))
            for c, s in resolved.source.items()
        },
        index=frame.index,
    )


# --- value parsers (values, bad_mask) ------------------------------------------------
#
# An export repeats few distinct values per column (dates, hours, codes, the same pupil
# on many rows), so the parsers work on a column's distinct values and spread the
# results back to the rows.


def factorize(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes per row (-1 for None) and the distinct values, as an object array."""
    array = (
        values.to_numpy(dtype=object)
        if isinstance(values, pd.Series)
        else np.asarray(values, dtype=object)
    )
    codes, uniques = pd.factorize(array, use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


def _spread(per_unique: np.ndarray, codes: np.ndarray, missing: object) -> np.ndarray:
    """Per-row values from per-distinct-value results; rows with code -1 get `missing`."""
    extended = np.concatenate([per_unique, np.array([missing], dtype=per_unique.dtype)])
    return extended[codes]


def _stripped(uniques: np.ndarray) -> np.ndarray:
    return np.array(
        [v.strip(_BLANK_FIELD) if type(v) is str else "" for v in uniques], dtype=object
    )


def _is_cell(uniques: np.ndarray) -> np.ndarray:
    return np.array([isinstance(v, (dt.datetime, dt.date)) for v in uniques], dtype=bool)


_MIDNIGHT = re.compile(r"[ T]00:00(?::00)?$")
_DMY = re.compile(r"[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}")
_YMD = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")


@functools.lru_cache(maxsize=1 << 16)
def _date_of(value: object) -> tuple[dt.datetime | None, bool]:
    """(date or None, bad) of one delivered value; cached, as the same dates recur in
    file after file."""
    if isinstance(value, (dt.datetime, dt.date)):
        stamp = (
            value
            if isinstance(value, dt.datetime)
            else dt.datetime(value.year, value.month, value.day)
        )
        # a time of day is no date
        is_date = stamp.time() == dt.time(0) and MIN_YEAR <= stamp.year <= MAX_YEAR
        return (stamp.replace(tzinfo=None) if is_date else None), not is_date
    text = _MIDNIGHT.sub("", value.strip(_BLANK_FIELD)) if type(value) is str else ""
    if not text:
        return None, False
    if _DMY.fullmatch(text):  # ASCII digits only: "２０１６" is no date
        day, month, year = map(int, text.split("-"))
    elif _YMD.fullmatch(text):
        year, month, day = map(int, text.split("-"))
    else:
        return None, True
    try:
        date = dt.datetime(year, month, day)
    except ValueError:  # an impossible date is bad, never rolled over
        return None, True
    return (date, False) if MIN_YEAR <= year <= MAX_YEAR else (None, True)


def dates_of(uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct value its date (NaT when empty or bad) and whether it is bad."""
    parsed = [_date_of(v) for v in uniques]
    values = np.array([date for date, _ in parsed], dtype="datetime64[ns]")
    return values, np.array([bad for _, bad in parsed], dtype=bool)


def parse_dates(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """dd-mm-yyyy, d-m-yyyy, yyyy-mm-dd (optionally with a midnight time) or date cells,
    years 1900-2100; an impossible date is bad, never rolled over. Empty -> NaT, not bad."""
    codes, uniques = factorize(series)
    values, bad = dates_of(uniques)
    return (
        pd.Series(_spread(values, codes, np.datetime64("NaT", "ns")), index=series.index),
        pd.Series(_spread(bad, codes, False), index=series.index),
    )


_PLAIN_NUMBER = re.compile(r"[+-]?\d{1,15}(?:[.,]\d{1,15})?", re.ASCII)
_GROUPED_COMMA_DECIMAL = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d{1,15})?", re.ASCII)
_GROUPED_POINT_DECIMAL = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+\.\d{1,15}", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d{1,15}(?:[.,]0+)?", re.ASCII)


def _decimal(text: str) -> float | None:
    if _PLAIN_NUMBER.fullmatch(text):
        return float(text.replace(",", "."))
    if _GROUPED_COMMA_DECIMAL.fullmatch(text):
        return float(text.replace(".", "").replace(",", "."))
    if _GROUPED_POINT_DECIMAL.fullmatch(text):
        return float(text.replace(",", ""))
    return None


def _integer(text: str) -> float | None:
    return float(int(re.sub(r"[.,]0+$", "", text))) if _INTEGER.fullmatch(text) else None


def _numbers_of(
    uniques: np.ndarray, parse: Callable[[str], float | None]
) -> tuple[np.ndarray, np.ndarray]:
    """Floats (NaN where empty or bad) and the bad mask, per distinct value."""
    values = np.full(len(uniques), np.nan)
    bad = np.zeros(len(uniques), dtype=bool)
    for i, (raw, text) in enumerate(zip(uniques, _stripped(uniques))):
        if text:
            number = parse(text)
            if number is None:
                bad[i] = True
            else:
                values[i] = number
        elif type(raw) is not str:  # a date cell where a number belongs
            bad[i] = True
    return values, bad


def parse_decimal(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """ "5,5", "5.5", "5", also with thousands grouping ("1.234,56", "1,234.56"). Empty -> NaN."""
    codes, uniques = factorize(series)
    values, bad = _numbers_of(uniques, _decimal)
    return pd.Series(_spread(values, codes, np.nan), index=series.index), pd.Series(
        _spread(bad, codes, False), index=series.index
    )


def _as_int64(values: np.ndarray) -> pd.arrays.IntegerArray:
    missing = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(np.int64), missing)


def parse_int(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole numbers ("5", "+5", "-5", "5,0"); empty -> <NA>, not bad."""
    codes, uniques = factorize(series)
    values, bad = _numbers_of(uniques, _integer)
    return pd.Series(_as_int64(_spread(values, codes, np.nan)), index=series.index), pd.Series(
        _spread(bad, codes, False), index=series.index
    )


# --- per-row checks ------------------------------------------------------------------

SAFE_DATE = re.compile(r"[0-9 ./:T+\-]{1,24}")
_SAFE_NUMBER = re.compile(r"[0-9 .,+\-]{1,24}")
_DATE_SHAPE = re.compile(r"(\d{1,2})-(\d{1,2})-(\d{4})|(\d{4})-(\d{1,2})-(\d{1,2})", re.ASCII)
_LONG_DIGITS = re.compile(r"[0-9]{6,}")


def shown(value: object, safe: re.Pattern[str]) -> str | None:
    """A delivered value fit to quote in a reason: only digits and separators (never a
    name), long digit runs masked; None when it may not be shown."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.strftime("%Y-%m-%d") + (
            f" {value:%H:%M}"
            if isinstance(value, dt.datetime) and value.time() != dt.time()
            else ""
        )
    text = str(value if value is not None else "").strip()
    if not safe.fullmatch(text):
        return None
    return _LONG_DIGITS.sub("<number>", text)


@dataclass
class _Factor:
    codes: np.ndarray
    uniques: np.ndarray
    text: np.ndarray  # stripped strings per distinct value ('' for date cells)
    cells: np.ndarray  # date cell per distinct value

    @classmethod
    def of(cls, codes: np.ndarray, uniques: np.ndarray) -> _Factor:
        return cls(codes, uniques, _stripped(uniques), _is_cell(uniques))

    def rows(self, per_unique: np.ndarray, missing: object) -> np.ndarray:
        return _spread(per_unique, self.codes, missing)


class RowChecks:
    """Per row the first failing rule: reason code, readable detail and pseudonym.

    Callers apply rules in a fixed order (identifier, missing_field, invalid_date,
    invalid_number, invalid_code); a row keeps the first reason it gets. Values are
    examined per distinct value of a column.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        labels: dict[str, str],
        factors: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
        sender: str | np.ndarray | None = None,
    ):
        self.frame = frame
        self.labels = labels
        # the delivery's sender, or per row when several files are checked as one
        self.sender = sender
        n = len(frame)
        self.code = np.full(n, None, dtype=object)
        self.detail = np.full(n, "", dtype=object)
        self.pseudonym = np.full(n, None, dtype=object)
        self.delivered_pseudonym: np.ndarray | None = None  # per row, once identifiers() ran
        self.passed = np.ones(n, dtype=bool)
        self._factors = {c: _Factor.of(*f) for c, f in (factors or {}).items()}

    def label(self, column: str) -> str:
        return self.labels.get(column, column)

    def factor(self, column: str) -> _Factor:
        if column not in self._factors:
            self._factors[column] = _Factor.of(*factorize(self.frame[column]))
        return self._factors[column]

    def text(self, column: str) -> pd.Series:
        """The column's strings, stripped ('' for empty, absent and date cells)."""
        return pd.Series(
            self.factor(column).rows(self.factor(column).text, ""),
            index=self.frame.index,
            dtype=object,
        )

    def empty(self, column: str) -> np.ndarray:
        f = self.factor(column)
        return f.rows((f.text == "") & ~f.cells, True)

    def fail(
        self,
        mask,
        code: str | np.ndarray,
        detail: str | Iterable[str] | Callable[[np.ndarray], Iterable[str]] = "",
        pseudonym=None,
    ) -> None:
        """Fail the rows under mask that passed so far. `detail` may be a function of the
        failing rows' positions, so details are only built for the rows that need one."""
        mask = np.asarray(mask, dtype=bool) & self.passed
        if not mask.any():
            return
        self.code[mask] = code if isinstance(code, str) else np.asarray(code, dtype=object)[mask]
        if callable(detail):
            self.detail[mask] = np.asarray(list(detail(np.flatnonzero(mask))), dtype=object)
        elif isinstance(detail, str):
            self.detail[mask] = detail
        else:
            self.detail[mask] = np.asarray(list(detail), dtype=object)[mask]
        if pseudonym is not None:
            self.pseudonym[mask] = np.asarray(pseudonym, dtype=object)[mask]
        self.passed &= ~mask

    def each_value(
        self, column: str, describe: Callable[[object], str]
    ) -> Callable[[np.ndarray], list[str]]:
        """A `detail` for fail(): describe(value) for each failing row's delivered value."""
        values = self.frame[column].to_numpy(dtype=object)
        return lambda positions: [describe(v) for v in values[positions]]

    def mandatory(self, *columns: str) -> None:
        for column in columns:
            self.fail(self.empty(column), "missing_field", f"column {self.label(column)} is empty")

    def date(self, column: str, echo: bool = True) -> pd.Series:
        """Parsed dates; unreadable or impossible ones fail the row (invalid_date). With
        echo=False (a birth date) the value is never quoted."""
        f = self.factor(column)
        values, bad = dates_of(f.uniques)
        values, bad = f.rows(values, np.datetime64("NaT", "ns")), f.rows(bad, False)
        label = self.label(column)

        def describe(value: object) -> str:
            text = shown(value, SAFE_DATE) if echo else None
            raw = _MIDNIGHT.sub("", value.strip()) if isinstance(value, str) else ""
            if isinstance(value, (dt.datetime, dt.date)):
                what = (
                    "is a date cell with a time of day"
                    if MIN_YEAR <= value.year <= MAX_YEAR
                    else f"is outside the years {MIN_YEAR}-{MAX_YEAR}"
                )
            elif match := _DATE_SHAPE.fullmatch(raw):
                year = int(match.group(3) or match.group(4))
                what = (
                    "does not exist"
                    if MIN_YEAR <= year <= MAX_YEAR
                    else f"is outside the years {MIN_YEAR}-{MAX_YEAR}"
                )
            else:
                what = "cannot be read as a date (expected dd-mm-yyyy or yyyy-mm-dd)"
            return f"column {label}: {text} {what}" if text else f"column {label}: the date {what}"

        self.fail(bad, "invalid_date", self.each_value(column, describe))
        return pd.Series(np.where(bad, np.datetime64("NaT", "ns"), values), index=self.frame.index)

    def number(
        self,
        column: str,
        integer: bool = False,
        minimum: float | None = None,
        maximum: float | None = None,
        above: float | None = None,
        range_code: str = "invalid_number",
    ) -> pd.Series:
        """Parsed numbers (float, or nullable Int64 with integer=True); unreadable ones
        fail the row (invalid_number), then out-of-range ones fail with `range_code`."""
        values = self.parse_number(column, integer)
        return self.within(column, values, minimum, maximum, above, range_code)

    def parse_number(self, column: str, integer: bool = False) -> pd.Series:
        """Parsed numbers; unreadable ones fail the row (invalid_number)."""
        f = self.factor(column)
        values, bad = _numbers_of(f.uniques, _integer if integer else _decimal)
        label = self.label(column)

        def unreadable(value: object) -> str:
            text = shown(value, _SAFE_NUMBER)
            return (
                f"column {label}: {text} cannot be read as a number"
                if text
                else f"column {label}: the value cannot be read as a number"
            )

        self.fail(f.rows(bad, False), "invalid_number", self.each_value(column, unreadable))
        rows = f.rows(np.where(bad, np.nan, values), np.nan)
        return pd.Series(_as_int64(rows) if integer else rows, index=self.frame.index)

    def within(
        self,
        column: str,
        values: pd.Series,
        minimum: float | None = None,
        maximum: float | None = None,
        above: float | None = None,
        code: str = "invalid_number",
    ) -> pd.Series:
        """Fail rows whose number lies outside the bounds (with `code`); values kept as given."""
        floats = values.astype(float).to_numpy()
        out = np.zeros(len(floats), dtype=bool)
        bounds = []
        with np.errstate(invalid="ignore"):
            if above is not None:
                out |= floats <= above
                bounds.append(f"more than {above:g}")
            if minimum is not None:
                out |= floats < minimum
                bounds.append(f"at least {minimum:g}")
            if maximum is not None:
                out |= floats > maximum
                bounds.append(f"at most {maximum:g}")
        label, must = self.label(column), " and ".join(bounds)
        self.fail(
            out,
            code,
            self.each_value(
                column,
                lambda v: (
                    f"column {label}: {shown(v, _SAFE_NUMBER) or 'the value'} is out of range "
                    f"(must be {must})"
                ),
            ),
        )
        return values.where(~out)

    def code_list(self, column: str, mapping: dict[str, object], expected: str) -> pd.Series:
        """Map a code (case-insensitive) through `mapping`; other values fail (invalid_code).
        The delivered value is not quoted: a code column is no place to echo text from."""
        f = self.factor(column)
        lower = [t.lower() for t in f.text]
        known = np.array([t in mapping for t in lower], dtype=bool)
        empty = np.array([t == "" for t in lower], dtype=bool) & ~f.cells
        self.fail(
            f.rows(~known & ~empty, False),
            "invalid_code",
            f"column {self.label(column)}: value is not one of {expected}",
        )
        return pd.Series(
            f.rows(np.array([mapping.get(t) for t in lower], dtype=object), None),
            index=self.frame.index,
            dtype=object,
        )

    def category(self, column: str) -> pd.Series:
        """A kept category as delivered (stripped; None when empty); control characters
        or a date cell fail the row (invalid_code)."""
        f = self.factor(column)
        broken = np.array([bool(_CONTROL_CHARS.search(t)) for t in f.text], dtype=bool) | f.cells
        self.fail(
            f.rows(broken, False),
            "invalid_code",
            f"column {self.label(column)}: value is not a category (control characters or a date "
            "cell)",
        )
        kept = np.array([t if t and not b else None for t, b in zip(f.text, broken)], dtype=object)
        return pd.Series(f.rows(kept, None), index=self.frame.index, dtype=object)

    def school(
        self,
        brin_column: str,
        vestiging_column: str,
        expected: str | np.ndarray | None = None,
    ) -> pd.DataFrame:
        """brin, vestiging and school_id (BRIN + vestiging), formats checked (invalid_code);
        with `expected` (one school, or one per row), a row for another school fails too."""
        fb, fv = self.factor(brin_column), self.factor(vestiging_column)
        brin_u = np.array([t.upper().replace(" ", "") for t in fb.text], dtype=object)
        vest_u = np.array([t.replace(" ", "") for t in fv.text], dtype=object)
        # a number cell 0 -> 00
        vest_u = np.array(
            [("0" + t) if len(t) == 1 and t in "0123456789" else t for t in vest_u], dtype=object
        )
        bad_brin = (
            np.array(
                [bool(t) and not re.fullmatch(r"[0-9]{2}[A-Z]{2}", t) for t in brin_u], dtype=bool
            )
            | fb.cells
        )
        bad_vest = (
            np.array([bool(t) and not re.fullmatch(r"[0-9]{2}", t) for t in vest_u], dtype=bool)
            | fv.cells
        )
        self.fail(
            fb.rows(bad_brin, False),
            "invalid_code",
            f"column {self.label(brin_column)}: not a BRIN number (two digits, two letters)",
        )
        self.fail(
            fv.rows(bad_vest, False),
            "invalid_code",
            f"column {self.label(vestiging_column)}: not a two-digit vestiging number",
        )
        brin, vestiging = fb.rows(brin_u, ""), fv.rows(vest_u, "")
        has_brin, has_vestiging = brin != "", vestiging != ""
        complete = has_brin & has_vestiging
        school_id = np.where(complete, brin + vestiging, None)
        if expected is not None:
            sender = np.broadcast_to(np.asarray(expected, dtype=object), school_id.shape)
            self.fail(
                complete & (school_id != sender),
                "invalid_code",
                lambda rows: [
                    f"row is for school {school_id[r]}, the file was delivered by school "
                    f"{sender[r]}"
                    for r in rows
                ],
            )
        return pd.DataFrame(
            {
                "brin": np.where(has_brin, brin, None),
                "vestiging": np.where(has_vestiging, vestiging, None),
                "school_id": school_id,
            },
            index=self.frame.index,
        )

    def identifiers(
        self,
        pseudonymiser: Pseudonymiser,
        bsn_column: str | None,
        ond_column: str | None,
        cache: dict,
    ) -> pd.DataFrame:
        """Pseudonymise (each distinct identifier pair once per file, via `cache`); an
        invalid one fails the row with the keyed pseudonym of what was delivered, never
        the number itself."""
        n = len(self.frame)
        none = _Factor.of(np.zeros(n, dtype=np.int64), np.array([""], dtype=object))
        fb = self.factor(bsn_column) if bsn_column else none
        fo = self.factor(ond_column) if ond_column else none
        pair = (fb.codes.astype(np.int64) + 1) * (len(fo.uniques) + 1) + (fo.codes + 1)
        codes, pairs = pd.factorize(pair)
        b_index, o_index = pairs // (len(fo.uniques) + 1) - 1, pairs % (len(fo.uniques) + 1) - 1
        b_values = [fb.uniques[i] if i >= 0 else None for i in b_index]
        o_values = [fo.uniques[i] if i >= 0 else None for i in o_index]
        keys = [(_id_key(b), _id_key(o)) for b, o in zip(b_values, o_values)]
        todo = [i for i, key in enumerate(keys) if key not in cache]
        if todo:
            records = pseudonymiser.identify_many(
                [_ascii(b_values[i]) for i in todo], [_ascii(o_values[i]) for i in todo]
            )
            cache.update((keys[i], record) for i, record in zip(todo, records))
        table = np.empty((len(keys), 4), dtype=object)
        for i, key in enumerate(keys):
            table[i] = cache[key]
        out = pd.DataFrame(
            table[codes] if n else np.empty((0, 4), dtype=object),
            columns=["pseudonym", "id_kind", "key_version", "error"],
            index=self.frame.index,
        )
        error = out["error"].to_numpy(dtype=object)
        failed = pd.notna(error)
        kinds = out["id_kind"].to_numpy(dtype=object)
        where = {
            "bsn": self.label(bsn_column) if bsn_column else "BSN",
            "onderwijsnummer": self.label(ond_column) if ond_column else "onderwijsnummer",
        }
        self.delivered_pseudonym = out["pseudonym"].to_numpy(dtype=object)
        self.fail(
            failed,
            error,
            lambda rows: [
                f"column {where[kinds[r]]}"
                if kinds[r] in where and error[r] != "missing_identifier"
                else ""
                for r in rows
            ],
            pseudonym=self.delivered_pseudonym,
        )
        return out


def _id_key(value: object) -> str:
    return (
        ""
        if value is None
        else (value.isoformat() if isinstance(value, (dt.datetime, dt.date)) else str(value))
    )


def _ascii(value: object) -> object:
    """The pseudonymiser hashes ASCII; a malformed identifier with other characters is
    escaped (it stays malformed, and its pseudonym still identifies what was delivered)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str) and not value.isascii():
        return value.encode("ascii", "backslashreplace").decode("ascii")
    return value


# --- the reader skeleton -------------------------------------------------------------


# A reader's rules: the canonical columns of a block of rows -> its output rows, failing
# rows through the RowChecks.
Process = Callable[[pd.DataFrame, RowChecks], pd.DataFrame]


@dataclass
class Spec:
    """What a reader expects of an export."""

    table: str  # raw table name
    aliases: dict[str, list[str]]  # mandatory columns
    optional: dict[str, list[str]] = field(default_factory=dict)
    one_of: list[tuple[str, ...]] = field(default_factory=list)


_HASH_KEYS = ("pilotmonitor-r01", "pilotmonitor-r02")  # 16 characters each: 128 bits per row


_ABSENT = np.uint64(0x9E3779B97F4A7C15)  # hash of a field missing from a short row


def _row_hashes(factors: list[tuple[np.ndarray, np.ndarray]], n: int) -> np.ndarray:
    """Two independent 64-bit hashes per row over all delivered fields, so that equal
    rows (exact duplicates) have equal hashes; an absent field differs from an empty one."""
    out = np.zeros((n, len(_HASH_KEYS)), dtype=np.uint64)
    # The distinct values of all columns hashed in one call per key (pandas costs per call).
    texts = np.array([_id_key(v) for _, uniques in factors for v in uniques], dtype=object)
    ends = np.cumsum([len(uniques) for _, uniques in factors])
    for k, key in enumerate(_HASH_KEYS):
        hashed = (
            pd.util.hash_array(texts, hash_key=key) if len(texts) else np.zeros(0, dtype=np.uint64)
        )
        for (codes, _), per_unique in zip(factors, np.split(hashed, ends[:-1])):
            out[:, k] = out[:, k] * np.uint64(1099511628211) ^ _spread(per_unique, codes, _ABSENT)
    return out


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Building millions of small objects triggers the cyclic garbage collector over and
    over (each time scanning all live objects); reading creates no garbage cycles worth
    collecting meanwhile, so pause it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _quarantine(
    table: str,
    positions: np.ndarray,
    rows: np.ndarray,
    codes: np.ndarray,
    details: np.ndarray,
    pseudonyms: np.ndarray,
    key_version: str | None,
) -> pd.DataFrame:
    if not len(rows):
        return _EMPTY_QUARANTINE.copy()
    has_pseudonym = pd.notna(pseudonyms)
    part = quarantine_rows(
        rows.astype(str), table, codes, details, np.where(has_pseudonym, pseudonyms, None)
    )
    # the key version of the row's pseudonym; none for a row without one
    part["key_version"] = np.where(has_pseudonym, key_version, None)
    part.insert(0, "_position", positions)
    return part


_EMPTY_QUARANTINE = empty_quarantine().assign(_position=pd.Series(dtype="int64"))


def empty_table(table: str) -> pd.DataFrame:
    return _empty_table(table).copy()  # a copy: callers may add to it


@functools.cache
def _empty_table(table: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in [*RAW_TABLES[table], "row_locator"]})


def run_reader(
    path: Path,
    spec: Spec,
    process: Process,
    key_version: str | None = None,
    chunk_rows: int | None = None,
) -> ReadResult:
    """iter_reader's parts combined into one ReadResult (accounting checked)."""
    return combine_parts(iter_reader(path, spec, process, key_version, chunk_rows))


class _SeenRows:
    """Row-content hashes seen so far in a file -> number of the first row with them.

    Kept as sorted numpy segments (one per chunk, only hashes new in that chunk), about
    24 bytes per distinct row, so duplicate detection works across chunks without
    holding the rows themselves."""

    # A row's two hashes as one 16-byte string: numpy sorts and searches those with a
    # byte comparison, four times faster than a record dtype compared field by field
    # (which was 40% of reading a 1M-row file); equal strings are equal hash pairs.
    _DTYPE = np.dtype("S16")

    def __init__(self) -> None:
        self.segments: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted keys, first row numbers)

    def first_rows(self, hashes: np.ndarray, row_numbers: np.ndarray) -> np.ndarray:
        """Per row of a chunk the number of the first row of the file with the same
        hashes (itself if it is the first); remembers the chunk's new hashes."""
        keys = np.ascontiguousarray(hashes, dtype=np.uint64).view(self._DTYPE).ravel()
        first = row_numbers[_first_occurrences(hashes) - 1]  # within the chunk
        earlier = np.zeros(len(keys), dtype=np.int64)
        for (
            seg_keys,
            seg_rows,
        ) in self.segments:  # in file order: the first match is the earliest row
            at = np.minimum(np.searchsorted(seg_keys, keys), len(seg_keys) - 1)
            found = (seg_keys[at] == keys) & (earlier == 0)
            earlier[found] = seg_rows[at[found]]
        first = np.where(earlier > 0, earlier, first)
        new = first == row_numbers  # first occurrence in the file
        if new.any():
            order = np.argsort(keys[new], kind="stable")
            self.segments.append((keys[new][order], row_numbers[new][order]))
        return first


@dataclass
class _Block:
    """Rows checked as one: a chunk of one file, or several small files whose headers
    name the same columns alike (positions 0..n-1 run file after file)."""

    frame: pd.DataFrame  # the canonical columns
    factors: dict[str, tuple[np.ndarray, np.ndarray]]  # of the delivered canonical columns
    labels: dict[str, str]
    absent: np.ndarray  # per row: fields missing from a short row
    width: np.ndarray  # per row: fields in its file's header
    row_numbers: np.ndarray  # per row: its number in its file
    first_rows: np.ndarray  # per row: the first row of its file with the same fields
    sender: str | np.ndarray | None


@dataclass
class _Checked:
    out: pd.DataFrame  # rows loaded (raw table columns + row_locator), in position order
    kept: np.ndarray  # their positions
    quarantine: pd.DataFrame  # rows quarantined, in position order, with _position
    duplicates: np.ndarray  # positions of the exact duplicates among them


def _check_block(
    block: _Block,
    spec: Spec,
    process: Process,
    key_version: str | None,
) -> _Checked:
    """The reader's rules, then exact duplicates (all delivered fields equal to an earlier
    row's of the same file; only rows that passed every other rule)."""
    frame, absent, width, row_numbers = block.frame, block.absent, block.width, block.row_numbers
    checks = RowChecks(frame, block.labels, block.factors, block.sender)
    checks.fail(
        absent > 0,
        "missing_field",
        lambda rows: [
            f"row has {width[r] - absent[r]} of the {width[r]} fields of the header" for r in rows
        ],
    )
    out = process(frame, checks)
    passed = checks.passed
    out = out.loc[passed, list(RAW_TABLES[spec.table])]
    out["row_locator"] = row_numbers[passed].astype(str).astype(object)
    bad = ~passed
    positions = np.arange(len(frame))
    # A quarantined row keeps the pseudonym of the pupil it was about, whatever its fault.
    pseudonyms = (
        checks.pseudonym
        if checks.delivered_pseudonym is None
        else np.where(pd.notna(checks.pseudonym), checks.pseudonym, checks.delivered_pseudonym)
    )
    quarantine = _quarantine(
        spec.table,
        positions[bad],
        row_numbers[bad],
        checks.code[bad],
        checks.detail[bad],
        pseudonyms[bad],
        key_version,
    )
    kept = positions[passed]
    is_duplicate = block.first_rows[kept] != row_numbers[kept]
    duplicates = kept[is_duplicate]
    if len(duplicates):
        dup_pseudonyms = (
            out["pupil_pseudonym"].to_numpy(dtype=object)[is_duplicate]
            if "pupil_pseudonym" in out
            else np.full(len(duplicates), None, dtype=object)
        )
        repeated = _quarantine(
            spec.table,
            duplicates,
            row_numbers[duplicates],
            np.full(len(duplicates), "duplicate_row", dtype=object),
            np.array([f"same as row {r}" for r in block.first_rows[duplicates]], dtype=object),
            dup_pseudonyms,
            key_version,
        )
        quarantine = pd.concat([quarantine, repeated], ignore_index=True)
        out, kept = out.loc[~is_duplicate], kept[~is_duplicate]
    out.index = pd.RangeIndex(len(out))
    quarantine = quarantine.sort_values("_position", kind="stable").reset_index(drop=True)
    return _Checked(out, kept, quarantine, duplicates)


def _open_columns(table: Table, spec: Spec, path: Path) -> tuple[Columns, dict[str, str]]:
    """Which delivered column holds each canonical field, and the canonical fields' labels."""
    columns = resolve_columns(
        table.columns,
        spec.aliases,
        path,
        spec.optional,
        spec.one_of,
        table.info.get("duplicate_columns", ()),
    )
    return columns, {c: table.labels[name] for c, name in columns.source.items() if name}


def iter_reader(
    path: Path,
    spec: Spec,
    process: Process,
    key_version: str | None = None,
    chunk_rows: int | None = None,
    sender: str | None = None,
) -> Iterator[ReadResult]:
    """Open, resolve columns, then per chunk check the rows and quarantine exact
    duplicate rows (in this or an earlier chunk), yielding one part per chunk with
    file-global row numbers and its accounting checked. A last part without rows carries
    the notes (how the file was read, how many duplicates). ``sender`` is the delivery's
    sender (``RowChecks.sender``)."""
    path = Path(path)
    with open_table(path, chunk_rows or CHUNK_ROWS) as table:
        columns, labels = _open_columns(table, spec, path)
        width = len(table.columns)
        seen = _SeenRows()
        duplicates = 0
        while True:
            with _gc_paused():
                item = next(table.chunks, None)
                if item is None:
                    break
                first, raw = item
                n = len(raw)
                factors = {c: factorize(raw[c]) for c in raw.columns}
                row_numbers = np.arange(first, first + n)
                block = _Block(
                    pd.DataFrame(
                        {
                            c: (raw[s] if s else pd.Series([""] * n, index=raw.index, dtype=object))
                            for c, s in columns.source.items()
                        },
                        index=raw.index,
                    ),
                    {c: factors[s] for c, s in columns.source.items() if s},
                    labels,
                    sum((codes == -1).astype(np.int64) for codes, _ in factors.values()),
                    np.full(n, width),
                    row_numbers,
                    seen.first_rows(_row_hashes(list(factors.values()), n), row_numbers),
                    sender,
                )
                checked = _check_block(block, spec, process, key_version)
                duplicates += len(checked.duplicates)
                part = ReadResult(
                    {spec.table: checked.out}, checked.quarantine.drop(columns="_position"), n
                )
                part.check_accounting()
                del raw, block, checked, factors, item
            yield part
            del part
        info = table.info
    yield ReadResult(
        {spec.table: empty_table(spec.table)},
        empty_quarantine(),
        0,
        _notes(info, columns.ignored, duplicates),
    )


def _notes(info: dict, ignored: list[str], duplicates: int) -> list[str]:
    notes = [_describe(info, ignored)]
    if duplicates:
        notes.append(f"{duplicates} exact duplicate row(s) quarantined")
    return notes


# --- several small files read as one ---------------------------------------------------

# Files up to this size are read whole and checked together; a larger one in chunks on
# its own (iter_reader), so memory stays bounded by the chunk size.
WHOLE_FILE_BYTES = 4_000_000


@dataclass
class _WholeFile:
    index: int  # in the items asked for
    raw: pd.DataFrame  # every delivered column (normalised names), every row
    columns: Columns
    labels: dict[str, str]
    info: dict  # how it was read (the notes)
    sender: str | None

    def layout(self) -> tuple:
        """Files with the same layout are checked as one: the same canonical columns from
        the same delivered names under the same labels (reasons quote the labels)."""
        return tuple((c, s, self.labels.get(c)) for c, s in self.columns.source.items())


def _read_whole(index: int, path: Path, spec: Spec, sender: str | None) -> _WholeFile:
    with open_table(path) as table:
        columns, labels = _open_columns(table, spec, path)
        chunks = [chunk for _, chunk in table.chunks]
        raw = (
            pd.concat(chunks, ignore_index=True)
            if len(chunks) > 1
            else chunks[0]
            if chunks
            else pd.DataFrame({c: pd.Series(dtype=object) for c in table.columns})
        )
        return _WholeFile(index, raw, columns, labels, table.info, sender)


def read_many(
    items: Sequence[tuple[Path, str | None]],
    spec: Spec,
    process: Process,
    key_version: str | None = None,
) -> list[list[ReadResult] | DeliveryError]:
    """Per (path, sender) what iter_reader gives: the file's parts, or the DeliveryError
    that refused it. Small files with the same layout are checked as one block: checked
    alone, a school's yearly export of a few hundred rows costs about 8 ms of per-call
    pandas work, more than its rows; together the distinct dates, codes and pupils of
    many files are also parsed once. Rows, quarantine (reasons, row numbers) and notes
    are those of reading each file alone (tested)."""
    results: list[list[ReadResult] | DeliveryError | None] = [None] * len(items)
    layouts: dict[tuple, list[_WholeFile]] = {}
    with _gc_paused():
        for index, (path, sender) in enumerate(items):
            path = Path(path)
            try:
                if path.stat().st_size > WHOLE_FILE_BYTES:
                    results[index] = list(
                        iter_reader(path, spec, process, key_version, sender=sender)
                    )
                    continue
                whole = _read_whole(index, path, spec, sender)
            except DeliveryError as error:
                results[index] = error
                continue
            layouts.setdefault(whole.layout(), []).append(whole)
        for files in layouts.values():
            for whole, part in zip(files, _check_files(files, spec, process, key_version)):
                results[whole.index] = [part]
    return results  # type: ignore[return-value]  # every item has its result


def _check_files(
    files: list[_WholeFile],
    spec: Spec,
    process: Process,
    key_version: str | None,
) -> list[ReadResult]:
    """Whole files of one layout checked as one block, split back into one part each."""
    sizes = np.array([len(f.raw) for f in files], dtype=np.int64)
    n = int(sizes.sum())
    file_of = np.repeat(np.arange(len(files)), sizes)
    starts = np.cumsum(sizes) - sizes
    row_numbers = np.arange(n) - starts[file_of] + 1
    # Every delivered column of any of the files; one a file lacks counts as absent in
    # its rows (taken off the count of short-row fields below; constant within the file,
    # so it cannot make two of its rows differ).
    delivered = list(dict.fromkeys(c for f in files for c in f.raw.columns))
    values = {
        c: np.concatenate(
            [
                f.raw[c].to_numpy(dtype=object)
                if c in f.raw.columns
                else np.full(len(f.raw), None, dtype=object)
                for f in files
            ]
        )
        for c in delivered
    }
    factors = {c: factorize(v) for c, v in values.items()}
    widths = np.array([len(f.raw.columns) for f in files], dtype=np.int64)
    absent = sum((codes == -1).astype(np.int64) for codes, _ in factors.values())
    absent = absent - (len(delivered) - widths)[file_of]
    # the file is part of the row's content: equal rows of two files are no duplicates
    file_factor = (file_of, np.array([str(i) for i in range(len(files))], dtype=object))
    hashes = _row_hashes([*factors.values(), file_factor], n)
    source = files[0].columns.source
    block = _Block(
        pd.DataFrame(
            {c: values[s] if s else np.full(n, "", dtype=object) for c, s in source.items()},
            dtype=object,
        ),
        {c: factors[s] for c, s in source.items() if s},
        files[0].labels,
        absent,
        widths[file_of],
        row_numbers,
        row_numbers[_first_occurrences(hashes) - 1],
        np.array([f.sender for f in files], dtype=object)[file_of],
    )
    checked = _check_block(block, spec, process, key_version)
    positions = checked.quarantine["_position"].to_numpy()
    quarantine = checked.quarantine.drop(columns="_position")
    bounds = np.arange(len(files) + 1)
    out_at = np.searchsorted(file_of[checked.kept], bounds)
    quarantine_at = np.searchsorted(file_of[positions], bounds)
    duplicates = np.bincount(file_of[checked.duplicates], minlength=len(files))
    parts = []
    for k, f in enumerate(files):
        notes = _notes(f.info, f.columns.ignored, int(duplicates[k]))
        if sizes[k]:
            part = ReadResult(
                {spec.table: checked.out.iloc[out_at[k] : out_at[k + 1]].reset_index(drop=True)},
                quarantine.iloc[quarantine_at[k] : quarantine_at[k + 1]].reset_index(drop=True),
                int(sizes[k]),
                notes,
            )
        else:
            part = ReadResult({spec.table: empty_table(spec.table)}, empty_quarantine(), 0, notes)
        part.check_accounting()
        parts.append(part)
    return parts


def _first_occurrences(hashes: np.ndarray) -> np.ndarray:
    """Per row (1-based) the number of the first row with the same hashes."""
    codes_a, _ = pd.factorize(hashes[:, 0])
    codes_b, uniques_b = pd.factorize(hashes[:, 1])
    # numbered in order of appearance
    groups, _ = pd.factorize(codes_a.astype(np.int64) * (len(uniques_b) + 1) + codes_b)
    first = np.empty(groups.max() + 1 if len(groups) else 0, dtype=np.int64)
    first[groups[::-1]] = np.arange(len(groups))[::-1]  # the earliest row wins
    return first[groups] + 1


def _describe(info: dict, ignored: list[str]) -> str:
    """A note for the delivery's metadata: how the file was read and what was ignored."""
    if info["format"] == "xlsx":
        text = f"xlsx, sheet {scrub(str(info['sheet']))[:40]} (first of {info['sheets']})"
        if info.get("cells_outside_header"):
            text += (
                f", {info['cells_outside_header']} row(s) with values right of the header ignored"
            )
    else:
        text = (
            f"csv, {info['encoding']}, delimiter "
            f"{'tab' if info['delimiter'] == chr(9) else repr(info['delimiter'])}"
        )
    if info.get("extension_mismatch"):
        text += f" ({info['extension_mismatch']})"
    if ignored:
        text += "; ignored columns: " + ", ".join(scrub(c)[:40] for c in ignored)
    return text
