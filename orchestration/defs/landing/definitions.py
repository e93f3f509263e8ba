"""The landing group: the inventory of the landing area."""

import dagster as dg

from orchestration.defs.landing.assets import landing_inventory

defs = dg.Definitions(assets=[landing_inventory])
