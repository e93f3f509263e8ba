"""Readers for the public reference data and the region's product list.

``read_product_list``, ``read_duo_schools``, ``read_duo_pupil_counts``, ``read_duo_vsv`` and
``read_cbs_youth_care``. None of these sources identifies a person, so no pseudonymiser is
involved. Strict on meaning, liberal on structure; accounting is exact.

Design notes: docs/design/ingest.md#pilotmonitoringestreaderspublic_datapy.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from pilotmonitor.ingest.bounded import file_problem
from pilotmonitor.ingest.contracts import (
    RAW_TABLES,
    DeliveryError,
    ReadResult,
    empty_quarantine,
    quarantine_rows,
    scrub,
)
from pilotmonitor.ingest.deliveries import Delivery
from pilotmonitor.ingest.limits import current_limits
from pilotmonitor.school_types import school_types

__all__ = [
    "read_product_list",
    "read_duo_schools",
    "read_duo_pupil_counts",
    "read_duo_vsv",
    "read_cbs_youth_care",
    "SCHOOL_TYPES",
]

# "SOORT PO" labels (normalised: lower case, single spaces) -> school type code, from the
# seed school_types (pilotmonitor.school_types). The synthetic publisher writes the long
# Dutch labels; the codes themselves are accepted too, and "bo" (DUO's short form of
# basisonderwijs), since they are unambiguous.
SCHOOL_TYPES = {
    **{row.label_nl.lower(): code for code, row in school_types().items()},
    **{code.lower(): code for code in school_types()},
    "bo": "BAO",
}
CLUSTERS = range(1, 5)  # the four REC clusters of special education
MAX_AGE = 30
MAX_INT32 = 2**31 - 1
MAX_VALUE_ECHO = 40  # longest delivered value quoted in a quarantine reason

_PANDAS_DTYPE = {
    "VARCHAR": object,
    "INTEGER": "Int32",
    "BIGINT": "Int64",
    "DOUBLE": "Float64",
    "BOOLEAN": "boolean",
    "DATE": "datetime64[ns]",
}
_BRIN = re.compile(r"^[0-9]{2}[A-Z]{2}$")
_DIGITS = re.compile(r"^[0-9]+$")
_GM = re.compile(r"^GM[0-9]{4}$")
_REGION_KEY = re.compile(r"^[A-Z]{2}[0-9]{2,8}$")
_YEAR_PERIOD = re.compile(r"^([0-9]{4})JJ00$")
_CBS_PERIOD = re.compile(r"^[0-9]{4}[A-Z][A-Z0-9][0-9]{2}$")
_CBS_NUMBER = re.compile(r"^[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$")


# --------------------------------------------------------------------------- helpers


def _norm_header(name: str) -> str:
    """'  Brin_Nummer ' -> 'BRIN NUMMER'."""
    return " ".join(name.replace("\ufeff", "").replace("_", " ").split()).upper()


def _echo(value: object) -> str:
    """A delivered value as it may appear in a reason: short, with long digit runs removed."""
    text = str(value)
    if len(text) > MAX_VALUE_ECHO:
        text = text[: MAX_VALUE_ECHO - 1] + "…"
    return scrub(f'"{text}"')


def _read_text(path: Path) -> str:
    try:
        if (too_large := file_problem(path, current_limits(), whole=True)) is not None:
            raise DeliveryError(path, too_large.reason)
        data = path.read_bytes()
    except OSError as exc:
        raise DeliveryError(path, f"cannot be opened: {exc.strerror or exc}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DeliveryError(path, "file is UTF-16; the publisher's format is UTF-8")
    if b"\x00" in data:
        raise DeliveryError(
            path,
            "file contains NUL bytes: not a UTF-8 text file (UTF-16 without byte-order mark, or "
            "binary?)",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DeliveryError(
            path,
            f"not valid UTF-8 (first bad byte at offset {exc.start}); the publisher's format is "
            "UTF-8",
        ) from None
    if not text.strip():
        raise DeliveryError(path, "file is empty")
    return text


def _sniff_delimiter(text: str) -> str:
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {sep: header.count(sep) for sep in (";", ",", "\t")}
    best = max(counts, key=lambda sep: (counts[sep], sep == ";"))
    return best if counts[best] else ";"


def _read_csv(
    path: Path, columns: dict[str, tuple[str, ...]], required: tuple[str, ...]
) -> tuple[pd.DataFrame, list[str]]:
    """Rows of a delimited text file as stripped strings under canonical column names.

    `columns` maps a canonical name to the accepted (normalised) header names; columns in
    `required` must be present, the others become empty strings when absent. The index
    holds the row locators (1-based data-row numbers). Rows whose fields are all empty
    are skipped and not numbered: they are not data rows.
    """
    text = _read_text(path)
    first_line, _, rest = text.lstrip("\r\n").partition("\n")
    sep_line = re.fullmatch(r"sep=(.)", first_line.strip())
    if sep_line:  # Excel's "sep=;" hint line
        text = rest
    delimiter = sep_line.group(1) if sep_line else _sniff_delimiter(text)
    notes = [] if delimiter == ";" else [f"delimiter {delimiter!r} instead of ';'"]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header: list[str] | None = None
        records: list[list[str]] = []
        locators: list[str] = []
        blank = 0
        number = 0
        for record in reader:
            if header is None:
                if any(cell.strip() for cell in record):
                    header = record
                continue
            if not any(cell.strip() for cell in record):
                blank += 1
                continue
            number += 1
            records.append(record)
            locators.append(str(number))
    except csv.Error as exc:
        raise DeliveryError(
            path, f"not a readable CSV (near line {reader.line_num}): {exc}"
        ) from None
    if header is None:
        raise DeliveryError(path, "file has no header line")
    # More fields than the header: tolerated only as a file-wide habit of a trailing
    # delimiter (every row equally long, the extra fields empty). A single longer row is
    # a value containing the delimiter without quotes: its fields are shifted.
    width = len(header)
    longer = [i for i, record in enumerate(records) if len(record) > width]
    if longer:
        lengths = {len(record) for record in records}
        shifted = next(
            (i for i in longer if any(cell.strip() for cell in records[i][width:])), None
        )
        if shifted is None and len(lengths) > 1:
            shifted = longer[0]
        if shifted is not None:
            raise DeliveryError(
                path,
                f"data row {locators[shifted]} has {len(records[shifted])} fields, the header has "
                f"{width} (a value containing the delimiter without quotes?)",
            )
        notes.append("every row ends in an extra empty field (trailing delimiter); ignored")
    records = [record[:width] + [""] * (width - len(record)) for record in records]

    positions: dict[str, int] = {}
    for position, cell in enumerate(header):
        name = _norm_header(cell)
        if name:
            positions.setdefault(name, position)
    found: dict[str, int] = {}
    for canonical, accepted in columns.items():
        hits = [name for name in accepted if name in positions]
        duplicates = [name for name in hits if sum(_norm_header(c) == name for c in header) > 1]
        if duplicates:
            raise DeliveryError(
                path, f"column {duplicates[0]} appears more than once in the header"
            )
        if len(hits) > 1:
            raise DeliveryError(path, f"columns {' and '.join(hits)} both mean {canonical}")
        if hits:
            found[canonical] = positions[hits[0]]
    missing = [columns[name][0] for name in required if name not in found]
    if missing:
        raise DeliveryError(
            path,
            f"missing required column(s) {', '.join(missing)} (delimiter {delimiter!r}; header: "
            f"{_echo(delimiter.join(header))})",
        )

    frame = pd.DataFrame(
        {
            name: [record[found[name]].strip() if name in found else "" for record in records]
            for name in columns
        },
        index=pd.Index(locators, name="row_locator", dtype=object),
        dtype=object,
    )
    if blank:
        notes.append(f"{blank} empty row(s) skipped")
    return frame, notes


def _said(prefix: str, values: pd.Series, suffix: str = ""):
    """A reason detail quoting the delivered value, built only for the rows it is used on."""
    return lambda mask: prefix + values[mask].map(_echo) + suffix


class _Checks:
    """Per-row validation; the first problem found for a row is the one reported."""

    def __init__(self, index: pd.Index):
        self.code = pd.Series(None, index=index, dtype=object)
        self.detail = pd.Series("", index=index, dtype=object)

    @property
    def ok(self) -> pd.Series:
        return self.code.isna()

    def reject(
        self, mask: pd.Series, code: str, detail: str | pd.Series | Callable[[pd.Series], pd.Series]
    ) -> None:
        mask = mask.fillna(False).astype(bool) & self.ok
        if not mask.any():
            return
        self.code[mask] = code
        if callable(detail):
            detail = detail(mask)
        self.detail[mask] = detail[mask] if isinstance(detail, pd.Series) else detail

    def require(self, values: pd.Series, label: str) -> None:
        self.reject(values.eq(""), "missing_field", f"{label} is empty")


def _conform(
    table: str, data: dict[str, pd.Series], index: pd.Index, ok: pd.Series
) -> pd.DataFrame:
    """A frame with row_locator + the RAW_TABLES columns of `table`, in order and typed.

    Values of rows that failed a check are blanked first: they may not fit the type."""
    out = pd.DataFrame({"row_locator": pd.Series(list(index), index=index, dtype=object)})
    for column, kind in RAW_TABLES[table].items():
        values = data.get(column, pd.Series(None, index=index, dtype=object)).reindex(index)
        values = values.astype(object).where(ok & values.notna(), None)
        dtype = _PANDAS_DTYPE[kind]
        if dtype is object:
            out[column] = values
        elif dtype == "datetime64[ns]":
            out[column] = pd.to_datetime(values)
        else:
            out[column] = values.astype(dtype)
    return out.reset_index(drop=True)


def _split_duplicates(out: pd.DataFrame, key: list[str], checks: _Checks, describe_key) -> None:
    """Quarantine exact repeats (duplicate_row) and conflicting rows of the same key.

    `out` is the conformed frame (positional index, row_locator column) of all rows."""
    values = [c for c in out.columns if c != "row_locator"]
    candidates = out[checks.ok.to_numpy()]
    if candidates.empty:
        return
    exact = candidates.duplicated(subset=values, keep="first")
    if exact.any():
        checks.reject(
            checks.code.index.to_series().isin(candidates.row_locator[exact]),
            "duplicate_row",
            "same values as an earlier row",
        )
    remaining = candidates[~exact]
    conflicting = remaining[remaining.duplicated(subset=key, keep=False)]
    if not conflicting.empty:
        counts = conflicting.groupby(key, dropna=False).row_locator.transform("count")
        detail = pd.Series(
            [
                f"conflicting rows: {describe_key(row)} appears {n} times with different values"
                for row, n in zip(conflicting.itertuples(index=False), counts)
            ],
            index=conflicting.row_locator.to_numpy(),
            dtype=object,
        )
        checks.reject(
            checks.code.index.to_series().isin(detail.index),
            "invalid_code",
            detail.reindex(checks.code.index).fillna(""),
        )


def _finish(
    table: str,
    data: dict[str, pd.Series],
    checks: _Checks,
    key: list[str],
    describe_key,
    notes: list[str],
) -> ReadResult:
    index = checks.code.index
    full = _conform(table, data, index, checks.ok)
    _split_duplicates(full, key, checks, describe_key)
    ok = checks.ok.to_numpy()
    loaded = full[ok].reset_index(drop=True)
    rejected = checks.code[~ok]
    parts = [
        quarantine_rows(list(group.index), table, code, checks.detail[group.index])
        for code, group in rejected.groupby(rejected, sort=False)
    ]
    if parts:
        quarantine = pd.concat(parts, ignore_index=True)
        order = {locator: position for position, locator in enumerate(index)}
        quarantine = quarantine.iloc[
            quarantine.row_locator.map(order).argsort(kind="stable")
        ].reset_index(drop=True)
        counts = rejected.value_counts()
        notes.append("quarantined: " + ", ".join(f"{n} {code}" for code, n in counts.items()))
    else:
        quarantine = empty_quarantine()
    result = ReadResult(
        tables={table: loaded}, quarantine=quarantine, rows_read=len(index), notes=notes
    )
    result.check_accounting()
    return result


def _school_id(
    brin: pd.Series, vestiging: pd.Series, checks: _Checks
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """BRIN (two digits, two letters) + vestiging (two digits) -> school_id, with checks."""
    checks.require(brin, "BRIN NUMMER")
    checks.require(vestiging, "VESTIGINGSNUMMER")
    brin = brin.str.upper()
    checks.reject(
        ~brin.str.match(_BRIN),
        "invalid_code",
        _said("BRIN NUMMER ", brin, " is not two digits and two letters"),
    )
    vest = vestiging.str.upper()
    # Tolerated structure: a 6-character vestigingscode (BRIN + number) and a number
    # that lost its leading zero ("0" -> "00").
    full_code = (vest.str.len() == 6) & (vest.str[:4] == brin)
    vest = vest.where(~full_code, vest.str[4:])
    vest = vest.where(~(vest.str.len() == 1) | ~vest.str.match(_DIGITS), vest.str.zfill(2))
    checks.reject(
        ~vest.str.match(r"^[0-9]{2}$"),
        "invalid_code",
        _said("VESTIGINGSNUMMER ", vestiging, " is not two digits"),
    )
    return brin + vest, brin, vest


def _int_column(values: pd.Series) -> pd.Series:
    """Digit strings (at most 12) -> Int64, NA elsewhere; callers check ranges."""
    return pd.Series(
        [int(v) if _DIGITS.match(v) and len(v) <= 12 else None for v in values],
        index=values.index,
        dtype="Int64",
    )


# --------------------------------------------------------------------------- product list

PRODUCT_COLUMNS = {
    "product_category": ("PRODUCTCATEGORIE", "PRODUCT CATEGORIE", "PRODUCT CATEGORY", "CATEGORIE"),
    "product_code": ("PRODUCTCODE", "PRODUCT CODE"),
    "description": ("OMSCHRIJVING", "DESCRIPTION", "PRODUCTOMSCHRIJVING"),
    "unit": ("EENHEID", "UNIT"),
    "frequency": ("FREQUENTIE", "FREQUENCY"),
    "tariff_cents": ("TARIEF EUROCENT", "TARIEF IN EUROCENTEN", "TARIFF CENTS"),
}


def read_product_list(path: Path, delivery: Delivery | None = None) -> ReadResult:
    """The region's product code list -> raw.product_list.

    Columns productcategorie, productcode (required), omschrijving, eenheid, frequentie,
    tarief_eurocent (optional). Category: two digits; product code: five letters or
    digits (iJw); unit: two digits (a lost leading zero is restored); frequency: one or
    two digits (leading zero dropped); tariff: whole euro cents, empty = unknown. The key
    is (category, code).
    """
    frame, notes = _read_csv(Path(path), PRODUCT_COLUMNS, ("product_category", "product_code"))
    checks = _Checks(frame.index)
    checks.require(frame.product_category, "productcategorie")
    checks.require(frame.product_code, "productcode")
    checks.reject(
        ~frame.product_category.str.match(r"^[0-9]{2}$"),
        "invalid_code",
        _said("productcategorie ", frame.product_category, " is not two digits"),
    )
    checks.reject(
        ~frame.product_code.str.match(r"^[0-9A-Za-z]{5}$"),
        "invalid_code",
        _said("productcode ", frame.product_code, " is not five letters or digits"),
    )
    unit = frame.unit.where(~frame.unit.str.match(r"^[0-9]$"), frame.unit.str.zfill(2))
    checks.reject(
        unit.ne("") & ~unit.str.match(r"^[0-9]{2}$"),
        "invalid_code",
        _said("eenheid ", frame.unit, " is not a two-digit unit code"),
    )
    frequency = frame.frequency.map(
        lambda v: str(int(v)) if _DIGITS.match(v) and len(v) <= 2 else v
    )
    checks.reject(
        frequency.ne("") & ~frame.frequency.str.match(r"^[0-9]{1,2}$"),
        "invalid_code",
        _said("frequentie ", frame.frequency, " is not a frequency code"),
    )
    tariff = _int_column(frame.tariff_cents)
    checks.reject(
        frame.tariff_cents.ne("") & tariff.isna(),
        "invalid_number",
        _said("tarief_eurocent ", frame.tariff_cents, " is not a whole number of cents"),
    )
    data = {
        "product_category": frame.product_category,
        "product_code": frame.product_code,
        "description": frame.description.replace("", None),
        "unit": unit.replace("", None),
        "frequency": frequency.replace("", None),
        "tariff_cents": tariff,
    }
    return _finish(
        "product_list",
        data,
        checks,
        ["product_category", "product_code"],
        lambda r: f"product {r.product_category}/{r.product_code}",
        notes,
    )


# --------------------------------------------------------------------------- DUO registry

DUO_SCHOOL_COLUMNS = {
    "brin": ("BRIN NUMMER", "BRINNUMMER", "BRIN"),
    "vestiging": ("VESTIGINGSNUMMER", "VESTIGINGSCODE"),
    "school_name": ("VESTIGINGSNAAM",),
    "municipality_number": ("GEMEENTENUMMER",),
    "municipality_name": ("GEMEENTENAAM",),
    "province": ("PROVINCIE",),
    "school_type": ("SOORT PO",),
    "cluster": ("CLUSTER",),
}


def read_duo_schools(path: Path, delivery: Delivery | None = None) -> ReadResult:
    """DUO school registry (vestigingen po) -> raw.duo_schools.

    Required columns BRIN NUMMER, VESTIGINGSNUMMER, GEMEENTENUMMER, SOORT PO; optional
    VESTIGINGSNAAM, GEMEENTENAAM, PROVINCIE, CLUSTER (all others, such as addresses and
    PLAATSNAAM, are not read). school_id = BRIN + vestiging ("99WA00");
    municipality_code = "GM" + four digits; school_type (seed school_types: BAO, SBO, SO, VO, PRO,
    VSO) from the SOORT PO label (SCHOOL_TYPES; an unknown label is quarantined); cluster 1-4 or
    empty. The key is school_id.
    """
    frame, notes = _read_csv(
        Path(path), DUO_SCHOOL_COLUMNS, ("brin", "vestiging", "municipality_number", "school_type")
    )
    checks = _Checks(frame.index)
    school_id, brin, vestiging = _school_id(frame.brin, frame.vestiging, checks)
    number = frame.municipality_number.str.upper().str.removeprefix("GM")
    checks.require(frame.municipality_number, "GEMEENTENUMMER")
    checks.reject(
        ~number.str.match(r"^[0-9]{1,4}$"),
        "invalid_code",
        _said("GEMEENTENUMMER ", frame.municipality_number, " is not a municipality number"),
    )
    checks.require(frame.school_type, "SOORT PO")
    school_type = frame.school_type.map(
        lambda label: SCHOOL_TYPES.get(" ".join(label.split()).lower())
    )
    checks.reject(
        school_type.isna(),
        "invalid_code",
        _said(
            "SOORT PO ",
            frame.school_type,
            " is not a known school type ("
            + ", ".join(row.label_nl for row in school_types().values())
            + ")",
        ),
    )
    cluster = _int_column(frame.cluster)
    checks.reject(
        frame.cluster.ne("") & ~cluster.isin(list(CLUSTERS)),
        "invalid_code",
        _said("CLUSTER ", frame.cluster, " is not 1-4"),
    )
    data = {
        "school_id": school_id,
        "brin": brin,
        "vestiging": vestiging,
        "school_name": frame.school_name.replace("", None),
        "municipality_code": "GM" + number.str.zfill(4),
        "municipality_name": frame.municipality_name.replace("", None),
        "province": frame.province.replace("", None),
        "school_type": school_type,
        "cluster": cluster.where(frame.cluster.ne(""), None),
    }
    return _finish(
        "duo_schools", data, checks, ["school_id"], lambda r: f"school {r.school_id}", notes
    )


# --------------------------------------------------------------------------- DUO pupil counts

DUO_PUPIL_COLUMNS = {
    "brin": ("BRIN NUMMER", "BRINNUMMER", "BRIN"),
    "vestiging": ("VESTIGINGSNUMMER", "VESTIGINGSCODE"),
    "count_date": ("PEILDATUM",),
    "age": ("LEEFTIJD",),
    "pupils": ("AANTAL LEERLINGEN", "AANTAL"),
}
_SUPPRESSED = re.compile(r"^<\s*5$")


def read_duo_pupil_counts(path: Path, delivery: Delivery | None = None) -> ReadResult:
    """DUO pupils per vestiging and age -> raw.duo_pupil_counts.

    Required columns BRIN NUMMER, VESTIGINGSNUMMER, PEILDATUM (yyyymmdd; yyyy-mm-dd is
    accepted too), LEEFTIJD (0-30), AANTAL LEERLINGEN. A count published as "<5" is data,
    not an error: pupils NULL and pupils_below_five TRUE. pupils_below_five means "the
    count is below five", so an exact count 0-4 has pupils set and pupils_below_five TRUE;
    counts of five and more have it FALSE. The key is (school_id, count_date, age). A
    count date in another year than the delivery's period is loaded, with a note.
    """
    frame, notes = _read_csv(Path(path), DUO_PUPIL_COLUMNS, tuple(DUO_PUPIL_COLUMNS))
    checks = _Checks(frame.index)
    school_id, _, _ = _school_id(frame.brin, frame.vestiging, checks)
    checks.require(frame.count_date, "PEILDATUM")
    digits = frame.count_date.str.replace(
        r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$", r"\1\2\3", regex=True
    )
    count_date = pd.to_datetime(
        digits.where(digits.str.match(r"^[0-9]{8}$"), None), format="%Y%m%d", errors="coerce"
    )
    checks.reject(
        count_date.isna(),
        "invalid_date",
        _said("PEILDATUM ", frame.count_date, " is not a date (yyyymmdd)"),
    )
    checks.require(frame.age, "LEEFTIJD")
    age = _int_column(frame.age)
    checks.reject(
        age.isna() | (age.fillna(0) > MAX_AGE),
        "invalid_number",
        _said(f"LEEFTIJD is not a whole number 0-{MAX_AGE}: ", frame.age),
    )
    checks.require(frame.pupils, "AANTAL LEERLINGEN")
    suppressed = frame.pupils.str.match(_SUPPRESSED)
    pupils = _int_column(frame.pupils)
    checks.reject(
        ~suppressed & (pupils.isna() | (pupils.fillna(0) > MAX_INT32)),
        "invalid_number",
        _said("AANTAL LEERLINGEN ", frame.pupils, ' is not a count or "<5"'),
    )
    below_five = suppressed | (pupils.fillna(5) < 5)
    data = {
        "school_id": school_id,
        "count_date": count_date,
        "age": age,
        "pupils": pupils.where(~suppressed, None),
        "pupils_below_five": below_five,
    }
    if delivery is not None and delivery.period and checks.ok.any():
        years = sorted({str(d.year) for d in count_date[checks.ok].dropna()})
        if years and years != [delivery.period]:
            notes.append(f"count dates in {', '.join(years)}, the file name says {delivery.period}")
    return _finish(
        "duo_pupil_counts",
        data,
        checks,
        ["school_id", "count_date", "age"],
        lambda r: f"school {r.school_id}, {r.count_date:%Y-%m-%d}, age {r.age}",
        notes,
    )


# --------------------------------------------------------------------------- DUO VSV

DUO_VSV_COLUMNS = {
    "year": ("JAAR", "CONVENANTJAAR", "SCHOOLJAAR"),
    "brin": ("BRIN NUMMER", "BRINNUMMER", "BRIN"),
    "vestiging": ("VESTIGINGSNUMMER", "VESTIGINGSCODE"),
    "municipality_number": ("GEMEENTENUMMER", "WOONGEMEENTENUMMER"),
    "municipality_name": ("GEMEENTENAAM", "WOONGEMEENTE", "WOONGEMEENTENAAM"),
    "school_type": ("ONDERWIJSTYPE", "ONDERWIJSSOORT", "TYPE ONDERWIJS"),
    "participants": ("AANTAL DEELNEMERS", "VSV POPULATIE", "AANTAL DEELNEMERS VSV POPULATIE"),
    "early_leavers": ("AANTAL VSV ERS", "AANTAL VSV'ERS", "AANTAL VSV-ERS", "AANTAL VSVERS"),
}
# ONDERWIJSTYPE labels (normalised) -> the school type code. DUO's VSV figures cover
# secondary education (VO, praktijkonderwijs, VSO) and MBO.
VSV_SCHOOL_TYPES = {
    "vo": "VO",
    "voortgezet onderwijs": "VO",
    "vmbo": "VO",
    "havo": "VO",
    "vwo": "VO",
    "pro": "PRO",
    "praktijkonderwijs": "PRO",
    "vso": "VSO",
    "voortgezet speciaal onderwijs": "VSO",
    "mbo": "MBO",
    "middelbaar beroepsonderwijs": "MBO",
}
_CONVENANT_YEAR = re.compile(r"^([0-9]{4})(?:\s*[-/]\s*([0-9]{4}))?$")
_THOUSANDS = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{3})+$")


def _count(values: pd.Series, label: str, checks: _Checks) -> pd.Series:
    """A published count: digits, a thousands point tolerated ("1.234"); required."""
    checks.require(values, label)
    plain = values.where(~values.str.match(_THOUSANDS), values.str.replace(".", "", regex=False))
    number = _int_column(plain)
    checks.reject(
        number.isna() | (number.fillna(0) > MAX_INT32),
        "invalid_number",
        _said(f"{label} ", values, " is not a count"),
    )
    return number


def read_duo_vsv(path: Path, delivery: Delivery | None = None) -> ReadResult:
    """DUO early school leavers -> raw.duo_vsv (level "school" or "municipality").

    The per-site file (sender ``vestigingen``) needs BRIN NUMMER and VESTIGINGSNUMMER per
    row; the per-municipality file (``gemeenten``, by municipality of residence) does not
    read them. Without a delivery (a direct call) a file with BRIN numbers is per site.
    JAAR is the convenantjaar, "2022-2023", "2022/2023" or "2022" (its first year; the
    two years must follow each other and, with a delivery, match the file name's year).
    AANTAL DEELNEMERS (the VSV population on 1 October) and AANTAL VSV ERS are counts,
    early leavers at most the population. GEMEENTENUMMER becomes GM + four digits;
    ONDERWIJSTYPE is optional (VO, PRO, VSO, MBO; VMBO/HAVO/VWO are VO). The key is
    (level, school_id or municipality, year, school type).
    """
    frame, notes = _read_csv(
        Path(path),
        DUO_VSV_COLUMNS,
        ("year", "municipality_number", "participants", "early_leavers"),
    )
    per_site = (
        delivery.sender.lower() == "vestigingen"
        if delivery is not None
        else bool(frame.brin.ne("").any())
    )
    checks = _Checks(frame.index)
    if per_site:
        school_id, brin, vestiging = _school_id(frame.brin, frame.vestiging, checks)
    else:
        school_id = brin = vestiging = pd.Series(None, index=frame.index, dtype=object)
    checks.require(frame.year, "JAAR")
    parts = frame.year.str.extract(_CONVENANT_YEAR)
    first = pd.to_numeric(parts[0], errors="coerce")
    second = pd.to_numeric(parts[1], errors="coerce")
    checks.reject(
        first.isna() | (second.notna() & (second != first + 1)),
        "invalid_code",
        _said("JAAR ", frame.year, " is not a convenantjaar (2022-2023)"),
    )
    if delivery is not None and delivery.period:
        checks.reject(
            first.notna() & (first != int(delivery.period)),
            "invalid_code",
            _said("JAAR ", frame.year, f" is not the year of the file name ({delivery.period})"),
        )
    number = frame.municipality_number.str.upper().str.removeprefix("GM")
    checks.require(frame.municipality_number, "GEMEENTENUMMER")
    checks.reject(
        ~number.str.match(r"^[0-9]{1,4}$"),
        "invalid_code",
        _said("GEMEENTENUMMER ", frame.municipality_number, " is not a municipality number"),
    )
    school_type = frame.school_type.map(
        lambda label: VSV_SCHOOL_TYPES.get(" ".join(label.split()).lower())
    )
    checks.reject(
        frame.school_type.ne("") & school_type.isna(),
        "invalid_code",
        _said("ONDERWIJSTYPE ", frame.school_type, " is not VO, PRO, VSO or MBO"),
    )
    participants = _count(frame.participants, "AANTAL DEELNEMERS", checks)
    leavers = _count(frame.early_leavers, "AANTAL VSV ERS", checks)
    checks.reject(
        leavers.fillna(0) > participants.fillna(MAX_INT32),
        "invalid_number",
        "AANTAL VSV ERS is larger than AANTAL DEELNEMERS",
    )
    data = {
        "level": pd.Series(
            "school" if per_site else "municipality", index=frame.index, dtype=object
        ),
        "school_id": school_id,
        "brin": brin,
        "vestiging": vestiging,
        "municipality_code": "GM" + number.str.zfill(4),
        "municipality_name": frame.municipality_name.replace("", None),
        "convenant_year": first.astype("Int64"),
        "school_type": school_type,
        "participants": participants,
        "early_leavers": leavers,
    }
    return _finish(
        "duo_vsv",
        data,
        checks,
        ["level", "school_id", "municipality_code", "convenant_year", "school_type"],
        lambda r: f"{r.school_id or r.municipality_code} {r.convenant_year}",
        notes,
    )


# --------------------------------------------------------------------------- CBS StatLine

CBS_DIMENSIONS = {"region": "RegioS", "period": "Perioden"}
# Measure keys of the youth-care table, without CBS's positional suffix ("_1", "_2"):
# the suffix may change between table versions, the name does not.
CBS_MEASURES = {
    "young_people_with_youth_care": "JongerenMetJeugdhulp",
    "percentage_with_youth_care": "JongerenMetJeugdhulpInProcenten",
}
_SUFFIX = re.compile(r"_[0-9]+$")


def _cbs_key(name: str) -> str:
    return _SUFFIX.sub("", name.strip()).lower()


def _cbs_number(value: object) -> tuple[float | None, bool]:
    """(number, ok). None and "." (CBS: no figure) are a missing value, not an error."""
    if value is None:
        return None, True
    if isinstance(value, bool):
        return None, False
    if isinstance(value, str):
        text = value.strip()
        if text in ("", "."):
            return None, True
        if not _CBS_NUMBER.match(text):
            return None, False
        value = text
    if not isinstance(value, (int, float, str)):
        return None, False
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None, False
    return (number, True) if math.isfinite(number) else (None, False)


def read_cbs_youth_care(path: Path, delivery: Delivery | None = None) -> ReadResult:
    """CBS StatLine TypedDataSet (OData JSON) -> raw.cbs_youth_care.

    Accepts an OData v3 document ({"odata.metadata": ..., "value": [...]}) and an OData
    v4 one ({"@odata.context": ..., "value": [...]}). The whole document is read into
    memory: the table is small (a few thousand rows); a national multi-dimension table
    would call for a streaming parser (ijson), not needed here.

    - RegioS keys come padded ("GM0014  ") and are stripped. Only municipalities (GM####)
      belong in this table; rows for other region levels (NL01, LD.., PV20, CR.., WK..)
      are outside its scope and go to quarantine (invalid_code, "region level not a
      municipality") so that accounting stays exact.
    - Perioden "2022JJ00" -> year 2022; other period types ("2022KW01", "2022MM03") are
      quarantined (invalid_code).
    - Measures JongerenMetJeugdhulp_<n> (count, >= 0) and JongerenMetJeugdhulpInProcenten_<n>
      (0-100), matched without the positional suffix. CBS marks a missing figure as null
      or "." -> NULL; a key absent from a row counts as missing too.
    - Invalid JSON, a document without a "value" list, an element of "value" that is not
      an object, or a non-empty table without the dimension or measure fields raises
      DeliveryError. The key is (municipality_code, year).
    """
    path = Path(path)
    text = _read_text(path)
    try:
        document = json.loads(
            text,
            parse_constant=lambda name: (_ for _ in ()).throw(ValueError(f"{name} is not JSON")),
        )
    except (ValueError, RecursionError) as exc:
        raise DeliveryError(path, f"not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(document, dict) or not isinstance(document.get("value"), list):
        raise DeliveryError(path, 'not an OData document: no "value" list')
    rows = document["value"]
    notes = []
    if "@odata.context" in document:
        notes.append("OData v4 document")
    if any(key in document for key in ("odata.nextLink", "@odata.nextLink")):
        notes.append("document has a nextLink: it holds only the first page of the table")
    records = []
    for position, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise DeliveryError(path, f'element {position} of "value" is not an object')
        records.append({_cbs_key(str(key)): value for key, value in row.items()})
    wanted = {**CBS_DIMENSIONS, **CBS_MEASURES}
    if records:
        present = set().union(*(record.keys() for record in records))
        missing = [name for name in wanted.values() if name.lower() not in present]
        if missing:
            raise DeliveryError(
                path, f"missing required field(s) {', '.join(missing)} in the OData rows"
            )
    index = pd.Index([str(i) for i in range(1, len(records) + 1)], dtype=object)
    raw = {
        name: pd.Series([record.get(key.lower()) for record in records], index=index, dtype=object)
        for name, key in wanted.items()
    }
    checks = _Checks(index)

    def text_of(value: object) -> str | None:
        return value.strip().upper() if isinstance(value, str) else None

    region = raw["region"].map(text_of)
    checks.reject(
        raw["region"].map(lambda v: v is None or (isinstance(v, str) and not v.strip())),
        "missing_field",
        "RegioS is empty",
    )
    other_level = region.fillna("").str.match(_REGION_KEY) & ~region.fillna("").str.match(_GM)
    checks.reject(
        other_level, "invalid_code", _said("region level not a municipality: ", region.fillna(""))
    )
    checks.reject(
        ~region.fillna("").str.match(_GM),
        "invalid_code",
        _said("RegioS ", raw["region"], " is not a CBS region key"),
    )

    period = raw["period"].map(text_of)
    checks.reject(
        raw["period"].map(lambda v: v is None or (isinstance(v, str) and not v.strip())),
        "missing_field",
        "Perioden is empty",
    )
    year = period.fillna("").str.extract(_YEAR_PERIOD, expand=False)
    cbs_period = period.fillna("").str.match(_CBS_PERIOD)
    checks.reject(
        year.isna() & cbs_period,
        "invalid_code",
        _said("period type not a year: ", period.fillna("")),
    )
    checks.reject(
        year.isna(), "invalid_code", _said("Perioden ", raw["period"], " is not a CBS period key")
    )

    data: dict[str, pd.Series] = {
        "municipality_code": region,
        "year": pd.to_numeric(year, errors="coerce"),
    }
    limits = {
        "young_people_with_youth_care": (0.0, math.inf),
        "percentage_with_youth_care": (0.0, 100.0),
    }
    for name, key in CBS_MEASURES.items():
        parsed = raw[name].map(_cbs_number)
        number = parsed.map(lambda p: p[0])
        low, high = limits[name]
        out_of_range = number.map(lambda n: not pd.isna(n) and not (low <= n <= high))
        checks.reject(
            ~parsed.map(lambda p: p[1]),
            "invalid_number",
            _said(f"{key} is not a number: ", raw[name]),
        )
        checks.reject(
            out_of_range, "invalid_number", _said(f"{key} outside {low:g}-{high:g}: ", raw[name])
        )
        data[name] = number
    n_other = int((checks.code.eq("invalid_code") & other_level).sum())
    if n_other:
        notes.append(
            f"{n_other} row(s) for other region levels than municipalities set aside in quarantine"
        )
    return _finish(
        "cbs_youth_care",
        data,
        checks,
        ["municipality_code", "year"],
        lambda r: f"{r.municipality_code} {r.year}",
        notes,
    )
