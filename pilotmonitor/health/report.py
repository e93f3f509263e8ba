"""The status as a terminal summary (rich)."""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pilotmonitor.health.status import SourceStatus, Status

VERDICT_STYLE = {"ready": "bold green", "interrupted": "bold yellow", "blocked": "bold red"}


def _validation_text(row: SourceStatus, status: Status) -> str:
    if status.validation_table is None or row.validation is None:
        return "[dim]not validated[/dim]" if row.deliveries["loaded"] else "[dim]-[/dim]"
    v = row.validation
    text = f"{v['errors']} err / {v['warnings']} warn"
    return (
        f"[red]{text}[/red]"
        if v["errors"]
        else (f"[yellow]{text}[/yellow]" if v["warnings"] else f"[green]{text}[/green]")
    )


def _freshness_text(row: SourceStatus) -> str:
    fresh = row.freshness
    state = fresh.state
    colour = {"fresh": "green", "stale": "yellow", "missing periods": "red"}.get(state, "dim")
    detail = fresh.summary() if state != "fresh" else f"fresh, {fresh.cadence}"
    return f"[{colour}]{detail}[/{colour}]"


def status_table(status: Status) -> Table:
    title = f"pipeline status as of {status.as_of.isoformat()}" + (
        " - SYNTHETIC DATA" if status.synthetic else ""
    )
    table = Table(title=title, show_lines=False, padding=(0, 1))
    for column, justify in (
        ("source", "left"),
        ("snd", "right"),
        ("last", "left"),
        ("periods", "left"),
        ("ok/fail/dup", "right"),
        ("rows", "right"),
        ("quarantined", "right"),
        ("validation", "left"),
        ("freshness", "left"),
    ):
        table.add_column(
            column, justify=justify, overflow="fold", no_wrap=column in ("source", "last")
        )
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


def _deliveries_text(count: int, files: list[str], shown: int = 3) -> str:
    files = files[:shown]
    listed = ", ".join(files) + (", ..." if count > len(files) else "")
    return (
        f"{count} deliver{'y' if count == 1 else 'ies'} ({listed})"
        if files
        else f"{count} deliver{'y' if count == 1 else 'ies'}"
    )


def reason_lines(status: Status) -> list[str]:
    """Per source, the top quarantine reasons and validation failures (rich markup)."""
    lines = []
    for row in status.sources:
        for r in row.quarantine_reasons:
            detail = f" - {escape(r['detail'])}" if r["detail"] else ""
            lines.append(
                f"[yellow]quarantined[/yellow] {row.source}: "
                f"{escape(str(r['reason_code']))}{detail}: {r['rows']:,} row(s) in "
                f"{escape(_deliveries_text(r['deliveries'], r['delivery_files']))}"
            )
        for f in (row.validation or {}).get("top_failures", []):
            colour = "red" if f["severity"] == "error" else "yellow"
            where = ".".join(str(x) for x in (f["table"], f["column"]) if x)
            message = f" - {escape(f['message'])}" if f["message"] else ""
            lines.append(
                f"[{colour}]validation {f['severity']}[/{colour}] {row.source}: "
                f"{escape(str(f['expectation']))} on {escape(where)}{message}: "
                f"{f['unexpected_values']:,} unexpected value(s) in "
                f"{escape(_deliveries_text(f['deliveries'], f['delivery_files']))}"
            )
    return lines


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
            if t["not_run"]:
                text += f", [dim]{t['not_run']} not run[/dim]"
            parts.append(text)
        console.print(
            "checks (latest evaluation in the Dagster instance): " + "; ".join(parts),
            soft_wrap=True,
        )
    for line in reason_lines(status):
        console.print(line, soft_wrap=True)
    for row in status.sources:
        for failed in row.failed_unresolved:
            console.print(
                f"[red]failed, not re-delivered[/red]: {escape(str(failed['path']))}: "
                f"{escape(str(failed['error']))}",
                soft_wrap=True,
            )
    for check in status.failed_checks:
        if check.blocks:
            console.print(
                f"[red]{check.outcome} check[/red]: {check.asset} / {check.check}"
                + (
                    f" - {escape(check.description.splitlines()[0][:200])}"
                    if check.description
                    else ""
                ),
                soft_wrap=True,
            )
    for reason in sorted({c.not_run_reason for c in status.not_run_checks}):
        not_run = [c for c in status.not_run_checks if c.not_run_reason == reason]
        names = ", ".join(f"{c.asset} / {c.check}" for c in not_run[:5])
        console.print(
            f"[dim]not run ({reason})[/dim]: {len(not_run)} check(s): "
            f"{escape(names)}{', ...' if len(not_run) > 5 else ''}",
            soft_wrap=True,
        )
    for warning in status.warnings:
        console.print(f"[yellow]warning[/yellow]: {escape(warning)}", soft_wrap=True)
    if status.publication:
        console.print(f"analyses read: {escape(status.publication)}", soft_wrap=True)
    verdict = Text(status.verdict, style=VERDICT_STYLE[status.verdict_kind])
    console.print(Group(verdict))
