"""Pupil-level binary outcomes (dropout, thuiszitter spell): logit and GEE DiD.

Both fit a logit DiD and report the **odds ratio** exp(b3) of the interaction
(``scale="ratio"``), clusters = schools: ``method="logit"`` (ML, cluster-robust sandwich)
or ``method="gee"`` (population-averaged GEE, robust sandwich). With few treated schools
use :func:`analyses.inference.randomization_inference`.

Design notes: docs/design/analyses.md#analysesbinarypy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from ._linalg import cluster_codes
from .results import EffectResult

__all__ = ["binary_did"]


def binary_did(
    data: pd.DataFrame,
    outcome: str,
    treated: str,
    post: str,
    cluster: str,
    covariates: Sequence[str] = (),
    method: str = "logit",
    alpha: float = 0.05,
) -> EffectResult:
    """Logit or GEE difference-in-differences odds ratio for a 0/1 outcome.

    Parameters
    ----------
    data : DataFrame
        One row per pupil (x period). Rows with missing values are dropped.
    outcome : str
        0/1 outcome.
    treated, post : str
        0/1 indicators (pilot school; pilot period).
    cluster : str
        School identifier (clusters for the variance; GEE groups).
    covariates : sequence of str
        Numeric pupil-level controls.
    method : {"logit", "gee"}
    alpha : float
    """
    if method not in ("logit", "gee"):
        raise ValueError('method must be "logit" or "gee"')
    cols = list(dict.fromkeys([outcome, treated, post, cluster, *covariates]))
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise KeyError(f"columns not in data: {missing}")
    df = data[cols].dropna().sort_values(cluster, kind="stable").reset_index(drop=True)
    y = df[outcome].astype(float)
    if not set(np.unique(y)) <= {0.0, 1.0}:
        raise ValueError("outcome must be 0/1")
    d, p = df[treated].astype(float), df[post].astype(float)
    X = pd.DataFrame({"const": 1.0, "treated": d, "post": p, "did": d * p})
    for c in covariates:
        X[c] = df[c].astype(float)
    codes, G = cluster_codes(df[cluster])
    if G < 2:
        raise ValueError("need at least 2 clusters")
    if method == "logit":
        fit = sm.Logit(y, X).fit(
            disp=0,
            method="newton",
            maxiter=100,
            tol=1e-12,
            cov_type="cluster",
            cov_kwds={"groups": codes},
        )
        conv = "Logit ML, cluster-robust (G/(G-1)*(N-1)/(N-K)), normal"
    else:
        mod = sm.GEE(
            y,
            X,
            groups=codes,
            family=sm.families.Binomial(),
            cov_struct=sm.cov_struct.Exchangeable(),
        )
        fit = mod.fit(maxiter=200, cov_type="robust")
        conv = "GEE logit, exchangeable within cluster, robust sandwich (no correction), normal"
    b, se = float(fit.params["did"]), float(fit.bse["did"])
    z = stats.norm.ppf(1 - alpha / 2)
    pval = float(2 * stats.norm.sf(abs(b / se)))
    tp = (d * p).to_numpy() == 1
    Xt = X[tp]
    lin = Xt.to_numpy() @ fit.params.to_numpy()
    prob1 = 1 / (1 + np.exp(-lin))
    prob0 = 1 / (1 + np.exp(-(lin - b)))
    details = {
        "coefficient": b,
        "z_stat": b / se,
        "critical_value": z,
        "coefficients": {k: float(v) for k, v in fit.params.items()},
        "ame_did": float(np.mean(prob1 - prob0)) if tp.any() else float("nan"),
    }
    if method == "gee":
        details["exchangeable_corr"] = float(fit.model.cov_struct.dep_params)
    return EffectResult(
        estimate=float(np.exp(b)),
        std_error=se,
        conf_int=(float(np.exp(b - z * se)), float(np.exp(b + z * se))),
        p_value=pval,
        n_obs=len(df),
        n_clusters=G,
        method=f"DiD odds ratio, {conv}",
        scale="ratio",
        alpha=alpha,
        sample=f"{len(df)} pupils in {G} clusters; treated&post={int(tp.sum())}",
        details=details,
    )
