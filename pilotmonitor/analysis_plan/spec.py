"""What an analysis run promises, without estimating anything: the default seed, the
outcomes and how each is estimated, the result columns and the plan's hash.

Kept apart from plan.py (which imports the estimators: statsmodels, scipy) so that
deciding whether stored estimates can be reused costs no estimator imports.
"""

from __future__ import annotations

import hashlib
import json

from pilotmonitor.pilots import Pilot

DEFAULT_SEED = 20261123
PRIMARY = "referrals_per_100_pupil_months"

# outcome name in the plan -> how it is estimated
OUTCOMES: dict[str, dict[str, str]] = {
    PRIMARY: {"kind": "poisson", "count": "new_referrals", "rate": "referrals_per_100"},
    "dropout": {"kind": "poisson", "count": "dropouts", "rate": "dropouts_per_100"},
    "thuiszitter_spells": {"kind": "poisson", "count": "thuiszitter_spell_starts", "rate": "thuiszitter_spells_per_100"},
    "unauthorised_absence_hours": {"kind": "linear", "rate": "unauthorised_absence_hours_per_pupil"},
    "youth_care_cost_per_pupil": {"kind": "linear", "rate": "youth_care_cost_eur_per_pupil"},
    "school_climate": {"kind": "survey", "rate": "climate_score"},
    "satisfaction": {"kind": "survey", "rate": "satisfaction"},
}

RESULT_COLUMNS = [
    "pilot_id", "outcome", "role", "estimator", "estimate", "std_error", "ci_lower", "ci_upper",
    "p_value", "p_value_adjusted", "p_value_wild_bootstrap", "p_value_randomization", "scale",
    "n_obs", "n_clusters", "method", "sample", "alpha", "details",
]


def plan_hash(pilot: Pilot) -> str:
    payload = json.dumps(pilot.analysis_plan.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
