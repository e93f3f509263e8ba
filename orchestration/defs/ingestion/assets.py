"""Ingestion assets: one per source, each loading that source's new deliveries from the
landing area into the raw layer, pseudonymising at the edge.

Assets are incremental by content: a run reads only files it has not registered yet
(a new monthly delivery loads only itself), so re-running changes nothing. Each source
asset carries two blocking checks: its row accounting, and the leak scan (no BSN or
onderwijsnummer, no name or street from the landing area in its tables); a source that
identifies people a third, one key version across the linked tables; and every source a
warning for the deliveries a steward must review (redelivery rules).
"""

import json
import os
from collections.abc import Callable, Sequence

import dagster as dg
import pandas as pd

from orchestration.resources import PilotmonitorSettings, WarehouseResource
from pilotmonitor.ingest import leak_scan, redelivery, warehouse_raw
from pilotmonitor.ingest.accounting import accounting_problems
from pilotmonitor.ingest.key_versions import key_version_problems
from pilotmonitor.ingest.loader import load_source
from pilotmonitor.ingest.pseudonymise import (
    Pseudonymiser,
    PseudonymKeyError,
    demo_key_path,
    load_key,
)
from pilotmonitor.ingest.sources import (
    SOURCES,
    ReadContext,
    Source,
    SourceReader,
    known_product_codes,
)
from pilotmonitor.quality import validate_ahead
from pilotmonitor.run_lock import is_held, lock_path

GROUP = "ingestion"
PREVIEW_ROWS = 40
# Besides its source's tables every ingestion asset writes the delivery register and the quarantine.
REGISTER_TABLES = ("deliveries", "quarantine")


def asset_name(source: Source) -> str:
    return f"raw_{source.name}"


def _demo_mode() -> bool:
    return os.environ.get("PILOTMONITOR_DEMO", "") == "1"


def _pseudonymiser(context: dg.AssetExecutionContext, settings) -> Pseudonymiser:
    try:
        key = load_key(settings.data_dir, demo=_demo_mode())
    except PseudonymKeyError as exc:
        raise dg.Failure(str(exc)) from None
    if key.version == "demo":
        context.log.warning(
            "DEMO MODE: pseudonyms use a local demo key in "
            f"{demo_key_path(settings.data_dir).parent} (not for real data)"
        )
    return Pseudonymiser(key)


def _summary_metadata(summary, conn, source: Source) -> dict:
    preview = pd.DataFrame(summary.new[:PREVIEW_ROWS])
    if not preview.empty:
        preview = preview[
            ["path", "status", "rows_read", "rows_loaded", "rows_quarantined", "error"]
        ].fillna("")
    totals = {
        table: conn.execute(f"select count(*) from raw.{table}").fetchone()[0]
        for table in source.tables
    }
    return {
        "deliveries_new": summary.count("loaded"),
        "deliveries_failed": summary.count("failed"),
        "deliveries_duplicate": summary.count("duplicate"),
        "deliveries_unchanged": summary.unchanged,
        "rows_read": summary.total("rows_read"),
        "rows_loaded": summary.total("rows_loaded"),
        "rows_quarantined": summary.total("rows_quarantined"),
        **{f"rows_in_raw.{table}": int(count) for table, count in totals.items()},
        "deliveries_this_run": dg.MetadataValue.md(
            preview.to_markdown(index=False) if not preview.empty else "no new deliveries"
        ),
    }


def build_source_asset(source: Source) -> dg.AssetsDefinition:
    @dg.asset(
        name=asset_name(source),
        group_name=GROUP,
        kinds={"python", "duckdb"},
        description=f"Raw {source.description}: {', '.join('raw.' + t for t in source.tables)}.",
        deps=[asset_name(s) for s in SOURCES if s.name in source.depends_on],
        check_specs=[
            dg.AssetCheckSpec(
                "row_accounting",
                asset=asset_name(source),
                blocking=True,
                description=(
                    "rows read = rows loaded + rows quarantined, per delivery, and the register "
                    "matches the tables"
                ),
            ),
            dg.AssetCheckSpec(
                "no_identifier_leak",
                asset=asset_name(source),
                blocking=True,
                description=(
                    "no BSN/onderwijsnummer and no name or street from the landing area in this "
                    "source's raw tables, its quarantine rows and its delivery register rows"
                ),
            ),
            dg.AssetCheckSpec(
                "redelivery_review",
                asset=asset_name(source),
                blocking=False,
                description=(
                    "no delivery waits for the steward: a copy of another period's content (not "
                    "loaded), or two files of one slot with the same delivery date and different "
                    "content"
                ),
            ),
            *(
                [
                    dg.AssetCheckSpec(
                        "one_key_version",
                        asset=asset_name(source),
                        blocking=True,
                        description=(
                            "the current deliveries whose rows carry pseudonyms (every source "
                            "that identifies people) share one key version; otherwise run "
                            "`pilotmonitor rekey`"
                        ),
                    )
                ]
                if source.identifies_people
                else []
            ),
        ],
    )
    def _asset(
        context: dg.AssetExecutionContext,
        pilotmonitor: PilotmonitorSettings,
        warehouse: WarehouseResource,
    ):
        settings = pilotmonitor.settings()
        if missing := settings.missing_landing_area():
            raise dg.Failure(missing)
        pseudonymiser = _pseudonymiser(context, settings) if source.identifies_people else None
        schema_dir = (
            settings.ijw_xsd_dir if (settings.ijw_xsd_dir / "basisschema.xsd").is_file() else None
        )
        if source.name == "ijw_messages" and schema_dir is None:
            context.log.warning(
                f"iJw XSDs not found at {settings.ijw_xsd_dir}: messages are parsed without "
                "schema validation"
            )
        with warehouse.get_connection() as conn:
            warehouse_raw.ensure_schema(conn)
            ctx = ReadContext(
                pseudonymiser, schema_dir, known_product_codes(conn) if source.depends_on else None
            )
            reader = SourceReader(source.name, ctx)
            summary = load_source(
                conn,
                settings.landing_dir,
                source.name,
                source.tables,
                reader,
                workers=settings.read_workers,
                key_version=pseudonymiser.key_version if pseudonymiser else None,
            )
            metadata = _summary_metadata(summary, conn, source)
            accounting = accounting_problems(conn, source.name)
            # The register too: a file name or an error message may carry a number.
            scanned = [f"raw.{t}" for t in source.tables] + ["raw.quarantine", "raw.deliveries"]
            leaks = leak_scan.scan_new_deliveries(
                conn,
                source.name,
                scanned,
                lambda: leak_scan.landing_name_tokens(settings.landing_dir),
            )
            reviews = redelivery.review_items(conn, source.name)
            key_problems = key_version_problems(conn) if source.identifies_people else []
            # GX validates the new rows in the run's helpers while the next source loads
            validate_ahead.submit(
                conn,
                source.name,
                source.tables,
                new_rows=summary.total("rows_loaded"),
                warn=context.log.warning,
            )
        for row in summary.new:
            if row["status"] == "failed":
                context.log.error(f"delivery failed: {row['error']}")
        yield dg.MaterializeResult(metadata=metadata)
        yield dg.AssetCheckResult(
            check_name="row_accounting",
            passed=not accounting,
            metadata={
                "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in accounting) or "none")
            },
        )
        yield dg.AssetCheckResult(
            check_name="no_identifier_leak",
            passed=not leaks,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "leaks": dg.MetadataValue.md(
                    "\n".join(f"- {leak.describe()}" for leak in leaks) or "none"
                )
            },
        )
        yield dg.AssetCheckResult(
            check_name="redelivery_review",
            passed=not reviews,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                f"{len(reviews)} deliver{'y' if len(reviews) == 1 else 'ies'} for the steward "
                "to review: " + reviews[0][2]
                if reviews
                else "nothing to review"
            ),
            metadata={
                "deliveries": dg.MetadataValue.md(
                    "\n".join(f"- {reason}" for _, _, reason in reviews) or "none"
                )
            },
        )
        if source.identifies_people:
            for problem in key_problems:
                context.log.error(problem)
            yield dg.AssetCheckResult(
                check_name="one_key_version",
                passed=not key_problems,
                severity=dg.AssetCheckSeverity.ERROR,
                description=key_problems[0] if key_problems else "one key version",
                metadata={
                    "problems": dg.MetadataValue.md(
                        "\n".join(f"- {p}" for p in key_problems) or "none"
                    )
                },
            )

    return _asset


source_assets = [build_source_asset(source) for source in SOURCES]
ingestion_job = dg.define_asset_job(
    "ingest_all",
    selection=dg.AssetSelection.groups(GROUP),
    description="Load every new delivery of every source.",
)


def _fingerprints(landing_dir) -> dict[str, str]:
    """Per source a fingerprint of its files (name, size, modification time)."""
    from hashlib import sha256

    from pilotmonitor.ingest.loader import files_of_source

    out = {}
    for source in SOURCES:
        digest = sha256()
        for path in files_of_source(landing_dir, source.name):
            stat = path.stat()
            digest.update(f"{path.name}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        out[source.name] = digest.hexdigest()[:16]
    return out


def build_landing_sensor(
    job, downstream_of: Callable[[Sequence[dg.AssetKey]], Sequence[dg.AssetKey]] | None = None
) -> dg.SensorDefinition:
    """The landing sensor for `job`: it asks for the ingestion assets of the sources whose
    files changed, followed by what `downstream_of` returns for them (the warehouse models
    built on those sources; the job must contain both)."""

    @dg.sensor(
        name="landing_sensor",
        job=job,
        minimum_interval_seconds=60,
        description=(
            "Starts ingestion of the sources whose files in the landing area changed, then "
            "rebuilds what depends on them."
        ),
    )
    def landing_sensor(context: dg.SensorEvaluationContext, pilotmonitor: PilotmonitorSettings):
        settings = pilotmonitor.settings()
        landing_dir = settings.landing_dir
        if not landing_dir.is_dir():
            return dg.SkipReason(f"no landing area at {landing_dir}")
        if is_held(lock_path(settings.data_dir)):  # cursor kept: the next tick sees the change
            return dg.SkipReason("a pipeline run is going on; looking again at the next tick")
        previous = json.loads(context.cursor) if context.cursor else {}
        current = _fingerprints(landing_dir)
        changed = [name for name, print_ in current.items() if previous.get(name) != print_]
        context.update_cursor(json.dumps(current))
        if not changed:
            return dg.SkipReason("no new or changed deliveries")
        run_key = "|".join(f"{n}:{current[n]}" for n in changed)
        if not previous:  # the first look (a new deployment): the whole job, reference data too
            return dg.RunRequest(run_key=run_key)
        selection = [dg.AssetKey(f"raw_{name}") for name in changed]
        if downstream_of is not None:
            selection += [key for key in downstream_of(selection) if key not in selection]
        return dg.RunRequest(run_key=run_key, asset_selection=selection)

    return landing_sensor


def build_ingestion_schedule(job) -> dg.ScheduleDefinition:
    """The daily sweep of the landing area, running `job` (ingestion and what follows it)."""
    return dg.ScheduleDefinition(
        name="daily_ingestion",
        job=job,
        cron_schedule="0 6 * * *",
        execution_timezone="Europe/Amsterdam",
        description=(
            "Daily sweep of the landing area and rebuild of the warehouse (deliveries arrive "
            "monthly; the sensor reacts faster)."
        ),
    )
