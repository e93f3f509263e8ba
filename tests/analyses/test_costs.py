"""Cost effectiveness: exact on noiseless data, equal to statsmodels WLS for the effect,
reproducible per seed, and honest about unbounded ratios."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from analyses.costs import cost_effectiveness, twfe_wls_effect


def panel(
    noise: float, seed: int = 0, effect_cost: float = -20.0, effect_referrals: float = -0.004
) -> pd.DataFrame:
    """8 schools x 24 months, pilot in schools 0-2 from month 12. Cost and referrals per
    pupil-month = school effect + month effect + planted effect in treated cells."""
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(8), 24)
    month = np.tile(np.arange(24), 8)
    treated = ((school < 3) & (month >= 12)).astype(int)
    pupils = rng.integers(80, 200, 8)[school].astype(float)
    cost_rate = (
        100 + 10 * school + 2 * month + effect_cost * treated + noise * rng.normal(size=len(school))
    )
    referral_rate = (
        0.02
        + 0.001 * school
        + effect_referrals * treated
        + noise * 1e-4 * rng.normal(size=len(school))
    )
    return pd.DataFrame(
        {
            "school": school,
            "month": month,
            "pilot": treated,
            "pupil_months": pupils,
            "cost": cost_rate * pupils,
            "referrals": referral_rate * pupils,
        }
    )


def test_noiseless_panel_gives_the_planted_quantities_exactly():
    data = panel(noise=0.0)
    exposed = data.loc[data.pilot == 1, "pupil_months"].sum()
    result = cost_effectiveness(
        data,
        "school",
        "month",
        "pilot",
        "cost",
        "pupil_months",
        pilot_cost=50_000.0,
        referrals="referrals",
        reps=50,
        seed=1,
    )
    assert result.effect_cost_per_pupil_month.estimate == pytest.approx(-20.0, abs=1e-8)
    assert result.avoided_cost.estimate == pytest.approx(20.0 * exposed, rel=1e-10)
    assert result.net_savings.estimate == pytest.approx(20.0 * exposed - 50_000.0, rel=1e-10)
    assert result.avoided_referrals.estimate == pytest.approx(0.004 * exposed, rel=1e-8)
    assert result.cost_per_avoided_referral.estimate == pytest.approx(
        50_000.0 / (0.004 * exposed), rel=1e-8
    )
    assert result.break_even_reduction_per_pupil_month == pytest.approx(50_000.0 / exposed)
    # without noise every resample gives the same effect: the interval collapses
    low, high = result.effect_cost_per_pupil_month.conf_int
    assert high - low < 1e-6
    # baseline: pilot schools before the pilot, per pupil-year
    before = data[(data.school < 3) & (data.pilot == 0)]
    assert result.baseline_cost_per_pupil_year == pytest.approx(
        12 * before.cost.sum() / before.pupil_months.sum()
    )


def test_effect_equals_statsmodels_wls_with_dummies():
    data = panel(noise=15.0, seed=3).assign(rate=lambda f: f.cost / f.pupil_months)
    ours = twfe_wls_effect(data, "rate", "school", "month", "pilot", "pupil_months")
    reference = (
        smf.wls("rate ~ pilot + C(school) + C(month)", data=data, weights=data.pupil_months)
        .fit()
        .params["pilot"]
    )
    assert ours == pytest.approx(reference, rel=1e-10)


def test_a_bootstrap_resample_equals_statsmodels_wls_with_dummies():
    """What a bootstrap draw refits: units drawn twice (two units), uneven weights, cells
    missing, and the first period absent (another reference period)."""
    from analyses.costs import _twfe_wls

    data = panel(noise=15.0, seed=4)
    data["pupil_months"] *= np.random.default_rng(1).uniform(0.2, 5, len(data))
    data = data[(data.month > 0) & (np.arange(len(data)) % 7 != 3)]
    draw = pd.concat(
        [data[data.school == s].assign(school=f"u{k}") for k, s in enumerate([0, 0, 2, 4, 5, 5, 7])]
    )
    draw["cost_rate"] = draw.cost / draw.pupil_months
    draw["referral_rate"] = draw.referrals / draw.pupil_months
    ours = _twfe_wls(
        pd.factorize(draw.school)[0],
        pd.factorize(draw.month)[0],
        draw.pilot.to_numpy(dtype=float),
        draw[["cost_rate", "referral_rate"]].to_numpy(),
        draw.pupil_months.to_numpy(),
    )
    for k, rate in enumerate(["cost_rate", "referral_rate"]):
        reference = (
            smf.wls(f"{rate} ~ pilot + C(school) + C(month)", data=draw, weights=draw.pupil_months)
            .fit()
            .params["pilot"]
        )
        assert ours[k] == pytest.approx(reference, rel=1e-9), rate


def test_same_seed_same_numbers_and_planted_savings_inside_the_interval():
    data = panel(noise=10.0, seed=5)
    first = cost_effectiveness(
        data,
        "school",
        "month",
        "pilot",
        "cost",
        "pupil_months",
        pilot_cost=10_000.0,
        reps=200,
        seed=7,
    )
    second = cost_effectiveness(
        data,
        "school",
        "month",
        "pilot",
        "cost",
        "pupil_months",
        pilot_cost=10_000.0,
        reps=200,
        seed=7,
    )
    assert first.to_frame().equals(second.to_frame())
    low, high = first.effect_cost_per_pupil_month.conf_int
    assert (
        abs(first.effect_cost_per_pupil_month.estimate + 20.0) < 3.0
        and low < first.effect_cost_per_pupil_month.estimate < high
    )
    assert 0.0 <= first.prob_net_savings_positive <= 1.0
    assert "bootstrap" in first.net_savings.method


def test_cost_per_avoided_referral_has_no_interval_when_referrals_may_rise():
    data = panel(noise=40.0, seed=2, effect_referrals=0.0)
    result = cost_effectiveness(
        data,
        "school",
        "month",
        "pilot",
        "cost",
        "pupil_months",
        pilot_cost=10_000.0,
        referrals="referrals",
        reps=200,
        seed=3,
    )
    per_referral = result.cost_per_avoided_referral
    assert per_referral.details["unbounded_draws"] > 0
    assert np.isnan(per_referral.conf_int[0]) and np.isnan(per_referral.conf_int[1])


def test_without_treated_units_it_says_so():
    data = panel(noise=0.0).assign(pilot=0)
    with pytest.raises(ValueError, match="no treated units"):
        cost_effectiveness(
            data, "school", "month", "pilot", "cost", "pupil_months", pilot_cost=1.0, reps=10
        )
