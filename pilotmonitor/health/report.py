"""The status as a terminal summary (rich)."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from pilotmonitor.health.status import SourceStatus, Status


def _validation_text(row: SourceStatus, status: Status) -> str:
    if status.validation_table is None or row.validation is None:
        return "[dim]not validated[/dim]" if row.deliveries["loaded"] else "[dim]-[/dim]"
    v = row.validation
    text = f"{v['errors']} err / {v['warnings']} warn"
    return f"[red]{text}[/red]" if v["errors"] else (f"[yellow]{text}[/yellow]" if v["warnings"] else f"[green]{text}[/green]")


def _freshness_text(row: SourceStatus) -> str:
    fresh = row.freshness
    state = fresh.state
    colour = {"fresh": "green", "stale": "yellow", "missing periods": "red"}.get(state, "dim")
    detail = fresh.summary() if state != "fresh" else f"fresh, {fresh.cadence}"
    return f"[{colour}]{detail}[/{colour}]"


def status_table(status: Status) -> Table:
    title = f"pipeline status as of {status.as_of.isoformat()}" + (" - SYNTHETIC DATA" if status.synthetic else "")
    table = Table(title=title, show_lines=False, padding=(0, 1))
    for column, justify in (
        ("source", "left"), ("snd", "right"), ("last", "left"), ("periods", "left"),
        ("ok/fail/dup", "right"), ("rows", "right"), ("quarantined", "right"),
        ("validation", "left"), ("freshness", "left"),
    ):
        table.add_column(column, justify=justify, overflow="fold", no_wrap=column in ("source", "last"))
    for row in status.sources:
        d = row.deliveries
        failed = f"[red]{d['failed']}[/red]" if row.failed_unresolved else str(d["failed"])
        table.add_row(
            row.source,
            str(row.senders),
            row.last_delivery.isoformat() if row.last_delivery else "-",
            row.period_covered or "-",
            f"{d['loaded']:,}/{failed}/{d['duplicate']}",
            f"{row.rows_loaded:,}",
            f"{row.rows_quarantined:,} ({row.quarantine_share:.2%})",
            _validation_text(row, status),
            _freshness_text(row),
        )
    return table


def render(status: Status, console: Console) -> None:
    console.print(status_table(status))
    totals = status.check_totals()
    if totals is None:
        console.print("checks: [dim]no asset check results recorded yet[/dim]")
    else:
        parts = []
        for label, t in totals.items():
            text = f"{label}: {t['passed']} passed"
            if t["failed_error"]:
                text += f", [red]{t['failed_error']} failed[/red]"
            if t["failed_warn"]:
                text += f", [yellow]{t['failed_warn']} warned[/yellow]"
            parts.append(text)
        console.print("checks (latest evaluation in the Dagster instance): " + "; ".join(parts))
    for row in status.sources:
        for failed in row.failed_unresolved:
            console.print(f"[red]failed, not re-delivered[/red]: {failed['path']}: {failed['error']}")
    for check in status.checks or []:
        if not check.passed and check.severity != "WARN":
            did_not_run = (check.description or "").startswith("did not run")
            console.print(f"[red]failing check[/red]: {check.asset} / {check.check}" + (" (did not run: errored or skipped in the latest run)" if did_not_run else ""))
    for warning in status.warnings:
        console.print(f"[yellow]warning[/yellow]: {warning}")
    if status.publication:
        console.print(f"analyses read: {status.publication}")
    verdict = Text(status.verdict, style="bold green" if status.ready else "bold red")
    console.print(Group(verdict))
