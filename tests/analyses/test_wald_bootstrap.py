"""Joint wild cluster restricted bootstrap (event-study pre-trend) and fast TWFE RI."""

import itertools

import numpy as np
import pandas as pd
import patsy
import pytest

from analyses import event_study, randomization_inference, twfe
from analyses.inference import twfe_randomization_inference, wild_cluster_bootstrap_wald


def _panel(seed=1, n_units=7, n_treated=2, periods=12, g=6, trend=0.0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_units):
        fe = rng.normal()
        for t in range(periods):
            tr = i < n_treated
            rows.append(
                dict(
                    u=i,
                    t=t,
                    y=fe + 0.1 * t + rng.normal() + (trend * t if tr else 0.0),
                    g=float(g) if tr else np.nan,
                )
            )
    return pd.DataFrame(rows)


def _brute_force_p(df, formula, params, cluster):
    """Refit the unrestricted model for every Rademacher vector (2^G)."""
    y_df, X_df = patsy.dmatrices(formula, df, return_type="dataframe")
    X, y = X_df.to_numpy(float), y_df.to_numpy(float).ravel()
    names = list(X_df.columns)
    idx = [names.index(p) for p in params]
    keep = [j for j in range(X.shape[1]) if j not in idx]
    codes = pd.factorize(df[cluster], sort=True)[0]
    G = codes.max() + 1
    fit_r = X[:, keep] @ np.linalg.lstsq(X[:, keep], y, rcond=None)[0]
    e_r = y - fit_r

    def wald(yy):
        b = np.linalg.lstsq(X, yy, rcond=None)[0]
        u = yy - X @ b
        bread = np.linalg.pinv(X.T @ X)
        sc = np.zeros((G, X.shape[1]))
        np.add.at(sc, codes, X * u[:, None])
        V = bread @ sc.T @ sc @ bread
        return b[idx] @ np.linalg.solve(V[np.ix_(idx, idx)], b[idx])

    w0 = wald(y)
    ws = np.array(
        [wald(fit_r + np.array(v)[codes] * e_r) for v in itertools.product([-1.0, 1.0], repeat=G)]
    )
    return float(np.mean(ws >= w0 - 1e-9 * w0))


@pytest.mark.parametrize("trend", [0.0, 0.3])
def test_wald_bootstrap_matches_brute_force(trend):
    df = _panel(trend=trend)
    rel = (df["t"] - df["g"]).clip(upper=3)
    df["l3"] = (rel <= -3).astype(float)
    df["l2"] = (rel == -2).astype(float)
    for e in range(4):
        df[f"p{e}"] = (rel == e).astype(float)
    f = "y ~ l3 + l2 + p0 + p1 + p2 + p3 + C(u) + C(t)"
    r = wild_cluster_bootstrap_wald(df, f, ["l3", "l2"], "u")
    assert r.full_enumeration and r.n_boot == 2**7 and r.q == 2
    assert r.p_value == pytest.approx(_brute_force_p(df, f, ["l3", "l2"], "u"))


def test_event_study_bootstrap_pretrend_consistent_with_f():
    df = _panel()
    es = event_study(df, "y", "u", "t", "g", leads=3, lags=3, pretrend_bootstrap=9999, seed=1)
    pt = es.pretrend
    assert pt.bootstrap_statistic == pytest.approx(pt.statistic)  # same CR1 F statistic
    assert pt.bootstrap_full_enumeration and pt.bootstrap_n_boot == 128
    assert 2 / 128 <= pt.bootstrap_p_value <= 1
    again = event_study(df, "y", "u", "t", "g", leads=3, lags=3, pretrend_bootstrap=9999, seed=99)
    assert again.pretrend.bootstrap_p_value == pt.bootstrap_p_value  # exact: seed-invariant
    with pytest.raises(ValueError, match="linear"):
        event_study(
            df.assign(e=1.0, y=np.abs(df["y"]).round()),
            "y",
            "u",
            "t",
            "g",
            exposure="e",
            family="poisson",
            pretrend_bootstrap=99,
        )


def test_wald_bootstrap_sampled_is_seeded():
    df = _panel(n_units=16, n_treated=3)
    rel = (df["t"] - df["g"]).clip(upper=3)
    df["l3"], df["l2"] = (rel <= -3).astype(float), (rel == -2).astype(float)
    f = "y ~ l3 + l2 + C(u) + C(t)"
    a = wild_cluster_bootstrap_wald(df, f, ["l3", "l2"], "u", reps=999, seed=5)
    b = wild_cluster_bootstrap_wald(df, f, ["l3", "l2"], "u", reps=999, seed=5)
    assert not a.full_enumeration and a.n_boot == 999 and a.p_value == b.p_value


def test_twfe_randomization_inference_matches_refits():
    df = _panel(n_units=8, n_treated=3).drop(index=[3, 40, 41])  # unbalanced
    df["post"] = (df["t"] >= 6).astype(int)
    treated = [0, 1, 2]
    fast = twfe_randomization_inference(df, "y", "u", "t", "post", treated)

    def est(data, units):
        d = (data["u"].isin(units) & (data["post"] == 1)).astype(int)
        return twfe(data.assign(d=d), "y", "u", "t", "d").estimate

    slow = randomization_inference(df, est, "u", treated)
    assert fast.p_value == pytest.approx(slow.p_value) and fast.n_assignments == 56
    np.testing.assert_allclose(
        np.sort(fast.statistics), np.sort(slow.statistics), rtol=1e-8, atol=1e-10
    )
    obs = twfe(
        df.assign(d=(df["u"].isin(treated) & (df["post"] == 1)).astype(int)), "y", "u", "t", "d"
    )
    assert fast.estimate == pytest.approx(obs.estimate)


def test_wald_bootstrap_draws_do_not_depend_on_block_size(monkeypatch):
    """Draws are processed in blocks (bounded memory); a block of one draw gives the same
    statistics and p-value as all draws at once."""
    df = _panel(n_units=16, n_treated=3)
    rel = (df["t"] - df["g"]).clip(upper=3)
    df["l3"], df["l2"] = (rel <= -3).astype(float), (rel == -2).astype(float)
    f = "y ~ l3 + l2 + C(u) + C(t)"
    whole = wild_cluster_bootstrap_wald(df, f, ["l3", "l2"], "u", reps=299, seed=5)
    monkeypatch.setattr("analyses.inference._BOOTSTRAP_BLOCK_VALUES", 1)
    one_by_one = wild_cluster_bootstrap_wald(df, f, ["l3", "l2"], "u", reps=299, seed=5)
    assert one_by_one.p_value == whole.p_value
    np.testing.assert_allclose(one_by_one.draws, whole.draws, rtol=1e-12)


@pytest.mark.parametrize("impose_null", [True, False])
@pytest.mark.parametrize("absorbed", [True, False])
def test_interval_from_the_null_path_equals_recomputing_each_null(impose_null, absorbed):
    """The test inversion's bootstrap t statistics as a function of beta0 (two passes over
    the draws) give the p-values and the interval of recomputing them at every beta0."""
    from analyses._linalg import cluster_codes
    from analyses.did import _twfe_frame, twfe_formula
    from analyses.inference import (
        _AbsorbedWild,
        _FastWild,
        _invert,
        _NullPath,
        _pvalue,
        _weights,
    )

    rng = np.random.default_rng(5)
    n_units, n_periods = 30, 16
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(n_periods), n_units)
    d = ((unit < 6) & (period >= 8)).astype(float)
    y = rng.normal(size=n_units)[unit] + 0.1 * period + 0.4 * d + rng.normal(size=len(unit))
    df = pd.DataFrame({"u": unit, "t": period, "d": d, "y": y})
    frame = _twfe_frame(df, "y", "u", "t", "d", None, (), None)
    codes, G = cluster_codes(frame["_g"])
    V, _ = _weights("rademacher", G, 1999, seed=4)
    if absorbed:
        fw = _AbsorbedWild(frame, 0, codes, G)
    else:
        y_df, X_df = patsy.dmatrices(twfe_formula(0), frame, return_type="dataframe")
        X = X_df.to_numpy(float)
        fw = _FastWild(X, y_df.to_numpy(float).ravel(), list(X_df.columns).index("_d"), codes, G)
    path = _NullPath(fw, V, impose_null)
    for beta0 in (fw.b - 1.0, fw.b - 0.3, 0.0, fw.b + 0.2, fw.b + 0.9):
        t, t_star = fw.tstats(beta0, V, impose_null)
        t_path, t_star_path = path.tstats(beta0)
        assert t_path == pytest.approx(t, rel=1e-12)
        assert np.abs(t_star_path - t_star).max() <= 1e-9 * np.abs(t_star).max()
        assert _pvalue(t_path, t_star_path) == _pvalue(t, t_star)
    recomputed = _invert(lambda b0: _pvalue(*fw.tstats(b0, V, impose_null)), fw, 0.05)
    assert _invert(lambda b0: _pvalue(*path.tstats(b0)), fw, 0.05) == pytest.approx(
        recomputed, rel=1e-9
    )
