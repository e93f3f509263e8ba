"""The pilot registry (pilots/*.yml) as warehouse tables, so treatment assignment is SQL.

raw.pilots holds one row per pilot, raw.pilot_schools one row per pilot school.
Validation errors (a bad date, a school in two overlapping pilots) fail the asset with
the file and field named.
"""


import dagster as dg
import pandas as pd
from orchestration.resources import PilotmonitorSettings, WarehouseResource
from pilotmonitor.pilots import PilotConfigError, load_registry


@dg.asset(group_name="registry", compute_kind="python")
def pilot_registry(context: dg.AssetExecutionContext, pilotmonitor: PilotmonitorSettings, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Pilots and their schools from the pilot configuration files."""
    try:
        pilots = load_registry(pilotmonitor.settings().pilots_dir)
    except PilotConfigError as exc:
        raise dg.Failure(str(exc)) from exc
    pilot_rows = pd.DataFrame(
        [
            {
                "pilot_id": p.id,
                "pilot_name": p.name,
                "municipality_code": p.municipality.code,
                "municipality_name": p.municipality.name,
                "region": p.region,
                "start_date": p.start,
                "planned_end_date": p.planned_end,
                "primary_outcome": p.analysis_plan.primary_outcome,
                "alpha": p.analysis_plan.alpha,
                "multiple_testing": p.analysis_plan.multiple_testing,
            }
            for p in pilots
        ]
    )
    school_rows = pd.DataFrame(
        [{"pilot_id": p.id, "school_id": s.school_id, "brin": s.brin, "vestiging": s.vestiging, "school_name": s.name} for p in pilots for s in p.schools]
    )
    with warehouse.get_connection() as conn:
        conn.execute("create schema if not exists raw")
        for name, frame in {"pilots": pilot_rows, "pilot_schools": school_rows}.items():
            conn.register("frame", frame)
            conn.execute(f"create or replace table raw.{name} as select * from frame")
            conn.unregister("frame")
    context.log.info(f"{len(pilots)} pilots, {len(school_rows)} pilot schools")
    return dg.MaterializeResult(metadata={"pilots": len(pilots), "pilot_schools": len(school_rows), "pilot_ids": ", ".join(p.id for p in pilots)})
