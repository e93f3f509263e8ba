"""Count models: Poisson and negative binomial (NB2) regression, with exposure.

Two entry points share one variance engine: :func:`count_regression` (a plain count
regression fitted by statsmodels) and ``twfe(..., family="poisson" | "negative_binomial")``
in :mod:`analyses.did` (fixed effects absorbed; NB2 by :func:`negbin_irls_absorbed`).
``cov_type`` is ``"model"``, ``"hc0"``, ``"hc1"`` or ``"cluster"``; inference is normal.

Design notes: docs/design/analyses.md#analysescountpy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from patsy import dmatrix
from scipy import optimize, special, stats

from ._linalg import cluster_codes
from .absorb import irls_absorbed
from .results import EffectResult

__all__ = [
    "count_regression",
    "FAMILIES",
    "COV_TYPES",
    "nb2_loglik",
    "negbin_irls_absorbed",
    "count_inference",
]

FAMILIES = ("poisson", "negative_binomial")
COV_TYPES = ("model", "hc0", "hc1", "cluster")

# Bounds of the NB2 dispersion search: below ~1e-8 the data show no over-dispersion and
# the likelihood is flat in alpha (Poisson is the model then).
ALPHA_MIN, ALPHA_MAX = 1e-8, 1e4

Demean = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _no_demeaning(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


# ---------------------------------------------------------------------------------------
# NB2 likelihood pieces (log link; mu includes the exposure)
# ---------------------------------------------------------------------------------------


def nb2_loglik(y: np.ndarray, mu: np.ndarray, alpha: float) -> float:
    """NB2 log-likelihood ``sum log P(y | mu, alpha)`` (alpha > 0)."""
    r = 1.0 / alpha
    return float(
        np.sum(
            special.gammaln(y + r)
            - special.gammaln(r)
            - special.gammaln(y + 1)
            + r * np.log(r / (r + mu))
            + special.xlogy(y, mu / (r + mu))
        )
    )


def _nb2_alpha_score(y, mu, alpha) -> np.ndarray:
    """d log f_i / d alpha."""
    r = 1.0 / alpha
    t = special.digamma(r) - special.digamma(y + r) + np.log1p(alpha * mu)
    return t / alpha**2 + (y - mu) / (alpha * (1 + alpha * mu))


def _nb2_alpha_neg_hessian(y, mu, alpha) -> float:
    """-sum d^2 log f_i / d alpha^2 (mu fixed)."""
    r = 1.0 / alpha
    t = special.digamma(r) - special.digamma(y + r) + np.log1p(alpha * mu)
    dq = (
        -2 * t / alpha**3
        - (special.polygamma(1, r) - special.polygamma(1, y + r)) / alpha**4
        + mu / (alpha**2 * (1 + alpha * mu))
        - (y - mu) * (1 + 2 * alpha * mu) / (alpha**2 * (1 + alpha * mu) ** 2)
    )
    return float(-np.sum(dq))


def _nb2_deviance(y, mu, alpha) -> float:
    r = 1.0 / alpha
    return float(2 * np.sum(special.xlogy(y, y / mu) - (y + r) * np.log((y + r) / (mu + r))))


def _ml_alpha(y: np.ndarray, mu: np.ndarray, start: float) -> float:
    """ML alpha at fixed means: 1-D maximisation on log alpha (bounded, Brent)."""
    lo, hi = np.log(ALPHA_MIN), np.log(ALPHA_MAX)
    res = optimize.minimize_scalar(
        lambda la: -nb2_loglik(y, mu, np.exp(la)),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-12, "maxiter": 500},
    )
    la = float(res.x)
    # Polish with Newton steps on alpha itself (Brent's tolerance is on the argument only).
    a = np.exp(la)
    for _ in range(20):
        g = float(np.sum(_nb2_alpha_score(y, mu, a)))
        h = _nb2_alpha_neg_hessian(y, mu, a)
        if not np.isfinite(h) or h <= 0:
            break
        step = g / h
        a_new = a + step
        if a_new <= 0:
            break
        a = a_new
        if abs(step) < 1e-14 * max(a, 1e-12):
            break
    return float(a)


def _check_dispersion(alpha: float) -> None:
    # The bounded search stops a little above ALPHA_MIN when the optimum is the bound.
    if not np.isfinite(alpha) or alpha <= ALPHA_MIN * 100:
        raise ValueError(
            "the NB2 dispersion alpha is at its lower bound 0: these counts show no "
            'over-dispersion; fit family="poisson"'
        )


# ---------------------------------------------------------------------------------------
# NB2 with absorbed fixed effects
# ---------------------------------------------------------------------------------------


@dataclass
class NegbinFit:
    beta: np.ndarray
    alpha: float
    mu: np.ndarray
    loglik: float
    converged: bool
    iterations: int  # outer (alpha) alternations


def _negbin_irls_fixed_alpha(y, X, demean: Demean, off, alpha, mu, tol=1e-13, maxiter=200):
    """IRLS for the coefficients and absorbed FE at fixed alpha (weights mu/(1+alpha*mu))."""
    fit = irls_absorbed(
        y,
        X,
        demean,
        off,
        mu,
        weight=lambda m: m / (1 + alpha * m),
        deviance=lambda m: _nb2_deviance(y, m, alpha),
        tol=tol,
        maxiter=maxiter,
    )
    return fit.beta, fit.mu, fit.converged


def negbin_irls_absorbed(
    y: np.ndarray,
    X: np.ndarray,
    demean: Demean,
    offset: np.ndarray | None = None,
    start_mu: np.ndarray | None = None,
    tol: float = 1e-10,
    maxiter: int = 100,
) -> NegbinFit:
    """Joint ML of NB2 with absorbed fixed effects: IRLS at fixed alpha alternating with the
    1-D ML of alpha at fixed means, until alpha changes by less than ``tol`` (relative) and
    the IRLS has converged. ``demean(values, weights)`` projects out the fixed effects
    (:meth:`analyses.absorb.FixedEffects.demean`). ``start_mu``: e.g. the Poisson fit."""
    y = np.asarray(y, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64).reshape(len(y), -1)
    off = np.zeros(len(y)) if offset is None else np.asarray(offset, dtype=np.float64)
    mu = (y + y.mean()) / 2 if start_mu is None else np.asarray(start_mu, dtype=np.float64).copy()
    alpha = _ml_alpha(y, mu, 1.0)
    converged = False
    beta = np.zeros(X.shape[1])
    it = 0
    for it in range(1, maxiter + 1):
        beta, mu, irls_ok = _negbin_irls_fixed_alpha(y, X, demean, off, alpha, mu)
        alpha_new = _ml_alpha(y, mu, alpha)
        done = abs(alpha_new - alpha) <= tol * alpha and irls_ok
        alpha = alpha_new
        if done:
            converged = True
            break
    # Means at the final alpha (one more IRLS pass; alpha has stopped moving).
    beta, mu, irls_ok = _negbin_irls_fixed_alpha(y, X, demean, off, alpha, mu)
    return NegbinFit(
        beta=beta,
        alpha=alpha,
        mu=mu,
        loglik=nb2_loglik(y, mu, alpha),
        converged=converged and irls_ok,
        iterations=it,
    )


# ---------------------------------------------------------------------------------------
# Variance: influence functions with absorbed FE and (for NB2) the dispersion
# ---------------------------------------------------------------------------------------


@dataclass
class CountInference:
    cov: np.ndarray  # (k, k) covariance of the coefficients of X
    alpha_se: float | None  # NB2: SE of alpha (same cov_type)
    factor: float  # small-sample factor applied
    n_clusters: int | None


def _influence(y, X, mu, alpha, demean: Demean):
    """Influence functions psi_i (n, k) of the coefficients of X, the model covariance of
    the coefficients, and (NB2) the influence and model variance of alpha.

    Negative Hessian over (coefficients and FE = Z, alpha): ``[[A, b], [b', c]]`` with
    ``A = Z'WZ``, ``W = mu(1+alpha*y)/(1+alpha*mu)^2``, ``b = Z'g``,
    ``g = mu(y-mu)/(1+alpha*mu)^2``. By FWL, the coefficient rows of ``A^-1 Z'r`` are
    ``(X~'WX~)^-1 X~'r`` (X~ = X demeaned with weights W); ``f = Z A^-1 b`` is the fitted value
    of the W-weighted regression of ``v = g/W`` on Z. With ``s = c - g'f`` and
    ``gamma = (X~'WX~)^-1 X~'g``, the scores ``(z_i e_i, q_i)`` (``e = (y-mu)/(1+alpha*mu)``,
    ``q`` the alpha score) give ``psi_i = (X~'WX~)^-1 x~_i e_i + gamma (f_i e_i - q_i)/s``
    and ``psi_alpha_i = (q_i - f_i e_i)/s``; the model covariance is
    ``(X~'WX~)^-1 + gamma gamma'/s`` and Var(alpha) = 1/s. Poisson: alpha = 0, no alpha terms.
    """
    if alpha is None:
        w, e = mu, y - mu
    else:
        w = mu * (1 + alpha * y) / (1 + alpha * mu) ** 2
        e = (y - mu) / (1 + alpha * mu)
    Xt = demean(X, w).reshape(len(y), -1)
    bread = np.linalg.inv((Xt * w[:, None]).T @ Xt)
    psi = (Xt * e[:, None]) @ bread
    if alpha is None:
        return psi, bread, None, None
    g = mu * (y - mu) / (1 + alpha * mu) ** 2
    v = g / w
    vt = demean(v, w)
    gamma = bread @ (Xt.T @ g)
    f = v - (vt - Xt @ gamma)
    s = _nb2_alpha_neg_hessian(y, mu, alpha) - float(g @ f)
    q = _nb2_alpha_score(y, mu, alpha)
    psi = psi + np.outer((f * e - q) / s, gamma)
    cov_model = bread + np.outer(gamma, gamma) / s
    psi_alpha = (q - f * e) / s
    return psi, cov_model, psi_alpha, 1.0 / s


def count_inference(
    y, X, mu, alpha, demean: Demean, cov_type: str, k_params: int, clusters=None
) -> CountInference:
    """Covariance of the coefficients of ``X`` (and SE of alpha) for ``cov_type``."""
    psi, cov_model, psi_alpha, var_alpha = _influence(y, X, mu, alpha, demean)
    n = len(y)
    if cov_type == "model":
        return CountInference(
            cov_model, None if var_alpha is None else float(np.sqrt(var_alpha)), 1.0, None
        )
    full = psi if psi_alpha is None else np.column_stack([psi, psi_alpha])
    n_groups = None
    if cov_type == "cluster":
        codes, n_groups = cluster_codes(clusters)
        if n_groups < 2:
            raise ValueError("need at least 2 clusters")
        sums = np.zeros((n_groups, full.shape[1]))
        np.add.at(sums, codes, full)
        factor = n_groups / (n_groups - 1)
        V = factor * sums.T @ sums
    else:
        factor = 1.0 if cov_type == "hc0" else n / (n - k_params)
        V = factor * full.T @ full
    V = (V + V.T) / 2
    k = psi.shape[1]
    alpha_se = None if psi_alpha is None else float(np.sqrt(V[k, k]))
    return CountInference(V[:k, :k], alpha_se, float(factor), n_groups)


def check_cov_type(cov_type: str, cluster) -> None:
    if cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}")
    if cov_type == "cluster" and cluster is None:
        raise ValueError('cov_type="cluster" needs a cluster column')


def variance_label(cov_type: str) -> str:
    return {
        "model": "model-based (ML, inverse observed information)",
        "hc0": "heteroskedasticity-robust (HC0)",
        "hc1": "heteroskedasticity-robust (HC1, n/(n-k))",
        "cluster": "cluster-robust (CR1, G/(G-1))",
    }[cov_type] + ", normal"


def ratio_result(b: float, se: float, alpha: float, **kw) -> EffectResult:
    """IRR result with a normal CI on the log scale."""
    z = stats.norm.ppf(1 - alpha / 2)
    details = dict(kw.pop("details", {}))
    details.update({"coefficient": b, "z_stat": b / se, "critical_value": z})
    return EffectResult(
        estimate=float(np.exp(b)),
        std_error=se,
        conf_int=(float(np.exp(b - z * se)), float(np.exp(b + z * se))),
        p_value=float(2 * stats.norm.sf(abs(b / se))),
        scale="ratio",
        alpha=alpha,
        details=details,
        **kw,
    )


# ---------------------------------------------------------------------------------------
# Plain count regression
# ---------------------------------------------------------------------------------------


def _design(df: pd.DataFrame, regressors) -> pd.DataFrame:
    if isinstance(regressors, str):
        return dmatrix(regressors, df, return_type="dataframe")
    X = df[list(regressors)].astype(float)
    X.insert(0, "Intercept", 1.0)
    return X


def count_regression(
    data: pd.DataFrame,
    outcome: str,
    regressors: str | Sequence[str],
    coefficient: str | None = None,
    exposure: str | None = None,
    family: str = "poisson",
    cov_type: str = "model",
    cluster: str | None = None,
    alpha: float = 0.05,
) -> EffectResult:
    """Poisson or NB2 regression of a count on regressors, with optional exposure.

    Parameters
    ----------
    data : DataFrame
        One row per observation; rows with a missing value in a used column are dropped.
    outcome : str
        Non-negative count column.
    regressors : str or sequence of str
        Either numeric column names (an intercept is added) or a patsy right-hand side,
        e.g. ``"Eth + Sex + Age + Lrn"`` or ``"C(school_type) + x"`` (categorical terms are
        dummy-coded against their first level; the formula's intercept is kept).
    coefficient : str, optional
        Name of the reported coefficient as in the design (``"x"``, ``"Eth[T.N]"``).
        Default: the first column after the intercept.
    exposure : str, optional
        Positive exposure (e.g. pupil-months); enters as offset ``log(exposure)``.
    family : {"poisson", "negative_binomial"}
        NB2: ``Var = mu + alpha*mu^2``, alpha estimated by ML (statsmodels
        ``NegativeBinomial``, Newton).
    cov_type : {"model", "hc0", "hc1", "cluster"}
        See the module's design notes. Default ``"model"`` (inverse observed information, as
        R ``glm``/Stata ``poisson``); under Poisson over-dispersion use a robust one.
    cluster : str, optional
        Cluster column, required for ``cov_type="cluster"``.
    alpha : float
        1 - confidence level (not the NB2 dispersion, which is ``details["dispersion_alpha"]``).

    Returns
    -------
    EffectResult
        IRR ``exp(b)`` of ``coefficient`` (``scale="ratio"``, normal CI on the log scale).
        ``details``: ``coefficients``/``std_errors`` (all, log scale), ``log_likelihood``,
        ``family``, ``cov_type``; NB2 adds ``dispersion_alpha``, ``dispersion_alpha_se``
        and ``theta = 1/alpha`` with ``theta_se`` (delta method; R ``glm.nb``'s theta).
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    check_cov_type(cov_type, cluster)
    named = [] if isinstance(regressors, str) else list(regressors)
    cols = [outcome, *named] + ([exposure] if exposure else []) + ([cluster] if cluster else [])
    # (a formula's own columns are checked by patsy)
    missing_cols = [c for c in cols if c not in data.columns]
    if missing_cols:
        raise KeyError(f"columns not in data: {missing_cols}")
    df = data.dropna(subset=list(dict.fromkeys(cols))).reset_index(drop=True)
    X_df = _design(df, regressors)
    df = df.loc[X_df.index].reset_index(drop=True)  # patsy drops rows with missing regressors
    X_df = X_df.reset_index(drop=True)
    y = df[outcome].to_numpy(float)
    if (y < 0).any():
        raise ValueError("count outcome must be non-negative")
    offset = None
    if exposure is not None:
        e = df[exposure].to_numpy(float)
        if (e <= 0).any():
            raise ValueError("exposure must be positive")
        offset = np.log(e)
    names = list(X_df.columns)
    if coefficient is None:
        non_const = [c for c in names if c != "Intercept"]
        if not non_const:
            raise ValueError("no regressor besides the intercept")
        coefficient = non_const[0]
    if coefficient not in names:
        raise KeyError(f"coefficient {coefficient!r} not in the design columns {names}")
    X = X_df.to_numpy(float)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ValueError("design matrix is rank deficient (collinear regressors)")
    off = np.zeros(len(y)) if offset is None else offset
    if family == "poisson":
        fit = sm.GLM(y, X, family=sm.families.Poisson(), offset=off).fit(
            method="irls", tol=1e-12, maxiter=200
        )
        beta, disp, converged = np.asarray(fit.params), None, bool(fit.converged)
        mu = np.exp(X @ beta + off)
        loglik = float(fit.llf)
    else:
        start_fit = sm.GLM(y, X, family=sm.families.Poisson(), offset=off).fit(method="irls")
        model = sm.NegativeBinomial(y, X, loglike_method="nb2", offset=off)
        start_alpha = _ml_alpha(y, start_fit.mu, 1.0)
        _check_dispersion(start_alpha)  # before statsmodels wanders to alpha <= 0
        start = np.append(start_fit.params, start_alpha)
        fit = model.fit(start_params=start, method="newton", maxiter=200, tol=1e-12, disp=False)
        beta, disp = np.asarray(fit.params[:-1]), float(fit.params[-1])
        converged = bool(fit.mle_retvals.get("converged", True))
        _check_dispersion(disp)
        mu = np.exp(X @ beta + off)
        loglik = float(fit.llf)
    inf = count_inference(
        y,
        X,
        mu,
        disp,
        _no_demeaning,
        cov_type,
        X.shape[1],
        clusters=df[cluster] if cov_type == "cluster" else None,
    )
    ses = np.sqrt(np.diag(inf.cov))
    j = names.index(coefficient)
    fam_label = "Poisson" if family == "poisson" else "negative binomial (NB2)"
    details = {
        "coefficients": dict(zip(names, map(float, beta))),
        "std_errors": dict(zip(names, map(float, ses))),
        "log_likelihood": loglik,
        "family": family,
        "cov_type": cov_type,
        "small_sample_factor": inf.factor,
        "converged": converged,
        "reported_coefficient": coefficient,
    }
    if disp is not None:
        details.update(
            {
                "dispersion_alpha": disp,
                "dispersion_alpha_se": inf.alpha_se,
                "theta": 1.0 / disp,
                "theta_se": inf.alpha_se / disp**2,
            }
        )
    return ratio_result(
        float(beta[j]),
        float(ses[j]),
        alpha,
        n_obs=len(y),
        n_clusters=inf.n_clusters,
        method=f"{fam_label} regression (log link"
        f"{', log exposure offset' if exposure else ''}), {variance_label(cov_type)}",
        sample=f"{len(y)} obs" + (f"; clusters: {cluster}" if cov_type == "cluster" else ""),
        details=details,
    )
