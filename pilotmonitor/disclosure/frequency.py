"""Frequency tables that arrive already aggregated (one row per cell).

Why hand-written rather than ACRO: ACRO's crosstab/pivot_table recompute a table from
microdata. Our marts hold school-month and group-period counts (referrals, pupils,
pupil-months) whose microdata stay behind the warehouse's views, so the threshold
rule is applied here to the count column of each row, with ACRO's threshold and zeros
setting. Rows are never dropped: a small count, and every value derived from it
(rates, shares), becomes NaN and is marked in the suppression mask.
"""

from __future__ import annotations

import re

import pandas as pd

from .cells import threshold_masks
from .common import apply_mask, extreme_value_check, identifier_check, mask_frame
from .outcome import PASS, REVIEW, CheckedOutput, check, finish
from .rules import DisclosureRules

# Integer columns with these names are period labels, not counts (e.g. year 2023).
# Whole names only: "pupil_months" is a count, "month" a label.
_PERIOD = re.compile(
    r"^(school_?)?(year|jaar|month|maand|period|periode|quarter|kwartaal|half|half_year|week|cohort|semester)(_(nr|number|index))?$"
)


def _undeclared_numeric(table: pd.DataFrame, declared: set[str], labels: set[str]) -> list[str]:
    out = []
    for column, series in table.items():
        if (
            column in declared
            or column in labels
            or not pd.api.types.is_numeric_dtype(series)
            or pd.api.types.is_bool_dtype(series)
        ):
            continue
        if pd.api.types.is_integer_dtype(series) and _PERIOD.match(str(column).lower()):
            continue
        out.append(str(column))
    return out


def check_frequency(
    name: str,
    table: pd.DataFrame,
    count_column: str,
    rules: DisclosureRules,
    derived: list[str] | tuple[str, ...] = (),
    extra_counts: list[str] | tuple[str, ...] = (),
    labels: list[str] | tuple[str, ...] = (),
) -> CheckedOutput:
    """Apply threshold (and zeros) rules to `count_column` and each of `extra_counts`
    (e.g. a denominator); a flagged row loses all its counts and `derived` values."""
    counts = [count_column, *extra_counts]
    missing = [c for c in [*counts, *derived, *labels] if c not in table.columns]
    if missing:
        raise KeyError(f"{name}: column(s) not in the table: {', '.join(missing)}")
    if not table.index.is_unique:  # the masks below align on the index
        table = table.reset_index(drop=True)

    small = pd.Series(False, index=table.index)
    zero = pd.Series(False, index=table.index)
    unknown = pd.Series(False, index=table.index)
    for column in counts:
        col_small, col_zero = threshold_masks(table[column], rules)
        small |= col_small
        zero |= col_zero
        unknown |= pd.to_numeric(table[column], errors="coerce").isna()
    # A missing count hides nothing itself, but a rate beside it would still be shown.
    flagged = small | zero | unknown
    mask = mask_frame(table, flagged, [*counts, *derived])
    released = apply_mask(table, mask)

    n_cells = len(table) * len(counts)
    suppressed_cells = int(mask.to_numpy().sum())
    checks = [
        check(
            "threshold",
            rules.min_count,
            n_cells,
            int(small.sum()),
            REVIEW if small.any() else PASS,
            f"rows with fewer than {rules.min_count} units in {', '.join(counts)}",
        ),
        check(
            "zeros",
            f"zeros_are_disclosive={rules.zeros_are_disclosive}",
            n_cells,
            int(zero.sum()),
            REVIEW if zero.any() else PASS,
            "zero counts suppressed (ACRO setting)"
            if rules.zeros_are_disclosive
            else "zeros left as published (ACRO setting)",
        ),
        check(
            "missing_count",
            "derived values hidden where the count is missing",
            n_cells,
            int(unknown.sum()),
            REVIEW if unknown.any() else PASS,
        ),
    ]
    reasons = []
    if small.any():
        reasons.append(
            f"threshold: {int(small.sum())} of {len(table)} rows have fewer than "
            f"{rules.min_count} units; their {', '.join([*counts, *derived])} are suppressed"
        )
    if zero.any():
        reasons.append(
            f"zeros: {int(zero.sum())} rows with a zero count suppressed "
            "(zeros_are_disclosive=True)"
        )
    if unknown.any():
        reasons.append(
            f"missing count: {int(unknown.sum())} rows have no count; their derived values are "
            "suppressed"
        )

    undeclared = _undeclared_numeric(table, {*counts, *derived}, set(labels))
    checks.append(
        check(
            "undeclared_numeric",
            "every numeric column is a count, derived or a label",
            table.shape[1],
            len(undeclared),
            REVIEW if undeclared else PASS,
            ", ".join(undeclared),
        )
    )
    if undeclared:
        reasons.append(
            f"undeclared numeric column(s) {', '.join(undeclared)}: not checked; declare them as "
            "derived, extra_counts or labels"
        )

    for entry, why in (identifier_check(released), extreme_value_check(released)):
        checks.append(entry)
        reasons += why
    out = finish(name, "frequency", checks, reasons, table=released, suppressed=mask)
    if suppressed_cells:
        out.reasons.append(f"{suppressed_cells} cells shown as suppressed")
    return out
