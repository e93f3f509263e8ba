"""The whole pipeline across the groups: the `all_assets` job (what `pilotmonitor run`,
the daily schedule and the landing sensor run) and its two triggers."""

import dagster as dg

from orchestration.defs.analysis.assets import effect_estimates
from orchestration.defs.ingestion.assets import build_ingestion_schedule, build_landing_sensor
from orchestration.defs.publication.assets import published_marts
from orchestration.defs.publication.reports import pilot_reports
from orchestration.defs.warehouse.assets import warehouse_dbt_assets

all_assets_job = dg.define_asset_job(
    "all_assets",
    selection=dg.AssetSelection.all(),
    description=(
        "The whole pipeline: landing inventory, pilot registry, ingestion of new deliveries, then "
        "`dbt build` of the warehouse with its tests."
    ),
)

# What `pilotmonitor run --skip-analyses` leaves out: the estimates and the reports on them.
ANALYSIS_ASSETS = dg.AssetSelection.assets(effect_estimates, pilot_reports)


def _rebuild_after(keys):
    """What a landing-sensor run asks for after the changed sources: the whole warehouse
    (its step builds only what the changed raw tables reach and keeps the rest with their
    test results: orchestration/defs/warehouse/reuse.py), then the publication gate."""
    return [*warehouse_dbt_assets.keys, published_marts.key]


defs = dg.Definitions(
    jobs=[all_assets_job],
    sensors=[build_landing_sensor(all_assets_job, downstream_of=_rebuild_after)],
    schedules=[build_ingestion_schedule(all_assets_job)],
)
