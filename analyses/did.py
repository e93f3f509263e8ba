"""Difference-in-differences estimators: the 2x2 design and two-way fixed effects.

Both functions work on any :class:`pandas.DataFrame` and return
:class:`analyses.results.EffectResult`. Linear panel models use CR1 cluster-robust variances
with t(G-1) by default; Poisson TWFE reports the IRR with a G/(G-1) cluster sandwich and
normal inference. Fixed effects are absorbed (:mod:`analyses.absorb`) by default.

Design notes: docs/design/analyses.md#analysesdidpy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from ._linalg import cluster_codes, cluster_meat, sandwich
from .absorb import FixedEffects, poisson_irls
from .count import FAMILIES as COUNT_FAMILIES
from .count import (
    _check_dispersion,
    _ml_alpha,
    _no_demeaning,
    check_cov_type,
    count_inference,
    negbin_irls_absorbed,
    ratio_result,
    variance_label,
)
from .results import EffectResult

__all__ = ["did_2x2", "twfe", "twfe_poisson_refit"]

_COV_TYPES = ("cluster", "hc1", "classical")


def _check_columns(data: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise KeyError(f"columns not in data: {missing}")


def _linear_inference(
    X: np.ndarray,
    y: np.ndarray,
    j: int,
    cov_type: str,
    codes: np.ndarray | None,
    n_groups: int | None,
    k_dof: int | None = None,
) -> dict:
    """OLS coefficient j with the requested variance; returns a dict of pieces."""
    n, k_all = X.shape
    rank = np.linalg.matrix_rank(X)
    if rank < k_all:
        raise ValueError("design matrix is rank deficient (collinear regressors)")
    k = k_all if k_dof is None else k_dof
    bread = np.linalg.inv(X.T @ X)
    beta = bread @ (X.T @ y)
    u = y - X @ beta
    if cov_type == "cluster":
        meat = cluster_meat(X * u[:, None], codes, n_groups)
        factor = n_groups / (n_groups - 1) * (n - 1) / (n - k)
        V = factor * sandwich(bread, meat)
        df = n_groups - 1
    elif cov_type == "hc1":
        meat = (X * u[:, None] ** 2).T @ X
        factor = n / (n - k)
        V = factor * sandwich(bread, meat)
        df = n - k
    elif cov_type == "classical":
        factor = 1.0
        V = (u @ u) / (n - k) * bread
        df = n - k
    else:
        raise ValueError(f"cov_type must be one of {_COV_TYPES}")
    return {
        "b": float(beta[j]),
        "se": float(np.sqrt(V[j, j])),
        "df": int(df),
        "factor": float(factor),
        "k_dof": int(k),
        "beta": beta,
        "resid": u,
    }


def _difference_result(b, se, df, alpha, **kw) -> EffectResult:
    t = b / se
    crit = stats.t.ppf(1 - alpha / 2, df)
    p = 2 * stats.t.sf(abs(t), df)
    details = dict(kw.pop("details", {}))
    details.update({"t_stat": t, "df": df, "critical_value": crit})
    return EffectResult(
        estimate=b,
        std_error=se,
        conf_int=(b - crit * se, b + crit * se),
        p_value=float(p),
        scale="difference",
        alpha=alpha,
        details=details,
        **kw,
    )


def did_2x2(
    data: pd.DataFrame,
    outcome: str,
    treated: str,
    post: str,
    covariates: Sequence[str] = (),
    cluster: str | None = None,
    cov_type: str | None = None,
    alpha: float = 0.05,
) -> EffectResult:
    """Canonical 2x2 difference-in-differences by OLS.

    Fits ``outcome ~ 1 + treated + post + treated*post + covariates`` and reports the
    coefficient on ``treated*post``. Works for repeated cross-sections and panels.

    Parameters
    ----------
    data : DataFrame
        One row per observation. Rows with a missing value in a used column are dropped.
    outcome, treated, post : str
        Outcome column; 0/1 indicator of the treated group; 0/1 indicator of the
        post-period.
    covariates : sequence of str
        Numeric control columns (create dummies beforehand for categorical controls).
    cluster : str, optional
        Cluster column (required for ``cov_type="cluster"``).
    cov_type : {"cluster", "hc1", "classical"}, optional
        Variance estimator, see the module's design notes (CR1 with t(G-1) for clusters).
        Default: ``"cluster"`` when ``cluster`` is given, else ``"hc1"`` (t(N-K)), so the
        function runs on its defaults; with panel data pass the school as ``cluster``.
    alpha : float
        1 - confidence level.

    Returns
    -------
    EffectResult
        ``scale="difference"``; ``details["coefficients"]`` holds all OLS coefficients.
    """
    if cov_type is None:
        cov_type = "cluster" if cluster is not None else "hc1"
    if cov_type not in _COV_TYPES:
        raise ValueError(f"cov_type must be one of {_COV_TYPES}")
    if cov_type == "cluster" and cluster is None:
        raise ValueError('cov_type="cluster" needs a cluster column')
    cols = [outcome, treated, post, *covariates] + ([cluster] if cluster else [])
    _check_columns(data, cols)
    df = data[list(dict.fromkeys(cols))].dropna()
    d = df[treated].astype(float).to_numpy()
    p = df[post].astype(float).to_numpy()
    names = ["const", treated, post, f"{treated}:{post}", *covariates]
    X = np.column_stack(
        [np.ones(len(df)), d, p, d * p, *(df[c].astype(float).to_numpy() for c in covariates)]
    )
    y = df[outcome].astype(float).to_numpy()
    codes = n_groups = None
    if cov_type == "cluster":
        codes, n_groups = cluster_codes(df[cluster])
        if n_groups < 2:
            raise ValueError("need at least 2 clusters")
    res = _linear_inference(X, y, 3, cov_type, codes, n_groups)
    conv = {
        "cluster": "cluster-robust (CR1, G/(G-1)*(N-1)/(N-K)), t(G-1)",
        "hc1": "heteroskedasticity-robust (HC1), t(N-K)",
        "classical": "classical OLS, t(N-K)",
    }[cov_type]
    return _difference_result(
        res["b"],
        res["se"],
        res["df"],
        alpha,
        n_obs=len(df),
        n_clusters=n_groups,
        method=f"DiD 2x2 OLS, {conv}",
        sample=f"{len(df)} obs; treated={int(d.sum())}, post={int(p.sum())}, "
        f"treated&post={int((d * p).sum())}",
        details={
            "coefficients": dict(zip(names, map(float, res["beta"]))),
            "small_sample_factor": res["factor"],
            "k": res["k_dof"],
            "cov_type": cov_type,
        },
    )


def _twfe_frame(data, outcome, unit, time, treatment, exposure, covariates, cluster):
    cols = [outcome, unit, time, treatment, *covariates]
    if exposure is not None:
        cols.append(exposure)
    if cluster is not None:
        cols.append(cluster)
    _check_columns(data, cols)
    df = data[list(dict.fromkeys(cols))].dropna().reset_index(drop=True)
    # Internal safe names so that any column name works in the formula.
    ren = pd.DataFrame(
        {
            "_y": df[outcome].astype(float),
            "_u": df[unit],
            "_t": df[time],
            "_d": df[treatment].astype(float),
        }
    )
    for i, c in enumerate(covariates):
        ren[f"_x{i}"] = df[c].astype(float)
    if exposure is not None:
        ren["_e"] = df[exposure].astype(float)
    ren["_g"] = df[cluster if cluster is not None else unit].to_numpy()
    return ren


def twfe_formula(n_covariates: int) -> str:
    """Internal formula on the renamed frame (``_y ~ _d + C(_u) + C(_t) + _x0 ...``)."""
    rhs = ["_d", "C(_u)", "C(_t)", *(f"_x{i}" for i in range(n_covariates))]
    return "_y ~ " + " + ".join(rhs)


def _nested_unit_dummies(frame: pd.DataFrame) -> int:
    """Number of unit dummies (levels - 1) if units are nested in clusters, else 0."""
    per_unit = frame.groupby("_u")["_g"].nunique()
    return int(frame["_u"].nunique() - 1) if (per_unit == 1).all() else 0


_FE_METHODS = ("absorb", "dummies")


def _drop_all_zero(frame: pd.DataFrame) -> tuple[pd.DataFrame, list, list]:
    """Poisson: drop units and periods whose outcome is zero throughout, repeatedly (their
    fixed effect is minus infinity; ppmlhdfe and fixest do the same)."""
    zero_units: list = []
    zero_periods: list = []
    while True:
        tot_u = frame.groupby("_u", sort=True)["_y"].sum()
        tot_t = frame.groupby("_t", sort=True)["_y"].sum()
        zu, zt = tot_u.index[tot_u == 0].tolist(), tot_t.index[tot_t == 0].tolist()
        if not zu and not zt:
            return frame, zero_units, zero_periods
        zero_units += zu
        zero_periods += zt
        frame = frame[~frame["_u"].isin(zu) & ~frame["_t"].isin(zt)].reset_index(drop=True)


def _regressors(frame: pd.DataFrame, n_covariates: int) -> np.ndarray:
    return frame[["_d", *(f"_x{i}" for i in range(n_covariates))]].to_numpy(float)


def _check_not_absorbed(X: np.ndarray, Xt: np.ndarray) -> None:
    """A regressor that the fixed effects absorb (or that is collinear with the others)
    has no coefficient: the same error as the rank check of the dummy design."""
    norms = np.linalg.norm(X, axis=0)
    norms_t = np.linalg.norm(Xt, axis=0)
    if np.any(norms_t <= 1e-9 * np.maximum(norms, 1.0)):
        raise ValueError("design matrix is rank deficient (collinear regressors)")
    scaled = Xt / norms_t
    if np.linalg.matrix_rank(scaled) < Xt.shape[1]:
        raise ValueError("design matrix is rank deficient (collinear regressors)")


def twfe(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    treatment: str,
    exposure: str | None = None,
    family: str = "linear",
    covariates: Sequence[str] = (),
    cluster: str | None = None,
    fe_dof: str = "nested",
    alpha: float = 0.05,
    fe_method: str = "absorb",
    cov_type: str = "cluster",
) -> EffectResult:
    """Two-way fixed-effects (unit and period) difference-in-differences.

    Linear: OLS of ``outcome ~ treatment + C(unit) + C(time) + covariates``.
    Poisson: GLM Poisson of the same with offset ``log(exposure)``; negative binomial:
    NB2 (``Var = mu + alpha*mu^2``, alpha by ML; :mod:`analyses.count`). For both count
    families the estimate is the incidence-rate ratio ``exp(b)``.

    Parameters
    ----------
    data : DataFrame
        Long panel, one row per unit x period (unbalanced allowed).
    outcome, unit, time, treatment : str
        Columns. ``treatment`` is the 0/1 "treated and in the pilot period" indicator
        (switches on at adoption; staggered adoption is allowed but note that TWFE
        with heterogeneous effects under staggered timing is biased - use an
        event-study / Callaway-Sant'Anna estimator for that).
    exposure : str, optional
        Exposure (e.g. pupil-months) for ``family="poisson"``; offset log(exposure).
    family : {"linear", "poisson", "negative_binomial"}
    covariates : sequence of str
        Numeric time-varying controls.
    cluster : str, optional
        Cluster column; defaults to ``unit``.
    fe_dof : {"nested", "all"}
        Linear only: how fixed effects enter K in (N-1)/(N-K), see the module's design notes.
    alpha : float
    fe_method : {"absorb", "dummies"}
        ``"absorb"`` (default) demeans by the fixed effects (:mod:`analyses.absorb`): memory
        and time linear in the rows, so national pools of thousands of schools fit in
        seconds. ``"dummies"`` builds the dense dummy design through statsmodels: the
        reference implementation the absorbed fit is tested against (same coefficients and
        standard errors to about 1e-10 relative); use it only on small panels.
    cov_type : {"cluster", "model", "hc0", "hc1"}
        Count families only (linear: ``"cluster"``). ``"cluster"`` (default): sandwich x
        G/(G-1) on ``cluster``; ``"model"``: inverse observed information (ML); ``"hc0"``/
        ``"hc1"``: heteroskedasticity-robust, HC1 x n/(n-k) with k counting the fixed
        effects. See :mod:`analyses.count`. NB2 results carry ``details["dispersion_alpha"]``,
        its SE (same ``cov_type``) and ``details["log_likelihood"]``.

    Returns
    -------
    EffectResult
    """
    if family not in ("linear", *COUNT_FAMILIES):
        raise ValueError('family must be "linear", "poisson" or "negative_binomial"')
    check_cov_type(cov_type, "cluster column (default: unit)")
    if family == "linear" and cov_type != "cluster":
        raise ValueError('family="linear" supports cov_type="cluster" only (CR1, t(G-1))')
    if fe_dof not in ("nested", "all"):
        raise ValueError('fe_dof must be "nested" or "all"')
    if fe_method not in _FE_METHODS:
        raise ValueError(f"fe_method must be one of {_FE_METHODS}")
    frame = _twfe_frame(data, outcome, unit, time, treatment, exposure, covariates, cluster)
    cl_name = cluster if cluster is not None else unit
    if family == "linear":
        return _twfe_linear(frame, len(covariates), cl_name, fe_dof, alpha, fe_method)
    if exposure is None:
        raise ValueError(f'family="{family}" needs an exposure column')
    _check_counts(frame)
    return _twfe_count(frame, len(covariates), cl_name, alpha, fe_method, family, cov_type)


def _twfe_linear(frame, n_cov, cl_name, fe_dof, alpha, fe_method) -> EffectResult:
    codes, G = cluster_codes(frame["_g"])
    if G < 2:
        raise ValueError("need at least 2 clusters")
    nested = _nested_unit_dummies(frame)
    if fe_method == "dummies":
        mod = smf.ols(twfe_formula(n_cov), frame)
        X, y = np.asarray(mod.exog), np.asarray(mod.endog)
        j = mod.exog_names.index("_d")
        k_all = X.shape[1]
    else:
        fe = FixedEffects.from_columns(frame["_u"], frame["_t"])
        X_raw = _regressors(frame, n_cov)
        both = fe.demean(np.column_stack([frame["_y"].to_numpy(float), X_raw]))
        y, X = both[:, 0], both[:, 1:]
        _check_not_absorbed(X_raw, X)
        j = 0
        k_all = fe.rank() + X.shape[1]
    k_dof = k_all - (nested if fe_dof == "nested" else 0)
    res = _linear_inference(X, y, j, "cluster", codes, G, k_dof=k_dof)
    return _difference_result(
        res["b"],
        res["se"],
        res["df"],
        alpha,
        n_obs=len(frame),
        n_clusters=G,
        method=(
            "TWFE OLS (unit + period FE), cluster-robust "
            f"(CR1, G/(G-1)*(N-1)/(N-K), K={fe_dof}), t(G-1)"
        ),
        sample=f"{frame['_u'].nunique()} units x {frame['_t'].nunique()} periods, "
        f"{len(frame)} obs, {int(frame['_d'].sum())} treated obs; "
        f"clusters: {cl_name}",
        details={
            "small_sample_factor": res["factor"],
            "k": res["k_dof"],
            "k_all_parameters": k_all,
            "fe_dof": fe_dof,
            "family": "linear",
            "fe_method": fe_method,
        },
    )


def _check_counts(frame: pd.DataFrame) -> None:
    if (frame["_e"] <= 0).any():
        raise ValueError("exposure must be positive")
    if (frame["_y"] < 0).any():
        raise ValueError("count outcome must be non-negative")


def twfe_poisson_refit(
    data: pd.DataFrame, outcome: str, unit: str, time: str, exposure: str
) -> Callable[[np.ndarray], float]:
    """The TWFE Poisson coefficient (log IRR) as a function of the treatment column, with
    everything that does not depend on the treatment prepared once: the complete rows,
    the units and periods dropped for an all-zero outcome, the fixed effects and the
    offset. For randomization inference, which refits the model for hundreds of
    reassignments: per call only the absorbed IRLS runs (no standard errors), about a
    third of a full :func:`twfe` call at demo size.

    The returned function takes one treatment value per row of ``data`` and gives the
    coefficient :func:`twfe` with ``family="poisson"`` would give for it (tested).

    Where a 0/1 treatment separates the data, the maximum likelihood estimate does not
    exist and the function returns the limit the iterations run towards instead of
    iterating to their limit: ``-inf`` when the treated rows hold no event, ``+inf`` when
    the treated units hold no event outside their treated rows (their fixed effects and
    the coefficient then trade off without bound). Randomization inference counts such
    a reassignment as more extreme than any finite estimate, as it counted the large
    values the non-converging iterations used to end at.
    """
    marked = data.assign(_position=np.arange(len(data)), _no_treatment=0.0)
    frame = _twfe_frame(marked, outcome, unit, time, "_no_treatment", exposure, ["_position"], None)
    _check_counts(frame)
    frame, _, _ = _drop_all_zero(frame)
    rows = frame["_x0"].to_numpy(dtype=np.int64)
    y = frame["_y"].to_numpy(float)
    offset = np.log(frame["_e"].to_numpy(float))
    fe = FixedEffects.from_columns(frame["_u"], frame["_t"])
    unit_codes = fe.codes[:, 0]
    # Every reassignment starts from the fit without treatment: a placebo effect is near
    # zero, so the iterations start near their end (about half the steps of a cold start;
    # the same optimum to the convergence tolerance).
    try:
        start = poisson_irls(y, np.empty((len(y), 0)), fe, offset=offset).mu
    except (ValueError, FloatingPointError):  # then every refit starts cold, as before
        start = None

    def coefficient(treatment: np.ndarray) -> float:
        X = np.asarray(treatment, dtype=float)[rows][:, None]
        _check_not_absorbed(X, fe.demean(X))
        separated = _separated_direction(y, X[:, 0], unit_codes)
        if separated:
            return separated * np.inf
        return float(poisson_irls(y, X, fe, offset=offset, start_mu=start).beta[0])

    return coefficient


def _separated_direction(y: np.ndarray, d: np.ndarray, unit_codes: np.ndarray) -> int:
    """-1 or +1 when the 0/1 treatment ``d`` separates the Poisson TWFE (see
    :func:`twfe_poisson_refit`), 0 when neither certificate holds or ``d`` is not 0/1."""
    treated = d == 1
    if not np.all(treated | (d == 0)):
        return 0
    if not y[treated].any():
        return -1
    treated_units = np.zeros(int(unit_codes.max()) + 1, dtype=bool)
    treated_units[unit_codes[treated]] = True
    if not y[treated_units[unit_codes] & ~treated].any():
        return 1
    return 0


def _twfe_count(frame, n_cov, cl_name, alpha, fe_method, family, cov_type) -> EffectResult:
    """Poisson or NB2 TWFE; the variance engine is :func:`analyses.count.count_inference`."""
    frame, zero_units, zero_periods = _drop_all_zero(frame)
    y = frame["_y"].to_numpy(float)
    offset = np.log(frame["_e"].to_numpy(float))
    negbin = family == "negative_binomial"
    disp, loglik, iterations = None, None, None
    if fe_method == "dummies":
        mod = smf.glm(twfe_formula(n_cov), frame, family=sm.families.Poisson(), offset=offset)
        X = np.asarray(mod.exog)
        if np.linalg.matrix_rank(X) < X.shape[1]:
            raise ValueError("design matrix is rank deficient (collinear regressors)")
        fit = mod.fit(method="irls", tol=1e-12, maxiter=200)
        j = mod.exog_names.index("_d")
        params, converged, loglik = np.asarray(fit.params), bool(fit.converged), float(fit.llf)
        if negbin:
            nb = sm.NegativeBinomial(y, X, loglike_method="nb2", offset=offset)
            start = np.append(params, _ml_alpha(y, np.asarray(fit.mu), 1.0))
            nbfit = nb.fit(start_params=start, method="newton", maxiter=200, tol=1e-12, disp=False)
            params, disp = np.asarray(nbfit.params[:-1]), float(nbfit.params[-1])
            converged, loglik = bool(nbfit.mle_retvals.get("converged", True)), float(nbfit.llf)
        mu = np.exp(X @ params + offset)
        demean, k_params = _no_demeaning, X.shape[1]
    else:
        fe = FixedEffects.from_columns(frame["_u"], frame["_t"])
        X = _regressors(frame, n_cov)
        _check_not_absorbed(X, fe.demean(X))
        pfit = poisson_irls(y, X, fe, offset=offset)
        params, mu, converged, iterations = pfit.beta, pfit.mu, pfit.converged, pfit.iterations
        if negbin:
            nbfit = negbin_irls_absorbed(y, X, fe.demean, offset=offset, start_mu=pfit.mu)
            params, mu, disp, converged = nbfit.beta, nbfit.mu, nbfit.alpha, nbfit.converged
            loglik, iterations = nbfit.loglik, nbfit.iterations
        else:
            loglik = float(np.sum(stats.poisson.logpmf(y, mu)))
        j, demean, k_params = 0, fe.demean, fe.rank() + X.shape[1]
    if negbin:
        _check_dispersion(disp)
    inf = count_inference(
        y,
        X,
        mu,
        disp,
        demean,
        cov_type,
        k_params,
        clusters=frame["_g"] if cov_type == "cluster" else None,
    )
    b, se = float(params[j]), float(np.sqrt(inf.cov[j, j]))
    details = {
        "small_sample_factor": inf.factor,
        "family": family,
        "cov_type": cov_type,
        "dropped_all_zero_units": zero_units,
        "dropped_all_zero_periods": zero_periods,
        "converged": converged,
        "fe_method": fe_method,
        "log_likelihood": loglik,
        ("irls_iterations" if not negbin else "alpha_iterations"): iterations,
    }
    if negbin:
        details.update(
            {
                "dispersion_alpha": disp,
                "dispersion_alpha_se": inf.alpha_se,
                "theta": 1.0 / disp,
                "theta_se": inf.alpha_se / disp**2,
            }
        )
    name = "Poisson" if not negbin else "negative binomial (NB2)"
    return ratio_result(
        b,
        se,
        alpha,
        n_obs=len(frame),
        n_clusters=inf.n_clusters,
        method=f"TWFE {name} (unit + period FE, log exposure offset), {variance_label(cov_type)}",
        sample=f"{frame['_u'].nunique()} units x {frame['_t'].nunique()} periods, "
        f"{len(frame)} obs" + (f"; clusters: {cl_name}" if cov_type == "cluster" else ""),
        details=details,
    )
