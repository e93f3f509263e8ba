"""Running the pre-registered analysis plans of the pilot registry on `published.*`.

`compute_effect_estimates(conn, pilots)` returns one long table (one row per pilot,
outcome, role and estimator, with provenance); `write_effect_estimates` stores it as
`results.effect_estimates`; `write_artifact` writes `<data dir>/results/<run_id>.json`.
See plan.py for the estimators and sample.py for the analysis window.
"""

import importlib

# Public names and the submodule each lives in, imported when first used: a reuse check
# (store, spec) must not pay for the estimators (plan: statsmodels, scipy).
_WHERE = {
    "DEFAULT_SEED": "spec",
    "OUTCOMES": "spec",
    "PRIMARY": "spec",
    "run_pilot": "plan",
    "run_plans": "plan",
    "AnalysisInputError": "sample",
    "PilotSample": "sample",
    "PublishedInputs": "sample",
    "build_sample": "sample",
    "read_published": "sample",
    "compute_effect_estimates": "store",
    "reusable_estimates": "store",
    "result_numbers": "store",
    "write_artifact": "store",
    "write_effect_estimates": "store",
}
__all__ = list(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
