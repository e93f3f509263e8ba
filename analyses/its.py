"""Interrupted time series (segmented regression) for a single site.

``level`` = b2 (immediate change at the interruption t0), ``slope`` = b3 (change in
trend per period), time centred at t0; Newey-West HAC variance (statsmodels) with
t(T-K) inference.

Design notes: docs/design/analyses.md#analysesitspy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import statsmodels.api as sm
from scipy import stats

from .results import EffectResult

__all__ = ["interrupted_time_series", "ITSResult", "newey_west_lags"]


def newey_west_lags(n: int) -> int:
    """Newey-West (1994) rule of thumb: floor(4 * (n/100)^(2/9))."""
    return int(math.floor(4 * (n / 100) ** (2 / 9)))


@dataclass(frozen=True)
class ITSResult:
    """``level`` (b2) and ``slope`` (b3) as EffectResults; ``fit`` is the statsmodels
    results object (for predictions and diagnostics)."""

    level: EffectResult
    slope: EffectResult
    fit: Any = field(repr=False)
    details: Mapping[str, Any] = field(default_factory=dict)


def interrupted_time_series(
    data: pd.DataFrame,
    outcome: str,
    time: str,
    intervention: float,
    season: str | None = None,
    covariates: Sequence[str] = (),
    maxlags: int | None = None,
    small_sample: bool = True,
    alpha: float = 0.05,
) -> ITSResult:
    """Segmented regression with Newey-West standard errors.

    Parameters
    ----------
    data : DataFrame
        One row per period (single site), sorted or not (it is sorted by ``time``).
    outcome, time : str
        ``time`` must be numeric and equally spaced (e.g. month index).
    intervention : float
        First period of the post (pilot) phase, t0.
    season : str, optional
        Categorical season column (e.g. calendar month) for fixed seasonal effects.
    covariates : sequence of str
    maxlags : int, optional
        HAC lag truncation; default Newey-West rule (see the module's design notes).
    small_sample : bool
    alpha : float
    """
    cols = [outcome, time, *covariates] + ([season] if season else [])
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise KeyError(f"columns not in data: {missing}")
    df = data[list(dict.fromkeys(cols))].dropna().sort_values(time).reset_index(drop=True)
    t = df[time].astype(float).to_numpy() - float(intervention)
    post = (t >= 0).astype(float)
    if post.sum() < 2 or (1 - post).sum() < 2:
        raise ValueError("need at least 2 periods before and after the intervention")
    X = pd.DataFrame({"const": 1.0, "time": t, "level": post, "slope": post * t})
    for c in covariates:
        X[c] = df[c].astype(float)
    if season:
        dummies = pd.get_dummies(
            df[season].astype("category"), prefix="season", drop_first=True, dtype=float
        )
        X = pd.concat([X, dummies], axis=1)
    y = df[outcome].astype(float)
    L = newey_west_lags(len(df)) if maxlags is None else int(maxlags)
    fit = sm.OLS(y, X).fit(
        cov_type="HAC", cov_kwds={"maxlags": L, "use_correction": small_sample}, use_t=True
    )
    dof = int(fit.df_resid)
    crit = stats.t.ppf(1 - alpha / 2, dof)
    conv = f"Newey-West HAC (Bartlett, maxlags={L}{', T/(T-K)' if small_sample else ''}), t(T-K)"

    def _res(name: str, label: str) -> EffectResult:
        b, se = float(fit.params[name]), float(fit.bse[name])
        return EffectResult(
            estimate=b,
            std_error=se,
            conf_int=(b - crit * se, b + crit * se),
            p_value=float(fit.pvalues[name]),
            n_obs=len(df),
            n_clusters=None,
            method=f"Interrupted time series, segmented OLS ({label}), {conv}",
            alpha=alpha,
            sample=f"{len(df)} periods, {int(post.sum())} from t0={intervention}",
            details={
                "df": dof,
                "critical_value": crit,
                "maxlags": L,
                "seasonality": season is not None,
            },
        )

    return ITSResult(
        level=_res("level", "level change"),
        slope=_res("slope", "slope change per period"),
        fit=fit,
        details={"maxlags": L, "params": fit.params.to_dict()},
    )
