"""The landing sensor asks for ingestion of exactly the sources whose files changed."""

import dagster as dg

from orchestration.defs.ingestion.assets import landing_sensor
from orchestration.resources import PilotmonitorSettings


def _evaluate(tmp_path, cursor=None):
    context = dg.build_sensor_context(cursor=cursor, resources={"pilotmonitor": PilotmonitorSettings(data_dir=str(tmp_path))})
    return landing_sensor(context), context.cursor


def test_new_files_trigger_only_their_sources(tmp_path):
    costs = tmp_path / "landing" / "pilots" / "p1"
    costs.mkdir(parents=True)
    (costs / "p1_kosten_20250105.csv").write_text("jaar;fte\n")
    result, cursor = _evaluate(tmp_path)
    assert isinstance(result, dg.RunRequest)
    assert {key.to_user_string() for key in result.asset_selection} == set(
        # every source gets a first fingerprint, so the first evaluation selects all of them
        f"raw_{s}" for s in ["product_list", "duo_schools", "duo_pupil_counts", "cbs_youth_care", "school_enrolments", "school_absence", "ijw_messages", "ijw_extracts", "pilot_activity", "pilot_costs", "survey_responses"]
    )
    unchanged, cursor = _evaluate(tmp_path, cursor)
    assert isinstance(unchanged, dg.SkipReason)
    (costs / "p1_kosten_20250301.csv").write_text("jaar;fte\n2025;1\n")
    changed, _ = _evaluate(tmp_path, cursor)
    assert [key.to_user_string() for key in changed.asset_selection] == ["raw_pilot_costs"]


def test_missing_landing_area_is_skipped_with_a_reason(tmp_path):
    result, _ = _evaluate(tmp_path)
    assert isinstance(result, dg.SkipReason) and "no landing area" in str(result.skip_message)
