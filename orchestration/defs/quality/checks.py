"""Asset checks running the Great Expectations suites (expectations/*.json) on the new
deliveries of each ingestion asset ``raw_<source>``.

Two checks per source, evaluated in one step: ``expectations_error`` (blocking, severity
ERROR) and ``expectations_warning`` (not blocking, severity WARN).

Design notes: docs/design/orchestration.md#orchestrationdefsqualitycheckspy.
"""

import dagster as dg
import pandas as pd

from orchestration.defs.ingestion.assets import asset_name
from orchestration.resources import PilotmonitorSettings, WarehouseResource
from pilotmonitor.ingest.sources import SOURCES, Source
from pilotmonitor.quality import store, validate_ahead

MAX_LISTED = 30


def _failures(conn, source: Source, severity: str) -> pd.DataFrame:
    return conn.execute(
        f"""select v.path, v."table", v.expectation_type, v."column", v.unexpected_count, round(v.unexpected_percent, 2) as unexpected_percent, v.examples, v.steward_message
            from {store.SCHEMA}.validation_results v join raw.deliveries d on d.path = v.path and d.delivery_id = v.delivery_id and d.is_current and d.status = 'loaded'
            where v.source = ? and v.severity = ? and not v.success
              and v.suite_hash = (select max_by(suite_hash, validated_at) from {store.SCHEMA}.validation_results w where w."table" = v."table")
            order by v.path, v."table", v.expectation_type""",  # noqa: E501
        [source.name, severity],
    ).df()


def _blank_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values as empty text for display (object first: nullable Int64/boolean
    columns reject "")."""
    shown = frame.astype(object)
    return shown.where(shown.notna(), "")


def _metadata(failures: pd.DataFrame, validated: int, rows: int) -> dict:
    listed = _blank_missing(failures.head(MAX_LISTED))
    by_expectation = (
        failures.groupby(["table", "expectation_type", "column"], dropna=False)
        .agg(
            deliveries=("path", "nunique"),
            unexpected=("unexpected_count", "sum"),
            steward_message=("steward_message", "first"),
        )
        .reset_index()
        if len(failures)
        else pd.DataFrame()
    )
    return {
        "deliveries_validated_now": validated,
        "rows_validated_now": rows,
        "failed_expectations": len(failures),
        "deliveries_with_failures": int(failures.path.nunique()) if len(failures) else 0,
        "summary": dg.MetadataValue.md(
            _blank_missing(by_expectation).to_markdown(index=False)
            if len(by_expectation)
            else "none"
        ),
        "failures": dg.MetadataValue.md(listed.to_markdown(index=False) if len(listed) else "none"),
    }


def build_checks(source: Source) -> dg.AssetChecksDefinition:
    """Both checks of one source in one step: the pending deliveries are validated once, the
    results written, then each severity's failures read back (a step and three warehouse
    connections per source fewer than a check each)."""
    key = asset_name(source)

    @dg.multi_asset_check(
        name=f"{key}_expectations",
        specs=[
            dg.AssetCheckSpec(
                "expectations_error",
                asset=key,
                blocking=True,
                description=(
                    "Great Expectations error-level expectations on the new deliveries of "
                    f"{source.name} ({', '.join(source.tables)}); blocks the warehouse build."
                ),
            ),
            dg.AssetCheckSpec(
                "expectations_warning",
                asset=key,
                blocking=False,
                description=(
                    "Great Expectations warning-level expectations (row count against the "
                    "sender's history, missing-value thresholds) on "
                    f"{source.name}; shown, not blocking."
                ),
            ),
        ],
    )
    def expectations(
        context: dg.AssetCheckExecutionContext,
        pilotmonitor: PilotmonitorSettings,
        warehouse: WarehouseResource,
    ):
        settings = pilotmonitor.settings()
        with warehouse.get_connection(read_only=True) as conn:
            validation = validate_ahead.validate_pending(
                conn, source.name, source.tables, log=context.log.info, warn=context.log.warning
            )
        with warehouse.get_connection() as conn:
            results = validation.results()
            store.write_results(conn, results)
            errors = _failures(conn, source, "error")
            warnings = _failures(conn, source, "warning")
            docs = settings.data_dir / "quality" / "data_docs"
            if len(results) or not (docs / "index.html").is_file():  # nothing new: the pages stand
                store.build_data_docs(docs, validation.docs_pages, conn)
        rows = int(
            results.drop_duplicates(["delivery_id", "table"], keep="last")["rows_validated"].sum()
            if len(results)
            else 0
        )
        validated = len(validation.deliveries)
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name="expectations_error",
            passed=errors.empty,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata=_metadata(errors, validated, rows),
        )
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name="expectations_warning",
            passed=warnings.empty,
            severity=dg.AssetCheckSeverity.WARN,
            metadata=_metadata(warnings, validated, 0),
        )

    return expectations


quality_checks = [build_checks(source) for source in SOURCES]
