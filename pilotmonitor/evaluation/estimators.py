"""The one registry of estimators a pilot's analysis plan may pre-register.

Each entry names the function that runs it (imported only when a plan runs, so
validating a pilot file costs no statsmodels import), the outcome kinds it fits, what it
needs and the rows it writes. A plan lists estimators for its primary outcome; the first
must be a *headline* estimator (its estimate is the one the report puts in words), the
others are robustness rows. Secondary outcomes are estimated with their outcome's
``default_estimator`` (:mod:`pilotmonitor.evaluation.outcomes`).

Every (outcome, estimator) pair a plan pre-registers yields at least one row whose
``preregistered_as`` is the estimator's name, or one row with ``estimable = false`` and
the reason in ``not_estimable_reason``; nothing is skipped silently.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from .outcomes import Kind

RUNS_IN = "pilotmonitor.evaluation.estimator_runs"


@dataclass(frozen=True)
class Estimator:
    name: str
    fits: frozenset[Kind]
    headline: bool  # may be the primary estimate (ratio scale for counts, difference otherwise)
    needs: str
    rows: str  # the estimator column(s) of the rows it writes
    description: str

    def function(self) -> Callable:
        return getattr(importlib.import_module(RUNS_IN), self.name)


def _e(
    name: str, fits: set[str], headline: bool, needs: str, rows: str, description: str
) -> Estimator:
    return Estimator(name, frozenset(fits), headline, needs, rows, description)


ESTIMATORS: dict[str, Estimator] = {
    e.name: e
    for e in (
        _e(
            "twfe_poisson",
            {"count"},
            True,
            "school-months with pupil-months as exposure",
            "twfe_poisson",
            "TWFE Poisson (school + month FE, offset log pupil-months), IRR with the "
            "cluster-robust CI; the wild cluster bootstrap p of the linear rate and "
            "randomization inference (the Poisson IRR refitted per reassignment as the primary "
            "estimate, the linear TWFE by FWL algebra otherwise)",
        ),
        _e(
            "twfe_negative_binomial",
            {"count"},
            True,
            "school-months with pupil-months as exposure",
            "twfe_negative_binomial",
            "TWFE negative binomial (NB2, school + month FE, offset log pupil-months) for "
            "over-dispersed counts: IRR, the dispersion alpha and its SE, cluster-robust CI; the "
            "Poisson IRR beside it in details",
        ),
        _e(
            "twfe_linear",
            {"count", "rate"},
            True,
            "school-months",
            "twfe_linear_rate_per_100 (count outcomes), twfe_linear",
            "TWFE OLS on the rate (per 100 pupil-months for counts) with CR1 t(G-1); wild cluster "
            "bootstrap p and, for counts, the bootstrap CI by test inversion",
        ),
        _e(
            "did_linear_school_year",
            {"survey"},
            True,
            "survey responses before and during the pilot",
            "did_linear_school_year",
            "TWFE OLS on school x school-year cell means (respondent groups pooled) with the wild "
            "cluster bootstrap",
        ),
        _e(
            "twfe_poisson_excl_closures",
            {"count"},
            False,
            "school-months outside the plan's closure months",
            "twfe_poisson_excl_closures",
            "the Poisson IRR and bootstrap without the plan's school-closure months",
        ),
        _e(
            "pretrend_linear_trend",
            {"count"},
            False,
            "pre-period school-months",
            "pretrend_poisson_linear_trend",
            "rate ratio per year of the pilot vs the comparison schools before the start, wild "
            "bootstrap on the linear trend",
        ),
        _e(
            "event_study",
            {"count"},
            False,
            "at least two pre-period event-time bins",
            "pretrend_test, event_study_linear_pretrend, event_study_poisson_pretrend, "
            "event_study_*[e=k]",
            "linear and Poisson event studies on event-time bins; the pre-registered pre-trend "
            "test (wild cluster restricted bootstrap of the leads' joint Wald statistic) and the "
            "analytic joint tests as diagnostics",
        ),
        _e(
            "twfe_poisson_national_pool",
            {"count"},
            False,
            "published.dim_school",
            "twfe_poisson_national_pool",
            "the Poisson IRR with the national comparison pool (the registered pool's school "
            "types, any province)",
        ),
        _e(
            "callaway_santanna",
            {"count"},
            False,
            "a balanced school x event-time-bin panel",
            "callaway_santanna",
            "Callaway & Sant'Anna (2021) ATT, simple aggregation, never-treated controls, on the "
            "rate per 100 pupil-months in event-time bins, with randomization inference",
        ),
        _e(
            "synthetic_control",
            {"count", "rate"},
            False,
            "pilot-level series: pre-period periods and donor schools",
            "synthetic_control",
            "synthetic control at pilot level (the pilot schools aggregated into one unit, "
            "comparison schools as donors, periods of the plan's pilot_level.period_months), "
            "placebo-in-space p-value",
        ),
        _e(
            "synthetic_did",
            {"count", "rate"},
            False,
            "pilot-level series: pre-period periods and donor schools",
            "synthetic_did",
            "synthetic difference-in-differences (Arkhangelsky et al. 2021) at pilot level, "
            "placebo standard error",
        ),
    )
}


def estimator(name: str) -> Estimator:
    try:
        return ESTIMATORS[name]
    except KeyError:
        raise KeyError(f"unknown estimator {name!r}; known: {', '.join(ESTIMATORS)}") from None
