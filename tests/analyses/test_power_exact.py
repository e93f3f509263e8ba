"""Exact (noncentral t) power and sample sizes, school counts and pilot MDEs (analyses.power).

Published values: Cohen (1988), Statistical Power Analysis for the Behavioral Sciences, 2nd
ed., Table 2.4.1 (n per group, two-tailed alpha = .05, power .80): d = .50 -> 64,
d = .80 -> 26; G*Power 3.1 (Faul, Erdfelder, Buchner & Lang 2009), "t tests - means:
difference between two independent means", a priori: d = 0.5 -> 64, d = 0.8 -> 26,
d = 0.2 -> 394 per group (Cohen's table prints 393 there: his tables use an approximation
for small d; the exact noncentral-t solution is 393.41, so 394).
"""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.power import TTestIndPower

from analyses.power import (
    mde_rate_ratio,
    pilot_mde,
    power,
    power_difference,
    power_schools,
    power_ttest,
    sample_size_ttest,
    schools_needed,
    se_log_rate_ratio_cv,
)

SM = TTestIndPower()


@pytest.mark.parametrize(
    "d,n1,ratio,alternative",
    [
        (0.5, 64, 1.0, "two-sided"),
        (0.3, 20, 2.5, "two-sided"),
        (0.8, 10, 0.5, "larger"),
        (-0.4, 33, 1.0, "smaller"),
        (0.2, 5, 1.0, "two-sided"),
        (-0.6, 7, 1.5, "two-sided"),
        (1.5, 3, 7 / 3, "two-sided"),
    ],
)
def test_power_equals_statsmodels(d, n1, ratio, alternative):
    ours = power_ttest(d, n1, 0.05, ratio, alternative)
    assert ours == pytest.approx(
        SM.power(d, n1, 0.05, ratio=ratio, alternative=alternative), abs=1e-8
    )


@pytest.mark.parametrize(
    "d,ratio", [(0.5, 1.0), (0.2, 1.0), (0.8, 1.0), (0.5, 2.0), (1.2, 0.5), (3.0, 1.0)]
)
def test_sample_size_solves_statsmodels_power(d, ratio):
    n = sample_size_ttest(d, power=0.8, ratio=ratio)
    # statsmodels' power at our n is the target to 1e-8 (its own solve_power stops at ~1e-8)
    assert SM.power(d, n, 0.05, ratio=ratio) == pytest.approx(0.8, abs=1e-8)
    assert n == pytest.approx(
        SM.solve_power(d, nobs1=None, alpha=0.05, power=0.8, ratio=ratio), rel=1e-6
    )


@pytest.mark.parametrize("d,n_published", [(0.5, 64), (0.8, 26), (0.2, 394)])
def test_published_sample_sizes(d, n_published):
    assert math.ceil(sample_size_ttest(d, power=0.8, alpha=0.05)) == n_published


def test_schools_needed_is_the_smallest_design():
    """Design effect: m = 25 pupils, ICC 0.05 -> DEFF 2.2; effect 0.3 SD."""
    n_t, n_c = schools_needed(0.3, m=25, sigma=1.0, icc=0.05)
    assert n_t == n_c
    assert (
        power_schools(0.3, n_t, n_c, 25, 1.0, 0.05)
        >= 0.8
        > power_schools(0.3, n_t - 1, n_c - 1, 25, 1.0, 0.05)
    )
    # the cluster effect size: 0.3 / sqrt(2.2 / 25)
    d = 0.3 / math.sqrt(2.2 / 25)
    assert n_t == math.ceil(sample_size_ttest(d))
    # given allocation ratio: twice as many comparison schools
    t2, c2 = schools_needed(0.3, m=25, sigma=1.0, icc=0.05, ratio=2.0)
    assert c2 == math.ceil(2 * t2) and t2 < n_t
    assert power_schools(0.3, t2, c2, 25, 1.0, 0.05) >= 0.8
    # m = 1, ICC = 0 is the individual two-sample t test
    assert schools_needed(0.5, m=1, sigma=1.0, icc=0.0) == (64, 64)


def test_exact_power_near_bloom_approximation_and_lower_with_few_schools():
    """Bloom's shifted central t is close to the exact noncentral t with many schools and
    optimistic with very few (the noncentral t is more spread out)."""
    many = power_schools(0.25, 30, 30, 20, 1.0, 0.05), power_difference(0.25, 30, 30, 20, 1.0, 0.05)
    assert many[0] == pytest.approx(many[1], abs=0.01)
    few = power_schools(1.0, 3, 4, 20, 1.0, 0.05), power_difference(1.0, 3, 4, 20, 1.0, 0.05)
    assert few[0] < few[1]


def test_pilot_mde_rate_ratio_and_difference():
    base = dict(n_treated=3, n_control=7, pupil_months=24 * 275, baseline_rate=0.02)
    r = pilot_mde(**base)
    # no between-school variation: the existing Poisson MDE
    assert r.rate_ratio == pytest.approx(
        mde_rate_ratio(3, 7, exposure=24 * 275, baseline_rate=0.02), rel=1e-10
    )
    assert r.difference == pytest.approx(0.02 * (r.rate_ratio - 1))
    assert r.difference_per_1000 == pytest.approx(1000 * r.difference)
    # at the MDE the power is the target (plus the negligible opposite tail)
    assert power(math.log(r.rate_ratio), r.se_log_rate_ratio, df=8) == pytest.approx(0.8, abs=1e-3)
    # between-school variation (Hayes & Bennett k) makes the MDE larger, more schools smaller
    noisy = pilot_mde(**base, cv_between=0.2)
    assert noisy.rate_ratio < r.rate_ratio < 1
    assert noisy.se_log_rate_ratio == pytest.approx(
        se_log_rate_ratio_cv(noisy.rate_ratio, 3, 7, 24 * 275, 0.02, 0.2)
    )
    assert pilot_mde(4, 30, 24 * 275, 0.02, cv_between=0.2).rate_ratio > noisy.rate_ratio
    up = pilot_mde(**base, direction="increase")
    assert up.rate_ratio > 1 and up.difference > 0
    assert set(r.to_dict()) >= {"rate_ratio", "difference", "baseline_rate", "df"}
