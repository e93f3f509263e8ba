"""Validation of pending deliveries against the warehouse, the history table
quality.validation_results and the Data Docs pages."""

from __future__ import annotations

import bisect
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from pathlib import Path

import duckdb
import pandas as pd

from pilotmonitor.quality import suites as S
from pilotmonitor.quality.runner import (
    DeliveryInfo,
    Outcome,
    scrubbed_for_docs,
    validate_row_counts,
)
from pilotmonitor.quality.warehouse_engine import validate_in_warehouse
from pilotmonitor.table_digest import table_exists

SCHEMA = "quality"
RESULT_COLUMNS = {
    "delivery_id": "VARCHAR",
    "path": "VARCHAR",
    "source": "VARCHAR",
    "table": "VARCHAR",
    "expectation_type": "VARCHAR",
    "column": "VARCHAR",
    "severity": "VARCHAR",
    "success": "BOOLEAN",
    "unexpected_count": "BIGINT",
    "unexpected_percent": "DOUBLE",
    "examples": "VARCHAR",
    "steward_message": "VARCHAR",
    "rows_validated": "BIGINT",
    "suite_hash": "VARCHAR",
    "validated_at": "TIMESTAMP",
}
# Rows of deliveries validated together: DuckDB scans the table once per query and chunk,
# and GX lists every unexpected row of a chunk in memory (a chunk whose rows all failed a
# check would hold that many rows as Python objects)
MAX_ROWS_PER_GROUP = 5_000_000


@dataclass
class Validation:
    outcomes: list[Outcome] = field(default_factory=list)
    deliveries: list[DeliveryInfo] = field(default_factory=list)
    docs_pages: list[tuple[str, str]] = field(default_factory=list)  # (name, HTML: render_page)
    # The outcomes as rows of validation_results instead (`columnar`; `outcomes` empty)
    rows: pd.DataFrame | None = None

    def results(self) -> pd.DataFrame:
        """The outcomes as rows of quality.validation_results."""
        return self.rows if self.rows is not None else results_frame(self.outcomes)

    def columnar(self) -> Validation:
        """This validation with its outcomes as rows: for the trip between processes (the
        145,755 outcomes of the demo's iJw messages unpickle in 0.9 s as objects, in 0.02 s
        as a frame)."""
        return Validation([], self.deliveries, self.docs_pages, self.results())

    @staticmethod
    def combined(parts: list[Validation]) -> Validation:
        """The validations of a source's tables one after the other, as validate_work of
        them all would give them (deliveries once, in order of first appearance)."""
        seen: dict[str, DeliveryInfo] = {}
        for part in parts:
            for d in part.deliveries:
                seen.setdefault(d.path, d)
        return Validation(
            [o for part in parts for o in part.outcomes],
            list(seen.values()),
            [page for part in parts for page in part.docs_pages],
            pd.concat([part.results() for part in parts], ignore_index=True) if parts else None,
        )


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"create schema if not exists {SCHEMA}")
    cols = ", ".join(f'"{k}" {v}' for k, v in RESULT_COLUMNS.items())
    conn.execute(f"create table if not exists {SCHEMA}.validation_results ({cols})")


def _has_results_table(conn) -> bool:
    return table_exists(conn, SCHEMA, "validation_results")


def pending_deliveries(conn, source: str, table: str, suite_hash: str) -> list[DeliveryInfo]:
    done = (
        (
            f"and not exists (select 1 from {SCHEMA}.validation_results v where v.path = d.path "
            'and v.delivery_id = d.delivery_id and v."table" = ? and v.suite_hash = ?)'
        )
        if _has_results_table(conn)
        else ""
    )
    params = [source] + ([table, suite_hash] if done else [])
    rows = conn.execute(
        "select delivery_id, path, source, sender, period, delivered_on from raw.deliveries d "
        f"where source = ? and status = 'loaded' and is_current {done} order by period, sender, "
        "path",
        params,
    ).fetchall()
    return [DeliveryInfo(*row) for row in rows]


def _history(conn, source: str, table: str) -> pd.DataFrame:
    """Rows per current delivery of `source`, in one order (validate_ahead compares them)."""
    return conn.execute(
        f"""select d.delivery_id, d.sender, d.period, d.delivered_on, coalesce(c.n, 0) as n
            from raw.deliveries d left join (select delivery_id, count(*) n from raw.{table} group by 1) c using (delivery_id)
            where d.source = ? and d.status = 'loaded' and d.is_current
            order by d.delivery_id""",  # noqa: E501
        [source],
    ).df()


def _previous_counts(
    history: pd.DataFrame, pending: list[DeliveryInfo]
) -> dict[str, list[tuple[int, int]]]:
    """Per pending delivery: (rows, covered months) of the same sender's previous current
    deliveries, most recent first. Each sender's history is sorted once, by period and by
    delivery time, and a delivery's previous ones are the tail past a binary search
    (filtering and sorting the sender's whole history per delivery was quadratic: a
    municipality delivers iJw archives every month for years)."""
    by_sender: dict[str, list[tuple]] = {}
    delivered = pd.to_datetime(history["delivered_on"])
    for delivery_id, sender, period, on, when, n in zip(
        history.delivery_id,
        history.sender,
        history.period,
        history.delivered_on,
        delivered,
        history.n,
    ):
        # covered months once per delivery, not once per later delivery of its sender
        by_sender.setdefault(sender, []).append(
            (delivery_id, period, on, when, int(n), S.covered_months(period, on))
        )
    # most recent first; equal keys keep the history's order (as a stable sort with reverse=True)
    by_period = {
        sender: sorted((h for h in rows if isinstance(h[1], str)), key=lambda h: h[1], reverse=True)
        for sender, rows in by_sender.items()
    }
    by_time = {
        sender: sorted((h for h in rows if not pd.isna(h[3])), key=lambda h: h[3], reverse=True)
        for sender, rows in by_sender.items()
    }
    out: dict[str, list[tuple[int, int]]] = {}
    for d in pending:
        if d.period:
            ordered = by_period.get(d.sender, [])
            first = bisect.bisect_left(ordered, True, key=lambda h: h[1] < d.period)
        else:
            cutoff = pd.Timestamp(d.delivered_on)
            ordered = by_time.get(d.sender, [])
            first = bisect.bisect_left(ordered, True, key=lambda h: h[3] < cutoff)
        out[d.delivery_id] = [
            (n, months)
            for delivery_id, *_, n, months in ordered[first:]
            if delivery_id != d.delivery_id
        ]
    return out


@dataclass
class TableWork:
    """What validating one table of a source takes: its deliveries not yet validated with
    the table's current suite, the source's history there (rows per current delivery, for
    the row-count rule) and the chunks the pending deliveries are validated in."""

    table: str
    suite_hash: str
    pending: list[DeliveryInfo]
    history: pd.DataFrame

    @property
    def counts(self) -> dict:
        return dict(zip(self.history.delivery_id, self.history.n))

    @property
    def rows(self) -> int:
        counts = self.counts
        return sum(int(counts.get(d.delivery_id, 0)) for d in self.pending)

    def chunks(self) -> list[list[DeliveryInfo]]:
        return _chunks(self.pending, self.counts)

    def same_as(self, other: TableWork) -> bool:
        return (
            (self.table, self.suite_hash, self.pending)
            == (other.table, other.suite_hash, other.pending)
        ) and self.history.equals(other.history)


def pending_work(
    conn: duckdb.DuckDBPyConnection, source: str, tables: list[str]
) -> list[TableWork]:
    """The tables of `source` with deliveries to validate (the connection may be read-only)."""
    work = []
    for table in tables:
        suite_hash = S.suite_hash(table)
        pending = pending_deliveries(conn, source, table, suite_hash)
        if pending:
            work.append(TableWork(table, suite_hash, pending, _history(conn, source, table)))
    return work


def validate_pending(
    conn: duckdb.DuckDBPyConnection, source: str, tables: list[str], log=None
) -> Validation:
    """Validate every current loaded delivery of `source` not yet validated with the
    table's current suite (the connection may be read-only): one GX call per table and
    chunk of at most MAX_ROWS_PER_GROUP rows for the row-level expectations (deliveries of
    all periods together), run by the warehouse's DuckDB (warehouse_engine), and one for
    the row-count rule."""
    return validate_work(conn, pending_work(conn, source, tables), log=log)


def validate_work(
    conn: duckdb.DuckDBPyConnection,
    work: list[TableWork],
    log=None,
    load_chunk: Callable[[str, int], None] | None = None,
) -> Validation:
    """The outcomes of `work` (pending_work). The chunks' rows are read from ``raw.<table>``
    on `conn`; with `load_chunk(table, index)` that table is filled before each chunk (a
    copy of the pending rows elsewhere: quality/validate_ahead.py)."""
    out = Validation()
    seen: dict[str, DeliveryInfo] = {}
    for w in work:
        counts = w.counts
        for d in w.pending:
            seen.setdefault(d.path, d)
        for index, chunk in enumerate(w.chunks()):
            if load_chunk is not None:
                load_chunk(w.table, index)
            outcomes, page = _validate_chunk(conn, w.table, chunk, w.suite_hash)
            out.outcomes.extend(outcomes)
            if page is not None:
                out.docs_pages.append(page)
        previous = _previous_counts(w.history, w.pending)
        out.outcomes.extend(
            validate_row_counts(
                w.table,
                [
                    (d, int(counts.get(d.delivery_id, 0)), previous[d.delivery_id])
                    for d in w.pending
                ],
                w.suite_hash,
            )
        )
        if log:
            log(describe(w))
    out.deliveries = list(seen.values())
    return out


def describe(work: TableWork) -> str:
    source = work.pending[0].source
    return (
        f"validated {len(work.pending)} deliveries of {source} in raw.{work.table} "
        f"({work.rows:,} rows)"
    )


def _validate_chunk(
    conn, table: str, chunk: list[DeliveryInfo], suite_hash: str
) -> tuple[list[Outcome], tuple[str, str] | None]:
    """The outcomes of one chunk of deliveries and, when an expectation failed, its Data
    Docs page (name and HTML of the scrubbed GX result)."""
    outcomes, result = validate_in_warehouse(conn, table, chunk, suite_hash)
    page = None
    if result is not None and any(not o.success for o in outcomes):
        page = (
            f"{table}/{chunk[0].period or 'snapshot'}_{chunk[0].delivery_id}",
            render_page(scrubbed_for_docs(result)),
        )
    return outcomes, page


def _chunks(
    group: list[DeliveryInfo], counts: dict, max_rows: int = MAX_ROWS_PER_GROUP
) -> list[list[DeliveryInfo]]:
    chunks, current, size = [], [], 0
    for d in group:
        n = int(counts.get(d.delivery_id, 0))
        if current and size + n > max_rows:
            chunks.append(current)
            current, size = [], 0
        current.append(d)
        size += n
    if current:
        chunks.append(current)
    return chunks


def results_frame(outcomes: list[Outcome]) -> pd.DataFrame:
    """The outcomes as rows of quality.validation_results (examples joined with "; ").
    Fields read by one C-level getter per outcome: a dict per outcome cost about a second
    per run for the 145,000 outcomes of the fixture's iJw messages."""
    columns = list(RESULT_COLUMNS)
    frame = pd.DataFrame.from_records(
        list(map(attrgetter(*columns), outcomes)), columns=columns, nrows=len(outcomes)
    )
    frame["examples"] = ["; ".join(e) if e else "" for e in frame["examples"]]
    return frame


def write_results(conn: duckdb.DuckDBPyConnection, outcomes: list[Outcome] | pd.DataFrame) -> int:
    """Append outcomes (or their rows: Validation.results) to quality.validation_results."""
    ensure_schema(conn)
    frame = outcomes if isinstance(outcomes, pd.DataFrame) else results_frame(outcomes)
    if frame.empty:
        return 0
    conn.register("_quality_batch", frame)
    try:
        cols = ", ".join(f'"{c}"' for c in RESULT_COLUMNS)
        select = ", ".join(f'cast("{c}" as {t})' for c, t in RESULT_COLUMNS.items())
        conn.execute(
            f"insert into {SCHEMA}.validation_results ({cols}) select {select} from _quality_batch"
        )
    finally:
        conn.unregister("_quality_batch")
    return len(frame)


# --- Data Docs ------------------------------------------------------------------------


def render_page(result) -> str:
    """A GX validation page (GX's ValidationResultsPageRenderer + DefaultJinjaPageView, the
    renderer of GX Data Docs) of a scrubbed validation result."""
    try:
        from great_expectations.render.renderer import ValidationResultsPageRenderer
        from great_expectations.render.view import DefaultJinjaPageView

        return DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(result))
    except Exception as exc:  # rendering is a convenience; the history table is the record
        return (
            "<html><body><p>GX rendering failed: "
            f"{html.escape(type(exc).__name__)}</p></body></html>"
        )


def build_data_docs(
    docs_dir: Path, pages: list[tuple[str, str]], conn: duckdb.DuckDBPyConnection | None = None
) -> Path:
    """The validation pages (render_page) of the validations with a failed expectation, and
    an index.html over quality.validation_results (the ephemeral GX context keeps no store,
    so the site index is written here)."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    for name, page in pages:
        target = docs_dir / "validations" / f"{name}.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page, encoding="utf-8")
    index = docs_dir / "index.html"
    summary = pd.DataFrame()
    if conn is not None and _has_results_table(conn):
        summary = conn.execute(
            f"""select source, "table", path, max(validated_at) as validated_at, any_value(rows_validated) as rows,
                       count(*) filter (where not success and severity = 'error') as errors,
                       count(*) filter (where not success and severity = 'warning') as warnings,
                       string_agg(case when not success then expectation_type || coalesce(' (' || "column" || ')', '') || ': ' || steward_message end, ' | ') as failed
                from {SCHEMA}.validation_results group by all order by errors desc, warnings desc, validated_at desc limit 2000"""  # noqa: E501
        ).df()
    pages_links = (
        sorted((docs_dir / "validations").rglob("*.html"))
        if (docs_dir / "validations").is_dir()
        else []
    )
    body = [
        "<html><head><meta charset='utf-8'><title>Pilotmonitor data quality</title></head><body>",
        f"<h1>Raw delivery validations</h1><p>Generated {datetime.now():%Y-%m-%d %H:%M}. Severity "
        "error blocks the warehouse build.</p>",
        "<h2>GX validation pages (groups with a failed expectation)</h2><ul>",
    ]
    body += [
        (
            "<li><a "
            f"href='{html.escape(p.relative_to(docs_dir).as_posix())}'>{html.escape(p.relative_to(docs_dir).as_posix())}</a></li>"
        )
        for p in pages_links[-500:]
    ]
    body.append("</ul><h2>Deliveries</h2>")
    body.append(
        summary.to_html(index=False, escape=True)
        if not summary.empty
        else "<p>no validations yet</p>"
    )
    body.append("</body></html>")
    index.write_text("\n".join(body), encoding="utf-8")
    return index
