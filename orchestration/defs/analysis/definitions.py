"""The analysis group: the pre-registered analysis plans on published.*
(results.effect_estimates)."""

import dagster as dg

from orchestration.defs.analysis.assets import effect_estimates

defs = dg.Definitions(assets=[effect_estimates])
