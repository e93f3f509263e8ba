"""analyses.synthetic_control against a published result on public data.

Data: the California Proposition 99 panel (per-capita cigarette sales, packs, 39 states,
1970-2000; Abadie, Diamond & Hainmueller 2010, JASA 105:493-505) as shipped with the R
package ``synthdid`` and its Python port ``synthdid-py`` (file
``synthdid/data/california_prop99.csv``, dev extra). Only the data file is read for our
own fits; the port's solver is used in one test as the reference implementation.

Published result reproduced: Arkhangelsky, Athey, Hirshberg, Imbens & Wager (2021),
"Synthetic Difference-in-Differences", AER 111(12), Table 1: synthetic control estimate
of the Proposition 99 effect = -19.6 packs (SE 9.9, placebo; not reproduced, it is
random). Their SC is exactly our estimator: simplex donor weights fitted to California's
1970-1988 outcome path (no predictors, no intercept; a 1e-6 ridge that is numerically
irrelevant), estimate = mean gap 1989-2000.

Why not ADH 2010 Table 2 (Colorado .164, Connecticut .069, Montana .199, Nevada .234,
Utah .394)? Those weights are fitted to predictors (ln income, retail price, share aged
15-24, beer consumption, cigarette sales 1975/1980/1988) with nested V-optimisation. No
PyPI package found ships ln income, beer and age 15-24 (pysyncon 1.7.0 ships no data;
causalpy, scspill and synthdid-py ship cigarette sales only), and our estimator is the
outcome-path variant, so that table is out of reach here (see the module docstring).

Precision: the published -19.6 comes from R synthdid's Frank-Wolfe solver, which stops
once the objective decrease falls below (1e-5 * noise level)^2; it ends at pre-RMSPE
1.6648 and estimate -19.620 (unrounded). Our weights are the exact minimiser (a
duality-gap certificate below puts them within 4e-5 of the optimal pre-RMSPE): pre-RMSPE
1.6564, estimate -19.514, i.e. -19.5 instead of -19.6 because the published fit is not
fully converged. We therefore check (a) given the published solver's weights, our
gap/estimand definition reproduces -19.6 to the published decimal; (b) our weights are
optimal and fit the 1970-1988 path better; (c) our own estimate is within 0.1 (one unit
of the published last decimal) of -19.6, a difference entirely due to (b).
"""

from __future__ import annotations

import numpy as np
import pytest

from analyses import synthetic_control
from analyses.synthetic_control import synth_weights

PUBLISHED_SC = -19.6  # AAHIW (2021) Table 1, "SC" column, California Prop 99
T0_YEAR = 1989


@pytest.fixture(scope="module")
def fit(prop99):
    return synthetic_control(
        prop99, "PacksPerCapita", "State", "Year", "California", intervention=T0_YEAR, placebo=False
    )


def _matrices(prop99):
    wide = prop99.pivot(index="Year", columns="State", values="PacksPerCapita").sort_index()
    donors = [c for c in wide.columns if c != "California"]
    pre = wide.index.to_numpy() < T0_YEAR
    return wide, donors, pre


def test_shipped_panel_is_the_adh_prop99_panel(prop99):
    """39 states x 1970-2000, treated = California from 1989; California's cigarette
    sales in 1975/1980/1988 equal ADH (2010) Table 1, 'Real California': 127.1, 120.2,
    90.1."""
    assert prop99.shape == (39 * 31, 4)
    assert prop99["State"].nunique() == 39
    assert (prop99["Year"].min(), prop99["Year"].max()) == (1970, 2000)
    treated = prop99.loc[prop99["treated"] == 1]
    assert set(treated["State"]) == {"California"} and treated["Year"].min() == T0_YEAR
    cal = prop99[prop99["State"] == "California"].set_index("Year")["PacksPerCapita"]
    assert [round(cal[y], 1) for y in (1975, 1980, 1988)] == [127.1, 120.2, 90.1]


def test_estimate_matches_published_sc_within_solver_tolerance(fit):
    r = fit
    assert r.sample.startswith("treated 'California', 38 donors, 19 pre / 12 post")
    # exact minimiser: -19.514 (module docstring: why 0.1 from the published -19.6)
    assert r.estimate == pytest.approx(PUBLISHED_SC, abs=0.1)
    assert r.estimate == pytest.approx(-19.5136, abs=5e-4)
    assert r.details["pre_rmspe"] == pytest.approx(1.6564, abs=5e-4)
    gaps = r.details["gaps"]
    assert r.estimate == pytest.approx(np.mean([gaps[y] for y in range(1989, 2001)]))
    # outcome-path weights: sparse, the same donors the reference solver selects
    w = {k: v for k, v in r.details["weights"].items() if v > 1e-3}
    assert set(w) == {"Utah", "Montana", "Nevada", "Connecticut", "New Hampshire", "Colorado"}
    assert w["Utah"] == pytest.approx(0.394, abs=1e-3)


def test_weights_are_optimal_by_duality_gap_certificate(prop99, fit):
    """f(w) = ||y1 - Y0 w||^2 (1970-1988) is convex on the simplex, so with gradient
    g the Frank-Wolfe duality gap g'w - min_j g_j bounds f(w) - min f. The bound shows
    no simplex weights can have a pre-RMSPE below 1.65637 (ours: 1.65640), so the
    published fit (1.6648) is not the optimum and ours is within 4e-5 of it."""
    wide, donors, pre = _matrices(prop99)
    y1 = wide["California"].to_numpy(float)[pre]
    Y0 = wide[donors].to_numpy(float)[pre]
    w = np.array([fit.details["weights"][d] for d in donors])
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0)
    resid = y1 - Y0 @ w
    f = resid @ resid
    g = -2 * Y0.T @ resid
    gap = g @ w - g.min()
    assert 0 <= gap < 1e-4 * f
    lower = np.sqrt((f - gap) / pre.sum())
    assert fit.details["pre_rmspe"] == pytest.approx(np.sqrt(f / pre.sum()))
    assert fit.details["pre_rmspe"] - lower < 1e-4
    assert lower > 1.656
    # the public helper returns the same minimiser
    assert synth_weights(y1, Y0) == pytest.approx(w, abs=1e-6)


def test_published_value_from_reference_solver_weights(prop99, fit):
    """Given the weights of the published implementation (R synthdid's Frank-Wolfe,
    ported 1:1 by synthdid-py: sc_estimate = -19.61966 in both), our gap/estimand
    definition gives the published -19.6 to its decimal; those weights fit the
    pre-period worse than ours (early-stopped solver)."""
    sd = pytest.importorskip("synthdid")
    if not hasattr(sd, "sc_estimate"):
        pytest.skip("installed synthdid is not synthdid-py")
    pm = sd.panel_matrices(prop99)
    Y, N0, T0 = np.asarray(pm.Y, float), pm.N0, pm.T0
    ref = sd.sc_estimate(Y, N0, T0)
    assert float(ref) == pytest.approx(-19.61966, abs=1e-5)
    omega = dict(zip(list(pm.units)[:N0], np.asarray(ref.weights.omega, float)))

    wide, donors, pre = _matrices(prop99)
    y1 = wide["California"].to_numpy(float)
    Y0 = wide[donors].to_numpy(float)
    w_ref = np.array([omega[d] for d in donors])
    gap = y1 - Y0 @ w_ref
    assert round(gap[~pre].mean(), 1) == PUBLISHED_SC
    ref_pre_rmspe = np.sqrt(np.mean(gap[pre] ** 2))
    assert fit.details["pre_rmspe"] < ref_pre_rmspe  # 1.6564 < 1.6648
    ours = np.array([fit.details["weights"][d] for d in donors])
    assert np.abs(ours - w_ref).max() < 0.01  # same solution up to FW stop
