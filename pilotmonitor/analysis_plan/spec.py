"""What an analysis run promises, without estimating anything: the result columns and
the plan's hash (the outcomes and estimators a plan may name are in outcomes.py and
estimators.py; every plan parameter and its default in pilotmonitor.pilots.AnalysisPlan).

Kept apart from plan.py (which imports the estimators: statsmodels, scipy) so that
deciding whether stored estimates can be reused costs no estimator imports.
"""

from __future__ import annotations

import hashlib
import json

from pilotmonitor.pilots import DEFAULT_SEED, Pilot  # noqa: F401 (re-exported)

from .outcomes import OUTCOMES, PRIMARY  # noqa: F401 (re-exported)

RESULT_COLUMNS = [
    "pilot_id", "outcome", "role", "estimator", "preregistered_as", "estimable", "not_estimable_reason",
    "estimate", "std_error", "ci_lower", "ci_upper",
    "p_value", "p_value_adjusted", "p_value_wild_bootstrap", "p_value_randomization", "scale",
    "n_obs", "n_clusters", "method", "sample", "alpha", "details",
]


def effective_plan(pilot: Pilot) -> dict:
    """Every parameter of the pilot's analysis plan, defaults filled in (what a
    pre-registration document quotes and what the hash covers)."""
    return pilot.analysis_plan.model_dump(mode="json")


def plan_hash(pilot: Pilot) -> str:
    payload = json.dumps(effective_plan(pilot), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def preregistered_pairs(pilot: Pilot) -> list[tuple[str, str, str]]:
    """(outcome, estimator, role) for every pair the pilot's plan pre-registers, in order:
    each estimator on the primary outcome (the first is the headline), each secondary
    outcome with its outcome's default estimator."""
    plan = pilot.analysis_plan
    pairs = [(plan.primary_outcome, name, "primary" if i == 0 else "robustness")
             for i, name in enumerate(plan.estimators)]
    pairs += [(o, OUTCOMES[o].default_estimator, "secondary") for o in plan.secondary_outcomes]
    return pairs
