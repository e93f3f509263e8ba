"""Minimal detectable effect (MDE) and power for cluster-randomised / pilot designs.

Setting: J_T treated and J_C comparison clusters (schools), each contributing m
observation units (pupils, or school-months) to the comparison; intra-cluster
correlation ICC = rho.

Difference in means (Bloom 1995, "Minimum detectable effects", Evaluation Review
19(5); Duflo, Glennerster & Kremer 2007, "Using randomization in development
economics research: a toolkit", eq. 11)::

    DEFF = 1 + (m - 1) * rho
    SE   = sigma * sqrt(1 - R2) * sqrt(DEFF / m * (1/J_T + 1/J_C))
    MDE  = (t_{1-alpha/2, df} + t_{power, df}) * SE,    df = J_T + J_C - 2

sigma is the total (individual-level) SD, R2 the share of variance explained by
baseline covariates / the pre-period (use it to approximate a DiD design).

Rate ratio (counts with exposure, log scale). With baseline rate lambda_C and
exposure E per cluster (e.g. pupil-months), the Poisson variance of a cluster's log
rate is 1/(lambda E), inflated by the design effect (use m and rho for the
between-pupil/month clustering; Hayes & Bennett 1999 give the equivalent
coefficient-of-variation form)::

    SE(log RR) = sqrt( DEFF / (lambda_C * RR * E * J_T) + DEFF / (lambda_C * E * J_C) )
    MDE: the RR with |log RR| = (t_{1-alpha/2} + t_{power}) * SE(log RR)

solved numerically (the treated-arm variance depends on RR). ``direction="decrease"``
returns RR < 1 (the pilots aim to reduce referrals).

Power uses the same normal-approximation-with-t-quantiles logic: for an effect
delta with standard error SE, power = P(T > t_crit - delta/SE) + P(T < -t_crit -
delta/SE), T ~ t(df). At delta = MDE this is ``power`` plus the (negligible)
opposite tail.

With very few treated clusters (e.g. 3) these formulas are optimistic: the analysis
will use few-cluster inference (wild bootstrap / randomization), which has less power.
"""
from __future__ import annotations

import math

from scipy import optimize, stats

__all__ = ["design_effect", "se_difference", "mde_difference", "power_difference",
           "se_log_rate_ratio", "mde_rate_ratio", "power_rate_ratio", "power", "multiplier"]


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


def se_difference(n_treated: int, n_control: int, m: float, sigma: float,
                  icc: float, r2: float = 0.0) -> float:
    """Standard error of a difference in cluster-level means (see module docstring)."""
    deff = design_effect(m, icc)
    return sigma * math.sqrt(1 - r2) * math.sqrt(deff / m * (1 / n_treated + 1 / n_control))


def mde_difference(n_treated: int, n_control: int, m: float, sigma: float, icc: float,
                   alpha: float = 0.05, power: float = 0.8, r2: float = 0.0,
                   df: float | None = None) -> float:
    """Minimal detectable difference in means (two-sided test)."""
    se = se_difference(n_treated, n_control, m, sigma, icc, r2)
    return multiplier(alpha, power, _df(n_treated, n_control, df)) * se


def power(effect: float, se: float, alpha: float = 0.05, df: float = math.inf) -> float:
    """Power of a two-sided level-alpha test for a true effect ``effect`` with SE ``se``."""
    dist = stats.norm if math.isinf(df) else stats.t(df)
    crit = dist.ppf(1 - alpha / 2)
    shift = effect / se
    return float(dist.sf(crit - shift) + dist.cdf(-crit - shift))


def power_difference(effect: float, n_treated: int, n_control: int, m: float, sigma: float,
                     icc: float, alpha: float = 0.05, r2: float = 0.0,
                     df: float | None = None) -> float:
    """Power to detect a difference ``effect`` in a clustered design."""
    se = se_difference(n_treated, n_control, m, sigma, icc, r2)
    return power(effect, se, alpha, _df(n_treated, n_control, df))


def se_log_rate_ratio(rate_ratio: float, n_treated: int, n_control: int, exposure: float,
                      baseline_rate: float, m: float = 1, icc: float = 0.0) -> float:
    """SE of log(RR) for cluster exposure ``exposure`` (see module docstring)."""
    deff = design_effect(m, icc)
    lt = baseline_rate * rate_ratio * exposure * n_treated
    lc = baseline_rate * exposure * n_control
    return math.sqrt(deff / lt + deff / lc)


def mde_rate_ratio(n_treated: int, n_control: int, exposure: float, baseline_rate: float,
                   m: float = 1, icc: float = 0.0, alpha: float = 0.05, power: float = 0.8,
                   df: float | None = None, direction: str = "decrease") -> float:
    """Minimal detectable rate ratio (RR < 1 for ``direction="decrease"``)."""
    M = multiplier(alpha, power, _df(n_treated, n_control, df))
    sign = -1.0 if direction == "decrease" else 1.0

    def f(log_rr: float) -> float:
        return abs(log_rr) - M * se_log_rate_ratio(math.exp(log_rr), n_treated, n_control,
                                                  exposure, baseline_rate, m, icc)

    # f(0) < 0; scan outward for the first |log RR| where the effect is detectable.
    # (For decreases the treated-arm variance explodes as RR -> 0, so f can turn
    # negative again far out: take the smallest detectable effect.)
    hi = None
    for mag in [i / 100 for i in range(1, 3001)]:
        if f(sign * mag) > 0:
            hi = sign * mag
            break
    if hi is None:
        return math.nan  # not detectable at any effect size
    root = optimize.brentq(f, 0.0, hi, xtol=1e-14)
    return math.exp(root)


def power_rate_ratio(rate_ratio: float, n_treated: int, n_control: int, exposure: float,
                     baseline_rate: float, m: float = 1, icc: float = 0.0,
                     alpha: float = 0.05, df: float | None = None) -> float:
    """Power to detect a rate ratio ``rate_ratio`` (Wald test on log scale)."""
    se = se_log_rate_ratio(rate_ratio, n_treated, n_control, exposure, baseline_rate, m, icc)
    return power(math.log(rate_ratio), se, alpha, _df(n_treated, n_control, df))
