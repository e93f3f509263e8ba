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
from typing import Any

import pandas as pd

from analyses.costs import cost_effectiveness

from .estimator_runs import PlanContext, not_estimable_row
from .sample import PilotSample

ESTIMATOR = "cost_effectiveness"


def pilot_cost_eur(pilot_row: pd.Series, sample: PilotSample) -> tuple[float, str]:
    realised = pilot_row.get("realised_cost_eur")
    if realised is not None and pd.notna(realised) and realised > 0:
        return float(realised), "realised cost (pilot cost deliveries)"
    planned = pilot_row.get("planned_cost_eur")
    planned_months = pilot_row.get("planned_pilot_months")
    if planned is None or pd.isna(planned):
        raise ValueError("no realised or planned pilot cost in the registry")
    if planned_months is None or pd.isna(planned_months):
        raise ValueError("no realised cost and no planned end to pro-rate the planned cost over")
    return float(planned) * min(
        1.0, sample.post_months / planned_months
    ), "planned cost pro rata to observed pilot months"


def cost_rows(ctx: PlanContext, pilot_row: pd.Series) -> list[dict[str, Any]]:
    """The cost rows of one pilot (every plan has them; draws:
    ``inference.cost_bootstrap_reps``)."""
    sample = ctx.sample
    ctx = PlanContext(ctx.pilot, ctx.plan, sample, ctx.inputs, preregistered_as=ESTIMATOR)
    try:
        cost, source = pilot_cost_eur(pilot_row, sample)
        panel = sample.panel.assign(declared_cost_eur=sample.panel["declared_cost_cents"] / 100.0)
        res = cost_effectiveness(
            panel,
            unit="school_id",
            time="time",
            treatment="d",
            cost="declared_cost_eur",
            exposure="pupil_months",
            pilot_cost=cost,
            referrals="new_referrals",
            treated_units=list(sample.treated_schools),
            reps=ctx.plan.inference.cost_bootstrap_reps,
            seed=ctx.seed,
            alpha=ctx.alpha,
        )
    except Exception as exc:  # noqa: BLE001 - recorded in the table
        return [
            not_estimable_row(ctx.pilot.id, "avoided_cost_eur", "costs", ESTIMATOR, ESTIMATOR, exc)
        ]
    shared = {
        "pilot_cost": cost,
        "pilot_cost_source": source,
        "treated_pupil_months": res.treated_pupil_months,
        "break_even_reduction_per_pupil_month": res.break_even_reduction_per_pupil_month,
        "prob_net_savings_positive": res.prob_net_savings_positive,
        "baseline_cost_per_pupil_year": res.baseline_cost_per_pupil_year,
    }
    rows = []
    for outcome, result in (
        ("avoided_cost_eur", res.avoided_cost),
        ("net_savings_eur", res.net_savings),
        ("avoided_referrals", res.avoided_referrals),
        ("cost_per_avoided_referral_eur", res.cost_per_avoided_referral),
    ):
        if result is None:
            continue
        details = {**dict(result.details), **shared}
        if math.isfinite(result.estimate):
            rows.append(ctx.row(outcome, "costs", ESTIMATOR, result, details=details))
        else:
            rows.append(
                not_estimable_row(
                    ctx.pilot.id,
                    outcome,
                    "costs",
                    ESTIMATOR,
                    ESTIMATOR,
                    "no avoided referrals at the point estimate",
                    details=details,
                )
            )
    return rows
