"""The one Definitions object of the Pilotmonitor code location.

Asset groups live in orchestration/defs/<group>/; this module only assembles them with
the shared resources. `dagster dev -m orchestration.definitions` or `pilotmonitor ui`.
"""

from __future__ import annotations

import dagster as dg

from orchestration.defs.ingestion import assets as ingestion_assets
from orchestration.defs.landing import assets as landing_assets
from orchestration.defs.registry import assets as registry_assets
from orchestration.resources import build_resources

defs = dg.Definitions(
    assets=[landing_assets.landing_inventory, registry_assets.pilot_registry, *ingestion_assets.source_assets],
    jobs=[ingestion_assets.ingestion_job],
    sensors=[ingestion_assets.landing_sensor],
    schedules=[ingestion_assets.ingestion_schedule],
    resources=build_resources(),
)
