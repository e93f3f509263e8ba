"""The one Definitions object of the Pilotmonitor code location.

Asset groups live in orchestration/defs/<group>/; this module only assembles them with
the shared resources. `dagster dev -m orchestration.definitions` or `pilotmonitor ui`.
"""

from __future__ import annotations

import dagster as dg

from orchestration.defs.landing import assets as landing_assets
from orchestration.defs.registry import assets as registry_assets
from orchestration.resources import build_resources

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([landing_assets, registry_assets]),
    resources=build_resources(),
)
