import os
import json
from pathlib import Path

import duckdb
import pytest


def test_effect_estimates_asset_registered_after_publication():
    from orchestration.definitions import defs
    from orchestration.defs.publication.assets import published_marts

    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    spec = specs["effect_estimates"]
    assert spec.group_name == "analysis"
    assert published_marts.key in {dep.asset_key for dep in spec.deps}


@pytest.mark.skipif(not os.environ.get("PILOTMONITOR_PLAN_GROUND_TRUTH_DIR"),
                    reason="set PILOTMONITOR_PLAN_GROUND_TRUTH_DIR to a data dir after `pilotmonitor synth` + `run --demo`")
def test_ground_truth_coverage():
    """Opt-in: every pilot's primary 95% CI contains the planted referral rate ratio."""
    data = Path(os.environ["PILOTMONITOR_PLAN_GROUND_TRUTH_DIR"])
    truth = json.loads((data / "ground_truth" / "scenario.json").read_text())["planted_effects"]
    with duckdb.connect(str(data / "warehouse" / "pilotmonitor.duckdb"), read_only=True) as conn:
        rows = conn.execute("select pilot_id, estimate, ci_lower, ci_upper from results.effect_estimates where role = 'primary'").fetchall()
    assert {r[0] for r in rows} == set(truth)
    for pilot_id, est, lo, hi in rows:
        assert lo < truth[pilot_id]["referral_rate_ratio"] < hi, (pilot_id, est, lo, hi)
