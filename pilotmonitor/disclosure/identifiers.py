"""Scan an output for identifiers: columns named like one, or values that look like one.

Any hit fails the output: a pupil pseudonym links a published row back to the
warehouse, and a BSN, name or address identifies a person outright.

Design notes: docs/design/disclosure.md#pilotmonitordisclosureidentifierspy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
from stdnum.nl import bsn as stdnum_bsn
from stdnum.nl import onderwijsnummer as stdnum_onderwijsnummer

from pilotmonitor.ingest import identifier_forms

PSEUDONYM_VALUE = re.compile(r"^(?:[A-Za-z0-9_.-]{1,32}[:/])?[0-9a-fA-F]{64}$")
NINE_DIGITS = re.compile(r"^[0-9]{9}$")
FULL_POSTCODE = re.compile(r"^[1-9][0-9]{3}\s?[A-Za-z]{2}$")

_ALWAYS = re.compile(
    r"pseudonym|(^|_)bsn($|_)|burgerservicenummer|onderwijsnummer|sofi_?nummer"
    r"|(pupil|leerling|client|child|kind|student)_?(id|nr|nummer|number|key)($|_)"
    r"|address|adres|straat|street|huisnummer|house_?number|telefoon|phone|e_?mail"
    r"|geboortedatum|birth_?date|date_of_birth"
)
_PERSON_NAME = re.compile(
    r"(^|_)(name|naam|voornaam|achternaam|surname|first_?name|last_?name|full_?name|roepnaam)($|_)"
)
# Names of organisations and categories are public, not personal.
_ORGANISATION = re.compile(
    r"school|pilot|group|groep|gemeente|municipal|provider|aanbieder|product|outcome|region|regio"
    r"|brin|vestiging|swv|samenwerkingsverband|column|table|file|measure|variable|category|type|label"
)


@dataclass(frozen=True)
class Finding:
    column: str
    kind: str  # e.g. "column name", "pseudonym value", "BSN value"
    count: int = 1

    def __str__(self) -> str:
        return f"{self.kind} in '{self.column}'" + (
            f" ({self.count} values)" if self.count > 1 else ""
        )


def _snake(name: object) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def identifying_column(name: object) -> bool:
    snake = _snake(name)
    if _ALWAYS.search(snake):
        return True
    return bool(_PERSON_NAME.search(snake)) and not _ORGANISATION.search(snake)


def _value_kind(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if PSEUDONYM_VALUE.match(text):
        return "pseudonym value"
    if (
        NINE_DIGITS.match(text)
        and (stdnum_bsn.is_valid(text) or stdnum_onderwijsnummer.is_valid(text))
    ) or identifier_forms.find(text):
        return "BSN/onderwijsnummer value"
    if FULL_POSTCODE.match(text):
        return "full postcode value"
    return None


def _labels(index: pd.Index) -> list[tuple[str, object]]:
    """(level name, label) pairs of an index or column axis, MultiIndex included."""
    pairs = []
    for level in range(index.nlevels):
        name = index.names[level] if index.names[level] is not None else f"axis level {level}"
        pairs += [(str(name), v) for v in index.get_level_values(level).unique()]
    return pairs


def scan(table: pd.DataFrame, exempt_values: tuple[str, ...] = ()) -> list[Finding]:
    """Identifier findings in column names, index names, labels and string cells.

    `exempt_values`: columns whose values are known digests that are not about
    people (e.g. an analysis's input_hash); their names are still checked.
    """
    findings: list[Finding] = []
    names = [str(c) for c in table.columns.to_flat_index()] + [
        str(n) for n in table.index.names if n is not None
    ]
    findings += [Finding(n, "identifying column name") for n in names if identifying_column(n)]
    for column, series in table.items():
        if str(column) in exempt_values or not (
            series.dtype == object or pd.api.types.is_string_dtype(series)
        ):
            continue
        kinds = series.dropna().map(_value_kind).dropna()
        findings += [Finding(str(column), kind, int(n)) for kind, n in kinds.value_counts().items()]
    for axis in (table.index, table.columns):
        for name, label in _labels(axis):
            kind = _value_kind(label)
            if kind:
                findings.append(Finding(name, f"{kind} as a label"))
    return findings
