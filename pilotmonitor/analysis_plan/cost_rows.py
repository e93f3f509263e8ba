"""The plan's cost rows (role ``costs``): avoided youth-care cost, net savings, avoided
referrals and cost per avoided referral of a pilot, from
:func:`analyses.costs.cost_effectiveness` on the pilot's school-month sample.

Pilot cost = the realised cost in ``published.dim_pilot`` (the pilot's own cost
deliveries); when none is delivered yet, the planned cost pro rata to the observed pilot
months. Costs are in euros; the effect is the pupil-month-weighted TWFE difference in
declared cost per pupil-month, scaled to the pilot schools' pupil-months in the window;
uncertainty from the stratified school-cluster bootstrap (seeded)."""

from __future__ import annotations

import math
from typing import Any, Callable

import pandas as pd

from analyses.costs import cost_effectiveness

from .sample import PilotSample

COST_BOOTSTRAP_REPS = 499


def pilot_cost_eur(pilot_row: pd.Series, sample: PilotSample) -> tuple[float, str]:
    realised = pilot_row.get("realised_cost_eur")
    if realised is not None and pd.notna(realised) and realised > 0:
        return float(realised), "realised cost (pilot cost deliveries)"
    planned = pilot_row.get("planned_cost_eur")
    end = pilot_row.get("planned_end_date")
    if planned is None or pd.isna(planned):
        raise ValueError("no realised or planned pilot cost in the registry")
    if end is None or pd.isna(end):
        raise ValueError("no realised cost and no planned end to pro-rate the planned cost over")
    planned_months = (pd.Timestamp(end).year - sample.start_month.year) * 12 + pd.Timestamp(end).month - sample.start_month.month + 1
    return float(planned) * min(1.0, sample.post_months / planned_months), "planned cost pro rata to observed pilot months"


def cost_rows(pilot_id: str, pilot_row: pd.Series, sample: PilotSample, seed: int, alpha: float,
              make_row: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for the long results table; `make_row(pilot_id, outcome, role, estimator, result, **extra)`."""
    try:
        cost, source = pilot_cost_eur(pilot_row, sample)
        panel = sample.panel.assign(declared_cost_eur=sample.panel["declared_cost_cents"] / 100.0)
        res = cost_effectiveness(panel, unit="school_id", time="time", treatment="d", cost="declared_cost_eur",
                                 exposure="pupil_months", pilot_cost=cost, referrals="new_referrals",
                                 treated_units=list(sample.treated_schools), reps=COST_BOOTSTRAP_REPS, seed=seed, alpha=alpha)
    except Exception as exc:  # noqa: BLE001 - recorded in the table
        return [make_row(pilot_id, "avoided_cost_eur", "costs", "cost_effectiveness",
                         method=f"not estimable: {type(exc).__name__}: {exc}"[:500])]
    shared = {"pilot_cost": cost, "pilot_cost_source": source, "treated_pupil_months": res.treated_pupil_months,
              "break_even_reduction_per_pupil_month": res.break_even_reduction_per_pupil_month,
              "prob_net_savings_positive": res.prob_net_savings_positive,
              "baseline_cost_per_pupil_year": res.baseline_cost_per_pupil_year}
    rows = []
    for outcome, result in (("avoided_cost_eur", res.avoided_cost), ("net_savings_eur", res.net_savings),
                            ("avoided_referrals", res.avoided_referrals),
                            ("cost_per_avoided_referral_eur", res.cost_per_avoided_referral)):
        if result is None:
            continue
        finite = math.isfinite(result.estimate)
        rows.append(make_row(pilot_id, outcome, "costs", "cost_effectiveness", result if finite else None,
                             details={**dict(result.details), **shared},
                             **({} if finite else {"method": "not estimable: no avoided referrals at the point estimate"})))
    return rows
