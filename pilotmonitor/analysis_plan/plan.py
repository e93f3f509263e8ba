"""Run each pilot's pre-registered analysis plan and return one long results table.

The plan is data: ``analysis_plan:`` in ``pilots/<id>.yml``, validated against the
registries of outcomes (outcomes.py) and estimators (estimators.py), with every
parameter's default in :class:`pilotmonitor.pilots.AnalysisPlan`. The runner produces a
row for every pre-registered (outcome, estimator) pair: each estimator of
``estimators`` on the primary outcome (the first is the headline, role ``primary``; the
others role ``robustness``), each secondary outcome with its outcome's default
estimator, the design-stage minimal detectable effect of a count primary outcome (role
``design``, from the pre-period only) and the cost rows. A pair that cannot be estimated gives a row
with ``estimable = false`` and the reason in ``not_estimable_reason``. Numbers below (bins,
draws, window) are the defaults.

What the registered estimators compute (see :mod:`pilotmonitor.analysis_plan.sample` for
the window; :mod:`pilotmonitor.analysis_plan.estimator_runs` for the code):

* **primary** ``referrals_per_100_pupil_months``: TWFE Poisson of ``new_referrals`` with
  offset log(pupil_months), school + month FE, estimate = IRR with the cluster-robust
  (CR1, normal) CI and p-value; few-cluster p-values beside it:
  ``p_value_wild_bootstrap`` = WCR wild cluster bootstrap-t (Rademacher, full enumeration
  when 2^G <= 9999, else 9999 seeded draws) of the *linear* TWFE on referrals per 100
  pupil-months; ``p_value_randomization`` = randomization inference re-estimating the
  Poisson IRR with the pilot reassigned to every k-subset of the sample's schools (all
  subsets when there are at most ``inference.randomization_draws``, else that many seeded draws).
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
  (or ``inference.randomization_draws`` seeded draws); exact FWL algebra, no refits
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
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from analyses import adjust_pvalues
from pilotmonitor.pilots import Pilot

from ._blas import single_threaded_blas
from .cost_rows import cost_rows
from .estimator_runs import PlanContext, design_mde, not_estimable_row
from .estimators import ESTIMATORS
from .outcomes import OUTCOMES
from .sample import PublishedInputs, build_sample
from .spec import RESULT_COLUMNS, RESULT_SCHEMA, plan_hash, preregistered_pairs


def _run_pair(
    ctx: PlanContext, outcome: str, name: str, role: str, function=None
) -> list[dict[str, Any]]:
    ctx = PlanContext(ctx.pilot, ctx.plan, ctx.sample, ctx.inputs, preregistered_as=name)
    try:
        rows = (function or ESTIMATORS[name].function())(ctx, OUTCOMES[outcome], role)
    except Exception as exc:  # noqa: BLE001 - recorded in the table
        return [not_estimable_row(ctx.pilot.id, outcome, role, name, name, exc)]
    if not rows:  # an estimator must say something for each pair it was given
        return [
            not_estimable_row(
                ctx.pilot.id, outcome, role, name, name, "the estimator produced no row"
            )
        ]
    return rows


def _adjust(rows: list[dict[str, Any]], method: str, alpha: float) -> None:
    family = [
        r
        for r in rows
        if r["role"] in ("primary", "secondary")
        and r["p_value_wild_bootstrap"] is not None
        and np.isfinite(r["p_value_wild_bootstrap"])
    ]
    if not family:
        return
    pvals = [float(r["p_value_wild_bootstrap"]) for r in family]
    if method == "none":
        adjusted = pvals
    elif method in ("holm", "fdr_bh"):
        adjusted = adjust_pvalues({r["outcome"]: p for r, p in zip(family, pvals)}, method, alpha)[
            "p_adjusted"
        ].tolist()
    else:  # bonferroni: not in analyses.multiple_testing
        adjusted = multipletests(pvals, alpha=alpha, method="bonferroni")[1].tolist()
    for r, p in zip(family, adjusted):
        r["p_value_adjusted"] = float(p)
        r["details"] = {
            **(r["details"] or {}),
            "multiple_testing": f"{method} over {len(family)} outcomes on wild-bootstrap p-values",
        }


def run_pilot(pilot: Pilot, inputs: PublishedInputs) -> list[dict[str, Any]]:
    """Every pre-registered row of one pilot (see the module docstring)."""
    plan = pilot.analysis_plan
    pairs = preregistered_pairs(pilot)
    try:
        s = build_sample(inputs, pilot.id, window=plan.window)
    except Exception as exc:  # noqa: BLE001 - every pre-registered pair says why
        rows = [not_estimable_row(pilot.id, o, role, name, name, exc) for o, name, role in pairs]
    else:
        ctx = PlanContext(pilot, plan, s, inputs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = [r for o, name, role in pairs for r in _run_pair(ctx, o, name, role)]
            if (
                OUTCOMES[plan.primary_outcome].kind == "count"
            ):  # what the design could detect, stated beside the result
                rows += _run_pair(ctx, plan.primary_outcome, "design_mde", "design", design_mde)
            pilot_row = inputs.pilots[inputs.pilots["pilot_id"] == pilot.id].iloc[0]
            rows += cost_rows(ctx, pilot_row)
        for r in rows:
            if r["sample"] is None:
                r["sample"] = s.describe()
    _adjust(rows, plan.multiple_testing, plan.alpha)
    digest = plan_hash(pilot)
    for r in rows:
        r["plan_hash"] = digest
        r["seed"] = plan.seed
    return rows


RESULT_FRAME_COLUMNS = [*RESULT_COLUMNS, "plan_hash", "seed"]


def run_plans(
    pilots: list[Pilot],
    inputs: PublishedInputs,
    progress: Callable[[str], None] | None = None,
    workers: int = 1,
) -> pd.DataFrame:
    """All pilots' plans as one long table (without run provenance). With ``workers`` > 1
    the pilots run in that many processes (each pilot's plan has its own seeds, so the
    rows do not depend on where it ran), rows in pilot order."""
    if workers > 1 and len(pilots) > 1:
        return as_result_frame(
            [row for rows in _run_in_workers(pilots, inputs, workers, progress) for row in rows]
        )
    rows: list[dict[str, Any]] = []
    with single_threaded_blas():
        for pilot in pilots:
            if progress:
                progress(f"analysis plan {pilot.id}")
            rows.extend(run_pilot(pilot, inputs))
    return as_result_frame(rows)


_worker_inputs: PublishedInputs | None = None  # set in each worker by _install_inputs


def _install_inputs(inputs: PublishedInputs) -> None:
    global _worker_inputs
    _worker_inputs = inputs


def _run_pilot_in_worker(pilot: Pilot) -> list[dict[str, Any]]:
    assert _worker_inputs is not None, "worker started without the published inputs"
    with single_threaded_blas():
        return run_pilot(pilot, _worker_inputs)


def _run_in_workers(
    pilots: list[Pilot],
    inputs: PublishedInputs,
    workers: int,
    progress: Callable[[str], None] | None,
) -> list[list[dict[str, Any]]]:
    """Each pilot's rows, in the order of ``pilots``; the inputs cross to each worker once."""
    from pilotmonitor.worker_processes import spawned_pool

    with spawned_pool(min(workers, len(pilots)), _install_inputs, (inputs,)) as executor:
        futures = []
        for pilot in pilots:
            if progress:
                progress(f"analysis plan {pilot.id}")
            futures.append(executor.submit(_run_pilot_in_worker, pilot))
        return [future.result() for future in futures]


def as_result_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as the typed results table (details as sorted JSON)."""
    table = pd.DataFrame(rows, columns=RESULT_FRAME_COLUMNS)
    table["details"] = [
        json.dumps(_jsonable(d), sort_keys=True) if d is not None else None
        for d in table["details"]
    ]
    for column, kind in {**RESULT_SCHEMA, "seed": "BIGINT"}.items():
        if kind == "DOUBLE":
            table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
        elif kind in ("BIGINT", "INTEGER"):
            table[column] = pd.to_numeric(table[column], errors="coerce").astype("Int64")
        elif kind == "BOOLEAN":
            table[column] = table[column].astype(bool)
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
