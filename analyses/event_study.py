"""Event-study (dynamic difference-in-differences) regression with a pre-trend test.

Two-way fixed effects with relative-period dummies from ``-leads`` to ``lags`` (``reference``,
default -1, omitted; endpoints binned by default), linear or Poisson, with a Wald pre-trend
test over the leads; ``pretrend_bootstrap=B`` (linear only) adds the wild cluster restricted
bootstrap p-value. With heterogeneity across adoption cohorts use :mod:`analyses.staggered`.

Design notes: docs/design/analyses.md#analysesevent_studypy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from ._linalg import cluster_codes, cluster_meat, sandwich
from .results import EffectResult, PretrendTest

__all__ = ["event_study", "EventStudyResult"]


@dataclass(frozen=True)
class EventStudyResult:
    """One EffectResult per relative period (``effects[e]``), the reference period,
    and the joint pre-trend test ``pretrend`` (:class:`~analyses.results.PretrendTest`:
    statistic, df, p_value, test, leads, bootstrap_*)."""

    effects: Mapping[int, EffectResult]
    reference: int
    pretrend: PretrendTest
    method: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        rows = [{"rel_time": e, **r.summary_row()} for e, r in sorted(self.effects.items())]
        return pd.DataFrame(rows)

    def plot(self, ax=None):
        """Coefficient plot with CIs and the reference period at the null.
        Returns the matplotlib Axes, or ``None`` if matplotlib is not installed."""
        try:
            import matplotlib.pyplot as plt
        except ImportError:  # pragma: no cover - optional dependency
            return None
        if ax is None:
            _, ax = plt.subplots()
        f = self.to_frame()
        null = next(iter(self.effects.values())).null_value
        f = pd.concat(
            [
                f,
                pd.DataFrame(
                    [
                        {
                            "rel_time": self.reference,
                            "estimate": null,
                            "conf_int_lower": null,
                            "conf_int_upper": null,
                        }
                    ]
                ),
            ]
        ).sort_values("rel_time")
        ax.errorbar(
            f["rel_time"],
            f["estimate"],
            yerr=[f["estimate"] - f["conf_int_lower"], f["conf_int_upper"] - f["estimate"]],
            fmt="o",
            capsize=3,
        )
        ax.axhline(null, color="grey", lw=0.8)
        ax.axvline(self.reference + 0.5, color="grey", ls="--", lw=0.8)
        ax.set_xlabel("period relative to treatment")
        ax.set_ylabel("effect")
        ax.set_title(f"pre-trend {self.pretrend.test}: p = {self.pretrend.p_value:.3f}")
        return ax


def _name(e: int) -> str:
    return f"_ev_m{-e}" if e < 0 else f"_ev_p{e}"


def event_study(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    first_treated: str,
    leads: int = 4,
    lags: int = 4,
    reference: int = -1,
    exposure: str | None = None,
    family: str = "linear",
    cluster: str | None = None,
    bin_endpoints: bool = True,
    alpha: float = 0.05,
    pretrend_bootstrap: int | None = None,
    bootstrap_weights: str = "rademacher",
    seed=None,
) -> EventStudyResult:
    """TWFE event study with leads ``-leads..-1`` and lags ``0..lags``.

    Parameters
    ----------
    data : DataFrame
        Long panel (unit x period).
    outcome, unit, time : str
    first_treated : str
        First treated period; NaN or 0 for never-treated units.
    leads, lags : int
        Window [-leads, lags]; ``reference`` must lie inside it and is omitted.
    reference : int
    exposure : str, optional
        Exposure for ``family="poisson"`` (offset log(exposure)).
    family : {"linear", "poisson"}
    cluster : str, optional
        Defaults to ``unit``.
    bin_endpoints : bool
    alpha : float
    pretrend_bootstrap : int, optional
        Linear family only: also test the leads jointly by the wild cluster restricted
        bootstrap of the CR1 Wald statistic (:func:`analyses.inference.wild_cluster_bootstrap_wald`
        algebra) with this many draws (full enumeration when 2^G <= draws); adds
        ``bootstrap_p_value``, ``bootstrap_n_boot``, ``bootstrap_full_enumeration`` and
        ``bootstrap_method`` to ``pretrend``.
    bootstrap_weights, seed : weights ("rademacher"/"webb") and seed of that bootstrap.
    """
    if family not in ("linear", "poisson"):
        raise ValueError('family must be "linear" or "poisson"')
    if pretrend_bootstrap is not None and family != "linear":
        raise ValueError("pretrend_bootstrap is implemented for the linear event study only")
    if not -leads <= reference <= lags:
        raise ValueError("reference must lie in [-leads, lags]")
    cl = cluster or unit
    cols = [outcome, unit, time, first_treated, cl] + ([exposure] if exposure else [])
    cols = list(dict.fromkeys(cols))
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise KeyError(f"columns not in data: {missing}")
    df = data[cols].dropna(subset=[c for c in cols if c != first_treated]).copy()
    g = df[first_treated].astype(float)
    treated = g.notna() & (g != 0)
    rel = (df[time].astype(float) - g).where(treated)
    if bin_endpoints:
        rel = rel.clip(lower=-leads, upper=lags)
    else:
        outside = treated & ((rel < -leads) | (rel > lags))
        df, rel, treated = df[~outside], rel[~outside], treated[~outside]
    frame = pd.DataFrame(
        {
            "_y": df[outcome].astype(float).to_numpy(),
            "_u": df[unit].to_numpy(),
            "_t": df[time].to_numpy(),
            "_g": df[cl].to_numpy(),
        }
    )
    periods = [e for e in range(-leads, lags + 1) if e != reference]
    for e in periods:
        frame[_name(e)] = (rel.to_numpy() == e).astype(float)
    frame = frame.loc[:, (frame != 0).any(axis=0) | ~frame.columns.str.startswith("_ev")]
    periods = [e for e in periods if _name(e) in frame.columns]
    formula = "_y ~ " + " + ".join([_name(e) for e in periods] + ["C(_u)", "C(_t)"])
    codes, G = cluster_codes(frame["_g"])
    if G < 2:
        raise ValueError("need at least 2 clusters")
    if family == "linear":
        mod = smf.ols(formula, frame)
        X, y = np.asarray(mod.exog), np.asarray(mod.endog)
        if np.linalg.matrix_rank(X) < X.shape[1]:
            raise ValueError(
                "design matrix is rank deficient (add never-treated units or reduce leads/lags)"
            )
        bread = np.linalg.inv(X.T @ X)
        beta = bread @ (X.T @ y)
        u = y - X @ beta
        n, k_all = X.shape
        nested = frame.groupby("_u")["_g"].nunique().eq(1).all()
        k = k_all - (frame["_u"].nunique() - 1 if nested else 0)
        factor = G / (G - 1) * (n - 1) / (n - k)
        dist_df = G - 1
        conv = "cluster-robust (CR1, G/(G-1)*(N-1)/(N-K), K=nested), t(G-1)"
        scale = "difference"
    else:
        if exposure is None:
            raise ValueError('family="poisson" needs an exposure column')
        frame["_e"] = df[exposure].astype(float).to_numpy()
        tot = frame.groupby("_u")["_y"].transform("sum")
        frame = frame[tot > 0].reset_index(drop=True)
        codes, G = cluster_codes(frame["_g"])
        mod = smf.glm(
            formula, frame, family=sm.families.Poisson(), offset=np.log(frame["_e"].to_numpy())
        )
        fit = mod.fit(method="irls", tol=1e-12, maxiter=200)
        X, y = np.asarray(mod.exog), np.asarray(mod.endog)
        mu = np.asarray(fit.mu)
        beta = np.asarray(fit.params)
        bread = np.linalg.inv((X * mu[:, None]).T @ X)
        u = y - mu
        n = len(y)
        factor = G / (G - 1)
        dist_df = None
        conv = "cluster-robust (CR1, G/(G-1)), normal"
        scale = "ratio"
    V = factor * sandwich(bread, cluster_meat(X * u[:, None], codes, G))
    names = list(mod.exog_names)
    idx = [names.index(_name(e)) for e in periods]
    crit = stats.t.ppf(1 - alpha / 2, dist_df) if dist_df else stats.norm.ppf(1 - alpha / 2)
    method = (
        f"Event study TWFE {'OLS' if family == 'linear' else 'Poisson (log exposure offset)'}"
        f" (unit + period FE, reference e={reference}, "
        f"{'binned' if bin_endpoints else 'trimmed'} endpoints), {conv}"
    )
    effects = {}
    for e, j in zip(periods, idx):
        b, se = float(beta[j]), float(np.sqrt(V[j, j]))
        stat = b / se
        p = float(2 * (stats.t.sf(abs(stat), dist_df) if dist_df else stats.norm.sf(abs(stat))))
        lo, hi = b - crit * se, b + crit * se
        if scale == "ratio":
            est, lo, hi = np.exp(b), np.exp(lo), np.exp(hi)
        else:
            est = b
        effects[e] = EffectResult(
            estimate=float(est),
            std_error=se,
            conf_int=(lo, hi),
            p_value=p,
            n_obs=n,
            n_clusters=G,
            method=method,
            scale=scale,
            alpha=alpha,
            sample=f"relative period {e}; {int((frame[_name(e)] == 1).sum())} obs",
            details={"rel_time": e, "coefficient": b, "df": dist_df, "critical_value": crit},
        )
    lead_idx = [j for e, j in zip(periods, idx) if e < 0]
    pretrend = {
        "statistic": float("nan"),
        "df": (0, dist_df),
        "p_value": float("nan"),
        "test": "F" if dist_df else "chi2",
        "leads": [e for e in periods if e < 0],
    }
    if lead_idx:
        b = beta[lead_idx]
        W = float(b @ np.linalg.solve(V[np.ix_(lead_idx, lead_idx)], b))
        q = len(lead_idx)
        if dist_df:
            pretrend.update(
                statistic=W / q, df=(q, dist_df), p_value=float(stats.f.sf(W / q, q, dist_df))
            )
        else:
            pretrend.update(statistic=W, df=(q,), p_value=float(stats.chi2.sf(W, q)))
        if pretrend_bootstrap is not None:
            from .inference import _wald_bootstrap

            Wb, pb, B, full, W_draws = _wald_bootstrap(
                X,
                y,
                lead_idx,
                codes,
                G,
                weights=bootstrap_weights,
                reps=pretrend_bootstrap,
                seed=seed,
                small_sample_factor=factor,
            )
            pretrend.update(
                bootstrap_p_value=pb,
                bootstrap_n_boot=B,
                bootstrap_full_enumeration=full,
                bootstrap_statistic=Wb / q,
                bootstrap_draws=W_draws / q,
                bootstrap_method=f"wild cluster restricted bootstrap of the joint Wald statistic "
                f"({bootstrap_weights}, {'full enumeration' if full else f'{B} draws'})",
            )
    pretrend["leads"] = tuple(pretrend["leads"])
    return EventStudyResult(
        effects=effects,
        reference=reference,
        pretrend=PretrendTest(**pretrend),
        method=method,
        details={"small_sample_factor": factor, "n_obs": n, "n_clusters": G, "family": family},
    )
