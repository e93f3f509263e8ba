"""Multiple testing equals statsmodels; power formulas against hand-computed values."""

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analyses import EffectResult, adjust_pvalues, benjamini_hochberg, holm
from analyses import power as pw

P = [0.01, 0.04, 0.03, 0.20, 0.005]


def _res(p):
    return EffectResult(
        estimate=1.0,
        std_error=1.0,
        conf_int=(0, 2),
        p_value=p,
        n_obs=10,
        n_clusters=5,
        method="test",
    )


def test_holm_and_bh_equal_statsmodels():
    fam = {f"o{i}": _res(p) for i, p in enumerate(P)}
    h = holm(fam)
    b = benjamini_hochberg(fam)
    np.testing.assert_allclose(h["p_adjusted"], multipletests(P, method="holm")[1])
    np.testing.assert_allclose(b["p_adjusted"], multipletests(P, method="fdr_bh")[1])
    # hand check Holm: sorted 0.005,0.01,0.03,0.04,0.2 -> x5,x4,x3,x2,x1 with max
    assert h.loc["o4", "p_adjusted"] == pytest.approx(0.025)
    assert h.loc["o0", "p_adjusted"] == pytest.approx(0.04)
    assert h.loc["o2", "p_adjusted"] == pytest.approx(0.09)
    assert list(h.index) == list(fam)
    assert adjust_pvalues(P, "bh")["p_adjusted"].tolist() == b["p_adjusted"].tolist()


def test_holm_equals_statsmodels_on_random_families_with_ties_and_ones():
    """Holm is computed here (statsmodels' runs a full garbage collection per call): the
    same adjusted p-values and rejections as statsmodels on families it was not tuned on."""
    rng = np.random.default_rng(7)
    for size in (1, 2, 3, 8, 40):
        for _ in range(50):
            p = np.where(rng.random(size) < 0.5, rng.uniform(0, 0.1, size), rng.uniform(0, 1, size))
            p = np.round(p, rng.integers(1, 4))  # ties and exact zeros/ones
            h = adjust_pvalues(p.tolist(), "holm", alpha=0.05)
            reject, expected, _, _ = multipletests(p, alpha=0.05, method="holm")
            np.testing.assert_allclose(h["p_adjusted"], expected, rtol=1e-12, atol=0)
            assert h["reject"].tolist() == reject.tolist()


def test_result_roundtrip():
    r = _res(0.5)
    d = r.to_dict()
    assert d["conf_int_lower"] == 0 and d["p_value"] == 0.5
    assert "Estimate" in r.summary()
    with pytest.raises(Exception):
        r.estimate = 2.0  # frozen


def test_mde_difference_hand_computed():
    # 3 treated, 20 comparison schools, m=30, sigma=1, ICC=0.05
    deff = 1 + 29 * 0.05  # 2.45
    se = math.sqrt(deff / 30 * (1 / 3 + 1 / 20))
    M = stats.t.ppf(0.975, 21) + stats.t.ppf(0.8, 21)  # 2.0796 + 0.8591
    assert pw.design_effect(30, 0.05) == pytest.approx(2.45)
    assert pw.mde_difference(3, 20, 30, 1.0, 0.05) == pytest.approx(M * se, rel=1e-12)
    assert M * se == pytest.approx(0.51995, abs=5e-5)  # hand: 2.9387 * 0.17693
    # power at the MDE equals the target (plus a negligible opposite tail)
    mde = pw.mde_difference(3, 20, 30, 1.0, 0.05)
    assert pw.power_difference(mde, 3, 20, 30, 1.0, 0.05) == pytest.approx(0.8, abs=1e-3)
    assert pw.power(0.0, 1.0) == pytest.approx(0.05)


def test_mde_rate_ratio_solves_equation():
    rr = pw.mde_rate_ratio(3, 20, exposure=3000, baseline_rate=0.01, m=12, icc=0.02)
    assert rr < 1
    M = stats.t.ppf(0.975, 21) + stats.t.ppf(0.8, 21)
    se = pw.se_log_rate_ratio(rr, 3, 20, 3000, 0.01, 12, 0.02)
    assert abs(math.log(rr)) == pytest.approx(M * se, rel=1e-10)
    # hand: se at RR with deff 1.22: sqrt(1.22/(30*rr*3*... )) checked via identity
    assert se == pytest.approx(math.sqrt(1.22 / (0.01 * rr * 3000 * 3) + 1.22 / (0.01 * 3000 * 20)))
    assert pw.power_rate_ratio(rr, 3, 20, 3000, 0.01, 12, 0.02) == pytest.approx(0.8, abs=1e-3)
