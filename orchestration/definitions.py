"""The one Definitions object of the Pilotmonitor code location.

Asset groups live in orchestration/defs/<group>/; this module only assembles them with
the shared resources. `dagster dev -m orchestration.definitions` or `pilotmonitor ui`.

Jobs: `all_assets` (landing inventory, pilot registry, ingestion, then the dbt build of
the warehouse; what `pilotmonitor run`, the daily schedule and the landing sensor run),
then the publication gate (`published_marts`); `ingest_all` (ingestion only) and `warehouse_build`
(dbt build only, on the raw layer as it is).
"""

from __future__ import annotations

import dagster as dg

from orchestration.defs.analysis import assets as analysis_assets
from orchestration.defs.health import assets as health_assets
from orchestration.defs.ingestion import assets as ingestion_assets
from orchestration.defs.landing import assets as landing_assets
from orchestration.defs.publication import assets as publication_assets
from orchestration.defs.publication import reports as report_assets
from orchestration.defs.quality import checks as quality_checks
from orchestration.defs.registry import assets as registry_assets
from orchestration.defs.warehouse import assets as warehouse_assets
from orchestration.resources import build_resources

all_assets_job = dg.define_asset_job(
    "all_assets",
    selection=dg.AssetSelection.all(),
    description=(
        "The whole pipeline: landing inventory, pilot registry, ingestion of new deliveries, then "
        "`dbt build` of the warehouse with its tests."
    ),
)
warehouse_job = dg.define_asset_job(
    "warehouse_build",
    selection=dg.AssetSelection.assets(warehouse_assets.warehouse_dbt_assets),
    description="`dbt build` of every model and seed with its tests, on the raw layer as it is.",
)


# What `pilotmonitor run --skip-analyses` leaves out: the estimates and the reports on them.
ANALYSIS_ASSETS = dg.AssetSelection.assets(
    analysis_assets.effect_estimates, report_assets.pilot_reports
)


def _rebuild_after(keys):
    """What a landing-sensor run rebuilds after the changed sources: the warehouse models
    downstream of them, then the publication gate."""
    return [
        *warehouse_assets.warehouse_keys_downstream_of(keys),
        publication_assets.published_marts.key,
    ]


defs = dg.Definitions(
    assets=[
        landing_assets.landing_inventory,
        registry_assets.pilot_registry,
        *ingestion_assets.source_assets,
        warehouse_assets.warehouse_dbt_assets,
        # Great Expectations checks on raw_<source> (expectations_error blocking,
        # expectations_warning)
        *quality_checks.quality_checks,
        # asset checks in the assets list, so `pilotmonitor run` (materialize of defs.assets)
        # evaluates them
        *health_assets.freshness_checks,
        health_assets.pipeline_health,
        # copies the marts to schema published only when no blocking check failed
        publication_assets.published_marts,
        # the pre-registered analysis plans on published.* (results.effect_estimates)
        analysis_assets.effect_estimates,
        report_assets.pilot_reports,  # policymaker reports per pilot, through disclosure control
    ],
    jobs=[all_assets_job, ingestion_assets.ingestion_job, warehouse_job],
    sensors=[
        ingestion_assets.build_landing_sensor(all_assets_job, downstream_of=_rebuild_after),
        health_assets.health_page_after_success,  # the health page after runs that did not write it
        health_assets.health_page_after_failure,
    ],
    schedules=[ingestion_assets.build_ingestion_schedule(all_assets_job)],
    resources={**build_resources(), "dbt": warehouse_assets.dbt_resource()},
)
