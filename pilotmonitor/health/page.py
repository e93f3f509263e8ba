"""The pipeline-health page: one static HTML file, no scripts, no CDN, charts as inline SVG.

Only aggregates are shown (counts per source, sender codes of organisations that are
late, readable error messages of failed deliveries); never a person's identifier or
pseudonym.
"""

from __future__ import annotations

import html
import os
from datetime import datetime
from pathlib import Path

import pandas as pd

from pilotmonitor.health.status import Status

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2433;max-width:1300px}
h1{margin-bottom:.2rem} .sub{color:#5b6478;margin-top:0}
.synthetic{background:#fff3cd;border:2px solid #d39e00;padding:.6rem 1rem;font-weight:700;letter-spacing:.05em}
.verdict{font-size:1.3rem;font-weight:700;padding:.7rem 1rem;border-radius:6px;margin:1rem 0}
.ready{background:#e6f4ea;color:#137333}.blocked{background:#fce8e6;color:#a50e0e}.interrupted{background:#fff3cd;color:#7a4f00}
table{border-collapse:collapse;width:100%;font-size:.88rem;margin:.5rem 0 1.5rem}
th,td{border-bottom:1px solid #e3e6ee;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f6fa} td.n{text-align:right;font-variant-numeric:tabular-nums}
.fresh{color:#137333}.stale{color:#b06000}.missing{color:#a50e0e;font-weight:600}.dim{color:#8a93a6}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(400px,1fr));gap:1rem}
.chart{border:1px solid #e3e6ee;border-radius:6px;padding:.5rem}
.chart h3{margin:.2rem 0 .4rem;font-size:1rem}
ul{margin-top:.3rem}
"""  # noqa: E501


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _months(first: str, last: str) -> list[str]:
    return [p.strftime("%Y-%m") for p in pd.period_range(first, last, freq="M")]


def trend_svg(frame: pd.DataFrame, width: int = 400, height: int = 150) -> str:
    """Two bar panels over delivery months: rows loaded (blue), rows quarantined (red)."""
    if frame.empty:
        return '<p class="dim">no loaded deliveries</p>'
    months = _months(frame["month"].min(), frame["month"].max())
    by_month = frame.set_index("month")
    loaded = [float(by_month["rows_loaded"].get(m, 0) or 0) for m in months]
    quarantined = [float(by_month["rows_quarantined"].get(m, 0) or 0) for m in months]
    left, right, panel, gap, top = 48, 6, (height - 40) // 2, 14, 6
    plot_w = width - left - right
    bar_w = max(plot_w / len(months), 0.5)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 '
        f'{width} {height}" role="img" aria-label="rows loaded and quarantined per delivery '
        'month">'
    ]
    for i, (values, colour, label) in enumerate(
        ((loaded, "#3b6fd8", "loaded"), (quarantined, "#d93025", "quarantined"))
    ):
        y0 = top + i * (panel + gap)
        peak = max(values) or 1.0
        parts.append(
            f'<line x1="{left}" y1="{y0 + panel}" x2="{width - right}" y2="{y0 + panel}" '
            'stroke="#c4c9d4" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{left - 4}" y="{y0 + 9}" font-size="9" text-anchor="end" '
            f'fill="#5b6478">{int(max(values)):,}</text>'
        )
        parts.append(
            f'<text x="{left - 4}" y="{y0 + panel}" font-size="9" text-anchor="end" '
            'fill="#5b6478">0</text>'
        )
        parts.append(
            f'<text x="{left + 2}" y="{y0 + 9}" font-size="9" fill="{colour}">rows {label}</text>'
        )
        for j, value in enumerate(values):
            if value <= 0:
                continue
            h = max(value / peak * (panel - 2), 1.0)
            parts.append(
                f'<rect x="{left + j * bar_w:.2f}" y="{y0 + panel - h:.2f}" '
                f'width="{max(bar_w - 0.3, 0.5):.2f}" height="{h:.2f}" '
                f'fill="{colour}"><title>{months[j]}: {int(value):,}</title></rect>'
            )
    base = height - 6
    parts.append(f'<text x="{left}" y="{base}" font-size="9" fill="#5b6478">{months[0]}</text>')
    parts.append(
        f'<text x="{width - right}" y="{base}" font-size="9" text-anchor="end" '
        f'fill="#5b6478">{months[-1]}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _link(target: Path | None, page_dir: Path, label: str) -> str:
    if target is None or not target.is_file():
        return f'<li>{_e(label)}: <span class="dim">not generated yet</span></li>'
    relative = os.path.relpath(target, page_dir)
    return f'<li><a href="{_e(Path(relative).as_posix())}">{_e(label)}</a></li>'


def table_html(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """A table whose every row has exactly one cell per header (cells are HTML already)."""
    out = ["<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in headers) + "</tr>"]
    for cells in rows:
        if len(cells) != len(headers):
            raise ValueError(f"{len(cells)} cells for {len(headers)} columns: {headers}")
        out.append(
            "<tr>"
            + "".join(
                f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                for i, c in enumerate(cells)
            )
            + "</tr>"
        )
    out.append("</table>")
    return "".join(out)


def _files(count: int, files: list[str]) -> str:
    return _e(", ".join(files) + (", ..." if count > len(files) else ""))


def reasons_html(status: Status) -> list[str]:
    """Why rows were quarantined and why validations failed, per source (top reasons)."""
    out = []
    quarantined = [
        [
            _e(row.source),
            _e(r["reason_code"]),
            _e(r["detail"] or "-"),
            f"{r['rows']:,}",
            f"{r['deliveries']:,}",
            _files(r["deliveries"], r["delivery_files"]),
        ]
        for row in status.sources
        for r in row.quarantine_reasons
    ]
    if quarantined:
        out.append(
            "<h2>Why rows were quarantined</h2><p>Top reasons per source (rows held back in "
            "<code>raw.quarantine</code>).</p>"
        )
        out.append(
            table_html(
                ["source", "reason", "example detail", "rows", "deliveries", "delivery files"],
                quarantined,
                numeric={3, 4},
            )
        )
    failures = [
        [
            _e(row.source),
            _e(f["severity"]),
            _e(f["expectation"]),
            _e(".".join(str(x) for x in (f["table"], f["column"]) if x)),
            _e(f["message"] or "-"),
            f"{f['unexpected_values']:,}",
            f"{f['deliveries']:,}",
            _files(f["deliveries"], f["delivery_files"]),
        ]
        for row in status.sources
        for f in (row.validation or {}).get("top_failures", [])
    ]
    if failures:
        out.append(
            "<h2>Validation failures</h2><p>Top failed expectations per source in the latest "
            "validation of each delivery.</p>"
        )
        out.append(
            table_html(
                [
                    "source",
                    "severity",
                    "expectation",
                    "table.column",
                    "message",
                    "unexpected values",
                    "deliveries",
                    "delivery files",
                ],
                failures,
                numeric={5, 6},
            )
        )
    return out


def thuiszitters_html(status: Status) -> list[str]:
    """Thuiszitters from two sources: how far the school records and the leerplicht register
    agree."""
    agreement = status.thuiszitters
    if agreement is None or agreement.years.empty:
        return []
    t = agreement.totals
    out = [
        "<h2>Thuiszitters: school records and leerplicht register</h2>",
        "<p>Thuiszitter spells found in the school absence records against the thuiszitters the "
        "municipalities register (the same pupil with overlapping dates counts as both). "
        "Disagreement is a quality signal, not an error: ask the municipality or the school "
        "which one is incomplete.</p>",
        table_html(
            [
                "spells (all years)",
                "school records",
                "register",
                "both",
                "school only",
                "register only",
            ],
            [
                [
                    "total",
                    f"{t['spells_school']:,}",
                    f"{t['spells_register']:,}",
                    f"{t['spells_both']:,}",
                    f"{t['spells_school_only']:,}",
                    f"{t['spells_register_only']:,}",
                ]
            ],
            numeric={1, 2, 3, 4, 5},
        ),
    ]
    flagged = agreement.disagreements
    if flagged.empty:
        out.append(
            '<p class="fresh">No municipality and school year disagrees beyond the threshold.</p>'
        )
        return out
    rows = [
        [
            _e(r.municipality_code),
            f"{r.school_year}-{r.school_year + 1}",
            f"{r.spells_school:,}",
            f"{r.spells_register:,}",
            f"{r.spells_both:,}",
            f"{r.spells_school_only:,}",
            f"{r.spells_register_only:,}",
            f'<span class="missing">{r.agreement_share:.0%}</span>',
        ]
        for r in flagged.itertuples()
    ]
    out.append(f"<h3>{len(flagged):,} municipality-year(s) where the sources disagree</h3>")
    out.append(
        table_html(
            [
                "municipality",
                "school year",
                "school records",
                "register",
                "both",
                "school only",
                "register only",
                "agreement",
            ],
            rows,
            numeric={2, 3, 4, 5, 6, 7},
        )
    )
    return out


def checks_html(status: Status) -> list[str]:
    """Check totals per kind, the failed checks, and the checks not run (upstream blocked, or the
    run was interrupted)."""
    totals = status.check_totals()
    out = ["<h2>Checks</h2>"]
    if totals is None:
        return [*out, '<p class="dim">no asset check results recorded yet</p>']
    out.append(
        "<p>Latest outcome of every check in the Dagster instance. A check <em>not run</em> was "
        "planned in the latest run but never reached, because something upstream blocked it or "
        "because the run was interrupted; it is not counted as failed.</p>"
    )
    rows = [
        [
            _e(label),
            f"{t['passed']:,}",
            f"{t['failed_error']:,}",
            f"{t['failed_warn']:,}",
            f"{t['not_run']:,}",
        ]
        for label, t in totals.items()
    ]
    out.append(
        table_html(["kind", "passed", "failed", "warned", "not run"], rows, numeric={1, 2, 3, 4})
    )
    failed = status.failed_checks
    if failed:
        out.append("<h3>Failed and warned checks</h3>")
        out.append(
            table_html(
                ["asset", "check", "severity", "outcome", "detail"],
                [
                    [
                        _e(c.asset),
                        _e(c.check),
                        _e(c.severity),
                        _e(c.outcome),
                        _e(c.description or "-"),
                    ]
                    for c in failed
                ],
            )
        )
    for reason in sorted({c.not_run_reason for c in status.not_run_checks}):
        not_run = [c for c in status.not_run_checks if c.not_run_reason == reason]
        out.append(
            f"<details><summary>{len(not_run):,} check(s) not run ({_e(reason)})</summary><ul>"
            + "".join(f"<li>{_e(c.asset)} / {_e(c.check)}</li>" for c in not_run)
            + "</ul></details>"
        )
    return out


SOURCE_COLUMNS = [
    "source",
    "cadence",
    "senders",
    "last delivery",
    "periods covered",
    "deliveries loaded",
    "failed",
    "duplicate",
    "rows loaded",
    "rows quarantined",
    "quarantine share",
    "validation",
    "freshness",
]


def source_cells(row, status: Status) -> list[str]:
    fresh = row.freshness
    fresh_css = {"fresh": "fresh", "stale": "stale", "missing periods": "missing"}.get(
        fresh.state, "dim"
    )
    if status.validation_table is None or row.validation is None:
        validation = (
            '<span class="dim">not validated yet</span>'
            if row.deliveries["loaded"]
            else '<span class="dim">-</span>'
        )
    else:
        v = row.validation
        validation = (
            (
                f"{v['errors']} errors, {v['warnings']} warnings in {v['deliveries_validated']} "
                "deliveries validated"
            )
            if v.get("deliveries_validated") is not None
            else f"{v['errors']} errors, {v['warnings']} warnings"
        )
    failed = (
        (
            f'<span class="missing">{row.deliveries["failed"]} ({len(row.failed_unresolved)} not '
            "re-delivered)</span>"
        )
        if row.failed_unresolved
        else str(row.deliveries["failed"])
    )
    return [
        _e(row.source),
        _e(fresh.cadence),
        str(row.senders),
        _e(row.last_delivery or "-"),
        _e(row.period_covered or "-"),
        f"{row.deliveries['loaded']:,}",
        failed,
        str(row.deliveries["duplicate"]),
        f"{row.rows_loaded:,}",
        f"{row.rows_quarantined:,}",
        f"{row.quarantine_share:.2%}",
        validation,
        "<span "
        f'class="{fresh_css}">{_e(fresh.summary() if fresh.state != "fresh" else "fresh")}</span>',
    ]


def render_html(
    status: Status, page_dir: Path, gx_docs: Path | None = None, dbt_docs: Path | None = None
) -> str:
    out = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        "<title>Pilotmonitor pipeline health</title>",
        f"<style>{STYLE}</style></head><body>",
    ]
    if status.synthetic:
        out.append(
            '<div class="synthetic">SYNTHETIC DATA - every school, person and number on this page '
            "is invented.</div>"
        )
    out.append("<h1>Pipeline health</h1>")
    out.append(
        f'<p class="sub">as of {status.as_of.isoformat()} &middot; generated '
        f"{datetime.now().strftime('%Y-%m-%d %H:%M')} &middot; aggregates only</p>"
    )
    out.append(f'<div class="verdict {status.verdict_kind}">{_e(status.verdict)}</div>')
    if status.publication:
        out.append(f"<p>Analyses and the report read: {_e(status.publication)}</p>")
    if status.blocking:
        out.append(
            "<h2>Blocking publication</h2><ul>"
            + "".join(f"<li>{_e(b)}</li>" for b in status.blocking)
            + "</ul>"
        )
    if status.warnings:
        out.append(
            "<h2>Warnings</h2><ul>"
            + "".join(f"<li>{_e(w)}</li>" for w in status.warnings)
            + "</ul>"
        )

    out.append("<h2>Sources</h2>")
    out.append(
        table_html(
            SOURCE_COLUMNS,
            [source_cells(row, status) for row in status.sources],
            numeric={2, 5, 6, 7, 8, 9, 10},
        )
    )

    failed_rows = [f for row in status.sources for f in row.failed_unresolved]
    if failed_rows:
        out.append("<h2>Failed deliveries not re-delivered</h2>")
        out.append(
            table_html(
                ["file", "delivered", "problem"],
                [[_e(f["path"]), _e(f["delivered_on"]), _e(f["error"])] for f in failed_rows],
            )
        )

    late = [
        (row.source, s)
        for row in status.sources
        for s in row.freshness.senders
        if s.state == "stale" or s.missing_periods
    ]
    if late:
        out.append("<h2>Late and missing deliveries</h2>")
        out.append(
            table_html(
                [
                    "source",
                    "sender",
                    "last delivery",
                    "latest period",
                    "expected",
                    "overdue",
                    "missing",
                ],
                [
                    [
                        _e(source),
                        _e(s.sender),
                        _e(s.last_delivery),
                        _e(s.latest_period or "-"),
                        _e(s.expected_period or "-"),
                        _e(", ".join(s.overdue_periods) or "-"),
                        f'<span class="missing">{_e(", ".join(s.missing_periods) or "-")}</span>',
                    ]
                    for source, s in late
                ],
            )
        )

    out.extend(reasons_html(status))
    out.extend(thuiszitters_html(status))
    out.extend(checks_html(status))

    out.append(
        '<h2>Trends: rows loaded and quarantined per delivery month</h2><div class="charts">'
    )
    for row in status.sources:
        frame = status.trends[status.trends["source"] == row.source]
        out.append(f'<div class="chart"><h3>{_e(row.source)}</h3>{trend_svg(frame)}</div>')
    out.append("</div>")

    out.append("<h2>Documentation</h2><ul>")
    out.append(_link(gx_docs, page_dir, "Great Expectations Data Docs (validation results)"))
    out.append(_link(dbt_docs, page_dir, "dbt documentation of the warehouse"))
    out.append("</ul></body></html>")
    return "\n".join(out)


def write_page(status: Status, data_dir: Path, dbt_docs: Path | None = None) -> Path:
    """Write <data dir>/health/index.html and return its path."""
    page_dir = data_dir / "health"
    page_dir.mkdir(parents=True, exist_ok=True)
    if dbt_docs is None:
        from pilotmonitor.settings import REPO_ROOT

        dbt_docs = REPO_ROOT / "dbt_project" / "target" / "index.html"
    page = page_dir / "index.html"
    tmp = page.with_suffix(".html.tmp")
    tmp.write_text(
        render_html(status, page_dir, data_dir / "quality" / "data_docs" / "index.html", dbt_docs),
        encoding="utf-8",
    )
    tmp.replace(page)
    return page


def write_page_after_run(
    warehouse_path: Path, data_dir: Path, landing_dir: Path, dagster_home: Path, as_of
) -> Path:
    """The page from the state a finished run left, for a run in which the
    `pipeline_health` asset did not run (something upstream failed, so Dagster skipped
    it). Raises status.WarehouseUnreadable when the warehouse cannot be read."""
    from pilotmonitor.health.status import status_from_files

    return write_page(
        status_from_files(
            warehouse_path, as_of, landing_dir=landing_dir, dagster_home=dagster_home
        ),
        data_dir,
    )
