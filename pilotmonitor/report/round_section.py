"""The section "what changed since the previous round" of an evaluation round's report
(pilotmonitor.rounds.compare), after disclosure control, in both languages.

Disclosure control, as for the rest of the report: each estimate of each round is a
model output of its own (residual degrees of freedom at least the threshold; one that
fails is shown as suppressed, its reason in the disclosure log), the data added is a frequency table
of school-months with pupil-months as a second count (a round adding fewer school-months than the
threshold is suppressed). Plan parameters are the pre-registered design, not data.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pilotmonitor.disclosure import CheckedOutput, Release
from pilotmonitor.disclosure.models import residual_df
from pilotmonitor.rounds.compare import RoundComparison

from .content import OUTCOME_SCALES
from .texts import OUTCOME_NAMES, T, number, p_value

SHORT = {
    "nl": {"hours": "uur/lln/jr", "eur": "€/lln/jr", "points": "punt"},
    "en": {"hours": "h/pupil/yr", "eur": "EUR/pupil/yr", "points": "points"},
}


@dataclass
class CheckedRound:
    comparison: RoundComparison
    estimates: dict[tuple[str, str], CheckedOutput]  # (round, outcome) -> its checked model output
    data: CheckedOutput


def check(release: Release, comparison: RoundComparison) -> CheckedRound:
    """Each estimate of each round is its own model output (one that fails is withheld
    alone, with its reason in the disclosure log); not-estimable rows release nothing."""
    est = comparison.estimates
    models = {}
    for _, row in est.iterrows():
        if not bool(row["estimable"]) or pd.isna(row["estimate"]):
            continue
        frame = pd.DataFrame(
            [
                {
                    "round": row["round_name"],
                    "outcome": row["outcome"],
                    "role": row["role"],
                    "estimator": row["estimator"],
                    "estimate": row["estimate"],
                    "ci_lower": row["ci_lower"],
                    "ci_upper": row["ci_upper"],
                    "n_obs": row["n_obs"],
                    "n_clusters": row["n_clusters"],
                    "df_resid": residual_df(row),
                }
            ]
        )
        models[(row["round_name"], row["outcome"])] = release.model(
            f"round_estimate_{row['round_name']}_{row['outcome']}", frame
        )
    data = comparison.data.rename(columns={"round_name": "round"})
    data = data.assign(data_through=data["data_through"].astype(str))
    if comparison.previous is not None and len(data) == 2:
        added = {
            "round": "+",
            "data_through": "",
            "pilot_months": int(data["pilot_months"].iloc[1] - data["pilot_months"].iloc[0]),
            "school_months": int(data["school_months"].iloc[1] - data["school_months"].iloc[0]),
            "pupil_months": float(data["pupil_months"].iloc[1] - data["pupil_months"].iloc[0]),
        }
        data = pd.concat([data, pd.DataFrame([added])], ignore_index=True)
    checked = release.frequency(
        "round_data_added",
        data,
        count_column="school_months",
        extra_counts=["pupil_months"],
        labels=["round", "data_through", "pilot_months"],
    )
    return CheckedRound(comparison, models, checked)


def _cell(row: pd.Series | None, checked: CheckedOutput | None, lang: str) -> str:
    if row is None:
        return "-"
    if checked is None:  # not estimable: no number is released, the reason is said
        return T[lang]["round_not_estimable"].format(why=row.get("not_estimable_reason") or "-")
    if checked.status == "fail":
        return T[lang]["suppressed"]
    kind, _, unit = OUTCOME_SCALES.get(row["outcome"], ("survey", None, "points"))
    est, lo, hi = float(row["estimate"]), float(row["ci_lower"]), float(row["ci_upper"])
    if kind == "count":
        text = f"IRR {number(est, lang, 2)} ({number(lo, lang, 2)} .. {number(hi, lang, 2)})"
    else:
        scale = 12 if kind == "per_pupil_month" else 1
        text = (
            f"{number(scale * est, lang, 2)} {SHORT[lang].get(unit, '')} "
            f"({number(scale * lo, lang, 2)} .. {number(scale * hi, lang, 2)})"
        )
    p = row.get("p_value_wild_bootstrap")
    return text + (f"; p = {p_value(float(p), lang)}" if p is not None and pd.notna(p) else "")


def render(checked: CheckedRound, lang: str) -> dict:
    """The section's words and tables for the template."""
    t = T[lang]
    c = checked.comparison
    this, prev = c.this, c.previous
    common = {
        "name": this.name,
        "as_of": this.as_of.isoformat(),
        "through": f"{this.data_through:%Y-%m}",
        "run": this.run_id,
    }
    intro = (
        t["round_intro"].format(**common, previous=prev.name, previous_as_of=prev.as_of.isoformat())
        if prev
        else t["round_first"].format(**common)
    )
    header = [
        t["col_outcome"],
        *([t["round_col_previous"].format(name=prev.name)] if prev else []),
        t["round_col_this"].format(name=this.name),
    ]
    withheld = None
    rows = []
    est = c.estimates
    for outcome in dict.fromkeys(est.loc[est["round_name"] == this.name, "outcome"]):

        def cell(name: str) -> str:
            match = est[(est["round_name"] == name) & (est["outcome"] == outcome)]
            return _cell(
                match.iloc[0] if len(match) else None, checked.estimates.get((name, outcome)), lang
            )

        rows.append(
            [
                OUTCOME_NAMES[lang].get(outcome, outcome),
                *([cell(prev.name)] if prev else []),
                cell(this.name),
            ]
        )
    data_rows = []
    table, mask = checked.data.table, checked.data.suppressed
    for i, r in table.iterrows():
        suppressed = bool(mask.loc[i].any()) if isinstance(mask, pd.DataFrame) else False
        plus = "+" if r["round"] == "+" else ""
        label = t["round_added"] if plus else r["round"]
        months = plus + str(int(r["pilot_months"]))
        cells = (
            [t["suppressed"]] * 2
            if suppressed or pd.isna(r["school_months"])
            else [
                plus + number(float(r["school_months"]), lang, 0),
                plus + number(float(r["pupil_months"]), lang, 0),
            ]
        )
        data_rows.append([label, str(r["data_through"])[:7], months, *cells])
    if prev is None:
        plan_text, plan_items = t["round_plan_none"].format(hash=this.plan_hash[:12]), []
    elif not c.plan_changes:
        plan_text, plan_items = t["round_plan_same"].format(hash=this.plan_hash[:12]), []
    else:
        plan_text = t["round_plan_changed"].format(
            n=len(c.plan_changes), old=prev.plan_hash[:12], new=this.plan_hash[:12]
        )
        plan_items = [f"{path}: {old!r} -> {new!r}" for path, old, new in c.plan_changes]
    return {
        "title": t["round_title"],
        "intro": intro,
        "estimates_title": t["round_estimates"],
        "header": header,
        "rows": rows,
        "withheld": withheld,
        "data_title": t["round_data"],
        "data_header": [
            t["round_col_round"],
            t["round_col_through"],
            t["round_col_pilot_months"],
            t["round_col_school_months"],
            t["round_col_pupil_months"],
        ],
        "data_rows": data_rows,
        "plan_title": t["round_plan"],
        "plan_text": plan_text,
        "plan_items": plan_items,
    }
