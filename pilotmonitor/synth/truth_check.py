"""Does the warehouse reproduce a synthetic scenario's ground truth? Per school and month,
the directly countable facts of ``marts.fct_school_month`` against ``school_month.csv``.

Used by the warehouse tests (demo-sized) and by the scale benchmark (regional and national
scenarios): every school-month is compared, not a sample, so ``problems`` is empty only
when the totals and every single school-month agree.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from pilotmonitor.kinds_of_care import kinds

# ground-truth column -> mart column, compared exactly
COUNTS = {
    "pupil_months": "pupil_months",
    "referrals": "new_referrals",
    "allocated_requests": "new_referrals_allocated",
    "thuiszitter_pupils": "thuiszitter_pupils",
    "thuiszitter_spell_starts": "thuiszitter_spell_starts",
    "dropouts": "dropouts",
    "vsv": "early_school_leavers",  # early school leaving without a startkwalificatie
    "special_education_referrals": "special_education_referrals",
    "regular_education_pupil_months": "regular_education_pupil_months",
    "net_declared_cost_cents": "declared_cost_cents",
    "treated": "is_treated",
    # per kind of care (pilotmonitor.kinds_of_care)
    **{f"referrals_{kind}": f"new_referrals_{kind}" for kind in sorted(kinds())},
    **{
        f"net_declared_cost_cents_{kind}": f"declared_cost_cents_{kind}" for kind in sorted(kinds())
    },
}
HOURS = {
    "unauthorised_hours": "unauthorised_absence_hours",
    "authorised_hours": "authorised_absence_hours",
}
HOURS_TOLERANCE = 1e-6


def school_month_comparison(conn: duckdb.DuckDBPyConnection, truth_dir: Path) -> pd.DataFrame:
    """Truth and mart side by side per school-month (outer join; ``_merge`` says where each is)."""
    # text columns typed up front: a national truth's pilot_id is empty for most rows, and
    # pandas guessing per chunk warned of mixed types
    truth = pd.read_csv(
        truth_dir / "school_month.csv",
        dtype={"school_id": str, "pilot_id": str, "month": str},
    )
    truth["month"] = pd.to_datetime(truth.month + "-01")
    columns = ", ".join(["school_id", "month", *COUNTS.values(), *HOURS.values()])
    built = conn.execute(f"select {columns} from marts.fct_school_month").df()
    built["month"] = pd.to_datetime(built.month)
    return truth.merge(
        built, on=["school_id", "month"], how="outer", suffixes=("_truth", ""), indicator=True
    )


def _truth_name(merged: pd.DataFrame, column: str) -> str:
    return f"{column}_truth" if f"{column}_truth" in merged else column


def problems(merged: pd.DataFrame, limit: int = 5) -> list[str]:
    """What differs, in words (empty: the warehouse reproduces the truth exactly)."""
    out = []
    missing = merged[merged._merge != "both"]
    if len(missing):
        out.append(
            f"{len(missing)} school-months in only one of truth and mart, e.g. "
            f"{missing[['school_id', 'month', '_merge']].head(limit).to_dict('records')}"
        )
    both = merged[merged._merge == "both"]
    for truth_column, mart_column in COUNTS.items():
        name = _truth_name(both, truth_column)
        differs = both[both[name].astype("int64") != both[mart_column].astype("int64")]
        if len(differs):
            out.append(
                f"{mart_column} differs in {len(differs)} school-months, e.g. "
                f"{differs[['school_id', 'month', name, mart_column]].head(limit).to_dict('records')}"  # noqa: E501
            )
    for truth_column, mart_column in HOURS.items():
        gap = (both[_truth_name(both, truth_column)] - both[mart_column]).abs()
        if (gap > HOURS_TOLERANCE).any():
            out.append(
                f"{mart_column} differs in {(gap > HOURS_TOLERANCE).sum()} school-months (largest "
                f"gap {gap.max():.3f} h)"
            )
    return out


def totals(merged: pd.DataFrame) -> pd.DataFrame:
    """Per compared fact: the truth's total and the mart's total."""
    rows = []
    for truth_column, mart_column in {**COUNTS, **HOURS}.items():
        rows.append(
            {
                "fact": mart_column,
                "truth": float(merged[_truth_name(merged, truth_column)].sum()),
                "mart": float(merged[mart_column].sum()),
            }
        )
    return pd.DataFrame(rows)
