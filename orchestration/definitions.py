"""The one Definitions object of the Pilotmonitor code location.

Each group in orchestration/defs/<group>/ owns its assets, checks, jobs, sensors and
schedules in its `definitions.py`; this module merges them with the shared resources.
`dagster dev -m orchestration.definitions` or `pilotmonitor ui`.

Jobs: `all_assets` (landing inventory, pilot registry, ingestion, the dbt build of the
warehouse, the publication gate, the analyses and reports; what `pilotmonitor run`, the
daily schedule and the landing sensor run), `ingest_all` (ingestion only) and
`warehouse_build` (dbt build only, on the raw layer as it is).
"""

from __future__ import annotations

import dagster as dg

from orchestration.defs.analysis import definitions as analysis
from orchestration.defs.health import definitions as health
from orchestration.defs.ingestion import definitions as ingestion
from orchestration.defs.landing import definitions as landing
from orchestration.defs.pipeline import definitions as pipeline
from orchestration.defs.pipeline.definitions import ANALYSIS_ASSETS
from orchestration.defs.publication import definitions as publication
from orchestration.defs.quality import definitions as quality
from orchestration.defs.registry import definitions as registry
from orchestration.defs.warehouse import definitions as warehouse
from orchestration.resources import build_resources

__all__ = ["ANALYSIS_ASSETS", "defs"]

defs = dg.Definitions.merge(
    landing.defs,
    registry.defs,
    ingestion.defs,
    warehouse.defs,
    quality.defs,
    health.defs,
    publication.defs,
    analysis.defs,
    pipeline.defs,
    # every run in one process, as `pilotmonitor run`: DuckDB has one writer process, each
    # step in a process of its own would re-import the stack (seconds per step), and the
    # warehouse resource takes the run lock once per run (orchestration/resources.py)
    dg.Definitions(resources=build_resources(), executor=dg.in_process_executor),
)
