"""The pilot registry (pilots/*.yml) as warehouse tables, so treatment assignment is SQL.

raw.pilots holds one row per pilot, raw.pilot_schools one row per pilot school,
raw.pilot_comparison_rules the comparison pool as (dimension, value) rows,
raw.pilot_plan the pre-registered outcomes and estimators, raw.pilot_budget the
planned costs per year. Schools unknown to the DUO registry are caught by dbt tests.
Validation errors (a bad date, a school in two overlapping pilots) fail the asset with
the file and field named.
"""

import dagster as dg
import pandas as pd

from orchestration.resources import PilotmonitorSettings, WarehouseResource
from pilotmonitor.ingest.raw_catalogue import catalogue
from pilotmonitor.pilots import PilotConfigError, load_registry
from pilotmonitor.warehouse_access import replace_table

# The raw tables this asset writes (the warehouse assets map dbt sources to it by these):
# the catalogue's registry tables.
TABLES = tuple(catalogue().of_kind("registry"))


@dg.asset(group_name="registry", compute_kind="python")
def pilot_registry(
    context: dg.AssetExecutionContext,
    pilotmonitor: PilotmonitorSettings,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
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
    pilot_rows["exclude_pilot_schools_from_comparison"] = [
        p.comparison_pool.exclude_pilot_schools for p in pilots
    ]
    # the whole validated file, so the analysis reads the registry the marts were built with
    pilot_rows["configuration"] = [p.model_dump_json() for p in pilots]
    school_rows = pd.DataFrame(
        [
            {
                "pilot_id": p.id,
                "school_id": s.school_id,
                "brin": s.brin,
                "vestiging": s.vestiging,
                "school_name": s.name,
            }
            for p in pilots
            for s in p.schools
        ]
    )
    tables = {
        "pilots": pilot_rows,
        "pilot_schools": school_rows,
        "pilot_comparison_rules": registry_frame(
            comparison_rule_rows(pilots), ["pilot_id", "dimension", "value"]
        ),
        "pilot_plan": registry_frame(plan_rows(pilots), ["pilot_id", "kind", "value", "position"]),
        "pilot_budget": registry_frame(
            [
                {
                    "pilot_id": p.id,
                    "year": c.year,
                    "fte": c.fte,
                    "cost_per_fte_eur": c.cost_per_fte_eur,
                    "other_costs_eur": c.other_costs_eur,
                }
                for p in pilots
                for c in p.costs
            ],
            ["pilot_id", "year", "fte", "cost_per_fte_eur", "other_costs_eur"],
        ),
    }
    assert tuple(tables) == TABLES, "keep TABLES in step with the tables written here"
    with warehouse.get_connection() as conn:
        conn.execute("create schema if not exists raw")
        for name, frame in tables.items():
            conn.register("frame", frame)
            replace_table(conn, "raw", name, "select * from frame")
            conn.unregister("frame")
    context.log.info(f"{len(pilots)} pilots, {len(school_rows)} pilot schools")
    return dg.MaterializeResult(
        metadata={
            "pilots": len(pilots),
            "pilot_schools": len(school_rows),
            "comparison_rules": len(tables["pilot_comparison_rules"]),
            "pilot_ids": ", ".join(p.id for p in pilots),
        }
    )


def registry_frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """A frame with its columns even when there are no rows (a registry without costs)."""
    return pd.DataFrame(rows, columns=columns)


def comparison_rule_rows(pilots) -> list[dict]:
    """The comparison pool as rows: all dimensions present must match (school_type,
    province, cluster), or an explicit school list replaces the rule. The school types
    are kept with an explicit list too: they define the national pool
    (dim_pilot_national_pool)."""
    rows = []
    for p in pilots:
        pool = p.comparison_pool
        rows += [
            {"pilot_id": p.id, "dimension": "school_type", "value": t} for t in pool.school_types
        ]
        if pool.schools:
            rows += [
                {"pilot_id": p.id, "dimension": "school", "value": school}
                for school in pool.schools
            ]
            continue
        rows += [{"pilot_id": p.id, "dimension": "province", "value": v} for v in pool.provinces]
        rows += [
            {"pilot_id": p.id, "dimension": "cluster", "value": str(c)} for c in pool.clusters or []
        ]
    return rows


def plan_rows(pilots) -> list[dict]:
    rows = []
    for p in pilots:
        plan = p.analysis_plan
        rows.append(
            {
                "pilot_id": p.id,
                "kind": "primary_outcome",
                "value": plan.primary_outcome,
                "position": 0,
            }
        )
        rows += [
            {"pilot_id": p.id, "kind": "secondary_outcome", "value": o, "position": i + 1}
            for i, o in enumerate(plan.secondary_outcomes)
        ]
        rows += [
            {"pilot_id": p.id, "kind": "estimator", "value": e, "position": i + 1}
            for i, e in enumerate(plan.estimators)
        ]
    return rows
