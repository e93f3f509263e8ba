"""The registry group: the pilot registry (pilots/*.yml) as warehouse tables."""

import dagster as dg

from orchestration.defs.registry.assets import pilot_registry

defs = dg.Definitions(assets=[pilot_registry])
