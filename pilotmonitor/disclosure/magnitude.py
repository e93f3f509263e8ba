"""Magnitude tables (sums and means of e.g. costs) built here from microdata.

Our own rules run on each contributor's total per cell (see cells.py: a pupil with
many invoice lines is one contributor); ACRO's pivot_table then checks the same
contributor-level data as a second, independent opinion. Any cell either flags is
suppressed, and a disagreement is written to the log, so a drift between the two
implementations is visible to the output checker rather than silent.

Only sums and means may be released. Minima, maxima, medians, modes, quantiles and
first/last values are values of single individuals (or nearly so) and raise
DisclosureError before anything is computed.
"""

from __future__ import annotations

import pandas as pd

from .acro_bridge import AcroSession
from .cells import contributor_stats, dominance_masks, threshold_masks
from .common import apply_mask, extreme_value_check, identifier_check, mask_frame
from .outcome import PASS, REVIEW, CheckedOutput, DisclosureError, check, finish
from .rules import DisclosureRules

ALLOWED_AGGFUNCS = ("sum", "mean")
INDIVIDUAL_VALUE_AGGFUNCS = (
    "min",
    "max",
    "median",
    "mode",
    "first",
    "last",
    "nth",
    "quantile",
    "idxmin",
    "idxmax",
)


def validate_aggfunc(aggfunc: object) -> str:
    label = aggfunc if isinstance(aggfunc, str) else getattr(aggfunc, "__name__", repr(aggfunc))
    if label in ALLOWED_AGGFUNCS:
        return label
    if any(word in str(label).lower() for word in INDIVIDUAL_VALUE_AGGFUNCS):
        raise DisclosureError(
            f"aggfunc {label!r} releases values of individuals (minimum/maximum/median-like): "
            "forbidden"
        )
    raise DisclosureError(
        f"aggfunc {label!r} is not a checked statistic; only {', '.join(ALLOWED_AGGFUNCS)} can be "
        "released"
    )


def check_magnitude(
    name: str,
    micro: pd.DataFrame,
    by: list[str],
    value: str,
    contributor: str,
    aggfunc: str,
    rules: DisclosureRules,
    acro: AcroSession | None = None,
) -> CheckedOutput:
    aggfunc = validate_aggfunc(aggfunc)
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*by, value, contributor] if c not in micro.columns]
    if missing:
        raise KeyError(f"{name}: column(s) not in the microdata: {', '.join(missing)}")
    unit = "__contributor__"  # a copy, so `contributor` may also be one of `by`
    data = micro[list(dict.fromkeys([*by, value]))].copy()
    data[unit] = micro[contributor]
    data[value] = pd.to_numeric(data[value], errors="raise")
    n_missing_values = int(data[value].isna().sum())
    data = data.dropna(subset=[value])
    # Rows without a contributor form one contributor together: stricter, never looser.
    n_missing_contrib = int(data[unit].isna().sum())
    totals = data.groupby([*by, unit], dropna=False, sort=True)[value].sum().reset_index()

    stats = contributor_stats(totals, by, value, rules.nk_n).sort_index()
    cells = stats.index
    result = data.groupby(by, dropna=False, sort=True)[value].agg(aggfunc).reindex(cells)
    table = cells.to_frame(index=False)
    table[value] = result.to_numpy()

    small, zero = threshold_masks(stats["contributors"], rules)
    dom = dominance_masks(stats, rules)
    masks = {"threshold": small | zero, **dom}

    checks, reasons = [], []
    n = len(stats)
    explain = {
        "threshold": (
            rules.min_count,
            f"fewer than {rules.min_count} distinct contributors ({contributor})",
        ),
        "nk": (
            f"n={rules.nk_n}, k={rules.nk_k}",
            f"the largest {rules.nk_n} contributors hold {rules.nk_k:.0%} or more of the cell "
            "total",
        ),
        "p_percent": (
            f"p={rules.p_ratio}",
            f"the rest of the cell is less than {rules.p_ratio:.0%} of the largest contribution",
        ),
        "zero_total": (
            f"zeros_are_disclosive={rules.zeros_are_disclosive}",
            "every contribution is zero",
        ),
        "negative": (
            "no negative contributions",
            "dominance is undefined with negative contributions (ACRO: review)",
        ),
    }
    for rule, mask in masks.items():
        flagged = int(mask.sum())
        threshold, why = explain[rule]
        checks.append(check(rule, threshold, n, flagged, REVIEW if flagged else PASS, why))
        if flagged:
            reasons.append(f"{rule}: {flagged} of {n} cells suppressed because {why}")
    flagged = pd.concat(masks, axis=1).any(axis=1)

    if acro is not None:
        verdict = acro.check_table(totals, by, value, aggfunc)
        theirs = verdict.any.reindex(cells, fill_value=False).astype(bool)
        extra = theirs & ~flagged
        ours_only = flagged & ~theirs
        detail = (
            f"ACRO {acro.version} on contributor totals: {int(theirs.sum())} cells flagged; "
            f"{int(extra.sum())} flagged only by ACRO, {int(ours_only.sum())} only by our rules"
        )
        checks.append(
            check(
                "acro_crosscheck",
                "ACRO pivot_table checks agree",
                n,
                int(extra.sum()),
                REVIEW if extra.any() else PASS,
                detail,
            )
        )
        if extra.any():
            reasons.append(
                f"ACRO cross-check: {int(extra.sum())} further cells flagged by ACRO were "
                "suppressed too"
            )
        flagged = flagged | extra
    else:
        checks.append(
            check(
                "acro_crosscheck",
                "ACRO pivot_table checks agree",
                n,
                0,
                PASS,
                "not run (disabled in the rules, or ACRO unavailable: see the log's acro section)",
            )
        )

    if n_missing_values or n_missing_contrib:
        checks.append(
            check(
                "missing_values",
                "documented",
                len(micro),
                n_missing_values + n_missing_contrib,
                PASS,
                f"{n_missing_values} rows without {value} ignored; {n_missing_contrib} rows "
                f"without {contributor} pooled as one contributor",
            )
        )

    mask = mask_frame(table, pd.Series(flagged.to_numpy(), index=table.index), [value])
    released = apply_mask(table, mask)
    for entry, why in (identifier_check(released), extreme_value_check(released)):
        checks.append(entry)
        reasons += why
    return finish(name, "magnitude", checks, reasons, table=released, suppressed=mask)
