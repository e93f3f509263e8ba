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
from .absorb import FixedEffects, poisson_irls
from .did import _check_not_absorbed, _drop_all_zero
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


def _within_unit_design(frame: pd.DataFrame, ev_names: list[str]):
    """(X, y, names): the event dummies and the period dummies (first period omitted)
    with y, each minus its unit mean. By Frisch-Waugh-Lovell this gives the dummy design's
    coefficients, residuals and cluster-robust variance of the event dummies; and when
    clusters nest units, a wild-bootstrap draw (one weight per cluster) times residuals
    orthogonal to the unit dummies stays orthogonal to them, so the restricted bootstrap
    is exactly the dummy design's too. Columns: a few event-time periods, not thousands
    of unit dummies."""
    periods = np.sort(frame["_t"].unique())[1:]
    t = frame["_t"].to_numpy()
    raw = np.column_stack(
        [frame["_y"].to_numpy(float), frame[ev_names].to_numpy(float)]
        + [(t == p).astype(float) for p in periods]
    )
    within = FixedEffects.from_columns(frame["_u"]).demean(raw)
    names = ev_names + [f"C(_t)[T.{p}]" for p in periods]
    return within[:, 1:], within[:, 0], names


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
    fe_method: str = "absorb",
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
    fe_method : {"absorb", "dummies"}
        ``"absorb"`` (default): linear, the unit effects are removed by demeaning within
        units and the period dummies stay (few event-time periods; with clusters that nest
        units the bootstrap's algebra is then exactly that of the dummy design); Poisson,
        both effects absorbed (:func:`analyses.absorb.poisson_irls`). ``"dummies"``: the
        dense dummy design through statsmodels, the reference the absorbed fit is tested
        against; its memory grows with units x rows. Clusters that do not nest units with
        ``pretrend_bootstrap`` use the dummy design.
    """
    if family not in ("linear", "poisson"):
        raise ValueError('family must be "linear" or "poisson"')
    if pretrend_bootstrap is not None and family != "linear":
        raise ValueError("pretrend_bootstrap is implemented for the linear event study only")
    if not -leads <= reference <= lags:
        raise ValueError("reference must lie in [-leads, lags]")
    if fe_method not in ("absorb", "dummies"):
        raise ValueError('fe_method must be "absorb" or "dummies"')
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
            "_rel": rel.to_numpy(),
        }
    )
    zero_units: list = []
    zero_periods: list = []
    if family == "poisson":
        if exposure is None:
            raise ValueError('family="poisson" needs an exposure column')
        frame["_e"] = df[exposure].astype(float).to_numpy()
        # an all-zero unit or period has a fixed effect of minus infinity (ppmlhdfe, fixest)
        frame, zero_units, zero_periods = _drop_all_zero(frame)
    periods = [e for e in range(-leads, lags + 1) if e != reference]
    for e in periods:
        frame[_name(e)] = (frame["_rel"].to_numpy() == e).astype(float)
    periods = [e for e in periods if frame[_name(e)].any()]
    frame = frame.drop(columns="_rel")
    ev_names = [_name(e) for e in periods]
    formula = "_y ~ " + " + ".join(ev_names + ["C(_u)", "C(_t)"])
    codes, G = cluster_codes(frame["_g"])
    if G < 2:
        raise ValueError("need at least 2 clusters")
    n_units = frame["_u"].nunique()
    nested = frame.groupby("_u")["_g"].nunique().eq(1).all()
    # the bootstrap on the unit-demeaned design equals the dummy design's only when every
    # unit lies in one cluster (see _within_unit_design)
    dense = fe_method == "dummies" or (pretrend_bootstrap is not None and not nested)
    if family == "linear":
        if dense:
            mod = smf.ols(formula, frame)
            X, y, names = np.asarray(mod.exog), np.asarray(mod.endog), list(mod.exog_names)
            k_all = X.shape[1]
        else:
            X, y, names = _within_unit_design(frame, ev_names)
            k_all = X.shape[1] + n_units  # the intercept and the unit dummies, absorbed
        if np.linalg.matrix_rank(X) < X.shape[1]:
            raise ValueError(
                "design matrix is rank deficient (add never-treated units or reduce leads/lags)"
            )
        bread = np.linalg.inv(X.T @ X)
        beta = bread @ (X.T @ y)
        u = y - X @ beta
        n = len(y)
        k = k_all - (n_units - 1 if nested else 0)
        factor = G / (G - 1) * (n - 1) / (n - k)
        dist_df = G - 1
        conv = "cluster-robust (CR1, G/(G-1)*(N-1)/(N-K), K=nested), t(G-1)"
        scale = "difference"
    else:
        offset = np.log(frame["_e"].to_numpy())
        if dense:
            mod = smf.glm(formula, frame, family=sm.families.Poisson(), offset=offset)
            X, y, names = np.asarray(mod.exog), np.asarray(mod.endog), list(mod.exog_names)
            if np.linalg.matrix_rank(X) < X.shape[1]:
                raise ValueError("design matrix is rank deficient (collinear regressors)")
            fit = mod.fit(method="irls", tol=1e-12, maxiter=200)
            mu, beta = np.asarray(fit.mu), np.asarray(fit.params)
        else:
            fe = FixedEffects.from_columns(frame["_u"], frame["_t"])
            X_ev, y = frame[ev_names].to_numpy(float), frame["_y"].to_numpy(float)
            _check_not_absorbed(X_ev, fe.demean(X_ev))
            pfit = poisson_irls(y, X_ev, fe, offset=offset)
            # scores and bread of the absorbed fit: X demeaned with the final weights mu
            X, mu, beta, names = pfit.X_tilde, pfit.mu, pfit.beta, ev_names
        bread = np.linalg.inv((X * mu[:, None]).T @ X)
        u = y - mu
        n = len(y)
        factor = G / (G - 1)
        dist_df = None
        conv = "cluster-robust (CR1, G/(G-1)), normal"
        scale = "ratio"
    V = factor * sandwich(bread, cluster_meat(X * u[:, None], codes, G))
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
        details={
            "small_sample_factor": factor,
            "n_obs": n,
            "n_clusters": G,
            "family": family,
            "fe_method": "dummies" if dense else "absorb",
            **(
                {"dropped_all_zero_units": zero_units, "dropped_all_zero_periods": zero_periods}
                if family == "poisson"
                else {}
            ),
        },
    )
