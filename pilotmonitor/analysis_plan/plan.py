"""Run each pilot's pre-registered analysis plan and return one long results table.

Per pilot (see :mod:`pilotmonitor.analysis_plan.sample` for the window):

* **primary** ``referrals_per_100_pupil_months``: TWFE Poisson of ``new_referrals`` with
  offset log(pupil_months), school + month FE, estimate = IRR with the cluster-robust
  (CR1, normal) CI and p-value; few-cluster p-values beside it:
  ``p_value_wild_bootstrap`` = WCR wild cluster bootstrap-t (Rademacher, full enumeration
  when 2^G <= 9999, else 9999 seeded draws) of the *linear* TWFE on referrals per 100
  pupil-months; ``p_value_randomization`` = randomization inference re-estimating the
  Poisson IRR with the pilot reassigned to every k-subset of the sample's schools (all
  subsets when there are at most ``RI_MAX_PERMUTATIONS``, else that many seeded draws).
* Poisson rows are reported as not estimable under (quasi-)separation (the pilot schools
  have no events before or none during the pilot: no finite IRR); their wild-bootstrap
  p-value on the rate stays in the row and in the multiple-testing family.
* **secondary**: dropout (Poisson dropouts), thuiszitter_spells (Poisson spell starts),
  both with pupil-month exposure; unauthorised_absence_hours per pupil-month and
  youth_care_cost_per_pupil (euros of declared cost per pupil-month) by linear TWFE;
  school_climate and satisfaction: linear TWFE on school x school-year means of
  published.fct_survey_scores (respondent groups pooled). Each has its wild-bootstrap
  p-value (on the linear rate per 100 pupil-months for the Poisson outcomes).
* ``p_value_adjusted``: the plan's multiple-testing method over the pilot's outcome
  family (primary + secondary outcomes) applied to the **wild-bootstrap p-values**,
  the few-cluster-valid ones (CR1 p-values over-reject with few clusters).
* **secondary** rows also carry ``p_value_randomization``: randomization inference of
  the *linear* TWFE coefficient (rate per 100 pupil-months for dropout and
  thuiszitter_spells, the rate for the linear outcomes, school x school-year cell means
  for the surveys) with the pilot reassigned to every k-subset of the sample's schools
  (or ``RI_MAX_PERMUTATIONS`` seeded draws); exact FWL algebra, no refits
  (:func:`analyses.inference.twfe_randomization_inference`).
* **pre-registered pre-trend test** (row ``pretrend_test``, role robustness, details
  ``preregistered: true``): the ONE test of parallel pre-trends this plan commits to.
  Linear TWFE event study of referrals per 100 pupil-months on half-year event-time bins
  (leads up to -4, endpoints binned, reference -1, lags up to 4), joint null "all leads
  are 0"; ``estimate`` = the CR1 Wald F statistic, ``p_value`` (= ``p_value_wild_bootstrap``)
  from the wild cluster *restricted* bootstrap of that Wald statistic (Rademacher, full
  enumeration when 2^G <= 9999, else 9999 seeded draws). Decision: reject parallel
  pre-trends if p_value < alpha. Why: with 2-4 treated clusters the cluster sandwich of
  the leads rests on the few treated schools, so analytic tests over-reject (simulated
  null rejection at 5%: F(q, G-1) 15-34%, bootstrap 4.5-5.5%;
  ``benchmarks/estimator_simulation_pretrend.py``). The price is power: on
  Alkmaar-sized data (3 + 4 schools, ~0.5 referrals per 100 pupil-months) an 8%/year
  pre-trend is rejected in ~5% of simulations, i.e. it is not detectable. Note p >=
  2/2^G under full enumeration.
* **robustness** (primary outcome): the Poisson IRR and bootstrap without the 2020-21
  school-closure months; the linear TWFE on the rate (alternative estimator, with the
  bootstrap CI by test inversion); a linear pre-trend (Poisson rate ratio per year of the
  pilot schools vs the comparison schools before the start, with the wild-bootstrap p of
  the same trend on the rate); event studies (Poisson and linear) on half-year event-time
  bins with their analytic joint pre-trend tests (rows ``event_study_*_pretrend``: the
  estimate is the Wald statistic, p_value its p-value; **secondary diagnostics only**: the
  Poisson chi2(q) and the linear F(q, G-1) over-reject with few treated clusters, e.g.
  Groningen's Poisson chi2 p = 0.0001 without a planted pre-trend) and one row per
  relative period.
* ``twfe_poisson_national_pool``: the primary Poisson IRR (+ wild-bootstrap p of the
  linear rate) with another comparison pool, the *national* pool: every school in
  ``published.dim_school`` of the registered pool's school types, any province and any
  cluster, no pilot school of any pilot, with published school-months
  (:func:`pilotmonitor.analysis_plan.sample.national_comparison_pool`; details list the
  added schools and ``same_as_registered_pool``). Not estimable without dim_school.
* ``callaway_santanna``: Callaway & Sant'Anna (2021) ATT, simple aggregation, on
  referrals per 100 pupil-months in the half-year event-time bins: one cohort (the pilot
  schools), never-treated controls = the registered comparison schools, varying base
  period, analytic influence-function SE (normal; too narrow with few treated schools),
  with ``p_value_randomization`` of the same ATT over reassignments of the pilot (use
  that one). A cross-pilot staggered CS ("all pilots") is deliberately not run: the
  pilots have different school types with separate comparison pools (SO vs BAO vs
  SBO: no common never-treated group), Groningen's pilot ended in 2020 (CS needs
  absorbing treatment) and the four interventions differ, so an aggregate ATT has no
  estimand worth reporting.

* **costs** (role ``costs``, :mod:`pilotmonitor.analysis_plan.cost_rows`): avoided
  youth-care cost, net savings against the pilot's realised cost, avoided referrals and
  cost per avoided referral, with a seeded stratified school-cluster bootstrap.

Everything is deterministic given the published data, the plan and ``seed``.
"""

from __future__ import annotations

import json
import math
import warnings
from typing import Any, Callable

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from analyses import (EffectResult, adjust_pvalues, callaway_santanna, event_study, randomization_inference, twfe,
                      wild_cluster_bootstrap)
from analyses.inference import twfe_randomization_inference
from pilotmonitor.pilots import Pilot

from ._blas import single_threaded_blas
from .cost_rows import cost_rows
from .sample import PilotSample, PublishedInputs, build_sample, national_comparison_pool
from .spec import DEFAULT_SEED, OUTCOMES, PRIMARY, RESULT_COLUMNS, plan_hash  # noqa: F401 (re-exported)

BOOTSTRAP_REPS = 9999
RI_MAX_PERMUTATIONS = 499
EVENT_BIN_MONTHS = 6
EVENT_LEADS = 4
EVENT_LAGS = 4
PRETREND_TEST = "pretrend_test"   # the one pre-registered pre-trend test (see module docstring)


def _row(pilot_id: str, outcome: str, role: str, estimator: str, result: EffectResult | None = None, **extra) -> dict[str, Any]:
    row = {c: None for c in RESULT_COLUMNS}
    row.update(pilot_id=pilot_id, outcome=outcome, role=role, estimator=estimator)
    if result is not None:
        row.update(estimate=result.estimate, std_error=result.std_error, ci_lower=result.conf_int[0],
                   ci_upper=result.conf_int[1], p_value=result.p_value, scale=result.scale,
                   n_obs=result.n_obs, n_clusters=result.n_clusters, method=result.method,
                   sample=result.sample, alpha=result.alpha)
    row.update(extra)
    return row


def _failed(pilot_id: str, outcome: str, role: str, estimator: str, exc: Exception) -> dict[str, Any]:
    return _row(pilot_id, outcome, role, estimator, method=f"not estimable: {type(exc).__name__}: {exc}"[:500])


def _poisson(frame: pd.DataFrame, count: str, alpha: float, treatment: str = "d") -> EffectResult:
    """TWFE Poisson IRR; refuses (quasi-)separated samples, where the pilot schools have
    no events before or no events during the pilot: the MLE of the treatment coefficient
    does not exist there (the estimator would return an IRR of 1e10 or 1e-11)."""
    if treatment == "d":
        own = frame[frame["role"] == "treated"]
        pre, during = own.loc[own["d"] == 0, count].sum(), own.loc[own["d"] == 1, count].sum()
        if pre == 0 or during == 0:
            raise ValueError(f"separation: pilot schools have {pre} {count} before and {during} during the pilot; "
                             "the IRR does not exist (see the wild-bootstrap p-value on the rate)")
    res = twfe(frame, count, "school_id", "time", treatment, exposure="pupil_months", family="poisson", alpha=alpha)
    if not (np.isfinite(res.std_error) and abs(res.coefficient) < 10 and res.details.get("converged", True)):
        raise ValueError(f"Poisson fit degenerate (IRR {res.estimate:.3g}, se {res.std_error:.3g})")
    return res


def _bootstrap(frame: pd.DataFrame, outcome: str, seed: int, conf_int: bool = False, alpha: float = 0.05):
    return wild_cluster_bootstrap(frame, outcome=outcome, unit="school_id", time="time", treatment="d",
                                  weights="rademacher", reps=BOOTSTRAP_REPS, seed=seed, conf_int=conf_int, alpha=alpha)


def _boot_details(b) -> dict[str, Any]:
    return {"bootstrap_method": b.method, "bootstrap_n_boot": int(b.n_boot),
            "bootstrap_full_enumeration": bool(b.full_enumeration), "bootstrap_model": b.model}


def _primary_rows(pilot: Pilot, s: PilotSample, seed: int, alpha: float,
                  inputs: PublishedInputs | None = None) -> list[dict[str, Any]]:
    rows = []
    panel = s.panel
    pid = pilot.id
    spec = OUTCOMES[PRIMARY]
    # Primary: Poisson IRR + wild bootstrap (linear rate) + randomization inference.
    try:
        res = _poisson(panel, spec["count"], alpha)
        boot = _bootstrap(panel, spec["rate"], seed)
        post = panel["event_time"] >= 0

        def estimator(data: pd.DataFrame, treated_units: frozenset) -> float:
            d = (data["school_id"].isin(treated_units) & post).astype(int)
            try:
                r = twfe(data.assign(d=d), spec["count"], "school_id", "time", "d",
                         exposure="pupil_months", family="poisson", alpha=alpha)
                return r.coefficient
            except Exception:  # an assignment the model cannot fit counts as not extreme
                return 0.0

        total = math.comb(len(s.treated_schools) + len(s.comparison_schools), len(s.treated_schools))
        n_perm = None if total <= RI_MAX_PERMUTATIONS else RI_MAX_PERMUTATIONS
        ri = randomization_inference(panel, estimator, "school_id", s.treated_schools,
                                     candidate_units=s.treated_schools + s.comparison_schools,
                                     n_permutations=n_perm, seed=seed)
        details = {**dict(res.details), **_boot_details(boot), "ri_method": ri.method,
                   "ri_assignments": int(ri.n_assignments), "ri_full_enumeration": bool(ri.full_enumeration),
                   "window": s.describe(), "treatment_mismatches": s.treatment_mismatches}
        rows.append(_row(pid, PRIMARY, "primary", "twfe_poisson", res, p_value_wild_bootstrap=boot.p_value,
                         p_value_randomization=ri.p_value, details=details))
    except Exception as exc:  # noqa: BLE001 - recorded in the table
        rows.append(_failed(pid, PRIMARY, "primary", "twfe_poisson", exc))

    # Robustness 1: without the 2020-21 closure months.
    closed = panel["is_closure_month"]
    try:
        sub = panel[~closed]
        res = _poisson(sub, spec["count"], alpha)
        boot = _bootstrap(sub, spec["rate"], seed)
        rows.append(_row(pid, PRIMARY, "robustness", "twfe_poisson_excl_closures", res,
                         p_value_wild_bootstrap=boot.p_value,
                         details={**dict(res.details), **_boot_details(boot), "closure_rows_dropped": int(closed.sum())}))
    except Exception as exc:  # noqa: BLE001
        rows.append(_failed(pid, PRIMARY, "robustness", "twfe_poisson_excl_closures", exc))

    # Robustness 2: alternative estimator, linear TWFE on the rate, bootstrap CI.
    try:
        res = twfe(panel, spec["rate"], "school_id", "time", "d", alpha=alpha)
        boot = _bootstrap(panel, spec["rate"], seed, conf_int=True, alpha=alpha)
        ci = boot.conf_int
        rows.append(_row(pid, PRIMARY, "robustness", "twfe_linear_rate_per_100", res,
                         p_value_wild_bootstrap=boot.p_value,
                         details={**dict(res.details), **_boot_details(boot),
                                  "bootstrap_ci_lower": ci[0], "bootstrap_ci_upper": ci[1]}))
    except Exception as exc:  # noqa: BLE001
        rows.append(_failed(pid, PRIMARY, "robustness", "twfe_linear_rate_per_100", exc))

    # Pre-trend as a linear trend of the pilot schools relative to the comparison
    # schools in the pre-period (one coefficient, so the few-cluster wild bootstrap applies).
    try:
        pre = panel[panel["event_time"] < 0].assign(
            pre_trend=lambda f: np.where(f["role"] == "treated", f["event_time"] / 12.0, 0.0))
        res = twfe(pre, spec["count"], "school_id", "time", "pre_trend", exposure="pupil_months", family="poisson", alpha=alpha)
        boot = wild_cluster_bootstrap(pre, outcome=spec["rate"], unit="school_id", time="time", treatment="pre_trend",
                                      reps=BOOTSTRAP_REPS, seed=seed)
        rows.append(_row(pid, PRIMARY, "robustness", "pretrend_poisson_linear_trend", res,
                         p_value_wild_bootstrap=boot.p_value,
                         details={**dict(res.details), **_boot_details(boot),
                                  "meaning": "rate ratio per year of pilot vs comparison schools before the start; "
                                             "wild bootstrap on the linear trend of the rate per 100"}))
    except Exception as exc:  # noqa: BLE001
        rows.append(_failed(pid, PRIMARY, "robustness", "pretrend_poisson_linear_trend", exc))

    # Event studies on half-year bins of event time; the pre-registered pre-trend test.
    rows.extend(_event_study_rows(pid, s, alpha, seed))
    # Other comparison pool: the national pool (same school types, all provinces).
    if inputs is not None:
        rows.append(_national_pool_row(pilot, s, inputs, seed, alpha))
    # Heterogeneity-robust ATT: Callaway & Sant'Anna, one cohort, never-treated = comparison schools.
    rows.append(_callaway_santanna_row(pid, s, seed, alpha))
    return rows


def _national_pool_row(pilot: Pilot, s: PilotSample, inputs: PublishedInputs, seed: int, alpha: float) -> dict[str, Any]:
    """Primary Poisson TWFE with the national comparison pool (rule:
    :func:`pilotmonitor.analysis_plan.sample.national_comparison_pool`: the registered
    pool's school types in every province and cluster, all pilot schools excluded) + the
    wild bootstrap p-value of the linear rate on the same sample."""
    name = "twfe_poisson_national_pool"
    spec = OUTCOMES[PRIMARY]
    try:
        pool = national_comparison_pool(inputs, pilot)
        ns = build_sample(inputs, pilot.id, comparison=pool)
        res = _poisson(ns.panel, spec["count"], alpha)
        boot = _bootstrap(ns.panel, spec["rate"], seed)
        added = sorted(set(ns.comparison_schools) - set(s.comparison_schools))
        dropped = sorted(set(s.comparison_schools) - set(ns.comparison_schools))
        details = {**dict(res.details), **_boot_details(boot),
                   "pool_rule": "school_type in the registered comparison_pool.school_types, any province, any "
                                "cluster, no pilot school of any pilot, with published school-months",
                   "school_types": list(pilot.comparison_pool.school_types),
                   "n_comparison_registered": len(s.comparison_schools),
                   "n_comparison_national": len(ns.comparison_schools),
                   "comparison_added": added, "comparison_not_in_national": dropped,
                   "same_as_registered_pool": not added and not dropped, "window": ns.describe()}
        return _row(pilot.id, PRIMARY, "robustness", name, res, p_value_wild_bootstrap=boot.p_value, details=details)
    except Exception as exc:  # noqa: BLE001
        return _failed(pilot.id, PRIMARY, "robustness", name, exc)


def _callaway_santanna_row(pid: str, s: PilotSample, seed: int, alpha: float) -> dict[str, Any]:
    """Callaway & Sant'Anna ATT (simple aggregation) on referrals per 100 pupil-months
    in half-year event-time bins (the event-study panel): one cohort (the pilot schools,
    group = bin 0), never-treated controls = the comparison schools, varying base period,
    analytic influence-function SE (normal), plus a randomization-inference p-value of the
    same ATT over reassignments of the pilot to k of the sample's schools."""
    name = "callaway_santanna"
    try:
        ev = _event_panel(s)
        if ev["bin"].min() > -1 or ev["bin"].max() < 0:
            raise ValueError("needs at least one pre and one pilot half-year bin")
        cs = callaway_santanna(ev, "referrals_per_100", "school_id", "period", "first_treated",
                               control="never", base_period="varying", alpha=alpha)
        agg = cs.aggregate("simple").overall
        # RI: with one cohort and never-treated controls the simple ATT is
        # mean_treated(z) - mean_control(z), z_i = mean over pilot bins of Y_it - Y_i,-1.
        wide = ev.pivot(index="school_id", columns="bin", values="referrals_per_100").dropna()
        post_bins = [b for b in wide.columns if b >= 0]
        z = wide[post_bins].mean(axis=1) - wide[-1]

        def stat(_data, treated_units: frozenset) -> float:
            m = z.index.isin(list(treated_units))
            return float(z[m].mean() - z[~m].mean())

        treated = [u for u in s.treated_schools if u in z.index]
        total = math.comb(len(z), len(treated))
        ri = randomization_inference(z.rename("z").reset_index(), stat, "school_id", treated,
                                     candidate_units=list(z.index),
                                     n_permutations=None if total <= RI_MAX_PERMUTATIONS else RI_MAX_PERMUTATIONS,
                                     seed=seed)
        if not math.isclose(ri.estimate, agg.estimate, rel_tol=1e-8, abs_tol=1e-10):
            raise RuntimeError(f"CS closed form {ri.estimate} != {agg.estimate}")
        pre = cs.pretest
        details = {"aggregation": "simple", "bin_months": EVENT_BIN_MONTHS, "cohort_bin": 0,
                   "n_units_balanced": int(cs.n_units), "units_dropped_unbalanced": sorted(set(ev["school_id"]) - set(z.index)),
                   "post_bins": [int(b) for b in post_bins], "pretest_statistic": pre.get("statistic"),
                   "pretest_p_value": pre.get("p_value"), "pretest_note": pre.get("note"),
                   "pretest_validity": "CS analytic chi2 pre-test: over-rejects with few treated schools; "
                                       "the pre-registered pre-trend test is pretrend_test",
                   "ri_method": ri.method, "ri_assignments": int(ri.n_assignments),
                   "ri_full_enumeration": bool(ri.full_enumeration),
                   "note": "analytic SE ignores the few treated clusters; use p_value_randomization"}
        return _row(pid, PRIMARY, "robustness", name, agg, p_value_randomization=ri.p_value, sample=s.describe(),
                    method=f"{agg.method}; {EVENT_BIN_MONTHS}-month event-time bins, rate per 100 pupil-months",
                    details=details)
    except Exception as exc:  # noqa: BLE001
        return _failed(pid, PRIMARY, "robustness", name, exc)


def _event_panel(s: PilotSample) -> pd.DataFrame:
    """School x half-year panel: counts and exposure summed, rate recomputed. Bins are
    aligned on the pilot start (bin 0 = the first six pilot months); `period` is shifted
    by +1000 so that the treated schools' first treated period is never 0 (which the
    estimator reads as never treated)."""
    p = s.panel.assign(bin=np.floor_divide(s.panel["event_time"], EVENT_BIN_MONTHS))
    agg = p.groupby(["school_id", "bin", "role"], as_index=False)[["new_referrals", "pupil_months"]].sum()
    agg["period"] = agg["bin"] + 1000
    agg["first_treated"] = np.where(agg["role"] == "treated", 1000.0, np.nan)
    agg["referrals_per_100"] = 100 * agg["new_referrals"] / agg["pupil_months"]
    return agg.sort_values(["school_id", "period"]).reset_index(drop=True)


def _event_study_rows(pid: str, s: PilotSample, alpha: float, seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    rows = []
    ev = _event_panel(s)
    leads = int(min(EVENT_LEADS, -ev["bin"].min()))
    lags = int(min(EVENT_LAGS, ev["bin"].max()))
    for family, name, kw in (("linear", "event_study_linear", {"outcome": "referrals_per_100",
                                                                "pretrend_bootstrap": BOOTSTRAP_REPS, "seed": seed}),
                             ("poisson", "event_study_poisson", {"outcome": "new_referrals", "exposure": "pupil_months"})):
        try:
            if leads < 2:
                raise ValueError(f"only {leads} pre-period bin(s) of {EVENT_BIN_MONTHS} months: no pre-trend test")
            es = event_study(ev, unit="school_id", time="period", first_treated="first_treated", leads=leads,
                             lags=max(lags, 0), reference=-1, family=family, alpha=alpha, **kw)
            pt = es.pretrend
            any_res = next(iter(es.effects.values()))
            common = dict(n_obs=any_res.n_obs, n_clusters=any_res.n_clusters, sample=s.describe(), alpha=alpha)
            if family == "linear":
                rows.append(_row(
                    pid, PRIMARY, "robustness", PRETREND_TEST, estimate=pt.statistic, p_value=pt.bootstrap_p_value,
                    p_value_wild_bootstrap=pt.bootstrap_p_value, scale="F statistic",
                    method=(f"PRE-REGISTERED pre-trend test: joint test of the {len(pt.leads)} event-study leads "
                            f"{pt.leads} ({EVENT_BIN_MONTHS}-month bins, reference -1) of the linear TWFE event "
                            f"study on referrals per 100 pupil-months; statistic CR1 Wald F, p-value from the "
                            f"{pt.bootstrap_method}; reject parallel pre-trends if p_value < alpha"),
                    details={"preregistered": True, "decision": "reject parallel pre-trends if p_value < alpha",
                             "p_value_source": "wild cluster restricted bootstrap of the joint Wald statistic",
                             "p_value_f_cr1": pt.p_value, "f_df": list(pt.df), "leads": list(pt.leads),
                             "bin_months": EVENT_BIN_MONTHS, "bootstrap_n_boot": int(pt.bootstrap_n_boot),
                             "bootstrap_full_enumeration": bool(pt.bootstrap_full_enumeration),
                             "bootstrap_min_p": (2 / pt.bootstrap_n_boot) if pt.bootstrap_full_enumeration else None,
                             "rejects": bool(pt.bootstrap_p_value < alpha)},
                    **common))
            diag = ("secondary diagnostic, NOT the pre-registered test (see pretrend_test): "
                    + ("chi2 Wald with the cluster sandwich over-rejects with few treated clusters"
                       if family == "poisson" else "analytic F(q, G-1) on the CR1 Wald, liberal with few treated clusters"))
            rows.append(_row(pid, PRIMARY, "robustness", f"{name}_pretrend",
                             estimate=pt.statistic, p_value=pt.p_value, scale=f"{pt.test} statistic",
                             method=f"joint Wald pre-trend test ({pt.test}{tuple(pt.df)}) on leads {pt.leads} "
                                    f"({EVENT_BIN_MONTHS}-month event-time bins); {es.method}",
                             details={"leads": list(pt.leads), "df": list(pt.df), "bin_months": EVENT_BIN_MONTHS,
                                      "role": diag}, **common))
            for e, r in sorted(es.effects.items()):
                rows.append(_row(pid, PRIMARY, "robustness", f"{name}[e={e}]", r,
                                 details={"rel_time_bin": e, "bin_months": EVENT_BIN_MONTHS}))
        except Exception as exc:  # noqa: BLE001
            if family == "linear":
                rows.append(_failed(pid, PRIMARY, "robustness", PRETREND_TEST, exc))
            rows.append(_failed(pid, PRIMARY, "robustness", f"{name}_pretrend", exc))
    return rows


def _linear_ri(s: PilotSample, spec: dict[str, str], seed: int):
    """Randomization inference for a secondary outcome: the linear TWFE coefficient
    (rate per 100 pupil-months for the Poisson outcomes, the rate itself for the linear
    ones, school x school-year cell means for the surveys) with the pilot reassigned to
    every k-subset of the sample's schools (or RI_MAX_PERMUTATIONS seeded draws); exact
    FWL algebra, so no refits (:func:`analyses.inference.twfe_randomization_inference`)."""
    if spec["kind"] == "survey":
        data = s.surveys.dropna(subset=[spec["rate"]])
        time, post = "school_year", "post"
    else:
        data = s.panel.assign(post=(s.panel["event_time"] >= 0).astype(int))
        time, post = "time", "post"
    candidates = [u for u in s.treated_schools + s.comparison_schools if u in set(data["school_id"])]
    treated = [u for u in s.treated_schools if u in set(data["school_id"])]
    total = math.comb(len(candidates), len(treated))
    return twfe_randomization_inference(data, spec["rate"], "school_id", time, post, treated, candidate_units=candidates,
                                        n_permutations=None if total <= RI_MAX_PERMUTATIONS else RI_MAX_PERMUTATIONS,
                                        seed=seed)


def _ri_details(ri) -> dict[str, Any]:
    # The statistic comes from BLAS products whose last bit can depend on memory alignment
    # between processes; 12 significant digits keep re-runs byte-identical (the p-value
    # compares with a relative tolerance of 1e-10 and is not affected).
    return {"ri_method": ri.method, "ri_assignments": int(ri.n_assignments),
            "ri_full_enumeration": bool(ri.full_enumeration),
            "ri_statistic_linear_twfe": float(f"{ri.estimate:.12g}")}


def _secondary_row(pilot: Pilot, s: PilotSample, outcome: str, seed: int, alpha: float) -> dict[str, Any]:
    pid = pilot.id
    spec = OUTCOMES.get(outcome)
    if spec is None:
        return _row(pid, outcome, "secondary", "unknown", method=f"not estimable: outcome {outcome!r} has no definition")
    try:
        try:
            ri = _linear_ri(s, spec, seed)
            ri_p, ri_det = ri.p_value, _ri_details(ri)
        except Exception as exc:  # noqa: BLE001 - the row keeps its other p-values
            ri_p, ri_det = None, {"ri_method": f"not estimable: {type(exc).__name__}: {exc}"[:300]}
        if spec["kind"] == "poisson":
            boot = _bootstrap(s.panel, spec["rate"], seed)
            est = "twfe_poisson"
            try:
                res = _poisson(s.panel, spec["count"], alpha)
            except ValueError as exc:  # keep the (valid) bootstrap and randomization tests of the rate
                return _row(pid, outcome, "secondary", est, p_value_wild_bootstrap=boot.p_value,
                            p_value_randomization=ri_p, method=f"not estimable: {exc}"[:500],
                            details={**_boot_details(boot), **ri_det})
        elif spec["kind"] == "linear":
            res = twfe(s.panel, spec["rate"], "school_id", "time", "d", alpha=alpha)
            boot = _bootstrap(s.panel, spec["rate"], seed)
            est = "twfe_linear"
        else:
            cells = s.surveys.dropna(subset=[spec["rate"]])
            if cells.empty or cells["d"].sum() == 0:
                raise ValueError("no survey responses in the pilot period")
            res = twfe(cells, spec["rate"], "school_id", "school_year", "d", alpha=alpha)
            boot = wild_cluster_bootstrap(cells, outcome=spec["rate"], unit="school_id", time="school_year",
                                          treatment="d", reps=BOOTSTRAP_REPS, seed=seed)
            est = "did_linear_school_year"
        return _row(pid, outcome, "secondary", est, res, p_value_wild_bootstrap=boot.p_value,
                    p_value_randomization=ri_p, details={**dict(res.details), **_boot_details(boot), **ri_det})
    except Exception as exc:  # noqa: BLE001
        return _failed(pid, outcome, "secondary", spec["kind"], exc)


def _adjust(rows: list[dict[str, Any]], method: str, alpha: float) -> None:
    family = [r for r in rows if r["role"] in ("primary", "secondary")
              and r["p_value_wild_bootstrap"] is not None and np.isfinite(r["p_value_wild_bootstrap"])]
    if not family:
        return
    pvals = [float(r["p_value_wild_bootstrap"]) for r in family]
    if method == "none":
        adjusted = pvals
    elif method in ("holm", "fdr_bh"):
        adjusted = adjust_pvalues({r["outcome"]: p for r, p in zip(family, pvals)}, method, alpha)["p_adjusted"].tolist()
    else:  # bonferroni: not in analyses.multiple_testing
        adjusted = multipletests(pvals, alpha=alpha, method="bonferroni")[1].tolist()
    for r, p in zip(family, adjusted):
        r["p_value_adjusted"] = float(p)
        r["details"] = {**(r["details"] or {}), "multiple_testing": f"{method} over {len(family)} outcomes on wild-bootstrap p-values"}


def run_pilot(pilot: Pilot, inputs: PublishedInputs, seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    plan = pilot.analysis_plan
    alpha = plan.alpha
    try:
        s = build_sample(inputs, pilot.id)
    except Exception as exc:  # noqa: BLE001
        return [_failed(pilot.id, plan.primary_outcome, "primary", "twfe_poisson", exc)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if plan.primary_outcome == PRIMARY:
            rows = _primary_rows(pilot, s, seed, alpha, inputs)
        else:
            rows = [_secondary_row(pilot, s, plan.primary_outcome, seed, alpha)]
            rows[0]["role"] = "primary"
        rows += [_secondary_row(pilot, s, o, seed, alpha) for o in plan.secondary_outcomes]
        pilot_row = inputs.pilots[inputs.pilots["pilot_id"] == pilot.id].iloc[0]
        rows += cost_rows(pilot.id, pilot_row, s, seed, alpha, _row)
    _adjust(rows, plan.multiple_testing, alpha)
    for r in rows:
        r["plan_hash"] = plan_hash(pilot)
        if r["sample"] is None:
            r["sample"] = s.describe()
    return rows


def run_plans(pilots: list[Pilot], inputs: PublishedInputs, seed: int = DEFAULT_SEED,
              progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """All pilots' plans as one long table (without run provenance)."""
    rows: list[dict[str, Any]] = []
    with single_threaded_blas():
        for pilot in pilots:
            if progress:
                progress(f"analysis plan {pilot.id}")
            rows.extend(run_pilot(pilot, inputs, seed))
    table = pd.DataFrame(rows, columns=[*RESULT_COLUMNS, "plan_hash"])
    table["details"] = [json.dumps(_jsonable(d), sort_keys=True) if d is not None else None for d in table["details"]]
    for c in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value", "p_value_adjusted",
              "p_value_wild_bootstrap", "p_value_randomization", "alpha"):
        table[c] = pd.to_numeric(table[c], errors="coerce").astype(float)
    for c in ("n_obs", "n_clusters"):
        table[c] = pd.to_numeric(table[c], errors="coerce").astype("Int64")
    return table


def _jsonable(value):
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else str(v)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
