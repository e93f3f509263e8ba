"""How each registered estimator (:mod:`pilotmonitor.evaluation.estimators`) runs on
one pilot's sample: one function per registry name, ``f(ctx, outcome, role) -> rows``.

A function raises when its estimator cannot be computed; the runner (plan.py) turns
that into a not-estimable row. A function that can keep part of its answer (the
few-cluster p-values of a Poisson row under separation) returns that row itself with
``estimable = False``. Conventions of every estimator are in plan.py's docstring and
``analyses/README.md``; every number of the plan (bins, draws, seed, window) comes from
``ctx.plan``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import analyses
from analyses import (
    EffectResult,
    randomization_inference,
    twfe,
    twfe_poisson_refit,
    wild_cluster_bootstrap,
)
from analyses.inference import twfe_randomization_inference
from analyses.synthetic_did import placebo_in_space
from pilotmonitor.pilots import AnalysisPlan, Pilot

from .outcomes import Outcome
from .sample import PilotSample, PublishedInputs, build_sample, national_comparison_pool
from .spec import RESULT_COLUMNS

PRETREND_TEST = "pretrend_test"  # the one pre-registered pre-trend test (see plan.py)
Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class PlanContext:
    """What every estimator of one pilot's plan works on."""

    pilot: Pilot
    plan: AnalysisPlan
    sample: PilotSample
    inputs: PublishedInputs | None
    preregistered_as: str = ""

    @property
    def alpha(self) -> float:
        return self.plan.alpha

    @property
    def seed(self) -> int:
        return self.plan.seed

    def n_permutations(self, n_candidates: int, n_treated: int) -> int | None:
        """None = enumerate every k-subset; else the plan's number of seeded draws."""
        total = math.comb(n_candidates, n_treated)
        return (
            None
            if total <= self.plan.inference.randomization_draws
            else self.plan.inference.randomization_draws
        )

    def row(
        self, outcome: str, role: str, estimator: str, result: EffectResult | None = None, **extra
    ) -> dict[str, Any]:
        return result_row(
            self.pilot.id, outcome, role, estimator, self.preregistered_as, result, **extra
        )


def result_row(
    pilot_id: str,
    outcome: str,
    role: str,
    estimator: str,
    preregistered_as: str | None,
    result: EffectResult | None = None,
    **extra,
) -> dict[str, Any]:
    row = {c: None for c in RESULT_COLUMNS}
    row.update(
        pilot_id=pilot_id,
        outcome=outcome,
        role=role,
        estimator=estimator,
        preregistered_as=preregistered_as,
        estimable=True,
    )
    if result is not None:
        row.update(
            estimate=result.estimate,
            std_error=result.std_error,
            ci_lower=result.conf_int[0],
            ci_upper=result.conf_int[1],
            p_value=result.p_value,
            scale=result.scale,
            n_obs=result.n_obs,
            n_clusters=result.n_clusters,
            method=result.method,
            sample=result.sample,
            alpha=result.alpha,
        )
    row.update(extra)
    return row


def not_estimable_row(
    pilot_id: str,
    outcome: str,
    role: str,
    estimator: str,
    preregistered_as: str | None,
    reason: str | Exception,
    **extra,
) -> dict[str, Any]:
    """A row that says why an estimate does not exist (exceptions named by type)."""
    text = f"{type(reason).__name__}: {reason}" if isinstance(reason, Exception) else str(reason)
    return result_row(
        pilot_id,
        outcome,
        role,
        estimator,
        preregistered_as,
        estimable=False,
        not_estimable_reason=text[:500],
        **extra,
    )


# ---------------------------------------------------------------- shared pieces


def _poisson(frame: pd.DataFrame, count: str, alpha: float, treatment: str = "d") -> EffectResult:
    """TWFE Poisson IRR; refuses (quasi-)separated samples, where the pilot schools have
    no events before or no events during the pilot: the MLE of the treatment coefficient
    does not exist there (the estimator would return an IRR of 1e10 or 1e-11)."""
    _check_separation(frame, count, treatment)
    res = twfe(
        frame,
        count,
        "school_id",
        "time",
        treatment,
        exposure="pupil_months",
        family="poisson",
        alpha=alpha,
    )
    if not (
        np.isfinite(res.std_error)
        and abs(res.coefficient) < 10
        and res.details.get("converged", True)
    ):
        raise ValueError(f"Poisson fit degenerate (IRR {res.estimate:.3g}, se {res.std_error:.3g})")
    return res


def _check_separation(frame: pd.DataFrame, count: str, treatment: str = "d") -> None:
    if treatment == "d":
        own = frame[frame["role"] == "treated"]
        pre, during = own.loc[own["d"] == 0, count].sum(), own.loc[own["d"] == 1, count].sum()
        if pre == 0 or during == 0:
            raise ValueError(
                f"separation: pilot schools have {pre} {count} before and {during} during the "
                "pilot; the IRR does not exist (see the wild-bootstrap p-value on the rate)"
            )


def _bootstrap(
    ctx: PlanContext,
    frame: pd.DataFrame,
    outcome: str,
    conf_int: bool = False,
    time: str = "time",
    treatment: str = "d",
):
    return wild_cluster_bootstrap(
        frame,
        outcome=outcome,
        unit="school_id",
        time=time,
        treatment=treatment,
        weights=ctx.plan.inference.bootstrap_weights,
        reps=ctx.plan.inference.bootstrap_reps,
        seed=ctx.seed,
        conf_int=conf_int,
        alpha=ctx.alpha,
    )


def _boot_details(b) -> dict[str, Any]:
    return {
        "bootstrap_method": b.method,
        "bootstrap_n_boot": int(b.n_boot),
        "bootstrap_full_enumeration": bool(b.full_enumeration),
        "bootstrap_model": b.model,
    }


def _ri_details(ri) -> dict[str, Any]:
    # The statistic comes from BLAS products whose last bit can depend on memory alignment
    # between processes; 12 significant digits keep re-runs byte-identical (the p-value
    # compares with a relative tolerance of 1e-10 and is not affected).
    return {
        "ri_method": ri.method,
        "ri_assignments": int(ri.n_assignments),
        "ri_full_enumeration": bool(ri.full_enumeration),
        "ri_statistic_linear_twfe": float(f"{ri.estimate:.12g}"),
    }


def _linear_ri(ctx: PlanContext, o: Outcome) -> tuple[float | None, dict[str, Any]]:
    """Randomization inference of the linear TWFE coefficient (rate per 100 pupil-months
    for counts, the rate for rate outcomes, school x school-year cell means for surveys)
    with the pilot reassigned to every k-subset of the sample's schools (or the plan's
    number of seeded draws); exact FWL algebra, no refits. Never fails the row: a failure
    is recorded in the details."""
    s = ctx.sample
    try:
        if o.kind == "survey":
            data, time = s.surveys.dropna(subset=[o.rate]), "school_year"
        else:
            data, time = s.panel.assign(post=(s.panel["event_time"] >= 0).astype(int)), "time"
        present = set(data["school_id"])
        candidates = [u for u in s.treated_schools + s.comparison_schools if u in present]
        treated = [u for u in s.treated_schools if u in present]
        ri = twfe_randomization_inference(
            data,
            o.rate,
            "school_id",
            time,
            "post",
            treated,
            candidate_units=candidates,
            n_permutations=ctx.n_permutations(len(candidates), len(treated)),
            seed=ctx.seed,
        )
        return ri.p_value, _ri_details(ri)
    except Exception as exc:  # noqa: BLE001 - the row keeps its other p-values
        return None, {"ri_method": f"not estimable: {type(exc).__name__}: {exc}"[:300]}


def _poisson_ri(ctx: PlanContext, o: Outcome, panel: pd.DataFrame):
    """Randomization inference re-estimating the Poisson IRR with the pilot reassigned."""
    s = ctx.sample
    post = panel["event_time"] >= 0
    # the fixed-effects design is the same for every reassignment: prepared once
    refit = twfe_poisson_refit(panel, o.count, "school_id", "time", exposure="pupil_months")
    # the panel's rows by school, coded once: each draw marks its schools by code (matching
    # the names per draw was 8% of the Alkmaar plan's randomization inference)
    codes, schools = pd.factorize(panel["school_id"])
    position = {school: i for i, school in enumerate(schools)}
    in_post = post.to_numpy()

    def estimator(data: pd.DataFrame, treated_units: frozenset) -> float:
        assert data is panel  # randomization_inference hands back the panel it was given
        chosen = np.zeros(len(schools) + 1, dtype=bool)  # the last: a missing school id
        chosen[[position[u] for u in treated_units if u in position]] = True
        d = (chosen[codes] & in_post).astype(float)
        try:
            return refit(d)
        except Exception:  # an assignment the model cannot fit counts as not extreme
            return 0.0

    candidates = s.treated_schools + s.comparison_schools
    return randomization_inference(
        panel,
        estimator,
        "school_id",
        s.treated_schools,
        candidate_units=candidates,
        n_permutations=ctx.n_permutations(len(candidates), len(s.treated_schools)),
        seed=ctx.seed,
    )


# ---------------------------------------------------------------- headline estimators


def twfe_poisson(ctx: PlanContext, o: Outcome, role: str) -> Rows:
    """Poisson IRR + wild bootstrap p of the linear rate + randomization inference (the
    IRR refitted per reassignment for the primary outcome, the linear TWFE by FWL algebra
    otherwise). Under separation the row is not estimable but keeps both p-values."""
    panel = ctx.sample.panel
    boot = _bootstrap(ctx, panel, o.rate)
    details = {
        **_boot_details(boot),
        "window": ctx.sample.describe(),
        "treatment_mismatches": ctx.sample.treatment_mismatches,
    }
    if role == "primary":
        try:
            _check_separation(panel, o.count)
            ri = _poisson_ri(ctx, o, panel)
            ri_p, ri_det = (
                ri.p_value,
                {
                    "ri_method": ri.method,
                    "ri_assignments": int(ri.n_assignments),
                    "ri_full_enumeration": bool(ri.full_enumeration),
                },
            )
        except ValueError as exc:
            ri_p, ri_det = None, {"ri_method": f"not estimable: {exc}"[:300]}
    else:
        ri_p, ri_det = _linear_ri(ctx, o)
    try:
        res = _poisson(panel, o.count, ctx.alpha)
    except ValueError as exc:  # keep the (valid) bootstrap and randomization tests of the rate
        return [
            not_estimable_row(
                ctx.pilot.id,
                o.name,
                role,
                "twfe_poisson",
                ctx.preregistered_as,
                str(exc),
                p_value_wild_bootstrap=boot.p_value,
                p_value_randomization=ri_p,
                details={**details, **ri_det},
            )
        ]
    return [
        ctx.row(
            o.name,
            role,
            "twfe_poisson",
            res,
            p_value_wild_bootstrap=boot.p_value,
            p_value_randomization=ri_p,
            details={**dict(res.details), **details, **ri_det},
        )
    ]


def twfe_linear(ctx: PlanContext, o: Outcome, role: str) -> Rows:
    """Linear TWFE on the rate with CR1 t(G-1) and the wild bootstrap p; as a robustness
    row also the bootstrap CI by test inversion; as a primary or secondary row also
    randomization inference."""
    panel = ctx.sample.panel
    name = "twfe_linear_rate_per_100" if o.kind == "count" else "twfe_linear"
    res = twfe(panel, o.rate, "school_id", "time", "d", alpha=ctx.alpha)
    with_ci = role != "secondary"
    boot = _bootstrap(ctx, panel, o.rate, conf_int=with_ci)
    details = {**dict(res.details), **_boot_details(boot)}
    ci = boot.conf_int if with_ci else (None, None)
    ri_p = None
    if role != "robustness":
        ri_p, ri_det = _linear_ri(ctx, o)
        details.update(ri_det)
    return [
        ctx.row(
            o.name,
            role,
            name,
            res,
            p_value_wild_bootstrap=boot.p_value,
            p_value_randomization=ri_p,
            bootstrap_ci_lower=ci[0],
            bootstrap_ci_upper=ci[1],
            details=details,
        )
    ]


def did_linear_school_year(ctx: PlanContext, o: Outcome, role: str) -> Rows:
    cells = ctx.sample.surveys.dropna(subset=[o.rate])
    if cells.empty or cells["d"].sum() == 0:
        raise ValueError("no survey responses in the pilot period")
    res = twfe(cells, o.rate, "school_id", "school_year", "d", alpha=ctx.alpha)
    boot = _bootstrap(ctx, cells, o.rate, time="school_year")
    ri_p, ri_det = _linear_ri(ctx, o)
    return [
        ctx.row(
            o.name,
            role,
            "did_linear_school_year",
            res,
            p_value_wild_bootstrap=boot.p_value,
            p_value_randomization=ri_p,
            details={**dict(res.details), **_boot_details(boot), **ri_det},
        )
    ]


def twfe_negative_binomial(ctx: PlanContext, o: Outcome, role: str) -> Rows:
    """NB2 TWFE IRR (cluster-robust), the Poisson IRR of the same sample beside it. When
    the counts show no over-dispersion beyond the fixed effects the NB2 likelihood is
    maximised at the boundary alpha = 0, where NB2 is the Poisson model: the row then
    reports that fit (alpha 0, ``details.boundary``) instead of nothing."""
    panel = ctx.sample.panel
    _check_separation(panel, o.count)
    poisson = _poisson(panel, o.count, ctx.alpha)
    boundary = False
    try:
        res = twfe(
            panel,
            o.count,
            "school_id",
            "time",
            "d",
            exposure="pupil_months",
            family="negative_binomial",
            alpha=ctx.alpha,
        )
    except ValueError as exc:
        if "over-dispersion" not in str(exc):
            raise
        res, boundary = poisson, True
    details = {
        **dict(res.details),
        "poisson_irr_same_sample": poisson.estimate,
        "boundary": boundary,
    }
    if boundary:
        details.update(
            dispersion_alpha=0.0,
            note="no over-dispersion: the NB2 maximum is at alpha = 0, the Poisson fit",
        )
    boot = _bootstrap(ctx, panel, o.rate)
    method = (
        f"TWFE negative binomial (NB2) at the boundary alpha = 0, i.e. {res.method}"
        if boundary
        else res.method
    )
    return [
        ctx.row(
            o.name,
            role,
            "twfe_negative_binomial",
            res,
            method=method,
            p_value_wild_bootstrap=boot.p_value,
            details={**details, **_boot_details(boot)},
        )
    ]


# ---------------------------------------------------------------- robustness estimators


def twfe_poisson_excl_closures(ctx: PlanContext, o: Outcome, role: str) -> Rows:
    panel = ctx.sample.panel
    closed = panel["is_closure_month"]
    sub = panel[~closed]
    res = _poisson(sub, o.count, ctx.alpha)
    boot = _bootstrap(ctx, sub, o.rate)
    return [
        ctx.row(
            o.name,
            role,
            "twfe_poisson_excl_closures",
            res,
            p_value_wild_bootstrap=boot.p_value,
            details={
                **dict(res.details),
                **_boot_details(boot),
                "closure_rows_dropped": int(closed.sum()),
                "closure_months": _closure_months(ctx),
            },
        )
    ]


def _closure_months(ctx: PlanContext) -> list[str]:
    """The school-closure months as published (dim_pilot_month), or those in the window."""
    if ctx.inputs is not None and ctx.inputs.pilot_months is not None:
        months = ctx.inputs.pilot_months
        months = months[(months["pilot_id"] == ctx.pilot.id) & months["is_school_closure_month"]]
    else:
        months = ctx.sample.panel[ctx.sample.panel["is_closure_month"]]
    return sorted({f"{m:%Y-%m}" for m in months["month"]})


def pretrend_linear_trend(ctx: PlanContext, o: Outcome, role: str) -> Rows:
    """Pre-trend as a linear trend of the pilot schools relative to the comparison
    schools in the pre-period (one coefficient, so the few-cluster wild bootstrap applies)."""
    pre = ctx.sample.panel[ctx.sample.panel["event_time"] < 0].assign(
        pre_trend=lambda f: np.where(f["role"] == "treated", f["event_time"] / 12.0, 0.0)
    )
    res = twfe(
        pre,
        o.count,
        "school_id",
        "time",
        "pre_trend",
        exposure="pupil_months",
        family="poisson",
        alpha=ctx.alpha,
    )
    boot = _bootstrap(ctx, pre, o.rate, treatment="pre_trend")
    return [
        ctx.row(
            o.name,
            role,
            "pretrend_poisson_linear_trend",
            res,
            p_value_wild_bootstrap=boot.p_value,
            details={
                **dict(res.details),
                **_boot_details(boot),
                "meaning": "rate ratio per year of pilot vs comparison schools before the start; "
                "wild bootstrap on the linear trend of the rate",
            },
        )
    ]


def twfe_poisson_national_pool(ctx: PlanContext, o: Outcome, role: str) -> Rows:
    """The Poisson IRR (+ wild bootstrap p of the linear rate) with the national pool
    (rule: the published model dim_pilot_national_pool)."""
    if ctx.inputs is None:
        raise ValueError("no published inputs for the national pool")
    s = ctx.sample
    pool = national_comparison_pool(ctx.inputs, ctx.pilot.id)
    ns = build_sample(ctx.inputs, ctx.pilot.id, window=ctx.plan.window, comparison=pool)
    res = _poisson(ns.panel, o.count, ctx.alpha)
    boot = _bootstrap(ctx, ns.panel, o.rate)
    added = sorted(set(ns.comparison_schools) - set(s.comparison_schools))
    dropped = sorted(set(s.comparison_schools) - set(ns.comparison_schools))
    details = {
        **dict(res.details),
        **_boot_details(boot),
        "pool_rule": (
            "school_type in the registered comparison_pool.school_types, any province, any "
            "cluster, no pilot school of any pilot, with published school-months"
        ),
        "school_types": list(ctx.pilot.comparison_pool.school_types),
        "n_comparison_registered": len(s.comparison_schools),
        "n_comparison_national": len(ns.comparison_schools),
        "comparison_added": added,
        "comparison_not_in_national": dropped,
        "same_as_registered_pool": not added and not dropped,
        "window": ns.describe(),
    }
    return [
        ctx.row(
            o.name,
            role,
            "twfe_poisson_national_pool",
            res,
            p_value_wild_bootstrap=boot.p_value,
            details=details,
        )
    ]


def event_panel(
    s: PilotSample,
    bin_months: int = 6,
    count: str = "new_referrals",
    rate: str = "referrals_per_100",
) -> pd.DataFrame:
    """School x event-time-bin panel: counts and exposure summed, the rate per 100
    pupil-months recomputed. Bins are aligned on the pilot start (bin 0 = the first
    ``bin_months`` pilot months); `period` is shifted by +1000 so that the treated
    schools' first treated period is never 0 (which the estimator reads as never treated)."""
    p = s.panel.assign(bin=np.floor_divide(s.panel["event_time"], bin_months))
    agg = p.groupby(["school_id", "bin", "role"], as_index=False)[[count, "pupil_months"]].sum()
    agg["period"] = agg["bin"] + 1000
    agg["first_treated"] = np.where(agg["role"] == "treated", 1000.0, np.nan)
    agg[rate] = 100 * agg[count] / agg["pupil_months"]
    return agg.sort_values(["school_id", "period"]).reset_index(drop=True)


def event_study(ctx: PlanContext, o: Outcome, role: str) -> Rows:
    """Linear and Poisson event studies on event-time bins, the pre-registered pre-trend
    test (linear, wild cluster restricted bootstrap of the leads' joint Wald statistic)
    and the analytic joint tests as secondary diagnostics."""
    es_plan = ctx.plan.event_study
    bins = es_plan.bin_months
    ev = event_panel(ctx.sample, bins, o.count, o.rate)
    leads = int(min(es_plan.leads, -ev["bin"].min()))
    lags = int(min(es_plan.lags, ev["bin"].max()))
    rows: Rows = []
    pid, pre_as = ctx.pilot.id, ctx.preregistered_as
    for family, name, kw in (
        (
            "linear",
            "event_study_linear",
            {
                "outcome": o.rate,
                "pretrend_bootstrap": ctx.plan.inference.bootstrap_reps,
                "seed": ctx.seed,
            },
        ),
        ("poisson", "event_study_poisson", {"outcome": o.count, "exposure": "pupil_months"}),
    ):
        try:
            if leads < 2:
                raise ValueError(
                    f"only {leads} pre-period bin(s) of {bins} months: no pre-trend test"
                )
            es = analyses.event_study(
                ev,
                unit="school_id",
                time="period",
                first_treated="first_treated",
                leads=leads,
                lags=max(lags, 0),
                reference=es_plan.reference,
                family=family,
                alpha=ctx.alpha,
                **kw,
            )
            pt = es.pretrend
            any_res = next(iter(es.effects.values()))
            common = dict(
                n_obs=any_res.n_obs,
                n_clusters=any_res.n_clusters,
                sample=ctx.sample.describe(),
                alpha=ctx.alpha,
            )
            if family == "linear":
                rows.append(
                    ctx.row(
                        o.name,
                        role,
                        PRETREND_TEST,
                        estimate=pt.statistic,
                        p_value=pt.bootstrap_p_value,
                        p_value_wild_bootstrap=pt.bootstrap_p_value,
                        scale="F statistic",
                        method=(
                            f"PRE-REGISTERED pre-trend test: joint test of the {len(pt.leads)} "
                            f"event-study leads {pt.leads} ({bins}-month bins, reference "
                            f"{es_plan.reference}) of the linear TWFE event study on {o.rate}; "
                            f"statistic CR1 Wald F, p-value from the {pt.bootstrap_method}; "
                            "reject parallel pre-trends if p_value < alpha"
                        ),
                        details={
                            "preregistered": True,
                            "decision": "reject parallel pre-trends if p_value < alpha",
                            "p_value_source": (
                                "wild cluster restricted bootstrap of the joint Wald statistic"
                            ),
                            "p_value_f_cr1": pt.p_value,
                            "f_df": list(pt.df),
                            "leads": list(pt.leads),
                            "bin_months": bins,
                            "bootstrap_n_boot": int(pt.bootstrap_n_boot),
                            "bootstrap_full_enumeration": bool(pt.bootstrap_full_enumeration),
                            "bootstrap_min_p": (2 / pt.bootstrap_n_boot)
                            if pt.bootstrap_full_enumeration
                            else None,
                            "rejects": bool(pt.bootstrap_p_value < ctx.alpha),
                        },
                        **common,
                    )
                )
            diag = "secondary diagnostic, NOT the pre-registered test (see pretrend_test): " + (
                "chi2 Wald with the cluster sandwich over-rejects with few treated clusters"
                if family == "poisson"
                else "analytic F(q, G-1) on the CR1 Wald, liberal with few treated clusters"
            )
            rows.append(
                ctx.row(
                    o.name,
                    role,
                    f"{name}_pretrend",
                    estimate=pt.statistic,
                    p_value=pt.p_value,
                    scale=f"{pt.test} statistic",
                    method=(
                        f"joint Wald pre-trend test ({pt.test}{tuple(pt.df)}) on leads {pt.leads} "
                        f"({bins}-month event-time bins); {es.method}"
                    ),
                    details={
                        "leads": list(pt.leads),
                        "df": list(pt.df),
                        "bin_months": bins,
                        "role": diag,
                    },
                    **common,
                )
            )
            for e, r in sorted(es.effects.items()):
                rows.append(
                    ctx.row(
                        o.name,
                        role,
                        f"{name}[e={e}]",
                        r,
                        rel_time_bin=int(e),
                        details={"bin_months": bins},
                    )
                )
        except Exception as exc:  # noqa: BLE001 - each family's rows say why on their own
            if family == "linear":
                rows.append(not_estimable_row(pid, o.name, role, PRETREND_TEST, pre_as, exc))
            rows.append(not_estimable_row(pid, o.name, role, f"{name}_pretrend", pre_as, exc))
    return rows


def callaway_santanna(ctx: PlanContext, o: Outcome, role: str) -> Rows:
    """Callaway & Sant'Anna ATT (simple aggregation) on the rate per 100 pupil-months in
    event-time bins: one cohort (the pilot schools, group = bin 0), never-treated
    controls = the comparison schools, varying base period, analytic influence-function
    SE (normal), plus a randomization-inference p-value of the same ATT over
    reassignments of the pilot to k of the sample's schools."""
    bins = ctx.plan.event_study.bin_months
    ev = event_panel(ctx.sample, bins, o.count, o.rate)
    if ev["bin"].min() > -1 or ev["bin"].max() < 0:
        raise ValueError("needs at least one pre and one pilot bin")
    cs = analyses.callaway_santanna(
        ev,
        o.rate,
        "school_id",
        "period",
        "first_treated",
        control="never",
        base_period="varying",
        alpha=ctx.alpha,
    )
    agg = cs.aggregate("simple").overall
    # RI: with one cohort and never-treated controls the simple ATT is
    # mean_treated(z) - mean_control(z), z_i = mean over pilot bins of Y_it - Y_i,-1.
    wide = ev.pivot(index="school_id", columns="bin", values=o.rate).dropna()
    post_bins = [b for b in wide.columns if b >= 0]
    z = wide[post_bins].mean(axis=1) - wide[-1]

    def stat(_data, treated_units: frozenset) -> float:
        m = z.index.isin(list(treated_units))
        return float(z[m].mean() - z[~m].mean())

    treated = [u for u in ctx.sample.treated_schools if u in z.index]
    ri = randomization_inference(
        z.rename("z").reset_index(),
        stat,
        "school_id",
        treated,
        candidate_units=list(z.index),
        n_permutations=ctx.n_permutations(len(z), len(treated)),
        seed=ctx.seed,
    )
    if not math.isclose(ri.estimate, agg.estimate, rel_tol=1e-8, abs_tol=1e-10):
        raise RuntimeError(f"CS closed form {ri.estimate} != {agg.estimate}")
    pre = cs.pretest
    details = {
        "aggregation": "simple",
        "bin_months": bins,
        "cohort_bin": 0,
        "n_units_balanced": int(cs.n_units),
        "units_dropped_unbalanced": sorted(set(ev["school_id"]) - set(z.index)),
        "post_bins": [int(b) for b in post_bins],
        "pretest_statistic": pre.statistic,
        "pretest_p_value": pre.p_value,
        "pretest_note": pre.note,
        "pretest_validity": "CS analytic chi2 pre-test: over-rejects with few treated schools; "
        "the pre-registered pre-trend test is pretrend_test",
        "ri_method": ri.method,
        "ri_assignments": int(ri.n_assignments),
        "ri_full_enumeration": bool(ri.full_enumeration),
        "note": "analytic SE ignores the few treated clusters; use p_value_randomization",
    }
    return [
        ctx.row(
            o.name,
            role,
            "callaway_santanna",
            agg,
            p_value_randomization=ri.p_value,
            sample=ctx.sample.describe(),
            method=f"{agg.method}; {bins}-month event-time bins, rate per 100 pupil-months",
            details=details,
        )
    ]


def pilot_level_series(
    ctx: PlanContext, o: Outcome
) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    """The pilot schools aggregated into one unit ``"pilot"`` and each comparison school
    a donor, per period of ``pilot_level.period_months`` aligned on the start (period 0 =
    the first pilot months): the rate per 100 pupil-months (counts) or the amount per
    pupil-month (rates) from summed numerators and pupil-months. Donors without a value
    in every period are dropped (listed in the details)."""
    months = ctx.plan.pilot_level.period_months
    p = ctx.sample.panel.assign(
        period=np.floor_divide(ctx.sample.panel["event_time"], months),
        unit=lambda f: np.where(f["role"] == "treated", "pilot", f["school_id"]),
    )
    agg = p.groupby(["unit", "period"], as_index=False)[[o.numerator, "pupil_months"]].sum()
    scale = 100.0 if o.kind == "count" else o.numerator_scale
    agg["value"] = scale * agg[o.numerator] / agg["pupil_months"]
    wide = agg.pivot(index="period", columns="unit", values="value")
    complete = [u for u in wide.columns if wide[u].notna().all()]
    dropped = sorted(set(wide.columns) - set(complete))
    if "pilot" not in complete:
        raise ValueError("the pilot schools have no pupil-months in some period")
    donors = [u for u in complete if u != "pilot"]
    if len(donors) < 2:
        raise ValueError(f"only {len(donors)} donor school(s) with data in every period")
    if (wide.index < 0).sum() < 2 or (wide.index >= 0).sum() < 1:
        raise ValueError(f"needs at least two pre-period and one pilot period of {months} months")
    data = agg[agg["unit"].isin(complete)][["unit", "period", "value"]]
    return (
        data,
        donors,
        {
            "period_months": months,
            "donors_dropped_incomplete": dropped,
            "value": "rate per 100 pupil-months"
            if o.kind == "count"
            else f"{o.rate} (per pupil-month)",
        },
    )


def synthetic_control(ctx: PlanContext, o: Outcome, role: str) -> Rows:
    data, donors, extra = pilot_level_series(ctx, o)
    res = analyses.synthetic_control(
        data, "value", "unit", "period", "pilot", 0, donors=donors, placebo=True, alpha=ctx.alpha
    )
    details = {
        **extra,
        "weights": res.details["weights"],
        "pre_rmspe": res.details["pre_rmspe"],
        "post_rmspe": res.details["post_rmspe"],
        "rmspe_ratio": res.details["rmspe_ratio"],
        "placebo_rank": res.details["rank"],
        "n_donors": res.details["n_donors"],
        "p_value_source": "placebo-in-space rank of the post/pre RMSPE ratio",
    }
    return [
        ctx.row(
            o.name,
            role,
            "synthetic_control",
            res,
            p_value_randomization=res.p_value,
            details=details,
        )
    ]


MIN_PLACEBO_CONTROLS = 10  # fewer donors give too few distinct placebo assignments for an SE


def synthetic_did(ctx: PlanContext, o: Outcome, role: str) -> Rows:
    """Synthetic DiD (Arkhangelsky et al. 2021) on the pilot-level series.

    Uncertainty: the placebo SE (the paper's Algorithm 4, ``inference.placebo_reps``
    seeded draws) only with at least ``MIN_PLACEBO_CONTROLS`` donors: with one
    (aggregated) treated unit there are only as many distinct placebo assignments as
    donors, and four placebo estimates give an SE that is noise (on the demo, 4 donors gave
    95% intervals excluding zero for a planted IRR of 0.90). Always: a placebo-in-space
    p-value in ``p_value_randomization``, the rank of the pilot's |estimate| among the
    donors' placebo estimates (every donor, or ``inference.randomization_draws`` seeded
    ones), (1 + #{|placebo| >= |estimate|}) / (1 + placebos), at least 1/(1 + donors)."""
    data, donors, extra = pilot_level_series(ctx, o)
    with_se = len(donors) >= MIN_PLACEBO_CONTROLS
    res = analyses.synthetic_did(
        data,
        "value",
        "unit",
        "period",
        ["pilot"],
        0,
        donors=donors,
        method="sdid",
        se="placebo" if with_se else None,
        reps=ctx.plan.inference.placebo_reps,
        seed=ctx.seed,
        alpha=ctx.alpha,
    )
    chosen = donors
    if len(donors) > ctx.plan.inference.randomization_draws:
        rng = np.random.default_rng(ctx.seed)
        chosen = sorted(rng.choice(donors, ctx.plan.inference.randomization_draws, replace=False))
    controls = data[data["unit"] != "pilot"]
    placebos = placebo_in_space(controls, "value", "unit", "period", chosen, 0, donors)
    p_placebo = float(
        (1 + np.sum(np.abs(placebos) >= abs(res.estimate) * (1 - 1e-10))) / (1 + len(placebos))
    )
    d = res.details
    details = {
        **extra,
        "unit_weights": d["unit_weights"],
        "time_weights": d["time_weights"],
        "zeta_omega": d["zeta_omega"],
        "n_controls": d["n_controls"],
        "placebo_in_space": {"n": len(placebos), "p_value": p_placebo},
        "se_source": (
            (
                f"placebo standard error (Arkhangelsky et al. 2021, Algorithm 4), {d['reps']} "
                "draws; normal interval"
            )
            if with_se
            else f"none: {len(donors)} donors < {MIN_PLACEBO_CONTROLS}, too few placebo "
            "assignments for a standard error; use p_value_randomization"
        ),
    }
    return [
        ctx.row(
            o.name, role, "synthetic_did", res, p_value_randomization=p_placebo, details=details
        )
    ]


def design_mde(ctx: PlanContext, o: Outcome, role: str) -> Rows:
    """Design-stage minimal detectable rate ratio of the primary count outcome for this
    difference-in-differences design, from the pre-period only (what a pre-registration
    would state before any pilot month is seen).

    Per school the DiD compares the rate during the pilot with the rate before it, so its
    noise is Poisson noise in both periods plus real drift of schools' rates relative to
    each other; the level differences between schools cancel (they are the school fixed
    effects). :func:`analyses.power.pilot_mde` models a school's log rate as Poisson noise
    at exposure E plus a between-school CV; it is used with
    E = E_pre E_post / (E_pre + E_post) (so 1/(rate E) = 1/events_pre + 1/events_post) and
    the CV of the *change*: the excess over Poisson of the variance of the schools' log
    rate changes between the two halves of the pre-period (method of moments, floored at
    0). E_pre, E_post: pupil-months per school-month before the start times the pre-period
    the final analysis will have (as long as the pilot, capped at ``window.max_pre_months``)
    and the planned pilot months (observed ones for an open-ended pilot). Optimistic with
    few schools: the few-cluster tests the plan uses have less power."""
    from analyses.power import pilot_mde

    s = ctx.sample
    pre = s.panel[s.panel["event_time"] < 0]
    half = pre.assign(second=pre["event_time"] >= -(s.pre_months // 2))
    cells = half.groupby(["school_id", "second"])[[o.count, "pupil_months"]].sum().unstack("second")
    cells = cells.dropna()
    events, exposure = cells[o.count], cells["pupil_months"]
    usable = (events[False] > 0) & (events[True] > 0)
    if usable.sum() < 3:
        raise ValueError(
            "fewer than 3 schools with events in both halves of the pre-period: no design-stage MDE"
        )
    e1, e2 = events[False][usable], events[True][usable]
    change = np.log(e2 / exposure[True][usable]) - np.log(e1 / exposure[False][usable])
    cv_change = math.sqrt(max(float(change.var(ddof=1) - (1 / e1 + 1 / e2).mean()), 0.0))
    rate = float(pre[o.count].sum() / pre["pupil_months"].sum())
    per_school_month = float(pre.groupby("school_id")["pupil_months"].mean().mean())
    prow = (
        ctx.inputs.pilots[ctx.inputs.pilots["pilot_id"] == ctx.pilot.id].iloc[0]
        if ctx.inputs is not None
        else None
    )
    planned = None
    if prow is not None and pd.notna(prow["planned_pilot_months"]):
        planned = int(prow["planned_pilot_months"])
    pilot_months = planned or s.post_months
    # the pre-period the final analysis will have: as long as the pilot, capped by the plan
    design_pre_months = min(pilot_months, ctx.plan.window.max_pre_months)
    e_pre, e_post = per_school_month * design_pre_months, per_school_month * pilot_months
    mde = pilot_mde(
        len(s.treated_schools),
        len(s.comparison_schools),
        e_pre * e_post / (e_pre + e_post),
        rate,
        cv_between=cv_change,
        alpha=ctx.alpha,
        power=ctx.plan.design_power,
    )
    return [
        ctx.row(
            o.name,
            role,
            "design_mde",
            estimate=mde.rate_ratio,
            scale="ratio",
            alpha=ctx.alpha,
            n_clusters=len(s.treated_schools) + len(s.comparison_schools),
            sample=s.describe(),
            method=(
                "design-stage minimal detectable rate ratio (decrease) of the DiD, power "
                f"{ctx.plan.design_power:g}, two-sided alpha {ctx.alpha:g}, t(J_T + J_C - 2); "
                "pre-period rate and the between-school CV of rate changes"
            ),
            details={
                **mde.to_dict(),
                "cv_change": cv_change,
                "pilot_months": pilot_months,
                "pre_months": design_pre_months,
                "pilot_months_source": "planned" if planned else "observed",
                "pupil_months_per_school_month": per_school_month,
                "schools_used_for_cv": int(usable.sum()),
            },
        )
    ]
