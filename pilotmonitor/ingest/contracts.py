"""What every reader promises: its output tables, the quarantine format, the errors.

A reader turns one delivered file into raw-table rows plus quarantine rows, identifiers
already pseudonymised, with exact accounting:
``rows_read == sum(len(t) for t in tables.values()) + len(quarantine)``. A file that
cannot be read at all raises DeliveryError.

Design notes: docs/design/ingest.md#pilotmonitoringestcontractspy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

import numpy as np
import pandas as pd

from pilotmonitor.ingest.raw_catalogue import ROW_ORIGIN, catalogue

# Column name -> DuckDB type, per delivered raw table, from the catalogue (raw_tables.yml).
# Every raw row also gets delivery_id and row_locator (the row number or message name inside
# the delivery) from the loader/reader: raw_catalogue.ROW_ORIGIN.
RAW_TABLES: dict[str, dict[str, str]] = {
    name: {c: kind for c, kind in table.types().items() if c not in ROW_ORIGIN}
    for name, table in catalogue().of_kind("delivered").items()
}

# What a reader hands over per quarantined row; the loader adds the rest of raw.quarantine
# (delivery_id, path, source).
QUARANTINE_COLUMNS = {
    c: kind
    for c, kind in catalogue().tables["quarantine"].types().items()
    if c not in ("delivery_id", "path", "source")
}

# Reason codes with the readable text a steward sees (details may be appended).
REASONS = {
    "invalid_bsn": "BSN fails the 11-check",
    "reserved_bsn": "reserved BSN value (000000000 or 999999999) instead of a real number",
    "invalid_onderwijsnummer": (
        "onderwijsnummer fails its check (starts with 10, weighted sum 5 mod 11)"
    ),
    "malformed_identifier": "identifier is not a nine-digit number",
    "missing_identifier": "no BSN and no onderwijsnummer",
    "missing_field": "a mandatory field is empty",
    "invalid_date": "a date that does not exist or cannot be read",
    "invalid_number": "a number that cannot be read",
    "invalid_code": "a value outside its code list",
    "unknown_product_code": "product code not in the product list",
    "schema_invalid": "message does not validate against the iJw 3.2 XSD",
    "limit_exceeded": "larger than a parsing limit (pilotmonitor/ingest/limits.py): not read",
    "duplicate_row": "exact duplicate of an earlier row in the same delivery",
}


class DeliveryError(Exception):
    """A whole file cannot be read; the message names the file and what is wrong."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(f"{Path(path).name}: {problem}")
        self.path = str(path)
        self.problem = problem

    def __reduce__(self):  # picklable: raised in a worker process, reported by the loader
        return (type(self), (self.path, self.problem))


@dataclass
class Rows:
    """A table part as row tuples (RAW_TABLES columns + row_locator), for readers whose
    deliveries hold few rows each (an iJw archive: a few dozen). The loader builds one
    frame from the rows of many deliveries: a frame per delivery and table cost more than
    reading the delivery, and a frame is slower to pass between processes."""

    table: str
    rows: list[tuple]

    def __len__(self) -> int:
        return len(self.rows)

    def to_frame(self) -> pd.DataFrame:
        return rows_frame(self.table, self.rows)


def rows_frame(table: str, rows: list[tuple]) -> pd.DataFrame:
    """Row tuples in RAW_TABLES order + row_locator as a frame: BIGINT columns as nullable
    Int64, the rest objects."""
    kinds = RAW_TABLES[table]
    data = {}
    # Column by column (half the time of a frame from row tuples, and one column extra in
    # memory at a time); object columns filled, not inferred: strings and dates as they are.
    for position, column in enumerate([*kinds, "row_locator"]):
        values = np.fromiter(map(itemgetter(position), rows), dtype=object, count=len(rows))
        data[column] = pd.array(values, dtype="Int64") if kinds.get(column) == "BIGINT" else values
    return pd.DataFrame(data, copy=False)


def as_frame(table: pd.DataFrame | Rows) -> pd.DataFrame:
    return table.to_frame() if isinstance(table, Rows) else table


@dataclass
class ReadResult:
    # raw table name -> rows (RAW_TABLES columns + row_locator)
    tables: dict[str, pd.DataFrame | Rows]
    quarantine: pd.DataFrame  # QUARANTINE_COLUMNS
    rows_read: int
    notes: list[str] = field(default_factory=list)
    # Valid messages of a type the warehouse does not use, per type (an iJw retour message):
    # not rows, so outside the accounting; the delivery register counts them.
    ignored: dict[str, int] = field(default_factory=dict)

    def check_accounting(self) -> None:
        loaded = sum(len(frame) for frame in self.tables.values())
        if loaded + len(self.quarantine) != self.rows_read:
            raise AssertionError(
                f"row accounting broken: read {self.rows_read}, loaded {loaded}, quarantined "
                f"{len(self.quarantine)}"
            )


ReadOutput = ReadResult | Iterable[ReadResult]


def iter_parts(output: ReadOutput) -> Iterator[ReadResult]:
    """The parts of a reader's output: a single ReadResult is one part."""
    if isinstance(output, ReadResult):
        yield output
    else:
        yield from output


def combine_parts(output: ReadOutput) -> ReadResult:
    """One ReadResult from a reader's output (parts concatenated in order, notes joined).

    Empty frames are left out of the concatenation when there are non-empty ones, so the
    column types are those of the rows actually read."""
    if isinstance(output, ReadResult):
        return output
    tables: dict[str, list[pd.DataFrame]] = {}
    quarantines: list[pd.DataFrame] = []
    rows_read = 0
    notes: list[str] = []
    ignored: dict[str, int] = {}
    for part in output:
        part.check_accounting()
        for name, frame in part.tables.items():
            # a part's tuples are freed with the part
            tables.setdefault(name, []).append(as_frame(frame))
        quarantines.append(part.quarantine)
        rows_read += part.rows_read
        notes.extend(part.notes)
        add_counts(ignored, part.ignored)

    def concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
        filled = [f for f in frames if len(f)]
        if (
            len(filled) == 1
        ):  # not copied when its index is already 0..n-1 (a large delivery's frame)
            return (
                filled[0]
                if isinstance(filled[0].index, pd.RangeIndex)
                and filled[0].index.equals(pd.RangeIndex(len(filled[0])))
                else filled[0].reset_index(drop=True)
            )
        if filled:
            return pd.concat(filled, ignore_index=True)
        return frames[0].reset_index(drop=True)

    result = ReadResult(
        {name: concat(frames) for name, frames in tables.items()},
        concat(quarantines) if quarantines else empty_quarantine(),
        rows_read,
        notes,
        ignored,
    )
    result.check_accounting()
    return result


def add_counts(total: dict[str, int], counts: dict[str, int]) -> None:
    for key, count in counts.items():
        total[key] = total.get(key, 0) + count


def empty_quarantine() -> pd.DataFrame:
    return _EMPTY_QUARANTINE.copy()  # a copy: callers may add to it


_EMPTY_QUARANTINE = pd.DataFrame({name: pd.Series(dtype="object") for name in QUARANTINE_COLUMNS})


def quarantine_rows(
    locators: list[str] | pd.Series,
    target_table: str,
    reason_code: str | Sequence[str],
    detail: str | list[str] | pd.Series = "",
    pseudonyms: list | pd.Series | None = None,
    key_version: str | None = None,
) -> pd.DataFrame:
    """Build quarantine rows; `detail` is appended to the standard reason text. One reason
    code for all rows or one per row."""
    locators = list(locators)
    n = len(locators)
    details = [detail] * n if isinstance(detail, str) else list(detail)
    codes = [reason_code] * n if isinstance(reason_code, str) else list(reason_code)
    return pd.DataFrame(
        {
            "row_locator": [str(x) for x in locators],
            "target_table": target_table,
            "reason_code": pd.Series(codes, dtype=object),
            "reason": [f"{REASONS[c]}: {d}" if d else REASONS[c] for c, d in zip(codes, details)],
            "pseudonym": list(pseudonyms) if pseudonyms is not None else [None] * n,
            "key_version": key_version if pseudonyms is not None else None,
        }
    )


_NINE_DIGITS = re.compile(r"\b\d{8,10}\b")
_QUOTED = re.compile(r"'[^']*'")


def scrub(text: str) -> str:
    """Remove quoted values and long digit runs from a message (e.g. an XSD error that
    echoes the offending value), so no identifier reaches a reason, log or metadata."""
    return scrub_numbers(_QUOTED.sub("'…'", text))


def scrub_numbers(text: str) -> str:
    """Replace digit runs that could be an identifier (8-10 digits standing alone)."""
    return _NINE_DIGITS.sub("<number>", text)
