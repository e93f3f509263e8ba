"""Every column the warehouse keeps, classified once: what it may hold, how the edge
treats it and how the leak scan checks it at the exit.

Classes: pseudonym, reference, digest, assigned_number, code, public_name, text, measure,
date and flag. Every raw column has one, declared in the catalogue (raw_tables.yml).

Design notes: docs/design/ingest.md#pilotmonitoringestcolumn_policypy.
"""

from __future__ import annotations

from pilotmonitor.ingest.raw_catalogue import Catalogue, CatalogueError, catalogue

PSEUDONYM = "pseudonym"
REFERENCE = "reference"
DIGEST = "digest"
ASSIGNED_NUMBER = "assigned_number"
CODE = "code"
PUBLIC_NAME = "public_name"
TEXT = "text"
MEASURE = "measure"
DATE = "date"
FLAG = "flag"

# The regular expression (RE2 and Python) a value of a pattern-checked class matches.
PATTERNS: dict[str, str] = {
    PSEUDONYM: "[0-9a-f]{64}",
    REFERENCE: "[0-9a-f]{32}",
    DIGEST: "[0-9a-f]{16,64}",
    ASSIGNED_NUMBER: "[0-9]{1,9}",
}
PSEUDONYMISED = (PSEUDONYM, REFERENCE)  # a value outside the pattern was not pseudonymised
NOT_SCANNED = (MEASURE, DATE, FLAG)

CLASSES = (
    PSEUDONYM,
    REFERENCE,
    DIGEST,
    ASSIGNED_NUMBER,
    CODE,
    PUBLIC_NAME,
    TEXT,
    MEASURE,
    DATE,
    FLAG,
)


# Column name -> class, for every column of the raw layer; declared in the catalogue
# (raw_tables.yml). A name has one class in every table and layer it appears in.
def check_classes(cat: Catalogue) -> dict[str, str]:
    """Column name -> class of a catalogue; raises CatalogueError on a class not listed here."""
    classes = {name: column.klass for name, column in cat.columns.items()}
    if unknown := sorted(
        f"{name}: {klass}" for name, klass in classes.items() if klass not in CLASSES
    ):
        raise CatalogueError(f"raw_tables.yml: unknown identifier class ({', '.join(unknown)})")
    return classes


COLUMNS: dict[str, str] = check_classes(catalogue())


INTEGER_TYPES = ("BIGINT", "INTEGER", "HUGEINT", "UBIGINT", "SMALLINT", "TINYINT", "UINTEGER")


def column_class(column: str, data_type: str = "VARCHAR") -> str:
    """The class of a column. An unlisted text column is scanned as text; an unlisted
    integer column is a count or an amount the warehouse computed (a mart's
    declared_cost_cents may be any nine-digit number), so a measure."""
    if column in COLUMNS:
        return COLUMNS[column]
    return MEASURE if data_type.upper() in INTEGER_TYPES else TEXT


def columns_of(klass: str, columns) -> list[str]:
    """The given columns that belong to ``klass``, in their order."""
    return [c for c in columns if COLUMNS.get(c) == klass]
