"""The landing sensor asks for ingestion of exactly the sources whose files changed,
followed by the warehouse (whose step builds what they reach) and the publication."""

import dagster as dg

from orchestration.definitions import defs
from orchestration.defs.warehouse.assets import warehouse_dbt_assets
from orchestration.resources import PilotmonitorSettings

landing_sensor = defs.resolve_sensor_def("landing_sensor")


def _evaluate(tmp_path, cursor=None):
    context = dg.build_sensor_context(
        cursor=cursor, resources={"pilotmonitor": PilotmonitorSettings(data_dir=str(tmp_path))}
    )
    return landing_sensor(context), context.cursor


def _raw(request):
    return {
        key.to_user_string()
        for key in request.asset_selection
        if key.to_user_string().startswith("raw_")
    }


def test_new_files_trigger_only_their_sources(tmp_path):
    costs = tmp_path / "landing" / "pilots" / "p1"
    costs.mkdir(parents=True)
    (costs / "p1_kosten_20250105.csv").write_text("jaar;fte\n")
    result, cursor = _evaluate(tmp_path)
    # the first look runs the whole job: a new deployment's warehouse needs its reference
    # data (dbt seeds) too, which no source's models rebuild
    assert isinstance(result, dg.RunRequest) and result.asset_selection is None
    unchanged, cursor = _evaluate(tmp_path, cursor)
    assert isinstance(unchanged, dg.SkipReason)
    (costs / "p1_kosten_20250301.csv").write_text("jaar;fte\n2025;1\n")
    changed, _ = _evaluate(tmp_path, cursor)
    assert _raw(changed) == {"raw_pilot_costs"}
    # then the whole warehouse, whose step builds only what the pilot costs reach and keeps
    # the rest (a selection of some models would not be a whole build: its state is lost)
    job = defs.resolve_job_def(landing_sensor.job_name)
    assert set(warehouse_dbt_assets.keys) <= set(changed.asset_selection)
    assert "published_marts" in {key.to_user_string() for key in changed.asset_selection}
    assert set(changed.asset_selection) <= set(job.asset_layer.executable_asset_keys)
    # ... with every dbt test: the run selects the checks of the assets it selects
    subset = job.get_subset(asset_selection=set(changed.asset_selection))
    assert set(warehouse_dbt_assets.check_keys) <= set(
        subset.asset_layer.asset_graph.asset_check_keys
    )


def test_missing_landing_area_is_skipped_with_a_reason(tmp_path):
    result, _ = _evaluate(tmp_path)
    assert isinstance(result, dg.SkipReason) and "no landing area" in str(result.skip_message)
