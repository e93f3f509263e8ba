"""The health group: delivery freshness checks on the ingestion assets, the health page
and the sensors that write it after runs that did not."""

import dagster as dg

from orchestration.defs.health.assets import (
    freshness_checks,
    health_page_after_failure,
    health_page_after_success,
    pipeline_health,
)

defs = dg.Definitions(
    # the checks in the assets list, so `pilotmonitor run` evaluates them
    assets=[*freshness_checks, pipeline_health],
    sensors=[health_page_after_success, health_page_after_failure],
)
