import json
import os
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


@pytest.mark.skipif(
    not os.environ.get("PILOTMONITOR_PLAN_GROUND_TRUTH_DIR"),
    reason=(
        "set PILOTMONITOR_PLAN_GROUND_TRUTH_DIR to a data dir after `pilotmonitor synth` + `run "
        "--demo`"
    ),
)
def test_ground_truth_coverage():
    """Opt-in: every pilot's primary 95% CI contains the planted referral rate ratio, and
    the pre-registered pre-trend test does not reject where no pre-trend was planted."""
    data = Path(os.environ["PILOTMONITOR_PLAN_GROUND_TRUTH_DIR"])
    truth = json.loads((data / "ground_truth" / "scenario.json").read_text())["planted_effects"]
    with duckdb.connect(str(data / "warehouse" / "pilotmonitor.duckdb"), read_only=True) as conn:
        rows = conn.execute(
            "select pilot_id, estimate, ci_lower, ci_upper from results.effect_estimates where "
            "role = 'primary'"
        ).fetchall()
    assert {r[0] for r in rows} == set(truth)
    for pilot_id, est, lo, hi in rows:
        assert lo < truth[pilot_id]["referral_rate_ratio"] < hi, (pilot_id, est, lo, hi)
    with duckdb.connect(str(data / "warehouse" / "pilotmonitor.duckdb"), read_only=True) as conn:
        pretrend = dict(
            conn.execute(
                "select pilot_id, p_value from results.effect_estimates where estimator = "
                "'pretrend_test'"
            ).fetchall()
        )
    for pilot_id, effects in truth.items():
        if effects.get("pre_trend_per_year", 0.0) == 0.0:
            assert pretrend[pilot_id] >= 0.05, (pilot_id, pretrend[pilot_id])


def _run(db, pilots_dir, data_dir, publish_ok: bool):
    import dagster as dg

    from orchestration.defs.analysis.assets import effect_estimates
    from orchestration.resources import PilotmonitorSettings, WarehouseResource

    @dg.asset(name="published_marts", group_name="publication")
    def stub_published_marts():
        if not publish_ok:
            raise dg.Failure("publication blocked by 1 failed check(s)")

    return dg.materialize(
        [stub_published_marts, effect_estimates],
        raise_on_error=False,
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "warehouse": WarehouseResource(database=str(db)),
            "pilotmonitor": PilotmonitorSettings(
                data_dir=str(data_dir), pilots_dir=str(pilots_dir)
            ),
        },
    )


def test_asset_runs_after_publication_and_is_skipped_when_blocked(tmp_path):
    from .conftest import make_pilot, simulate, write_published

    db = tmp_path / "w.duckdb"
    write_published(db, simulate())
    # the asset reads its pilots from the published registry, not from pilots/*.yml
    pilot = make_pilot(
        secondary_outcomes=["youth_care_cost_per_pupil"], estimators=["twfe_poisson"]
    )
    with duckdb.connect(str(db)) as conn:
        conn.execute("update published.dim_pilot set configuration = ?", [pilot.model_dump_json()])
    pilots_dir = tmp_path / "no-pilot-files"
    pilots_dir.mkdir()
    ok = _run(db, pilots_dir, tmp_path / "data", publish_ok=True)
    assert ok.success
    with duckdb.connect(str(db), read_only=True) as conn:
        first = conn.execute("select distinct run_id from results.effect_estimates").fetchall()
    assert (
        first == [(ok.run_id,)] and (tmp_path / "data" / "results" / f"{ok.run_id}.json").exists()
    )
    blocked = _run(db, pilots_dir, tmp_path / "data", publish_ok=False)
    assert not blocked.success
    assert "effect_estimates" not in {
        e.asset_key.to_user_string() for e in blocked.get_asset_materialization_events()
    }
    with duckdb.connect(str(db), read_only=True) as conn:
        assert (
            conn.execute("select distinct run_id from results.effect_estimates").fetchall() == first
        )
