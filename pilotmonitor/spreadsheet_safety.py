"""CSV cells a spreadsheet would run as a formula are neutralised in every CSV we write.

A delivered free-form value (a survey respondent id such as ``=HYPERLINK(...)``,
``+cmd|...``, ``@SUM(...)``) can reach a published table; opened in Excel or LibreOffice
it executes. The OWASP rule for CSV injection: a text cell starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return gets a leading apostrophe, which spreadsheets
show as text and never evaluate. Only text cells are touched: numbers and dates are
written as they are (a negative number is no formula). Parquet files are not changed:
no spreadsheet opens them, and they keep the values exactly.

The rule is written once here, for pandas frames (release tables, disclosure logs) and
as SQL for DuckDB's COPY (the secure export).
"""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PREFIX = "'"


def neutralise(value: object) -> object:
    """The cell as written: text starting like a formula gets the apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return PREFIX + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """A copy with every formula-like text cell neutralised, and how many there were."""
    out = frame.copy()
    changed = 0
    for column in out.columns:
        if out[column].dtype != object and not pd.api.types.is_string_dtype(out[column]):
            continue
        values = out[column]
        risky = values.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_STARTS)).astype(
            bool
        )
        if risky.any():
            changed += int(risky.sum())
            out[column] = values.astype(object).where(~risky, PREFIX + values[risky].astype(str))
    return out, changed


def _starts_like_formula_sql(column_sql: str) -> str:
    starts = ", ".join(f"chr({ord(c)})" for c in FORMULA_STARTS)
    return f"substr({column_sql}, 1, 1) in ({starts})"


def neutralised_sql(column_sql: str) -> str:
    """The SQL expression writing a text column with formula-like cells neutralised."""
    return (
        f"case when {_starts_like_formula_sql(column_sql)} then '{PREFIX * 2}' || {column_sql} "
        f"else {column_sql} end"
    )


def count_sql(column_sql: str) -> str:
    """The SQL aggregate counting a text column's formula-like cells."""
    return f"count(*) filter (where {_starts_like_formula_sql(column_sql)})"
