"""Minimal detectable effect (MDE) and power for cluster-randomised / pilot designs.

J_T treated and J_C comparison clusters (schools) of m units each, ICC = rho: the MDE of a
difference in means (Bloom 1995) or of a rate ratio for counts with exposure, and power by
the same normal-approximation-with-t-quantiles logic. With very few treated clusters these
formulas are optimistic.

Design notes: docs/design/analyses.md#analysespowerpy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

from scipy import optimize, stats

__all__ = [
    "design_effect",
    "se_difference",
    "mde_difference",
    "power_difference",
    "se_log_rate_ratio",
    "mde_rate_ratio",
    "power_rate_ratio",
    "power",
    "multiplier",
]


def design_effect(m: float, icc: float) -> float:
    """Kish design effect 1 + (m - 1) * ICC."""
    if m < 1 or not 0 <= icc <= 1:
        raise ValueError("need m >= 1 and 0 <= icc <= 1")
    return 1 + (m - 1) * icc


def _df(n_treated: int, n_control: int, df: float | None) -> float:
    d = n_treated + n_control - 2 if df is None else df
    if d <= 0:
        raise ValueError("degrees of freedom must be positive")
    return d


def multiplier(alpha: float = 0.05, power: float = 0.8, df: float = math.inf) -> float:
    """t_{1-alpha/2, df} + t_{power, df} (normal quantiles if df is inf)."""
    dist = stats.norm if math.isinf(df) else stats.t(df)
    return float(dist.ppf(1 - alpha / 2) + dist.ppf(power))


def se_difference(
    n_treated: int, n_control: int, m: float, sigma: float, icc: float, r2: float = 0.0
) -> float:
    """Standard error of a difference in cluster-level means (see the module's design notes)."""
    deff = design_effect(m, icc)
    return sigma * math.sqrt(1 - r2) * math.sqrt(deff / m * (1 / n_treated + 1 / n_control))


def mde_difference(
    n_treated: int,
    n_control: int,
    m: float,
    sigma: float,
    icc: float,
    alpha: float = 0.05,
    power: float = 0.8,
    r2: float = 0.0,
    df: float | None = None,
) -> float:
    """Minimal detectable difference in means (two-sided test)."""
    se = se_difference(n_treated, n_control, m, sigma, icc, r2)
    return multiplier(alpha, power, _df(n_treated, n_control, df)) * se


def power(effect: float, se: float, alpha: float = 0.05, df: float = math.inf) -> float:
    """Power of a two-sided level-alpha test for a true effect ``effect`` with SE ``se``."""
    dist = stats.norm if math.isinf(df) else stats.t(df)
    crit = dist.ppf(1 - alpha / 2)
    shift = effect / se
    return float(dist.sf(crit - shift) + dist.cdf(-crit - shift))


def power_difference(
    effect: float,
    n_treated: int,
    n_control: int,
    m: float,
    sigma: float,
    icc: float,
    alpha: float = 0.05,
    r2: float = 0.0,
    df: float | None = None,
) -> float:
    """Power to detect a difference ``effect`` in a clustered design."""
    se = se_difference(n_treated, n_control, m, sigma, icc, r2)
    return power(effect, se, alpha, _df(n_treated, n_control, df))


def se_log_rate_ratio(
    rate_ratio: float,
    n_treated: int,
    n_control: int,
    exposure: float,
    baseline_rate: float,
    m: float = 1,
    icc: float = 0.0,
) -> float:
    """SE of log(RR) for cluster exposure ``exposure`` (see the module's design notes)."""
    deff = design_effect(m, icc)
    lt = baseline_rate * rate_ratio * exposure * n_treated
    lc = baseline_rate * exposure * n_control
    return math.sqrt(deff / lt + deff / lc)


def mde_rate_ratio(
    n_treated: int,
    n_control: int,
    exposure: float,
    baseline_rate: float,
    m: float = 1,
    icc: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
    df: float | None = None,
    direction: str = "decrease",
) -> float:
    """Minimal detectable rate ratio (RR < 1 for ``direction="decrease"``)."""
    M = multiplier(alpha, power, _df(n_treated, n_control, df))
    return _smallest_detectable_rate_ratio(
        lambda rr: se_log_rate_ratio(rr, n_treated, n_control, exposure, baseline_rate, m, icc),
        M,
        direction,
    )


def _smallest_detectable_rate_ratio(
    se_log_rr: Callable[[float], float], M: float, direction: str
) -> float:
    """The rate ratio whose |log RR| equals ``M`` times its SE, ``se_log_rr(RR)``; NaN
    when no effect up to |log RR| = 30 is detectable."""
    sign = -1.0 if direction == "decrease" else 1.0

    def f(log_rr: float) -> float:
        return abs(log_rr) - M * se_log_rr(math.exp(log_rr))

    # f(0) < 0; scan outward for the first |log RR| where the effect is detectable.
    # (For decreases the treated-arm variance explodes as RR -> 0, so f can turn
    # negative again far out: take the smallest detectable effect.)
    hi = next((sign * (k / 100) for k in range(1, 3001) if f(sign * (k / 100)) > 0), None)
    if hi is None:
        return math.nan  # not detectable at any effect size
    return math.exp(optimize.brentq(f, 0.0, hi, xtol=1e-14))


def power_rate_ratio(
    rate_ratio: float,
    n_treated: int,
    n_control: int,
    exposure: float,
    baseline_rate: float,
    m: float = 1,
    icc: float = 0.0,
    alpha: float = 0.05,
    df: float | None = None,
) -> float:
    """Power to detect a rate ratio ``rate_ratio`` (Wald test on log scale)."""
    se = se_log_rate_ratio(rate_ratio, n_treated, n_control, exposure, baseline_rate, m, icc)
    return power(math.log(rate_ratio), se, alpha, _df(n_treated, n_control, df))


# ---------------------------------------------------------------------------------------
# Exact power of the two-sample t test (noncentral t), sample sizes, and pilot MDEs
# ---------------------------------------------------------------------------------------
#
# Two-sample t test with n1 and n2 = ratio * n1 observations, standardised effect
# d = delta / sigma: under the alternative t ~ noncentral t(df = n1 + n2 - 2,
# nc = d * sqrt(n1 n2 / (n1 + n2))), so the exact two-sided power is
# P(T > t_crit) + P(T < -t_crit) (both tails, as statsmodels ``TTestIndPower`` and
# G*Power "t tests - difference between two independent means"; Cohen 1988, ch. 2).
# The Bloom formulas above approximate this by a shifted central t.

_ALTERNATIVES = ("two-sided", "larger", "smaller")


def power_ttest(
    effect_size: float,
    nobs1: float,
    alpha: float = 0.05,
    ratio: float = 1.0,
    alternative: str = "two-sided",
) -> float:
    """Exact power of the two-sample t test (noncentral t); ``nobs2 = ratio * nobs1``."""
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}")
    nobs2 = ratio * nobs1
    df = nobs1 + nobs2 - 2
    if df <= 0:
        raise ValueError("need nobs1 + nobs2 > 2")
    nc = effect_size * math.sqrt(nobs1 * nobs2 / (nobs1 + nobs2))
    if alternative == "two-sided":
        crit = stats.t.ppf(1 - alpha / 2, df)
        return float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))
    crit = stats.t.ppf(1 - alpha, df)
    if alternative == "larger":
        return float(stats.nct.sf(crit, df, nc))
    return float(stats.nct.cdf(-crit, df, nc))


def sample_size_ttest(
    effect_size: float,
    power: float = 0.8,
    alpha: float = 0.05,
    ratio: float = 1.0,
    alternative: str = "two-sided",
) -> float:
    """Real-valued n1 at which :func:`power_ttest` equals ``power`` (as statsmodels
    ``TTestIndPower.solve_power``); round **up** for a design (G*Power and Cohen's tables
    report ``ceil``: d = 0.5, two-sided alpha 0.05, power 0.8 gives 63.77 -> 64 per group)."""
    if effect_size == 0 or not 0 < power < 1:
        raise ValueError("need a non-zero effect size and 0 < power < 1")
    lo = 2.5 / (1 + ratio)  # df = 0.5: below that the t quantiles are meaningless

    def gap(n1: float) -> float:
        return power_ttest(effect_size, n1, alpha, ratio, alternative) - power

    hi = 2.0
    while gap(hi) < 0:
        hi *= 2
        if hi > 1e12:
            raise ValueError("power not reachable")
    if gap(lo) >= 0:
        return lo
    return float(optimize.brentq(gap, lo, hi, xtol=1e-12, rtol=1e-15))


def _cluster_effect_size(effect: float, m: float, sigma: float, icc: float, r2: float) -> float:
    """Effect in SDs of a cluster mean: sigma_cluster = sigma sqrt(1 - R2) sqrt(DEFF / m)."""
    return effect / (sigma * math.sqrt(1 - r2) * math.sqrt(design_effect(m, icc) / m))


def schools_needed(
    effect: float,
    m: float,
    sigma: float,
    icc: float,
    power: float = 0.8,
    alpha: float = 0.05,
    ratio: float = 1.0,
    r2: float = 0.0,
) -> tuple[int, int]:
    """Smallest numbers of (treated, comparison) schools for a two-sided test of a difference
    ``effect`` in means with ``m`` pupils (or pupil-months) per school.

    The school means are the observations of an exact two-sample t test (noncentral t,
    df = J_T + J_C - 2) whose effect size is ``effect / (sigma sqrt(1-R2) sqrt(DEFF/m))``,
    DEFF = 1 + (m-1) ICC. Comparison schools: ``ceil(ratio * J_T)``; J_T is the smallest
    integer (>= 2) whose power reaches ``power``.
    """
    d = _cluster_effect_size(effect, m, sigma, icc, r2)
    n = max(2, math.floor(sample_size_ttest(d, power, alpha, ratio)))
    while True:
        n_c = max(1, math.ceil(ratio * n))
        # exact power for the integer design (ratio realised as n_c / n)
        if power_ttest(d, n, alpha, n_c / n) >= power:
            return n, n_c
        n += 1


def power_schools(
    effect: float,
    n_treated: int,
    n_control: int,
    m: float,
    sigma: float,
    icc: float,
    alpha: float = 0.05,
    r2: float = 0.0,
) -> float:
    """Exact (noncentral t) power for J_T treated and J_C comparison schools; compare
    :func:`power_difference` (Bloom's shifted-t approximation of the same design)."""
    d = _cluster_effect_size(effect, m, sigma, icc, r2)
    return power_ttest(d, n_treated, alpha, n_control / n_treated)


@dataclass(frozen=True)
class PilotMDE:
    """Design-stage minimal detectable effect of one pilot (see :func:`pilot_mde`)."""

    rate_ratio: float  # detectable rate ratio (< 1 for a decrease)
    difference: float  # the same effect as a rate difference per pupil-month
    difference_per_1000: float  # ... per 1,000 pupil-months
    baseline_rate: float
    se_log_rate_ratio: float  # at the MDE
    df: float
    n_treated: int
    n_control: int
    pupil_months: float
    cv_between: float

    def to_dict(self) -> dict:
        return asdict(self)


def se_log_rate_ratio_cv(
    rate_ratio: float,
    n_treated: int,
    n_control: int,
    exposure: float,
    baseline_rate: float,
    cv_between: float = 0.0,
) -> float:
    """SE of log(RR) with between-school variation of true rates (coefficient of variation k;
    Hayes & Bennett 1999, Int J Epidemiol 28:319-326): per school Var(log rate) ~
    1 / (lambda E) + k^2."""
    lt = baseline_rate * rate_ratio * exposure
    lc = baseline_rate * exposure
    k2 = cv_between**2
    return math.sqrt((1 / lt + k2) / n_treated + (1 / lc + k2) / n_control)


def pilot_mde(
    n_treated: int,
    n_control: int,
    pupil_months: float,
    baseline_rate: float,
    cv_between: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
    df: float | None = None,
    direction: str = "decrease",
) -> PilotMDE:
    """Design-stage MDE of one pilot: J_T pilot and J_C comparison schools, ``pupil_months``
    of exposure per school over the comparison window, ``baseline_rate`` events (referrals)
    per pupil-month, ``cv_between`` the between-school coefficient of variation of the true
    rates (0: Poisson only; Hayes & Bennett report 0.1-0.3 as typical).

    Returns the detectable rate ratio (Wald test on log RR, multiplier t_{1-alpha/2, df} +
    t_{power, df}, df = J_T + J_C - 2, solved as :func:`mde_rate_ratio`) and the same effect
    on the difference scale, ``baseline_rate * (RR - 1)`` per pupil-month. With 2-4 pilot
    schools these are optimistic: the few-cluster tests the analysis uses have less power.
    """
    if direction not in ("decrease", "increase"):
        raise ValueError('direction must be "decrease" or "increase"')
    d = _df(n_treated, n_control, df)
    M = multiplier(alpha, power, d)

    def se_at(rr: float) -> float:
        return se_log_rate_ratio_cv(
            rr, n_treated, n_control, pupil_months, baseline_rate, cv_between
        )

    rr = _smallest_detectable_rate_ratio(se_at, M, direction)
    se = se_at(rr) if not math.isnan(rr) else math.nan
    diff = baseline_rate * (rr - 1)
    return PilotMDE(
        rate_ratio=rr,
        difference=diff,
        difference_per_1000=1000 * diff,
        baseline_rate=baseline_rate,
        se_log_rate_ratio=se,
        df=d,
        n_treated=n_treated,
        n_control=n_control,
        pupil_months=pupil_months,
        cv_between=cv_between,
    )


__all__ += [
    "power_ttest",
    "sample_size_ttest",
    "schools_needed",
    "power_schools",
    "pilot_mde",
    "PilotMDE",
    "se_log_rate_ratio_cv",
]
