"""analyses.synthetic_did on planted effects in pilot-sized panels, and its simplex solver."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from analyses import synthetic_did
from analyses._simplex_qp import simplex_least_squares, simplex_qp
from analyses.synthetic_did import placebo_in_space, sdid_weights


def _panel(seed, n_units=20, n_treated=3, n_periods=24, t0=12, effect=-2.0, treated_load=None):
    """School and month effects, a trending random-walk factor with school loadings
    U(0, 2), noise SD 1 and a constant planted effect from month ``t0``. ``treated_load``
    = (lo, hi) draws the pilot schools' loadings from U(lo, hi): selection on the factor,
    which breaks parallel trends."""
    rng = np.random.default_rng(seed)
    unit_fe = rng.normal(10, 2, n_units)
    load = rng.uniform(0, 2, n_units)
    if treated_load is not None:
        load[:n_treated] = rng.uniform(*treated_load, n_treated)
    factor = np.cumsum(rng.normal(0.25, 0.5, n_periods))
    time_fe = rng.normal(0, 1, n_periods)
    u, t = np.meshgrid(np.arange(n_units), np.arange(n_periods), indexing="ij")
    y = unit_fe[u] + time_fe[t] + load[u] * factor[t] + rng.normal(0, 1, u.shape)
    y = y + effect * ((u < n_treated) & (t >= t0))
    return pd.DataFrame({"school": u.ravel(), "month": t.ravel(), "y": y.ravel()})


def test_planted_effect_recovered_with_few_treated_schools():
    """3 of 20 schools piloted at random, 12 + 12 months: the estimate centres on the planted
    -2 (400 seeds: -2.02 +- 0.04) and the placebo SE is of the size of its spread."""
    ests, ses = [], []
    for seed in range(20):
        r = synthetic_did(_panel(seed), "y", "school", "month", [0, 1, 2], 12, reps=50, seed=seed)
        ests.append(r.estimate)
        ses.append(r.std_error)
    ests, ses = np.asarray(ests), np.asarray(ses)
    spread = ests.std(ddof=1)
    assert abs(ests.mean() + 2.0) < 3 * spread / np.sqrt(len(ests))
    assert 0.5 < np.median(ses) / spread < 1.5
    assert np.mean(np.abs(ests + 2.0) <= 1.96 * ses) >= 0.75


def test_sdid_reduces_the_bias_of_did_under_selection_on_a_factor():
    """Pilot schools load 1.2-1.8 on a trending factor (controls 0-2): DiD's bias is about
    +1.7, SDID removes part of it (about +0.9; with 12 pre-months the paper's regularisation
    keeps the unit weights near uniform, the time weights do most of the work)."""
    sdid, did = [], []
    for seed in range(30):
        df = _panel(seed, treated_load=(1.2, 1.8))
        sdid.append(synthetic_did(df, "y", "school", "month", [0, 1, 2], 12, se=None).estimate)
        did.append(
            synthetic_did(df, "y", "school", "month", [0, 1, 2], 12, method="did", se=None).estimate
        )
    bias_sdid, bias_did = np.mean(sdid) + 2.0, np.mean(did) + 2.0
    assert bias_did > 1.0
    assert abs(bias_sdid) < 0.75 * bias_did


def test_several_treated_units_are_averaged():
    """With several treated units the estimate equals SDID on their average (collapsed form)."""
    df = _panel(7, n_treated=4)
    r = synthetic_did(df, "y", "school", "month", [0, 1, 2, 3], 12, se=None)
    avg = (
        df[df.school < 4]
        .groupby("month")["y"]
        .mean()
        .rename("y")
        .reset_index()
        .assign(school="avg")
    )
    one = synthetic_did(
        pd.concat([df[df.school >= 4], avg]), "y", "school", "month", "avg", 12, se=None
    )
    # zeta uses N1 * T1: larger with 4 treated units
    assert r.details["zeta_omega"] == pytest.approx(one.details["zeta_omega"] * 4**0.25)
    wide = df.pivot(index="school", columns="month", values="y").to_numpy()
    Y = np.vstack([wide[4:], wide[:4].mean(axis=0)])  # controls, then the average
    same = sdid_weights(
        Y, 16, 12, zeta_omega=r.details["zeta_omega"], zeta_lambda=r.details["zeta_lambda"]
    )
    assert r.estimate == pytest.approx(same["estimate"], abs=1e-8)
    assert r.details["n_treated"] == 4 and r.details["treated_units"] == (0, 1, 2, 3)


def test_no_effect_without_noise_and_parallel_paths():
    """Exactly parallel paths and no effect: every estimator gives 0."""
    u, t = np.meshgrid(np.arange(8), np.arange(10), indexing="ij")
    y = (u * 3.0 + np.sin(t)).astype(float)
    df = pd.DataFrame({"u": u.ravel(), "t": t.ravel(), "y": y.ravel()})
    for m in ("sdid", "did"):
        assert synthetic_did(
            df, "y", "u", "t", [0, 1], 6, method=m, se=None
        ).estimate == pytest.approx(0, abs=1e-9)


def test_placebo_seeded_and_validated():
    df = _panel(1)
    a = synthetic_did(df, "y", "school", "month", [0, 1, 2], 12, reps=30, seed=4)
    b = synthetic_did(df, "y", "school", "month", [0, 1, 2], 12, reps=30, seed=4)
    assert a.std_error == b.std_error and a.details["reps"] == 30
    assert np.array_equal(a.details["placebo_estimates"], b.details["placebo_estimates"])
    assert a.p_value == pytest.approx(
        2 * (1 - __import__("scipy").stats.norm.cdf(abs(a.estimate / a.std_error)))
    )
    small = df[df.school < 5]
    with pytest.raises(ValueError, match="more controls"):
        synthetic_did(small, "y", "school", "month", [0, 1, 2], 12)
    with pytest.raises(KeyError):
        synthetic_did(df, "y", "school", "month", [99], 12)


@pytest.mark.parametrize("seed", range(6))
def test_simplex_solver_is_the_exact_minimiser(seed):
    """KKT solution: matches a tightly converged SLSQP and has a zero duality gap."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(15, 9)) @ np.diag(rng.uniform(0.1, 3, 9))
    b = rng.normal(size=15) + A @ rng.dirichlet(np.ones(9) * 0.3)
    ridge = [0.0, 1e-6, 0.5][seed % 3]
    w, w0, gap = simplex_least_squares(A, b, ridge=ridge, intercept=bool(seed % 2))
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0)
    Ac, bc = (A - A.mean(0), b - b.mean()) if seed % 2 else (A, b)

    def f(x):
        r = Ac @ x - bc
        return r @ r + ridge * x @ x

    ref = optimize.minimize(
        f,
        np.full(9, 1 / 9),
        method="SLSQP",
        bounds=[(0, 1)] * 9,
        constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    assert f(w) <= ref.fun + 1e-9
    assert gap <= 1e-9 * max(1.0, f(w))
    if seed % 2:
        assert w0 == pytest.approx(b.mean() - A.mean(0) @ w)


@pytest.mark.parametrize("seed", range(4))
def test_the_warm_start_through_a_wide_factor_ends_at_the_same_minimiser(seed):
    """SDID's unit weights: more controls than pre-periods, a ridge. The warm start's
    products go through A instead of A'A (simplex_least_squares); the active-set method
    must end at the minimiser it reaches from the vertex start."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(12, 80))
    b = A @ rng.dirichlet(np.ones(80) * 0.5) + 0.1 * rng.normal(size=12)
    ridge = [1e-3, 0.05, 0.5, 2.0][seed]
    warm, w0_warm, gap = simplex_least_squares(A, b, ridge=ridge, intercept=True, warm_start=True)
    cold, w0_cold, _ = simplex_least_squares(A, b, ridge=ridge, intercept=True)
    np.testing.assert_allclose(warm, cold, atol=1e-12)
    # the intercept is mean(b) - mean(A) @ w: the weights' tolerance carried through
    # (this ill-conditioned case differs by 1.9e-12 with one machine's BLAS kernels)
    assert w0_warm == pytest.approx(w0_cold, abs=1e-12 * (1 + np.abs(A.mean(0)).sum()))
    assert gap <= 1e-12 and (warm > 0).sum() > 1
    # ... and the warm start's steps through the factor are the steps through A'A
    from analyses._simplex_qp import _support_guess

    Ac, bc = A - A.mean(0), b - b.mean()
    H, c = Ac.T @ Ac + ridge * np.eye(80), -(Ac.T @ bc)
    through_factor = _support_guess(H, c, lambda v: Ac.T @ (Ac @ v) + ridge * v)
    np.testing.assert_allclose(through_factor, _support_guess(H, c), atol=1e-9)


def test_simplex_qp_vertex_and_interior():
    w, gap = simplex_qp(np.eye(3), np.array([-5.0, 0.0, 0.0]))  # optimum at vertex 0
    assert w == pytest.approx([1, 0, 0]) and gap == pytest.approx(0, abs=1e-12)
    w, _ = simplex_qp(np.eye(4), np.zeros(4))  # centre of the simplex
    assert w == pytest.approx(np.full(4, 0.25))


@pytest.mark.parametrize("seed", range(4))
def test_warm_start_reaches_the_same_minimiser(seed):
    """SDID-like unit-weight problems (hundreds of controls, a ridge that spreads the
    weights over many of them, and one with few): started from the projected-gradient
    support, the active-set method ends at the cold start's minimiser."""
    rng = np.random.default_rng(seed)
    n_controls, periods = (300, 40) if seed < 2 else (120, 60)
    noise = [3.0, 0.3, 3.0, 0.05][seed]
    units = rng.normal(size=(n_controls + 1, 1)) * 2
    Y = units + rng.normal(size=(1, periods)) + rng.normal(size=(n_controls + 1, periods)) * noise
    A, b = Y[:n_controls].T, Y[n_controls]
    ridge = periods * (2.0 * noise) ** 2
    cold, cold_intercept, cold_gap = simplex_least_squares(A, b, ridge=ridge, intercept=True)
    warm, warm_intercept, warm_gap = simplex_least_squares(
        A, b, ridge=ridge, intercept=True, warm_start=True
    )
    assert (cold > 0).sum() > 20  # many positive weights: the case the warm start is for
    np.testing.assert_allclose(warm, cold, rtol=0, atol=1e-12)
    assert warm_intercept == pytest.approx(cold_intercept, abs=1e-10)
    assert warm_gap <= 1e-9 and cold_gap <= 1e-9


def test_placebo_in_space_equals_a_synthetic_did_per_placebo():
    """The placebos from one pivot are exactly synthetic_did's estimates with each placebo
    unit treated and the other donors as its pool (a donor with a gap left out)."""
    rng = np.random.default_rng(8)
    units, periods = [f"s{i:02d}" for i in range(14)], np.arange(-8, 6)
    level = rng.normal(size=len(units))
    rows = [
        (u, t, level[i] + 0.1 * t + rng.normal(scale=0.3))
        for i, u in enumerate(units)
        for t in periods
    ]
    data = pd.DataFrame(rows, columns=["unit", "period", "value"])
    data.loc[(data["unit"] == "s13") & (data["period"] == 2), "value"] = np.nan
    donors = units[:13] + ["s13", "absent"]
    chosen = ["s01", "s05", "s09"]
    got = placebo_in_space(data, "value", "unit", "period", chosen, 0, donors)
    want = [
        synthetic_did(
            data, "value", "unit", "period", [j], 0, donors=[d for d in donors if d != j], se=None
        ).estimate
        for j in chosen
    ]
    assert list(got) == want
    with pytest.raises(ValueError, match="missing outcomes"):
        placebo_in_space(data, "value", "unit", "period", ["s13"], 0, donors)
