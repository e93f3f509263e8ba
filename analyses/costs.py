"""Costs: youth-care cost per pupil, net savings against the pilot's cost, break-even and
cost per avoided referral, with a school-cluster bootstrap for the uncertainty.

Effects come from a pupil-month-weighted TWFE DiD on rates per pupil-month. With only a
handful of treated units the bootstrap is coarse: treat its intervals as indicative and
test the effect itself with :mod:`analyses.inference`.

Design notes: docs/design/analyses.md#analysescostspy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg

from .results import EffectResult

__all__ = ["CostEffectivenessResult", "cost_effectiveness", "twfe_wls_effect"]


def twfe_wls_effect(
    data: pd.DataFrame, outcome: str, unit: str, time: str, treatment: str, weight: str
) -> float:
    """The treatment coefficient of ``outcome ~ treatment + C(unit) + C(time)`` by WLS with
    weights ``weight`` (equals statsmodels WLS with the dummies; tested)."""
    units = pd.factorize(data[unit])[0]
    times = pd.factorize(data[time])[0]
    coefficients = _twfe_wls(
        units,
        times,
        data[treatment].to_numpy(dtype=float),
        data[[outcome]].to_numpy(dtype=float),
        data[weight].to_numpy(dtype=float),
    )
    return float(coefficients[0])


def _twfe_wls(
    units: np.ndarray, times: np.ndarray, x: np.ndarray, ys: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """Treatment coefficient for each column of ``ys`` in ``y ~ x + C(unit) + C(time)`` by
    WLS, from sums per unit and unit-period cell (codes from 0).

    The unit dummies are absorbed exactly (within-unit weighted means; their block of the
    normal equations is diagonal), leaving a system of one row per period: the bootstrap
    refits the model hundreds of times, and a least-squares solve on the dense dummy
    design (rows x (units + periods)) took 1.3 ms per fit at demo size; this takes about
    0.2 ms. The first period present is the reference, as with the dummy design.
    """
    n_units, n_periods = int(units.max()) + 1, int(times.max()) + 1
    # a unit without weight adds nothing to any sum (divide by 1 instead of 0)
    unit_weight = np.bincount(units, w, n_units)
    unit_weight = np.where(unit_weight > 0, unit_weight, 1.0)
    cell = np.bincount(units * n_periods + times, w, n_units * n_periods).reshape(
        n_units, n_periods
    )
    period_weight = cell.sum(axis=0)
    present = np.flatnonzero(period_weight > 0)[1:]  # the first present period: reference
    x_within = x - (np.bincount(units, w * x, n_units) / unit_weight)[units]
    ys_within = (
        ys
        - np.column_stack([np.bincount(units, w * y, n_units) / unit_weight for y in ys.T])[units]
    )
    # normal equations of [x, period dummies] after absorbing the units
    share = cell[:, present] / unit_weight[:, None]
    dummies = np.diag(period_weight[present]) - cell[:, present].T @ share
    x_dummies = np.bincount(times, w * x_within, n_periods)[present]
    matrix = np.empty((1 + len(present), 1 + len(present)))
    matrix[0, 0] = np.sum(w * x_within * x_within)
    matrix[0, 1:] = matrix[1:, 0] = x_dummies
    matrix[1:, 1:] = dummies
    rhs = np.empty((1 + len(present), ys.shape[1]))
    rhs[0] = (w * x_within) @ ys_within
    for k, y in enumerate(ys_within.T):
        rhs[1:, k] = np.bincount(times, w * y, n_periods)[present]
    return _solve_normal_equations(matrix, rhs)[0]


def _solve_normal_equations(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Cholesky for the positive definite normal equations of a full-rank design (30 times
    faster than the SVD at demo size, which counts in the bootstrap); a design that is not
    of full rank falls back to the minimum-norm least-squares solution, as before."""
    try:
        factor = scipy.linalg.cho_factor(matrix, check_finite=False)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(matrix, rhs, rcond=None)[0]
    return scipy.linalg.cho_solve(factor, rhs, check_finite=False)


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

    # the bootstrap works on arrays: one refit per draw of both effects together
    unit_codes, unit_labels = pd.factorize(frame[unit])
    period_codes = pd.factorize(frame[time])[0]
    x = frame[treatment].to_numpy(dtype=float)
    weights = frame[exposure].to_numpy(dtype=float)
    rates = ["_cost_rate", "_referral_rate"] if referrals else ["_cost_rate"]
    ys = frame[rates].to_numpy(dtype=float)
    rows_of = {label: np.flatnonzero(unit_codes == code) for code, label in enumerate(unit_labels)}

    def quantities(rows: np.ndarray, units: np.ndarray) -> tuple[float, float, float]:
        effects = _twfe_wls(units, period_codes[rows], x[rows], ys[rows], weights[rows])
        exposed = float(weights[rows][x[rows] == 1].sum())
        return float(effects[0]), float(effects[1]) if referrals else float("nan"), exposed

    cost_effect, referral_effect, exposed = quantities(np.arange(len(frame)), unit_codes)
    rng = np.random.default_rng(seed)
    draws = np.empty((reps, 3))
    for b in range(reps):
        picks = [treated[i] for i in rng.choice(len(treated), len(treated))]
        picks += [comparison[i] for i in rng.choice(len(comparison), len(comparison))]
        parts = [rows_of[label] for label in picks]  # a unit drawn twice counts as two units
        rows = np.concatenate(parts)
        units = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
        draws[b] = quantities(rows, units)

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
