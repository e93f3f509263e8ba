"""The ingestion group: one asset per source, and the job that runs ingestion only."""

import dagster as dg

from orchestration.defs.ingestion.assets import ingestion_job, source_assets

defs = dg.Definitions(assets=source_assets, jobs=[ingestion_job])
