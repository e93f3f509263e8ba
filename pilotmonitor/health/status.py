"""The pipeline status a data steward needs before publication, per source and overall.

`collect_status` reads (never writes) the warehouse and the Dagster instance and returns a
`Status`, which renders to JSON and carries the verdict. Exit codes (`pilotmonitor status`
and `pilotmonitor health`): 0 ready for publication, 1 blocked, 2 the warehouse could not
be read, 3 the latest run was interrupted.

Design notes: docs/design/health.md#pilotmonitorhealthstatuspy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from pilotmonitor.health.cadence import load_cadences
from pilotmonitor.health.freshness import SourceFreshness, all_freshness
from pilotmonitor.health.interrupted import InterruptedRun, find_interrupted_run
from pilotmonitor.health.reasons import quarantine_reasons
from pilotmonitor.health.register_flags import register_flags
from pilotmonitor.health.source_agreement import ThuiszitterAgreement, thuiszitter_agreement
from pilotmonitor.health.validation_summary import validation_summary
from pilotmonitor.publication.check_results import (
    RUN_INTERRUPTED,
    CheckResult,
    check_and_build_results,
    checks_from_instance,
    open_instance,
)
from pilotmonitor.table_digest import table_exists

__all__ = [
    "CheckResult",
    "Status",
    "SourceStatus",
    "checks_from_instance",
    "collect_status",
    "latest_check_results",
    "status_from_files",
]


def latest_check_results(dagster_home: Path | None, limit: int = 20000) -> list[CheckResult] | None:
    """`check_and_build_results` on the Dagster instance at `dagster_home`; None when there is
    none."""
    return latest_run_results(dagster_home, limit)[0]


def latest_run_results(dagster_home: Path | None, limit: int = 20000):
    """The latest check results and the latest run when it was interrupted (else None),
    from the Dagster instance at `dagster_home`; (None, None) when there is none."""
    if dagster_home is None or not (dagster_home / "dagster.yaml").is_file():
        return None, None

    instance = open_instance(dagster_home)
    try:
        interrupted = find_interrupted_run(instance)
        return check_and_build_results(
            instance, limit, interrupted_run_id=interrupted.run_id if interrupted else None
        ), interrupted
    finally:
        instance.dispose()


EXIT_READY, EXIT_BLOCKED, EXIT_UNREADABLE, EXIT_INTERRUPTED = 0, 1, 2, 3


@dataclass
class SourceStatus:
    source: str
    senders: int
    last_delivery: date | None
    period_covered: str | None  # earliest - latest period loaded
    deliveries: dict[str, int]  # loaded / failed / duplicate
    failed_unresolved: list[dict]
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    validation: dict | None  # None: not validated yet
    freshness: SourceFreshness
    checks_failed: list[CheckResult] = field(default_factory=list)
    checks_not_run: list[CheckResult] = field(default_factory=list)
    quarantine_reasons: list[dict] = field(default_factory=list)

    @property
    def quarantine_share(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "senders": self.senders,
            "last_delivery": self.last_delivery.isoformat() if self.last_delivery else None,
            "period_covered": self.period_covered,
            "deliveries": self.deliveries,
            "failed_not_redelivered": self.failed_unresolved,
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "quarantine_share": round(self.quarantine_share, 6),
            "quarantine_reasons": self.quarantine_reasons,
            "validation": self.validation,
            "freshness": self.freshness.to_dict(),
            "checks_failed": [
                {"check": c.check, "severity": c.severity, "outcome": c.outcome}
                for c in self.checks_failed
            ],
            "checks_not_run": [c.check for c in self.checks_not_run],
        }


@dataclass
class Status:
    as_of: date
    warehouse: str
    synthetic: bool
    sources: list[SourceStatus]
    checks: list[CheckResult] | None  # None: no Dagster instance / no results
    validation_table: str | None
    trends: pd.DataFrame  # source, month, deliveries, rows_loaded, rows_quarantined
    blocking: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    publication: str | None = (
        None  # what analyses read now (schema published), and whether it is stale
    )
    interrupted: InterruptedRun | None = None  # the latest run stopped before it finished
    thuiszitters: ThuiszitterAgreement | None = (
        None  # school records against the leerplicht register
    )

    @property
    def ready(self) -> bool:
        return not self.blocking and self.interrupted is None

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks or [] if c.failed]

    @property
    def not_run_checks(self) -> list[CheckResult]:
        return [c for c in self.checks or [] if c.not_run]

    @property
    def verdict(self) -> str:
        if self.interrupted is not None:  # a half run vouches for nothing: rerun before judging
            also = ("; also blocking: " + "; ".join(self.blocking)) if self.blocking else ""
            return "INTERRUPTED, RERUN: " + self.interrupted.summary() + also
        if self.ready:
            return "READY FOR PUBLICATION" + (
                f" ({len(self.warnings)} warning(s))" if self.warnings else ""
            )
        not_run = len(self.not_run_checks)
        return (
            "BLOCKED: "
            + "; ".join(self.blocking)
            + (
                f" ({not_run} more check(s) not run because something upstream blocked)"
                if not_run
                else ""
            )
        )

    @property
    def verdict_kind(self) -> str:
        """How the verdict is shown: "ready", "interrupted" (only a rerun is missing) or
        "blocked" (an interrupted run that also has blocking checks shows as blocked)."""
        if self.ready:
            return "ready"
        if self.interrupted is not None and not self.blocking:
            return "interrupted"
        return "blocked"

    @property
    def exit_code(self) -> int:
        if self.interrupted is not None:
            return EXIT_INTERRUPTED
        return EXIT_READY if self.ready else EXIT_BLOCKED

    def check_totals(self) -> dict | None:
        """Per kind (the assets' own checks, dbt tests): passed, failed (error severity,
        including checks that errored), warned, and not run (upstream blocked)."""
        if self.checks is None:
            return None
        dbt = [c for c in self.checks if not c.asset.startswith("raw_")]
        own = [c for c in self.checks if c.asset.startswith("raw_")]
        return {
            label: {
                "passed": sum(c.passed for c in group),
                "failed_error": sum(c.blocks for c in group),
                "failed_warn": sum(c.failed and not c.blocks for c in group),
                "not_run": sum(c.not_run for c in group),
            }
            for label, group in (("ingestion checks", own), ("warehouse checks (dbt tests)", dbt))
        }

    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "warehouse": self.warehouse,
            "synthetic": self.synthetic,
            "ready": self.ready,
            "verdict": self.verdict,
            "interrupted_run": self.interrupted.to_dict() if self.interrupted else None,
            "blocking": self.blocking,
            "warnings": self.warnings,
            "validation_table": self.validation_table,
            "publication": self.publication,
            "checks": self.check_totals(),
            "failed_checks": [
                {
                    "asset": c.asset,
                    "check": c.check,
                    "severity": c.severity,
                    "outcome": c.outcome,
                    "description": c.description,
                }
                for c in self.failed_checks
            ],
            "not_run_checks": [
                {"asset": c.asset, "check": c.check, "reason": c.not_run_reason}
                for c in self.not_run_checks
            ],
            "sources": [s.to_dict() for s in self.sources],
            "thuiszitter_sources": None
            if self.thuiszitters is None
            else {
                "totals": self.thuiszitters.totals,
                "disagreements": self.thuiszitters.disagreements.assign(
                    has_register=lambda f: f.has_register.astype(bool),
                    is_disagreement=lambda f: f.is_disagreement.astype(bool),
                ).to_dict("records"),
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)


# --- reading ---------------------------------------------------------------------------


def _deliveries(conn, sources: set[str] | None = None) -> pd.DataFrame:
    """raw.deliveries, or only the deliveries of `sources` (a national register holds about
    180,000 files; a source's freshness check needs its own)."""
    columns = [
        "path",
        "source",
        "sender",
        "period",
        "delivered_on",
        "status",
        "error",
        "rows_read",
        "rows_loaded",
        "rows_quarantined",
        "superseded_by",
        "is_current",
    ]
    if not table_exists(conn, "raw", "deliveries"):
        return pd.DataFrame(columns=columns)
    where, params = (
        ("", [])
        if sources is None
        else ("where source in (select unnest(?::varchar[]))", [sorted(sources)])
    )
    frame = conn.execute(f"select {', '.join(columns)} from raw.deliveries {where}", params).df()
    frame["delivered_on"] = pd.to_datetime(frame["delivered_on"])
    frame["period"] = frame["period"].fillna("")
    return frame


def _pilots(conn) -> pd.DataFrame | None:
    if not table_exists(conn, "raw", "pilots"):
        return None
    return conn.execute("select pilot_id, start_date, planned_end_date from raw.pilots").df()


def _period_range(periods: pd.Series) -> str | None:
    values = sorted(p for p in periods.dropna().unique() if p)
    if not values:
        return None
    return values[0] if len(values) == 1 else f"{values[0]} .. {values[-1]}"


def _failed_unresolved(mine: pd.DataFrame) -> list[dict]:
    out = []
    loaded = mine[mine["status"] == "loaded"]
    for _, row in mine[mine["status"] == "failed"].iterrows():
        later = loaded[
            (loaded["sender"] == row["sender"])
            & (loaded["period"] == row["period"])
            & (loaded["delivered_on"] >= row["delivered_on"])
        ]
        if later.empty:
            out.append(
                {
                    "path": row["path"],
                    "sender": row["sender"],
                    "period": row["period"] or None,
                    "delivered_on": _date(row["delivered_on"]),
                    "error": row["error"],
                }
            )
    return out


def _date(value):
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def collect_status(
    conn: duckdb.DuckDBPyConnection,
    as_of: date,
    *,
    warehouse: str = "",
    landing_dir: Path | None = None,
    checks: list[CheckResult] | None = None,
    sources: list[str] | None = None,
    interrupted: InterruptedRun | None = None,
) -> Status:
    """Everything the status and the health page show, read from an open warehouse."""
    if sources is None:
        from pilotmonitor.ingest.sources import SOURCES

        sources = [s.name for s in SOURCES]
    cadences = load_cadences()
    all_deliveries = _deliveries(conn)
    deliveries = (
        all_deliveries[all_deliveries["delivered_on"].dt.date <= as_of]
        if not all_deliveries.empty
        else all_deliveries
    )
    freshness = all_freshness(deliveries, as_of, sources, _pilots(conn), cadences)
    validation_table, validation = validation_summary(conn, deliveries)
    loaded_paths = (
        deliveries.loc[deliveries["status"] == "loaded", "path"].tolist()
        if not deliveries.empty
        else []
    )
    quarantine = quarantine_reasons(conn, loaded_paths)
    rows = []
    blocking: list[str] = []
    warnings: list[str] = []
    for name in sources:
        mine = deliveries[deliveries["source"] == name]
        counts = {
            status: int((mine["status"] == status).sum())
            for status in ("loaded", "failed", "duplicate")
        }
        loaded = mine[mine["status"] == "loaded"]
        status = SourceStatus(
            source=name,
            senders=int(mine["sender"].nunique()),
            last_delivery=mine["delivered_on"].max().date() if not mine.empty else None,
            period_covered=_period_range(loaded["period"]),
            deliveries=counts,
            failed_unresolved=_failed_unresolved(mine),
            rows_read=int(loaded["rows_read"].fillna(0).sum()),
            rows_loaded=int(loaded["rows_loaded"].fillna(0).sum()),
            rows_quarantined=int(loaded["rows_quarantined"].fillna(0).sum()),
            validation=validation.get(name) if validation_table else None,
            freshness=freshness[name],
            checks_failed=[c for c in (checks or []) if c.source == name and c.failed],
            checks_not_run=[c for c in (checks or []) if c.source == name and c.not_run],
            quarantine_reasons=quarantine.get(name, []),
        )
        rows.append(status)
        if status.failed_unresolved:
            blocking.append(
                f"{name}: {len(status.failed_unresolved)} failed "
                f"deliver{'y' if len(status.failed_unresolved) == 1 else 'ies'} not re-delivered"
            )
        if status.validation and status.validation["errors"]:
            v = status.validation
            blocking.append(
                f"{name}: {v['errors']} error-level validation failure(s) in "
                f"{v['deliveries_with_errors']} "
                f"deliver{'y' if v['deliveries_with_errors'] == 1 else 'ies'}"
            )
        if status.validation and status.validation["warnings"]:
            warnings.append(f"{name}: {status.validation['warnings']} validation warning(s)")
        missing = status.freshness.missing
        if missing:
            blocking.append(
                f"{name}: {len(missing)} missing period(s) "
                f"({', '.join(f'{s} {p}' for s, p in missing[:3])}"
                f"{', ...' if len(missing) > 3 else ''})"
            )
        if status.freshness.stale:
            warnings.append(f"{name}: {len(status.freshness.stale)} stale sender(s)")
        if counts["duplicate"]:
            warnings.append(
                f"{name}: {counts['duplicate']} duplicate "
                f"deliver{'y' if counts['duplicate'] == 1 else 'ies'} (ignored)"
            )
    flagged_blocking, flagged_warnings = register_flags(conn)  # redelivery reviews, key versions
    blocking += flagged_blocking
    warnings += flagged_warnings
    if validation_table is None and not deliveries.empty:
        warnings.append("deliveries not validated yet (no validation results in the warehouse)")
    if checks is None:
        warnings.append("no asset check results recorded yet (run the pipeline)")
    else:
        failed_error = [c for c in checks if c.blocks]
        if failed_error:
            names = ", ".join(
                f"{c.asset} / {c.check}" + (" (errored)" if c.state == "errored" else "")
                for c in failed_error[:3]
            )
            blocking.append(
                f"{len(failed_error)} failed check(s) or dbt test(s): "
                f"{names}{', ...' if len(failed_error) > 3 else ''}"
            )
        failed_warn = [
            c for c in checks if c.failed and not c.blocks and c.check != "delivery_freshness"
        ]
        if failed_warn:
            warnings.append(f"{len(failed_warn)} check(s) warned")
        not_run = [c for c in checks if c.not_run and c.not_run_reason != RUN_INTERRUPTED]
        if not_run:
            warnings.append(
                f"{len(not_run)} check(s) not run in the latest run because something upstream "
                "blocked (they run again once it is fixed)"
            )
        cut_off = [c for c in checks if c.not_run and c.not_run_reason == RUN_INTERRUPTED]
        if cut_off:
            warnings.append(
                f"{len(cut_off)} check(s) not run because the latest run was interrupted (they "
                "run again in the rerun)"
            )
    synthetic = bool(landing_dir and (landing_dir / "SYNTHETIC_DATA.txt").is_file())
    from pilotmonitor.publication.gate import publication_state

    publication = publication_state(conn)
    if publication.is_stale:
        warnings.append("published results are stale: " + publication.summary())
    agreement = thuiszitter_agreement(conn)
    if agreement is not None and (signal := agreement.warning()):
        warnings.append(signal)
    return Status(
        as_of,
        warehouse,
        synthetic,
        rows,
        checks,
        validation_table,
        trends(deliveries),
        blocking,
        warnings,
        publication.summary(),
        interrupted,
        agreement,
    )


def trends(deliveries: pd.DataFrame) -> pd.DataFrame:
    """Per source and delivery month: deliveries, rows loaded and quarantined (aggregates only)."""
    columns = ["source", "month", "deliveries", "rows_loaded", "rows_quarantined"]
    loaded = deliveries[deliveries["status"] == "loaded"] if not deliveries.empty else deliveries
    if loaded.empty:
        return pd.DataFrame(columns=columns)
    frame = loaded.assign(month=loaded["delivered_on"].dt.strftime("%Y-%m"))
    out = (
        frame.groupby(["source", "month"])
        .agg(
            deliveries=("path", "count"),
            rows_loaded=("rows_loaded", "sum"),
            rows_quarantined=("rows_quarantined", "sum"),
        )
        .reset_index()
    )
    return out[columns]


class WarehouseUnreadable(RuntimeError):
    """The warehouse could not be read: no status can be given (exit code 2)."""

    exit_code = EXIT_UNREADABLE


class WarehouseMissing(WarehouseUnreadable):
    pass


class WarehouseBusy(WarehouseUnreadable):
    pass


def status_from_files(
    warehouse_path: Path,
    as_of: date,
    *,
    landing_dir: Path | None = None,
    dagster_home: Path | None = None,
) -> Status:
    """Open the warehouse read-only and collect the status (what the CLI uses)."""
    from pilotmonitor.warehouse_access import WarehouseConnectionError, warehouse

    place = warehouse(warehouse_path)
    if not place.exists():
        raise WarehouseMissing(
            f"no warehouse at {place.describe()}: run `pilotmonitor run --demo` first (or "
            "`pilotmonitor run` on real deliveries)"
        )
    try:
        conn = place.connect(read_only=True)
    except WarehouseConnectionError as exc:
        raise WarehouseUnreadable(str(exc)) from None
    except (
        duckdb.Error
    ) as exc:  # a writer's lock, not a DuckDB file, or already open with other settings
        if "lock" in str(exc).lower():
            raise WarehouseBusy(
                f"cannot open the warehouse read-only ({exc}); a pipeline run is probably writing "
                "it: try again when it has finished"
            ) from None
        raise WarehouseUnreadable(
            f"cannot open the warehouse {warehouse_path} read-only: {exc}"
        ) from None
    try:
        if not table_exists(conn, "raw", "deliveries"):
            raise WarehouseMissing(
                f"the warehouse at {warehouse_path} has no delivery register yet: run "
                "`pilotmonitor run --demo` first"
            )
        checks, interrupted = latest_run_results(dagster_home)
        return collect_status(
            conn,
            as_of,
            warehouse=place.describe(),
            landing_dir=landing_dir,
            checks=checks,
            interrupted=interrupted,
        )
    finally:
        conn.close()
