"""Known-answer tests for analyses.event_study (planted dynamics and pre-trends)."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from analyses import event_study

EFFECTS = {0: 1.0, 1: 2.0, 2: 3.0, 3: 3.0}


def _panel(
    seed, n_units=40, n_treated=15, T=16, adopt=(8, 10), pretrend=0.0, sigma=1.0, poisson=False
):
    """Treated units adopt at 8 or 10 (same dynamic effects for both cohorts);
    ``pretrend`` adds slope * (t - G) for treated units before adoption."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_units):
        g = adopt[i % 2] if i < n_treated else np.nan
        a = rng.normal(0, 1)
        for t in range(T):
            e = t - g if i < n_treated else None
            eff = EFFECTS.get(min(e, 3), 0.0) if e is not None and e >= 0 else 0.0
            pre = pretrend * e if (e is not None and e < 0) else 0.0
            if poisson:
                expo = 200.0
                mu = expo * 0.05 * np.exp(0.3 * a + 0.02 * t + np.log(0.6) * (eff > 0))
                y = rng.poisson(mu)
            else:
                expo = 1.0
                y = a + 0.1 * t + eff + pre + rng.normal(0, sigma)
            rows.append((i, t, g, y, expo))
    return pd.DataFrame(rows, columns=["unit", "t", "g", "y", "expo"])


def test_planted_dynamic_effects_recovered():
    d = _panel(1, n_units=80, n_treated=40, sigma=0.5)
    r = event_study(d, "y", "unit", "t", "g", leads=4, lags=3)
    assert sorted(r.effects) == [-4, -3, -2, 0, 1, 2, 3]
    for e, res in r.effects.items():
        true = EFFECTS.get(e, 0.0)
        assert abs(res.estimate - true) < 4 * res.std_error
        assert res.n_clusters == 80 and res.details["df"] == 79
    assert r.pretrend.test == "F" and r.pretrend.df == (3, 79)
    assert list(r.to_frame()["rel_time"]) == [-4, -3, -2, 0, 1, 2, 3]


def test_event_study_matches_statsmodels_ols_with_dummies():
    """Point estimates equal a hand-built dummy regression; SE equals statsmodels CR1
    times sqrt((N-K)/(N-K_nested)) (unit dummies nested in clusters not counted)."""
    d = _panel(2)
    r = event_study(d, "y", "unit", "t", "g", leads=3, lags=2, bin_endpoints=True)
    rel = (d["t"] - d["g"]).clip(-3, 2)
    for e in [-3, -2, 0, 1, 2]:
        d[f"ev{e + 10}"] = (rel == e).astype(float)
    f = "y ~ " + " + ".join(f"ev{e + 10}" for e in [-3, -2, 0, 1, 2]) + " + C(unit) + C(t)"
    fit = smf.ols(f, d).fit(cov_type="cluster", cov_kwds={"groups": d["unit"]})
    N, K = len(d), len(fit.params)
    K_nested = K - (d["unit"].nunique() - 1)
    for e in [-3, -2, 0, 1, 2]:
        assert r.effects[e].estimate == pytest.approx(fit.params[f"ev{e + 10}"], abs=1e-10)
        expected = fit.bse[f"ev{e + 10}"] * np.sqrt((N - K) / (N - K_nested))
        assert r.effects[e].std_error == pytest.approx(expected, rel=1e-8)
    # joint F over the leads: Wald with the same V / q
    idx = ["ev7", "ev8"]
    b = fit.params[idx].to_numpy()
    V = fit.cov_params().loc[idx, idx].to_numpy() * (N - 1) / (N - K_nested) / ((N - 1) / (N - K))
    F = b @ np.linalg.solve(V, b) / 2
    assert r.pretrend.statistic == pytest.approx(F, rel=1e-8)


def test_pretrend_test_size_and_power_over_seeds():
    """Without a pre-trend the 5% F test rejects at a controlled rate (0-4 of 40
    seeds: binomial(40, 0.05) has P(X >= 5) = 0.14, so allow <= 6); with a planted
    linear pre-trend (0.4 per period) it rejects in every seed."""
    rej_null = rej_trend = 0
    for s in range(40):
        d0 = _panel(100 + s)
        rej_null += event_study(d0, "y", "unit", "t", "g", leads=4, lags=3).pretrend.p_value < 0.05
    for s in range(10):
        d1 = _panel(500 + s, pretrend=0.4)
        rej_trend += event_study(d1, "y", "unit", "t", "g", leads=4, lags=3).pretrend.p_value < 0.05
    assert rej_null <= 6
    assert rej_trend == 10


def test_trimmed_endpoints_drop_observations():
    d = _panel(3)
    r = event_study(d, "y", "unit", "t", "g", leads=2, lags=1, bin_endpoints=False)
    n_treated_out = ((d["g"].notna()) & (((d["t"] - d["g"]) < -2) | ((d["t"] - d["g"]) > 1))).sum()
    assert r.details["n_obs"] == len(d) - n_treated_out
    assert "trimmed" in r.method


def test_poisson_event_study_recovers_rate_ratio():
    d = _panel(4, n_units=60, n_treated=30, poisson=True)
    r = event_study(d, "y", "unit", "t", "g", leads=3, lags=2, exposure="expo", family="poisson")
    for e, res in r.effects.items():
        assert res.scale == "ratio"
        true = 0.6 if e >= 0 else 1.0
        assert abs(np.log(res.estimate) - np.log(true)) < 4 * res.std_error
    assert r.pretrend.test == "chi2" and r.pretrend.df == (2,)


def test_plot_returns_axes_or_skips():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    r = event_study(_panel(5), "y", "unit", "t", "g", leads=2, lags=2)
    ax = r.plot()
    assert ax is not None and len(ax.lines) >= 1


def _max_relative_difference(a, b) -> float:
    pairs = [
        (getattr(a.effects[e], f), getattr(b.effects[e], f))
        for e in b.effects
        for f in ("estimate", "std_error", "p_value")
    ]
    pairs += [
        (getattr(a.pretrend, f), getattr(b.pretrend, f))
        for f in ("statistic", "p_value", "bootstrap_p_value")
        if getattr(b.pretrend, f, None) is not None
    ]
    return max(abs(x - y) / max(abs(y), 1e-300) for x, y in pairs)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"pretrend_bootstrap": 999, "seed": 3},
        {"bin_endpoints": False},
        # clusters coarser than units (each unit in one cluster): the bootstrap stays exact
        {"cluster": "region", "pretrend_bootstrap": 99, "seed": 1},
        # clusters that cut across units: estimates and variance absorbed (no bootstrap)
        {"cluster": "season"},
    ],
)
def test_absorbed_linear_event_study_equals_dummy_design(options):
    d = _panel(2)
    d["region"], d["season"] = d["unit"] % 7, d["t"] % 5
    absorbed = event_study(d, "y", "unit", "t", "g", leads=3, lags=2, **options)
    dummies = event_study(d, "y", "unit", "t", "g", leads=3, lags=2, fe_method="dummies", **options)
    assert absorbed.details["fe_method"] == "absorb"
    assert sorted(absorbed.effects) == sorted(dummies.effects)
    assert _max_relative_difference(absorbed, dummies) < 1e-8
    assert absorbed.details["n_obs"] == dummies.details["n_obs"]


def test_bootstrap_with_clusters_across_units_uses_the_dummy_design():
    d = _panel(2)
    d["season"] = d["t"] % 5
    r = event_study(
        d, "y", "unit", "t", "g", leads=3, lags=2, cluster="season", pretrend_bootstrap=99
    )
    assert r.details["fe_method"] == "dummies"


def test_absorbed_poisson_event_study_equals_dummy_design_and_drops_all_zero_levels():
    d = _panel(4, n_units=60, n_treated=30, poisson=True)
    d.loc[d["t"] == 5, "y"] = 0  # a period without events: its fixed effect is -infinity
    d.loc[d["unit"] == 50, "y"] = 0
    kw = dict(leads=3, lags=2, exposure="expo", family="poisson")
    absorbed = event_study(d, "y", "unit", "t", "g", **kw)
    dummies = event_study(d, "y", "unit", "t", "g", fe_method="dummies", **kw)
    assert _max_relative_difference(absorbed, dummies) < 1e-8
    for r in (absorbed, dummies):
        assert r.details["dropped_all_zero_units"] == [50]
        assert r.details["dropped_all_zero_periods"] == [5]
        assert r.details["n_obs"] == len(d) - 60 - 15
