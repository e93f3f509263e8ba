"""Costs: youth-care cost per pupil, net savings against the pilot's cost, break-even and
cost per avoided referral, with a school-cluster bootstrap for the uncertainty.

The effects come from a two-way fixed-effects difference-in-differences on rates per
pupil-month, weighted by pupil-months (WLS with unit and period dummies), so they are
population averages per pupil-month and scale to the treated exposure:

* ``effect_cost_per_pupil_month`` (δc): change in declared youth-care cost per
  pupil-month in treated cells (negative = lower cost);
* ``avoided_cost`` = -δc × treated pupil-months (the pilot-period exposure of the pilot
  schools);
* ``net_savings`` = avoided_cost - pilot_cost;
* ``break_even_reduction_per_pupil_month`` = pilot_cost / treated pupil-months: the cost
  reduction per pupil-month the pilot must achieve to pay for itself (no uncertainty);
* ``cost_per_avoided_referral`` = pilot_cost / (-δr × treated pupil-months), only when
  referrals are given and the avoided referrals are positive.

Uncertainty: a stratified cluster bootstrap resamples treated units among the treated
and comparison units among the comparison units (with replacement, seeded), re-estimates
both effects and recomputes every quantity; intervals are percentile intervals, the
standard error is the bootstrap standard deviation and the p-value is two-sided,
2·min(share ≤ 0, share ≥ 0) (for the cost per avoided referral: whether avoided
referrals are positive). With only a handful of treated units the bootstrap distribution
is coarse (3 treated units give 10 distinct treated resamples): treat these intervals as
indicative and use the wild cluster bootstrap or randomization inference
(:mod:`analyses.inference`) for the test of the effect itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .results import EffectResult

__all__ = ["CostEffectivenessResult", "cost_effectiveness", "twfe_wls_effect"]


def twfe_wls_effect(
    data: pd.DataFrame, outcome: str, unit: str, time: str, treatment: str, weight: str
) -> float:
    """The treatment coefficient of ``outcome ~ treatment + C(unit) + C(time)`` by WLS with
    weights ``weight`` (numpy least squares on the dummy design; equals statsmodels WLS)."""
    units = pd.factorize(data[unit])[0]
    times = pd.factorize(data[time])[0]
    n = len(data)
    design = np.zeros((n, 1 + units.max() + 1 + times.max()))
    design[:, 0] = data[treatment].to_numpy(dtype=float)
    design[np.arange(n), 1 + units] = 1.0
    time_columns = 1 + units.max() + 1 + (times - 1)
    has_time = times > 0  # first period is the reference
    design[np.arange(n)[has_time], time_columns[has_time]] = 1.0
    root = np.sqrt(data[weight].to_numpy(dtype=float))
    coefficients, *_ = np.linalg.lstsq(
        design * root[:, None], data[outcome].to_numpy(dtype=float) * root, rcond=None
    )
    return float(coefficients[0])


@dataclass(frozen=True)
class CostEffectivenessResult:
    """Cost quantities of one pilot; each uncertain quantity as an :class:`EffectResult`."""

    effect_cost_per_pupil_month: EffectResult
    avoided_cost: EffectResult
    net_savings: EffectResult
    cost_per_avoided_referral: EffectResult | None
    avoided_referrals: EffectResult | None
    baseline_cost_per_pupil_year: float
    treated_pupil_months: float
    pilot_cost: float
    break_even_reduction_per_pupil_month: float
    prob_net_savings_positive: float

    def to_frame(self) -> pd.DataFrame:
        rows = {
            "effect_cost_per_pupil_month": self.effect_cost_per_pupil_month,
            "avoided_cost": self.avoided_cost,
            "net_savings": self.net_savings,
            "avoided_referrals": self.avoided_referrals,
            "cost_per_avoided_referral": self.cost_per_avoided_referral,
        }
        return pd.DataFrame(
            [
                {"quantity": name, **{k: v for k, v in result.to_dict().items() if k != "details"}}
                for name, result in rows.items()
                if result is not None
            ]
        )

    def summary(self) -> str:
        lines = [
            "Cost effectiveness",
            "=" * 60,
            "Baseline youth-care cost per pupil-year (pilot schools, before): "
            f"{self.baseline_cost_per_pupil_year:,.2f}",
            f"Pilot pupil-months: {self.treated_pupil_months:,.0f}; pilot cost: "
            f"{self.pilot_cost:,.2f}",
            "Break-even reduction per pupil-month: "
            f"{self.break_even_reduction_per_pupil_month:,.2f}",
            f"P(net savings > 0) over the bootstrap: {self.prob_net_savings_positive:.3f}",
        ]
        level = f"{100 * (1 - self.net_savings.alpha):g}%"
        for name, result in [
            ("cost per pupil-month (effect)", self.effect_cost_per_pupil_month),
            ("avoided cost", self.avoided_cost),
            ("net savings", self.net_savings),
            ("avoided referrals", self.avoided_referrals),
            ("cost per avoided referral", self.cost_per_avoided_referral),
        ]:
            if result is not None:
                lines.append(
                    f"{name:32s} {result.estimate:14,.2f}  {level} [{result.conf_int[0]:,.2f}, "
                    f"{result.conf_int[1]:,.2f}]"
                )
        return "\n".join(lines)


def _bootstrap_result(
    point: float,
    draws: np.ndarray,
    alpha: float,
    n_obs: int,
    n_clusters: int,
    reps: int,
    sample: str,
    what: str,
) -> EffectResult:
    finite = draws[np.isfinite(draws)]
    if len(finite) < len(draws):  # an unbounded quantity in some resamples: no honest interval
        lower, upper, se = float("nan"), float("nan"), float("nan")
    else:
        lower, upper = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
        se = float(np.std(finite, ddof=1))
    p_value = (
        float(min(1.0, 2 * min(np.mean(draws <= 0), np.mean(draws >= 0))))
        if len(finite) == len(draws)
        else float("nan")
    )
    return EffectResult(
        estimate=float(point),
        std_error=se,
        conf_int=(float(lower), float(upper)),
        p_value=p_value,
        n_obs=n_obs,
        n_clusters=n_clusters,
        method=(
            f"{what}; stratified school-cluster bootstrap, percentile interval ({reps} resamples)"
        ),
        sample=sample,
        alpha=alpha,
        details={"bootstrap_reps": reps, "unbounded_draws": int(len(draws) - len(finite))},
    )


def cost_effectiveness(
    data: pd.DataFrame,
    unit: str,
    time: str,
    treatment: str,
    cost: str,
    exposure: str,
    pilot_cost: float,
    referrals: str | None = None,
    treated_units: list | None = None,
    reps: int = 999,
    seed: int | None = None,
    alpha: float = 0.05,
) -> CostEffectivenessResult:
    """Cost per pupil, net savings, break-even and cost per avoided referral of a pilot.

    ``cost`` and ``referrals`` are totals per unit and period (e.g. declared cents or
    euros, new referrals), ``exposure`` the pupil-months, ``treatment`` 1 in treated
    unit-periods. ``treated_units`` defaults to the units ever treated. ``pilot_cost`` is
    in the unit of ``cost`` for the same treated period.
    """
    frame = data[
        [unit, time, treatment, cost, exposure] + ([referrals] if referrals else [])
    ].copy()
    frame = frame[frame[exposure] > 0]
    frame["_cost_rate"] = frame[cost] / frame[exposure]
    if referrals:
        frame["_referral_rate"] = frame[referrals] / frame[exposure]
    treated = (
        set(treated_units)
        if treated_units is not None
        else set(frame.loc[frame[treatment] == 1, unit])
    )
    if not treated:
        raise ValueError("no treated units: the treatment column is 0 everywhere")
    comparison = sorted(set(frame[unit]) - treated, key=str)
    if not comparison:
        raise ValueError("no comparison units")
    treated = sorted(treated, key=str)

    def quantities(sample: pd.DataFrame) -> tuple[float, float, float]:
        exposed = float(sample.loc[sample[treatment] == 1, exposure].sum())
        cost_effect = twfe_wls_effect(sample, "_cost_rate", unit, time, treatment, exposure)
        referral_effect = (
            twfe_wls_effect(sample, "_referral_rate", unit, time, treatment, exposure)
            if referrals
            else float("nan")
        )
        return cost_effect, referral_effect, exposed

    cost_effect, referral_effect, exposed = quantities(frame)
    groups = {u: g for u, g in frame.groupby(unit, sort=False)}
    rng = np.random.default_rng(seed)
    draws = np.empty((reps, 3))
    for b in range(reps):
        picks = (
            list(rng.choice(len(treated), len(treated))),
            list(rng.choice(len(comparison), len(comparison))),
        )
        parts = [groups[treated[i]].assign(**{unit: f"t{k}"}) for k, i in enumerate(picks[0])]
        parts += [groups[comparison[i]].assign(**{unit: f"c{k}"}) for k, i in enumerate(picks[1])]
        draws[b] = quantities(pd.concat(parts, ignore_index=True))

    n_obs, n_clusters = len(frame), len(treated) + len(comparison)
    sample = f"{len(treated)} treated and {len(comparison)} comparison units, {n_obs} unit-periods"
    avoided = -draws[:, 0] * draws[:, 2]
    net = avoided - pilot_cost
    before = frame[(frame[unit].isin(treated)) & (frame[treatment] == 0)]
    baseline = (
        12 * float(before[cost].sum() / before[exposure].sum()) if len(before) else float("nan")
    )
    avoided_referrals = cost_per_referral = None
    if referrals:
        avoided_ref_draws = -draws[:, 1] * draws[:, 2]
        avoided_referrals = _bootstrap_result(
            -referral_effect * exposed,
            avoided_ref_draws,
            alpha,
            n_obs,
            n_clusters,
            reps,
            sample,
            "avoided referrals = -effect on referrals per pupil-month x pilot pupil-months (TWFE "
            "WLS)",
        )
        point_avoided = -referral_effect * exposed
        per_referral_draws = np.where(
            avoided_ref_draws > 0,
            pilot_cost / np.where(avoided_ref_draws > 0, avoided_ref_draws, 1),
            np.inf,
        )
        cost_per_referral = _bootstrap_result(
            pilot_cost / point_avoided if point_avoided > 0 else float("inf"),
            per_referral_draws,
            alpha,
            n_obs,
            n_clusters,
            reps,
            sample,
            "cost per avoided referral = pilot cost / avoided referrals (unbounded when avoided "
            "referrals can be <= 0)",
        )
    return CostEffectivenessResult(
        effect_cost_per_pupil_month=_bootstrap_result(
            cost_effect,
            draws[:, 0],
            alpha,
            n_obs,
            n_clusters,
            reps,
            sample,
            "effect on cost per pupil-month (TWFE WLS, weights pupil-months)",
        ),
        avoided_cost=_bootstrap_result(
            -cost_effect * exposed,
            avoided,
            alpha,
            n_obs,
            n_clusters,
            reps,
            sample,
            "avoided cost = -effect x pilot pupil-months",
        ),
        net_savings=_bootstrap_result(
            -cost_effect * exposed - pilot_cost,
            net,
            alpha,
            n_obs,
            n_clusters,
            reps,
            sample,
            "net savings = avoided cost - pilot cost",
        ),
        cost_per_avoided_referral=cost_per_referral,
        avoided_referrals=avoided_referrals,
        baseline_cost_per_pupil_year=baseline,
        treated_pupil_months=exposed,
        pilot_cost=float(pilot_cost),
        break_even_reduction_per_pupil_month=float(pilot_cost / exposed)
        if exposed
        else float("nan"),
        prob_net_savings_positive=float(np.mean(net > 0)),
    )
