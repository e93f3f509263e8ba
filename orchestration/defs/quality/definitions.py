"""The quality group: the Great Expectations checks on every ingestion asset
(expectations_error blocking, expectations_warning). Listed as assets so that
`pilotmonitor run` (a materialize of the definitions' assets) evaluates them."""

import dagster as dg

from orchestration.defs.quality.checks import quality_checks

defs = dg.Definitions(assets=quality_checks)
