"""Absorbed fixed effects give exactly what the dense dummy design gives, and what
pyfixest gives, so national pools can be estimated without changing any number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analyses import twfe, twfe_randomization_inference, wild_cluster_bootstrap
from analyses._linalg import cluster_codes
from analyses.absorb import FixedEffects
from analyses.did import _twfe_frame, twfe_formula
from analyses.inference import _AbsorbedWild, _FastWild, _weights

REL = 1e-10


def _panel(
    seed: int, n_units: int = 30, n_periods: int = 36, missing: float = 0.15
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(n_periods), n_units)
    keep = rng.random(len(unit)) > missing  # unbalanced
    unit, period = unit[keep], period[keep]
    d = ((unit < 4) & (period >= n_periods // 2)).astype(int)
    x = rng.normal(size=len(unit))
    exposure = rng.integers(100, 500, n_units)[unit].astype(float)
    mu = (
        exposure
        * 0.01
        * np.exp(
            rng.normal(0, 0.3, n_units)[unit]
            + rng.normal(0, 0.1, n_periods)[period]
            + np.log(0.75) * d
            + 0.1 * x
        )
    )
    y = rng.poisson(mu)
    return pd.DataFrame(
        {
            "school": unit,
            "month": period,
            "d": d,
            "x": x,
            "y": y,
            "exposure": exposure,
            "rate": 100 * y / exposure,
            "district": unit // 3,
        }
    )


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("covariates", [(), ("x",)])
@pytest.mark.parametrize("cluster", [None, "district"])
@pytest.mark.parametrize("fe_dof", ["nested", "all"])
def test_linear_absorbed_equals_dummies(seed, covariates, cluster, fe_dof):
    df = _panel(seed)
    kw = dict(covariates=covariates, cluster=cluster, fe_dof=fe_dof)
    a = twfe(df, "rate", "school", "month", "d", **kw)
    b = twfe(df, "rate", "school", "month", "d", fe_method="dummies", **kw)
    assert a.estimate == pytest.approx(b.estimate, rel=REL)
    assert a.std_error == pytest.approx(b.std_error, rel=REL)
    assert a.p_value == pytest.approx(b.p_value, rel=1e-8, abs=1e-14)
    assert (a.n_obs, a.n_clusters, a.details["k"]) == (b.n_obs, b.n_clusters, b.details["k"])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("covariates", [(), ("x",)])
@pytest.mark.parametrize("cluster", [None, "district"])
def test_poisson_absorbed_equals_dummies(seed, covariates, cluster):
    df = _panel(seed)
    kw = dict(exposure="exposure", family="poisson", covariates=covariates, cluster=cluster)
    a = twfe(df, "y", "school", "month", "d", **kw)
    b = twfe(df, "y", "school", "month", "d", fe_method="dummies", **kw)
    assert a.details["converged"]
    assert a.coefficient == pytest.approx(b.coefficient, rel=REL)
    assert a.std_error == pytest.approx(b.std_error, rel=REL)
    assert a.conf_int == pytest.approx(b.conf_int, rel=REL)
    assert a.n_obs == b.n_obs


def test_poisson_drops_all_zero_units_and_periods_in_both_methods():
    df = _panel(3)
    df.loc[df["school"] == 29, "y"] = 0
    df.loc[df["month"] == 5, "y"] = 0
    for method in ("absorb", "dummies"):
        r = twfe(
            df, "y", "school", "month", "d", exposure="exposure", family="poisson", fe_method=method
        )
        assert r.details["dropped_all_zero_units"] == [29]
        assert r.details["dropped_all_zero_periods"] == [5]
        assert r.n_obs == int(((df["school"] != 29) & (df["month"] != 5)).sum())


def test_treatment_absorbed_by_fixed_effects_is_refused():
    df = _panel(0)
    df["unit_level"] = (df["school"] < 4).astype(int)  # constant within unit: absorbed
    for method in ("absorb", "dummies"):
        with pytest.raises(ValueError, match="rank deficient"):
            twfe(df, "rate", "school", "month", "unit_level", fe_method=method)


def test_fixed_effects_rank_counts_disconnected_panels():
    # Units 0-1 observed in periods 0-1 only, units 2-3 in periods 2-3 only: two components.
    unit = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    period = np.array([0, 1, 0, 1, 2, 3, 2, 3])
    fe = FixedEffects.from_columns(unit, period)
    dummies = np.hstack([np.eye(4)[unit], np.eye(4)[period]])
    assert fe.rank() == np.linalg.matrix_rank(dummies) == 6


@pytest.mark.parametrize("covariates", [(), ("x",)])
@pytest.mark.parametrize("cluster", [None, "district"])
@pytest.mark.parametrize("impose_null", [True, False])
def test_absorbed_wild_bootstrap_equals_dense_design(covariates, cluster, impose_null):
    df = _panel(4, n_units=14, n_periods=24)
    frame = _twfe_frame(df, "rate", "school", "month", "d", None, covariates, cluster)
    codes, G = cluster_codes(frame["_g"])
    V, _ = _weights("rademacher", G, 999, seed=1)
    import patsy

    y_df, X_df = patsy.dmatrices(twfe_formula(len(covariates)), frame, return_type="dataframe")
    dense = _FastWild(
        X_df.to_numpy(float), y_df.to_numpy(float).ravel(), list(X_df.columns).index("_d"), codes, G
    )
    absorbed = _AbsorbedWild(frame, len(covariates), codes, G)
    assert absorbed.k == dense.k
    assert absorbed.b == pytest.approx(dense.b, rel=REL)
    assert absorbed.se_hat() == pytest.approx(dense.se_hat(), rel=REL)
    for beta0 in (0.0, 0.25):
        t1, ts1 = dense.tstats(beta0, V, impose_null)
        t2, ts2 = absorbed.tstats(beta0, V, impose_null)
        assert t2 == pytest.approx(t1, rel=REL)
        scale = np.nanmax(np.abs(ts1[np.isfinite(ts1)]))
        both = np.isfinite(ts1) & np.isfinite(ts2)
        assert np.max(np.abs(ts1[both] - ts2[both])) <= 1e-9 * scale


def test_wild_bootstrap_p_value_and_interval_unchanged_by_absorption():
    """The public function on the absorbed path gives the p-value and CI of the same model
    written as a formula with dummies (the dense path)."""
    df = _panel(5, n_units=12, n_periods=24)
    common = dict(reps=999, seed=3, conf_int=True)
    absorbed = wild_cluster_bootstrap(
        df, outcome="rate", unit="school", time="month", treatment="d", **common
    )
    dense = wild_cluster_bootstrap(
        df, "rate ~ d + C(school) + C(month)", param="d", cluster="school", **common
    )
    assert absorbed.p_value == dense.p_value
    assert absorbed.estimate == pytest.approx(dense.estimate, rel=REL)
    assert absorbed.conf_int == pytest.approx(dense.conf_int, rel=1e-8)


def test_randomization_statistic_equals_refitted_twfe():
    df = _panel(6, n_units=10, n_periods=20).assign(post=lambda f: (f["month"] >= 10).astype(int))
    res = twfe_randomization_inference(df, "rate", "school", "month", "post", [0, 1, 2])
    combos = __import__("itertools").combinations(sorted(df["school"].unique()), 3)
    refits = []
    for c in combos:
        d = (df["school"].isin(c) & (df["post"] == 1)).astype(int)
        refits.append(
            abs(
                twfe(df.assign(dd=d), "rate", "school", "month", "dd", fe_method="dummies").estimate
            )
        )
    np.testing.assert_allclose(res.statistics, refits, rtol=1e-9, atol=1e-12)
    assert res.estimate == pytest.approx(
        twfe(
            df.assign(dd=(df["school"].isin([0, 1, 2]) & (df["post"] == 1)).astype(int)),
            "rate",
            "school",
            "month",
            "dd",
        ).estimate,
        rel=REL,
    )


def test_matches_pyfixest():
    """The peer library on the same models (pyfixest's SE put on our documented factors:
    G/(G-1) only for Poisson, times (N-1)/(N-K) for the linear model). Tolerances are
    pyfixest's: its demeaning and IRLS stop at 1e-8 by default, ours at 1e-13."""
    pf = pytest.importorskip("pyfixest")
    df = _panel(7, n_units=60, n_periods=48).assign(log_e=lambda f: np.log(f["exposure"]))
    ssc = pf.ssc(k_adj=False, G_adj=True)
    lin = twfe(df, "rate", "school", "month", "d")
    fl = pf.feols("rate ~ d | school + month", df, vcov={"CRV1": "school"}, ssc=ssc)
    assert lin.estimate == pytest.approx(float(fl.coef()["d"]), rel=1e-7)
    n, k = lin.n_obs, lin.details["k"]
    assert lin.std_error == pytest.approx(
        float(fl.se()["d"]) * np.sqrt((n - 1) / (n - k)), rel=1e-7
    )
    poi = twfe(df, "y", "school", "month", "d", exposure="exposure", family="poisson")
    fp = pf.fepois(
        "y ~ d | school + month",
        df,
        vcov={"CRV1": "school"},
        ssc=ssc,
        offset="log_e",
        iwls_tol=1e-12,
        iwls_maxiter=100,
    )
    assert poi.coefficient == pytest.approx(float(fp.coef()["d"]), rel=1e-8)
    assert poi.std_error == pytest.approx(float(fp.se()["d"]), rel=1e-6)


def _dummy_residual(unit, period, x, w):
    """Weighted least-squares residual of x on unit and period dummies (the reference)."""
    D = np.column_stack([np.eye(unit.max() + 1)[unit], np.eye(period.max() + 1)[period]])
    sw = np.sqrt(w)
    coef = np.linalg.lstsq(D * sw[:, None], x * sw[:, None], rcond=None)[0]
    return x - D @ coef


@pytest.mark.parametrize("units_first", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
def test_direct_demeaning_equals_dummies_and_pyfixest(units_first, weighted):
    """Two factors solved directly (whichever factor comes first, unbalanced, Poisson-like
    weights spread over four orders of magnitude): the dummy regression's residual and
    pyfixest's iterated one."""
    rng = np.random.default_rng(11)
    unit = np.repeat(np.arange(40), 15)
    period = np.tile(np.arange(15), 40)
    keep = rng.random(len(unit)) > 0.25
    unit, period = unit[keep], period[keep]
    x = np.column_stack([rng.normal(size=len(unit)) + unit, (rng.random(len(unit)) < 0.2) * 1.0])
    w = np.exp(rng.uniform(-4.5, 4.5, len(unit))) if weighted else np.ones(len(unit))
    fe = FixedEffects.from_columns(*((unit, period) if units_first else (period, unit)))
    assert fe._direct is not None
    direct = fe.demean(x, w if weighted else None)
    assert np.abs(direct - _dummy_residual(unit, period, x, w)).max() < 1e-11
    assert np.abs(direct - fe.demean(x, w, iterative=True)).max() < 1e-11
    assert fe.demean(x[:, 0], w).shape == (len(unit),)


def test_direct_demeaning_of_a_disconnected_panel_and_of_one_factor():
    # units 0-5 in periods 0-3, units 6-9 in periods 4-6: two parts, two periods pinned
    rng = np.random.default_rng(2)
    unit = np.concatenate([np.repeat(np.arange(6), 4), np.repeat(np.arange(6, 10), 3)])
    period = np.concatenate([np.tile(np.arange(4), 6), np.tile(np.arange(4, 7), 4)])
    x = rng.normal(size=(len(unit), 3))
    w = rng.uniform(0.5, 2, len(unit))
    fe = FixedEffects.from_columns(unit, period)
    assert len(fe._direct.free) == 7 - 2
    assert np.abs(fe.demean(x, w) - _dummy_residual(unit, period, x, w)).max() < 1e-12
    one = FixedEffects.from_columns(unit)
    means = np.stack(
        [np.bincount(unit, w * x[:, j]) / np.bincount(unit, w) for j in range(3)], axis=1
    )
    assert np.abs(one.demean(x, w) - (x - means[unit])).max() < 1e-14


def test_demeaning_falls_back_to_pyfixest_where_a_direct_solution_is_not_safe(monkeypatch):
    """Weights spread wider than the direct solution is trusted with (a Poisson fit running
    off under separation), and factors with many levels each, are left to pyfixest."""
    import analyses.absorb as absorb

    df = _panel(3, n_units=20, n_periods=12)
    fe = FixedEffects.from_columns(df["school"], df["month"])
    x = df[["x", "rate"]].to_numpy(float)
    calls = []
    monkeypatch.setattr(
        FixedEffects, "_iterative", lambda self, x, w: calls.append(1) or np.zeros_like(x)
    )
    spread = np.where(np.arange(len(df)) % 2, 1e-12, 1.0)
    assert not fe.demean(x, spread).any() and len(calls) == 1  # pyfixest's (stubbed) answer
    assert fe.demean(x, np.ones(len(df))).any() and len(calls) == 1
    x[3, 1] = np.nan  # a working response gone to NaN: pyfixest's verdict, as before
    assert not fe.demean(x, np.ones(len(df))).any() and len(calls) == 2
    monkeypatch.setattr(absorb, "DIRECT_MAX_LEVELS", 10)
    assert FixedEffects.from_columns(df["school"], df["month"])._direct is None
