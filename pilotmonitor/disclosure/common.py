"""Checks every kind of table output shares: identifiers and forbidden statistics."""

from __future__ import annotations

import re

import pandas as pd

from .identifiers import scan
from .outcome import FAIL, PASS, check

# Rules whose "review" only means "cells were suppressed": the output is safe as released.
SUPPRESSION_RULES = frozenset(
    {
        "threshold",
        "zeros",
        "nk",
        "p_percent",
        "zero_total",
        "negative",
        "acro_crosscheck",
        "missing_count",
    }
)

# Minima and maxima are individual values; a column so named must not leave the warehouse.
_EXTREME = re.compile(
    r"(^|_)(min|max|minimum|maximum|minimal|maximal|laagste|hoogste|smallest|largest)($|_)"
)


def _snake(name: object) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def identifier_check(
    table: pd.DataFrame, exempt_values: tuple[str, ...] = ()
) -> tuple[dict, list[str]]:
    findings = scan(table, exempt_values)
    detail = "; ".join(str(f) for f in findings)
    if exempt_values:
        detail = (
            detail + "; " if detail else ""
        ) + f"value scan skipped for declared provenance digests: {', '.join(exempt_values)}"
    cells = table.shape[0] * max(table.shape[1], 1)
    entry = check(
        "identifiers",
        "no pupil pseudonyms, BSNs, names or addresses",
        cells,
        len(findings),
        FAIL if findings else PASS,
        detail,
    )
    reasons = (
        [
            f"identifiers: {len(findings)} found ({'; '.join(str(f) for f in findings[:5])}); "
            "identifiers must never be released"
        ]
        if findings
        else []
    )
    return entry, reasons


def extreme_value_check(table: pd.DataFrame) -> tuple[dict, list[str]]:
    columns = [str(c) for c in table.columns.to_flat_index() if _EXTREME.search(_snake(c))]
    entry = check(
        "forbidden_statistic",
        "no minima or maxima of individual values",
        table.shape[1],
        len(columns),
        FAIL if columns else PASS,
        ", ".join(columns),
    )
    reasons = (
        [
            f"forbidden statistic: column(s) {', '.join(columns)} look like minima/maxima of "
            "individual values"
        ]
        if columns
        else []
    )
    return entry, reasons


def needs_judgement(checks: list[dict]) -> bool:
    """True when a check asks for review for a reason other than suppression."""
    return any(c["outcome"] == "review" and c["rule"] not in SUPPRESSION_RULES for c in checks)


def mask_frame(table: pd.DataFrame, row_mask: pd.Series, columns: list[str]) -> pd.DataFrame:
    """Boolean cell mask aligned with `table`: True in `columns` of the flagged rows."""
    mask = pd.DataFrame(False, index=table.index, columns=table.columns)
    for column in columns:
        mask[column] = row_mask.to_numpy()
    return mask


def apply_mask(table: pd.DataFrame, mask: pd.DataFrame) -> pd.DataFrame:
    """Suppressed numeric cells become NaN (floats, so the NaN fits); rows stay."""
    released = table.copy()
    # Remember integer columns made float by NaN, so displays can show them as integers.
    released.attrs["integer_columns"] = [
        str(c)
        for c in mask.columns[mask.any().to_numpy()]
        if pd.api.types.is_integer_dtype(table[c])
    ]
    for column in mask.columns[mask.any().to_numpy()]:
        released[column] = (
            pd.to_numeric(released[column], errors="coerce").astype(float).mask(mask[column])
        )
    return released
