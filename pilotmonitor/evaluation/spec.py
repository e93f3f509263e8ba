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

# The one declaration of the results table (results.effect_estimates): column -> DuckDB
# type. Facts a reader needs are columns, never parsed out of `method` or `details`.
RESULT_SCHEMA: dict[str, str] = {
    "pilot_id": "VARCHAR",
    "outcome": "VARCHAR",
    "role": "VARCHAR",
    "estimator": "VARCHAR",
    "preregistered_as": "VARCHAR",  # the plan's estimator that produced the row
    "estimable": "BOOLEAN",
    "not_estimable_reason": "VARCHAR",
    "estimate": "DOUBLE",
    "std_error": "DOUBLE",
    "ci_lower": "DOUBLE",
    "ci_upper": "DOUBLE",
    "p_value": "DOUBLE",
    "p_value_adjusted": "DOUBLE",
    "p_value_wild_bootstrap": "DOUBLE",
    "p_value_randomization": "DOUBLE",
    "bootstrap_ci_lower": "DOUBLE",
    "bootstrap_ci_upper": "DOUBLE",  # wild-bootstrap interval (test inversion)
    (
        "rel_time_bin"
    ): "INTEGER",  # event-study rows: the relative period (bins of event_study.bin_months)
    "scale": "VARCHAR",
    "n_obs": "BIGINT",
    "n_clusters": "BIGINT",
    "method": "VARCHAR",
    "sample": "VARCHAR",
    "alpha": "DOUBLE",
    "details": "VARCHAR",
}
# Provenance of every row: the run, its inputs, code, packages, plan and seed.
PROVENANCE_SCHEMA: dict[str, str] = {
    "run_id": "VARCHAR",
    "computed_at": "TIMESTAMP",
    "input_hash": "VARCHAR",
    "code_version": "VARCHAR",
    "package_versions": "VARCHAR",
    "plan_hash": "VARCHAR",
    "seed": "BIGINT",
}
RESULT_COLUMNS = list(RESULT_SCHEMA)
# the numbers a reproduction must match exactly
NUMBER_COLUMNS = tuple(
    c for c, t in RESULT_SCHEMA.items() if t in ("DOUBLE", "BIGINT", "INTEGER") and c != "alpha"
)


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
    pairs = [
        (plan.primary_outcome, name, "primary" if i == 0 else "robustness")
        for i, name in enumerate(plan.estimators)
    ]
    pairs += [(o, OUTCOMES[o].default_estimator, "secondary") for o in plan.secondary_outcomes]
    return pairs
