"""Cell rules: threshold, zeros, N-K dominance and the p% rule, as in ACRO's sdcchecks.

Formulas follow ACRO 1.0 (sdcchecks.check_nk_dominance / check_ppercent_dominance):
- threshold: a cell is unsafe when fewer than `min_count` units contribute;
- N-K: unsafe when the largest n contributions hold k or more of the cell total
  (top_n / total >= k);
- p%: unsafe when the total minus the two largest contributions is less than p times
  the largest ((total - x1 - x2) / x1 < p): the second-largest contributor could then
  estimate the largest to within p percent;
- dominance is undefined with negative contributions (ACRO: review); such cells are
  suppressed here and counted under their own rule.
The one difference from ACRO is deliberate: dominance is judged on each contributor's
total within the cell (a pupil with twelve invoice lines is one contributor), where
ACRO judges individual records. On data with one record per contributor the two agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .rules import DisclosureRules


def threshold_masks(counts: pd.Series, rules: DisclosureRules) -> tuple[pd.Series, pd.Series]:
    """(below threshold, zero) masks. Zeros count as below the threshold only when
    `zeros_are_disclosive` (ACRO's setting); otherwise a zero cell is left as is."""
    counts = pd.to_numeric(counts, errors="coerce")
    zero = counts.eq(0)
    small = counts.lt(rules.min_count) & ~zero
    zero_flag = zero if rules.zeros_are_disclosive else pd.Series(False, index=counts.index)
    return small, zero_flag


def contributor_stats(
    totals: pd.DataFrame, cell_keys: list[str], value: str, n: int
) -> pd.DataFrame:
    """Per cell: contributors, total, largest, second largest, sum of the n largest,
    and whether any contribution is negative. `totals` holds one row per contributor
    per cell."""
    ordered = totals.sort_values(value, ascending=False)
    grouped = ordered.groupby(cell_keys, sort=False, dropna=False)[value]
    rank = grouped.cumcount()
    vals = ordered[value]
    frame = ordered[cell_keys].assign(
        _v=vals,
        _top1=vals.where(rank == 0, 0.0),
        _top2=vals.where(rank == 1, 0.0),
        _topn=vals.where(rank < n, 0.0),
        _neg=vals.lt(0),
    )
    stats = frame.groupby(cell_keys, sort=False, dropna=False).agg(
        contributors=("_v", "size"),
        total=("_v", "sum"),
        top1=("_top1", "sum"),
        top2=("_top2", "sum"),
        top_n=("_topn", "sum"),
        negative=("_neg", "any"),
    )
    return stats


def dominance_masks(stats: pd.DataFrame, rules: DisclosureRules) -> dict[str, pd.Series]:
    """N-K, p% and negative-value masks over the cells of `contributor_stats`."""
    negative = stats["negative"].astype(bool)
    total = stats["total"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (stats["top_n"] / total.where(total > 0)).fillna(0.0)
        remainder = (
            (total - stats["top1"] - stats["top2"]) / stats["top1"].where(stats["top1"] > 0)
        ).fillna(1.0)
    # All contributions zero: the total reveals every contributor's value. ACRO's p%
    # check flags these cells too; here they get their own rule, under the zeros setting.
    all_zero = stats["top1"].eq(0) & ~negative
    return {
        "nk": share.ge(rules.nk_k) & ~negative,
        "p_percent": remainder.lt(rules.p_ratio) & ~negative & ~all_zero,
        "zero_total": all_zero & rules.zeros_are_disclosive,
        "negative": negative,
    }
