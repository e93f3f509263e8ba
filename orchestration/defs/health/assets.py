"""Pipeline health in Dagster.

- `delivery_freshness`: an asset check per ingestion asset (a stale sender is a WARN);
- `pipeline_health`: writes <data dir>/health/index.html with the publication verdict;
- `health_page_after_run`: a run-status sensor writing the page after runs that did not.

Design notes: docs/design/orchestration.md#orchestrationdefshealthassetspy.
"""

import os
from datetime import date
from pathlib import Path

import dagster as dg

from orchestration.defs.ingestion.assets import asset_name
from orchestration.resources import PilotmonitorSettings, WarehouseResource
from pilotmonitor.health.freshness import source_freshness, sources_read
from pilotmonitor.health.status import _deliveries, _pilots, collect_status
from pilotmonitor.ingest.sources import SOURCES, Source
from pilotmonitor.publication.check_results import check_and_build_results, defined_in_run

GROUP = "health"
# the last assets of a run (defined in orchestration/defs/publication and analysis)
LAST_ASSETS = ["published_marts", "effect_estimates", "pilot_reports"]


def as_of_date() -> date:
    value = os.environ.get("PILOTMONITOR_AS_OF")
    return date.fromisoformat(value) if value else date.today()


def build_freshness_check(source: Source) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset_name(source),
        name="delivery_freshness",
        description=(
            f"Every sender of {source.name} delivered what its cadence expects by today "
            "(cadence.yml); stale or missing periods warn."
        ),
        blocking=False,
    )
    def _check(
        context: dg.AssetCheckExecutionContext,
        pilotmonitor: PilotmonitorSettings,
        warehouse: WarehouseResource,
    ) -> dg.AssetCheckResult:
        as_of = as_of_date()
        with warehouse.get_connection(read_only=True) as conn:
            deliveries = _deliveries(conn, sources_read(source.name))
            result = source_freshness(source.name, deliveries, as_of, pilots=_pilots(conn))
        stale, missing = result.stale, result.missing
        passed = not stale and not missing
        return dg.AssetCheckResult(
            passed=passed,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"as of {as_of.isoformat()}: " + result.summary(),
            metadata={
                "as_of": as_of.isoformat(),
                "cadence": result.cadence,
                "senders": len(result.senders),
                "stale_senders": len(stale),
                "missing_periods": len(missing),
                "state": result.state,
            },
        )

    return _check


freshness_checks = [build_freshness_check(source) for source in SOURCES]


@dg.asset(
    group_name=GROUP,
    kinds={"python", "html"},
    deps=[*(asset_name(source) for source in SOURCES), *LAST_ASSETS],
    description=(
        "The pipeline-health page (<data dir>/health/index.html): per source deliveries, rows, "
        "quarantine, validation, freshness, trends, and the publication verdict."
    ),
)
def pipeline_health(
    context: dg.AssetExecutionContext,
    pilotmonitor: PilotmonitorSettings,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    from pilotmonitor.health.page import write_page

    settings = pilotmonitor.settings()
    as_of = as_of_date()
    checks = check_and_build_results(
        context.instance, current_run_id=context.run.run_id, defined=defined_in_run(context)
    )
    with warehouse.get_connection() as conn:
        status = collect_status(
            conn,
            as_of,
            warehouse=str(warehouse.path()),
            landing_dir=settings.landing_dir,
            checks=checks,
        )
    page = write_page(status, settings.data_dir)
    if not status.ready:
        context.log.warning(status.verdict)
    return dg.MaterializeResult(
        metadata={
            "page": dg.MetadataValue.path(str(page)),
            "verdict": status.verdict,
            "ready_for_publication": status.ready,
            "as_of": as_of.isoformat(),
            "blocking": dg.MetadataValue.md("\n".join(f"- {b}" for b in status.blocking) or "none"),
            "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in status.warnings) or "none"),
        }
    )


def _wrote_page(instance, run_id: str) -> bool:
    events = instance.all_logs(run_id, of_type={dg.DagsterEventType.ASSET_MATERIALIZATION})
    return any(event.dagster_event.asset_key == pipeline_health.key for event in events)


def _page_after(context, settings: PilotmonitorSettings) -> None:
    from pilotmonitor.health.page import write_page_after_run
    from pilotmonitor.health.status import WarehouseUnreadable

    if _wrote_page(context.instance, context.dagster_run.run_id):
        return
    resolved = settings.settings()
    home = (
        Path(context.instance.root_directory)
        if context.instance.root_directory
        else resolved.data_dir / "dagster_home"
    )
    try:
        page = write_page_after_run(
            resolved.warehouse_path, resolved.data_dir, resolved.landing_dir, home, as_of_date()
        )
    except WarehouseUnreadable as exc:
        context.log.warning(f"pipeline-health page not written: {exc}")
        return
    context.log.info(f"pipeline-health page written after run {context.dagster_run.run_id}: {page}")


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="health_page_after_success",
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
)
def health_page_after_success(
    context: dg.RunStatusSensorContext, pilotmonitor: PilotmonitorSettings
):
    """A successful run whose selection left out `pipeline_health` (a landing-sensor run)."""
    _page_after(context, pilotmonitor)


@dg.run_failure_sensor(
    name="health_page_after_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
)
def health_page_after_failure(
    context: dg.RunFailureSensorContext, pilotmonitor: PilotmonitorSettings
):
    """A failed run: Dagster skipped `pipeline_health`, so the page would be stale."""
    _page_after(context, pilotmonitor)
