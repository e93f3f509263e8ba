"""Known-answer tests for analyses.staggered (Callaway & Sant'Anna 2021)."""

import importlib.util
import os

import numpy as np
import pandas as pd
import pytest

from analyses import callaway_santanna, twfe


def _mpdta():
    spec = importlib.util.find_spec("moderndid")
    if spec is None:
        pytest.skip("moderndid (ships the mpdta data) not installed")
    path = os.path.join(spec.submodule_search_locations[0], "core", "datasets", "mpdta_long.pkl.gz")
    if not os.path.exists(path):
        pytest.skip("mpdta data file not found in moderndid")
    return pd.read_pickle(path)


@pytest.fixture(scope="module")
def mpdta():
    return _mpdta()


# R did vignette ("Getting started with the did package" / README), att_gt(yname="lemp",
# tname="year", idname="countyreal", gname="first.treat", xformla=~1, data=mpdta),
# control_group="nevertreated", base_period="varying" (defaults). Printed to 4 dp.
R_ATT_GT = {
    (2004, 2004): -0.0105,
    (2004, 2005): -0.0704,
    (2004, 2006): -0.1373,
    (2004, 2007): -0.1008,
    (2006, 2004): 0.0065,
    (2006, 2005): -0.0028,
    (2006, 2006): -0.0046,
    (2006, 2007): -0.0412,
    (2007, 2004): 0.0305,
    (2007, 2005): -0.0027,
    (2007, 2006): -0.0311,
    (2007, 2007): -0.0261,
}


def test_mpdta_att_gt_and_pretest_match_r_did(mpdta):
    """ATT(g,t) to the printed 4 decimals and the analytic pre-test p-value
    "P-value for pre-test of parallel trends assumption: 0.16812" (R did vignette,
    mpdta; the pre-test is analytic in R, so it checks the influence functions)."""
    r = callaway_santanna(mpdta, "lemp", "countyreal", "year", "first.treat")
    assert len(r.att_gt) == 12
    for (g, t), v in R_ATT_GT.items():
        assert round(r.att_gt[(g, t)].estimate, 4) == pytest.approx(v, abs=1e-12)
    assert round(r.pretest.p_value, 5) == pytest.approx(0.16812, abs=1e-12)
    assert r.pretest.df == 5 and r.n_units == 500
    # analytic SEs are close to R's bootstrap SEs (0.0243, 0.0331, 0.0412, 0.0358 ...)
    assert r.att_gt[(2004, 2004)].std_error == pytest.approx(0.0243, abs=0.002)


def test_mpdta_aggregations_match_r_did(mpdta):
    """R did vignette aggte(): simple ATT -0.04; group overall -0.031 with group
    effects 2004 -0.0797, 2006 -0.0229, 2007 -0.0261 (se overall 0.0125 bootstrap);
    dynamic overall -0.0772 with e=-3..3: 0.0305, -0.0006, -0.0245, -0.0199, -0.0510,
    -0.1373, -0.1008; calendar overall -0.0417 with 2004..2007: -0.0105, -0.0704,
    -0.0488, -0.0371 (also printed by the csdid Python port README)."""
    r = callaway_santanna(mpdta, "lemp", "countyreal", "year", "first.treat")
    assert round(r.aggregate("simple").overall.estimate, 4) == pytest.approx(-0.0400)
    grp = r.aggregate("group")
    assert round(grp.overall.estimate, 3) == pytest.approx(-0.031)
    assert grp.overall.std_error == pytest.approx(0.0125, abs=0.0015)
    for g, v in {2004: -0.0797, 2006: -0.0229, 2007: -0.0261}.items():
        assert round(grp.by[g].estimate, 4) == pytest.approx(v)
    dyn = r.aggregate("dynamic")
    assert round(dyn.overall.estimate, 4) == pytest.approx(-0.0772)
    expect = [0.0305, -0.0006, -0.0245, -0.0199, -0.0510, -0.1373, -0.1008]
    for e, v in zip(range(-3, 4), expect):
        assert round(dyn.by[e].estimate, 4) == pytest.approx(v)
    assert dyn.overall.std_error == pytest.approx(0.0203, abs=0.002)
    cal = r.aggregate("calendar")
    assert round(cal.overall.estimate, 4) == pytest.approx(-0.0417)
    for t, v in {2004: -0.0105, 2005: -0.0704, 2006: -0.0488, 2007: -0.0371}.items():
        assert round(cal.by[t].estimate, 4) == pytest.approx(v)


def test_mpdta_universal_base_period_matches_r_did(mpdta):
    """R did (base_period="universal") on mpdta prints pre cells 2006/2003 -0.0038,
    2006/2004 0.0028, 2007/2003 0.0033, 2007/2004 0.0338, 2007/2005 0.0311; post cells
    are identical to the varying base period."""
    r = callaway_santanna(
        mpdta, "lemp", "countyreal", "year", "first.treat", base_period="universal"
    )
    exp = {
        (2006, 2003): -0.0038,
        (2006, 2004): 0.0028,
        (2007, 2003): 0.0033,
        (2007, 2004): 0.0338,
        (2007, 2005): 0.0311,
        (2004, 2006): -0.1373,
    }
    for k, v in exp.items():
        assert round(r.att_gt[k].estimate, 4) == pytest.approx(v)
    assert (2007, 2006) not in r.att_gt


def test_bootstrap_se_is_seeded_and_close_to_analytic(mpdta):
    a = callaway_santanna(mpdta, "lemp", "countyreal", "year", "first.treat")
    b1 = callaway_santanna(
        mpdta, "lemp", "countyreal", "year", "first.treat", se_method="bootstrap", reps=999, seed=3
    )
    b2 = callaway_santanna(
        mpdta, "lemp", "countyreal", "year", "first.treat", se_method="bootstrap", reps=999, seed=3
    )
    for k in a.att_gt:
        assert b1.att_gt[k].std_error == b2.att_gt[k].std_error
        assert b1.att_gt[k].std_error == pytest.approx(a.att_gt[k].std_error, rel=0.2)
    assert "bootstrap (mammen" in b1.att_gt[(2004, 2004)].method


def _small_panel():
    """3 periods, group 2 (units 0,1), group 3 (unit 2), never (units 3,4)."""
    y = {0: [1, 4, 6], 1: [2, 3, 9], 2: [0, 1, 7], 3: [1, 2, 2], 4: [3, 5, 4]}
    g = {0: 2, 1: 2, 2: 3, 3: 0, 4: np.nan}
    rows = [(i, t + 1, y[i][t], g[i]) for i in y for t in range(3)]
    return pd.DataFrame(rows, columns=["id", "t", "y", "g"])


def test_att_gt_equals_hand_2x2_did_of_means():
    d = _small_panel()
    r = callaway_santanna(d, "y", "id", "t", "g")
    # ATT(2,2): treated change ((4-1)+(3-2))/2 = 2; never change ((2-1)+(5-3))/2 = 1.5
    assert r.att_gt[(2, 2)].estimate == pytest.approx(0.5)
    # ATT(2,3), base 1: treated ((6-1)+(9-2))/2 = 6; never ((2-1)+(4-3))/2 = 1
    assert r.att_gt[(2, 3)].estimate == pytest.approx(5.0)
    # ATT(3,2) pre cell (varying base 1): unit 2: 1-0 = 1; never 1.5 -> -0.5
    assert r.att_gt[(3, 2)].estimate == pytest.approx(-0.5)
    # ATT(3,3), base 2: 7-1 = 6; never ((2-2)+(4-5))/2 = -0.5 -> 6.5
    assert r.att_gt[(3, 3)].estimate == pytest.approx(6.5)
    # not-yet-treated controls: ATT(2,2) also uses unit 2 (first treated 3 > 2):
    # controls change (1 + 1 + 2)/3 = 4/3 -> 2 - 4/3
    n = callaway_santanna(d, "y", "id", "t", "g", control="notyet")
    assert n.att_gt[(2, 2)].estimate == pytest.approx(2 - 4 / 3)
    # hand analytic SE for ATT(2,3): psi_i = n/n_g (dY - m_g) for treated,
    # -n/n_c (dY - m_c) for controls; se = sqrt(sum psi^2)/n
    n_units = 5
    psi = [5 / 2 * (5 - 6), 5 / 2 * (7 - 6), 0.0, -5 / 2 * (1 - 1), -5 / 2 * (1 - 1)]
    assert r.att_gt[(2, 3)].std_error == pytest.approx(np.sqrt(np.sum(np.square(psi))) / n_units)


def _staggered_sim(seed, n_per=60):
    """Cohorts first treated at 4, 7 and never (10 periods); effects grow with time
    since treatment and differ by cohort: tau = slope_g * (e + 1)."""
    rng = np.random.default_rng(seed)
    cohorts = np.repeat([4, 7, 0], n_per)
    slope = {4: 1.0, 7: 0.3}
    rows = []
    for i, g in enumerate(cohorts):
        a = rng.normal(0, 1) + (0.5 if g == 4 else 0)
        for t in range(1, 11):
            tau = slope[g] * (t - g + 1) if g and t >= g else 0.0
            rows.append((i, t, g, a + 0.2 * t + tau + rng.normal(0, 0.3), tau))
    return pd.DataFrame(rows, columns=["id", "t", "g", "y", "tau"])


def test_planted_heterogeneous_effects_recovered_and_twfe_biased():
    d = _staggered_sim(7)
    r = callaway_santanna(d, "y", "id", "t", "g")
    for (g, t), res in r.att_gt.items():
        true = {4: 1.0, 7: 0.3}[g] * (t - g + 1) if t >= g else 0.0
        assert abs(res.estimate - true) < 4 * res.std_error + 1e-9
    truth_simple = d.loc[d["tau"] != 0, "tau"].mean()  # ATT over treated cells
    simple = r.aggregate("simple").overall
    assert simple.conf_int[0] < truth_simple < simple.conf_int[1]
    dyn = r.aggregate("dynamic")
    assert abs(dyn.by[0].estimate - 0.65) < 0.1  # (1.0 + 0.3)/2 at e = 0
    assert abs(dyn.by[-2].estimate) < 0.1
    # static TWFE is biased with dynamic, heterogeneous effects (forbidden comparisons)
    d["D"] = ((d["g"] > 0) & (d["t"] >= d["g"])).astype(int)
    tw = twfe(d, "y", "id", "t", "D")
    assert tw.estimate < truth_simple - 0.5
    assert not (tw.conf_int[0] < truth_simple < tw.conf_int[1])


def test_pretest_is_skipped_with_a_note_when_pre_cells_outnumber_units():
    """Monthly data with few schools: more pre-period cells than units make the pre-test
    covariance singular. The ATTs are still returned; the pre-test says why it is absent
    (as R `did` does) instead of the whole call failing."""
    import warnings as _warnings

    import numpy as _np
    import pandas as _pd

    from analyses import callaway_santanna

    rng = _np.random.default_rng(0)
    units, periods = 6, 30
    frame = _pd.DataFrame(
        {
            "unit": _np.repeat(_np.arange(units), periods),
            "t": _np.tile(_np.arange(1, periods + 1), units),
        }
    )
    frame["g"] = frame.unit.map({0: 20, 1: 24, 2: 26}).fillna(0)
    frame["y"] = rng.normal(size=len(frame)) + 1.0 * ((frame.g > 0) & (frame.t >= frame.g))
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        result = callaway_santanna(frame, "y", "unit", "t", "g")
    assert _np.isnan(result.pretest.p_value) and "singular" in result.pretest.note
    assert any("pre-test not computed" in str(w.message) for w in caught)
    assert _np.isfinite(result.aggregate("simple").overall.estimate)
