"""Running the pre-registered analysis plans of the pilot registry on `published.*`.

`compute_effect_estimates(conn, pilots)` returns one long table (one row per pilot,
outcome, role and estimator, with provenance); `write_effect_estimates` stores it as
`results.effect_estimates`; `write_artifact` writes `<data dir>/results/<run_id>.json`.
See plan.py for the estimators and sample.py for the analysis window.
"""

from .plan import DEFAULT_SEED, OUTCOMES, PRIMARY, run_pilot, run_plans
from .sample import AnalysisInputError, PilotSample, PublishedInputs, build_sample, read_published
from .store import compute_effect_estimates, result_numbers, reusable_estimates, write_artifact, write_effect_estimates

__all__ = ["DEFAULT_SEED", "OUTCOMES", "PRIMARY", "run_pilot", "run_plans", "AnalysisInputError", "PilotSample",
           "PublishedInputs", "build_sample", "read_published", "compute_effect_estimates", "reusable_estimates", "result_numbers",
           "write_artifact", "write_effect_estimates"]
