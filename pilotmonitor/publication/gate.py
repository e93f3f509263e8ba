"""The publication gate: analyses and the report read `published.*`, a copy of the marts
taken only when no blocking check failed.

A run whose checks fail (an error-level expectation on a delivery, a failing dbt test,
row accounting, the leak scan) leaves the previously published tables untouched and
records why in `published.publication_log`; `publication_state` then reports those
results as stale, with the reasons, until a clean run publishes again.

Before copying, the marts are scanned for identifiers like the raw layer
(`identifier_leaks`): a hit blocks the publication and is logged like a failed check.

A clean run whose marts equal what is published (same tables, columns and row hashes: a
monthly run without new data) copies nothing and logs 'unchanged': the publication, and
so everything computed from it, keeps its run id and time. Otherwise only what differs is
copied: a mart whose content is unchanged is left as it is, and a mart with a month column
(the pupil panel: 178 million rows for the country, of which a monthly iJw delivery
rebuilds the last months) has only its differing months replaced.

What is published is known from the gate's own record (`published.publication_parts`:
the digest of every table and month it published, written in the transaction that copies
them), not hashed again: at the national pool hashing the published panel took 24 s of a
monthly run's publication. Of an incremental mart (one with dbt's build stamp, `built_at`)
only the months whose stamp or row count differ from the record are hashed: dbt stamps
every row it writes, so the others are as published (hashing the whole national panel
took another 32 s). The stamp is left out of the hashes. Only dbt writes the marts and
only the gate writes `published` (researchers may only read it: deploy/postgres/roles.sql);
after an edit by hand, a publication with ``verify`` hashes both sides in full and puts
the published tables right. Without a record (a warehouse published by an older version)
everything is hashed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from pilotmonitor.part_digest import STAMP_COLUMN, WHOLE, Part, contents, parts_condition
from pilotmonitor.table_digest import columns_of, quote, table_exists, tables_in

SCHEMA = "published"
SOURCE_SCHEMA = "marts"
# the gate's record of the digests it published (module docstring)
PARTS_TABLE = "publication_parts"
# the gate's own tables in the published schema: its log and record, not published marts
GATE_TABLES = ("publication_log", PARTS_TABLE)
LOG_COLUMNS = {
    "logged_at": "TIMESTAMP",
    "run_id": "VARCHAR",
    "status": "VARCHAR",  # published | unchanged | blocked
    "tables": "VARCHAR",
    "rows": "BIGINT",
    "fingerprint": "VARCHAR",
    "reasons": "VARCHAR",
}


@dataclass(frozen=True)
class BlockingFailure:
    asset: str
    check: str
    description: str | None = None

    def __str__(self) -> str:
        detail = f": {self.description.splitlines()[0][:160]}" if self.description else ""
        return f"{self.asset} / {self.check}{detail}"


@dataclass(frozen=True)
class PublicationState:
    published_at: datetime | None
    run_id: str | None
    rows: int | None
    blocked_since: datetime | None
    reasons: list[str]

    @property
    def is_stale(self) -> bool:
        return self.blocked_since is not None

    def summary(self) -> str:
        if self.published_at is None:
            return "nothing published yet" + (
                f"; blocked: {'; '.join(self.reasons[:3])}" if self.reasons else ""
            )
        text = (
            f"published {self.published_at:%Y-%m-%d %H:%M} UTC (run {str(self.run_id)[:8]}, "
            f"{self.rows:,} rows)"
        )
        if self.is_stale:
            text += (
                f"; STALE: newer data blocked since {self.blocked_since:%Y-%m-%d %H:%M} UTC by "
                f"{'; '.join(self.reasons[:3])}"
            )
        return text


def blocking_failures(checks) -> list[BlockingFailure]:
    """The failed checks of severity ERROR among the latest evaluations (objects with
    asset, check, passed, severity, description). A check that did not run because
    something upstream blocked (``not_run``) is not a failure: only evaluated failures
    (and checks that errored) block."""
    return [
        BlockingFailure(c.asset, c.check, c.description)
        for c in checks or []
        if not c.passed and str(c.severity).upper() == "ERROR" and not getattr(c, "not_run", False)
    ]


def _ensure_log(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"create schema if not exists {SCHEMA}")
    columns = ", ".join(f"{name} {kind}" for name, kind in LOG_COLUMNS.items())
    conn.execute(f"create table if not exists {SCHEMA}.publication_log ({columns})")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _mart_tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    return tables_in(conn, SOURCE_SCHEMA, base_tables_only=True)


class IdentifierInMartsError(RuntimeError):
    """A mart about to be published holds an identifier-like value: nothing is published."""

    def __init__(self, reasons: list[str]):
        super().__init__("publication blocked: " + "; ".join(reasons))
        self.reasons = reasons


def identifier_leaks(
    conn: duckdb.DuckDBPyConnection, changes: dict[str, str | list[str]]
) -> list[str]:
    """The exit scan of what is about to be copied (``_change`` per mart: the whole table
    or its differing months; a model may combine values into a new text): the warehouse's
    leak scan over their distinct values, as reasons that name table, column and count,
    never a value. The months not copied were scanned when they were published."""
    from pilotmonitor.ingest.leak_scan import scan_tables

    found = scan_tables(
        conn,
        [f"{SOURCE_SCHEMA}.{table}" for table in sorted(changes)],
        frozenset(),
        derived=True,
        row_filters={
            f"{SOURCE_SCHEMA}.{table}": parts_condition(conn, SOURCE_SCHEMA, table, change)
            for table, change in changes.items()
            if change != WHOLE
        },
    )
    hint = {
        "not_pseudonymised": (
            " (loaded before references were pseudonymised? run `pilotmonitor rekey`)"
        )
    }
    return [leak.describe("distinct value(s)") + hint.get(leak.kind, "") for leak in found]


def publish(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    failures: list[BlockingFailure],
    verify: bool = False,
) -> PublicationState:
    """Copy the marts to `published` when nothing blocks (only the tables, or months, that
    differ); otherwise keep what was published and log the blocking checks. Returns the
    publication state afterwards. ``verify``: hash the marts and the published tables in
    full instead of trusting the gate's record and dbt's build stamps (after an edit by
    hand)."""
    _ensure_log(conn)
    if failures:
        reasons = [str(f) for f in failures]
        conn.execute(
            f"insert into {SCHEMA}.publication_log values (?, ?, 'blocked', null, null, null, ?)",
            [_now(), run_id, json.dumps(reasons)],
        )
        return publication_state(conn)
    tables = _mart_tables(conn)
    if not tables:
        raise RuntimeError("no marts to publish: build the warehouse first (dbt build)")
    recorded = {} if verify else _recorded_contents(conn)
    marts = {table: contents(conn, SOURCE_SCHEMA, table, recorded.get(table)) for table in tables}
    fingerprint = _fingerprint(marts)
    published = set(_published_tables(conn))
    changes = {}
    for table in tables:
        if table not in published:
            copy = None
        elif table in recorded:
            copy = recorded[table]
        else:
            copy = contents(conn, SCHEMA, table)
        if change := _change(conn, table, marts[table], copy):
            changes[table] = change
    if not changes and publication_state(conn).published_at is not None:
        conn.execute("begin transaction")
        try:
            if any(recorded.get(table) != marts[table] for table in tables):
                _record(conn, marts)
            conn.execute(
                f"insert into {SCHEMA}.publication_log values (?, ?, 'unchanged', ?, null, ?, "
                "null)",
                [_now(), run_id, ",".join(tables), fingerprint],
            )
            conn.execute("commit")
        except Exception:
            conn.execute("rollback")
            raise
        return publication_state(conn)
    leaks = identifier_leaks(conn, changes)
    if leaks:
        conn.execute(
            f"insert into {SCHEMA}.publication_log values (?, ?, 'blocked', null, null, null, ?)",
            [_now(), run_id, json.dumps(leaks)],
        )
        raise IdentifierInMartsError(leaks)
    conn.execute("begin transaction")
    try:
        for table, change in changes.items():
            _copy(conn, table, change)
        _record(conn, marts)
        total = sum(
            conn.execute(f"select count(*) from {SCHEMA}.{table}").fetchone()[0] for table in tables
        )
        conn.execute(
            f"insert into {SCHEMA}.publication_log values (?, ?, 'published', ?, ?, ?, null)",
            [_now(), run_id, ",".join(tables), total, fingerprint],
        )
        conn.execute("commit")
    except Exception:
        conn.execute("rollback")
        raise
    return publication_state(conn)


def _change(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    marts: dict[str, Part],
    published: dict[str, Part] | None,
) -> str | list[str] | None:
    """What publishing this mart must copy: nothing (None), the whole table (WHOLE: new,
    other columns, no month column, or every month differs) or the differing months."""
    if published is None or columns_of(conn, SOURCE_SCHEMA, table) != columns_of(
        conn, SCHEMA, table
    ):
        return WHOLE
    differing = sorted(
        key
        for key in marts.keys() | published.keys()
        if key not in marts or key not in published or marts[key].digest != published[key].digest
    )
    if not differing:
        return None
    if WHOLE in marts or len(differing) >= len(marts):
        return WHOLE
    return differing


def _copy(conn: duckdb.DuckDBPyConnection, table: str, change: str | list[str]) -> None:
    target, source = f"{SCHEMA}.{quote(table)}", f"{SOURCE_SCHEMA}.{quote(table)}"
    if change == WHOLE:
        conn.execute(f"create or replace table {target} as select * from {source}")
        return
    where = parts_condition(conn, SOURCE_SCHEMA, table, change)
    conn.execute(f"delete from {target} where {where}")
    conn.execute(f"insert into {target} select * from {source} where {where}")


def _recorded_contents(conn: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Part]]:
    """The gate's record of what it published (``contents`` per table); empty without one."""
    if not table_exists(conn, SCHEMA, PARTS_TABLE):
        return {}
    recorded: dict[str, dict[str, Part]] = {}
    for table, part, digest, rows, built_at in conn.execute(
        f"select table_name, part, digest, rows, built_at from {SCHEMA}.{PARTS_TABLE}"
    ).fetchall():
        recorded.setdefault(table, {})[part] = Part(digest, rows, built_at)
    return recorded


def _record(conn: duckdb.DuckDBPyConnection, contents: dict[str, dict[str, Part]]) -> None:
    """Record what `published` now holds: the marts' contents, which it equals after a
    publication (inside its transaction)."""
    conn.execute(
        f"create or replace table {SCHEMA}.{PARTS_TABLE} (table_name varchar, part varchar, "
        f"digest varchar, rows bigint, {STAMP_COLUMN} timestamp)"
    )
    rows = [
        (table, key, part.digest, part.rows, part.built_at)
        for table, parts in contents.items()
        for key, part in parts.items()
    ]
    # one statement (on PostgreSQL a statement per row is a round trip each)
    conn.execute(
        f"insert into {SCHEMA}.{PARTS_TABLE} select unnest(?::varchar[]), unnest(?::varchar[]), "
        "unnest(?::varchar[]), unnest(?::bigint[]), unnest(?::timestamp[])",
        [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * 5,
    )


def _published_tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    tables = tables_in(conn, SCHEMA, base_tables_only=True)
    return [table for table in tables if table not in GATE_TABLES]


def published_fingerprint(conn: duckdb.DuckDBPyConnection) -> str:
    """The content of what analyses and reports read now, hashed (outside a run: what a
    report was built from must be what the tables hold, not the gate's record of them)."""
    return _fingerprint({table: contents(conn, SCHEMA, table) for table in _published_tables(conn)})


def logged_fingerprint(conn: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    """The content fingerprint this run's publication logged, when it published or found
    nothing to publish (the published tables then hold exactly the marts it hashed: same
    value as ``published_fingerprint``, without reading them again); None otherwise."""
    if not table_exists(conn, SCHEMA, "publication_log"):
        return None
    row = conn.execute(
        f"select run_id, status, fingerprint from {SCHEMA}.publication_log order by logged_at "
        "desc limit 1"
    ).fetchone()
    if row is None or row[0] != run_id or row[1] not in ("published", "unchanged"):
        return None
    return row[2]


def _fingerprint(contents: dict[str, dict[str, Part]]) -> str:
    """One hash over the tables' digests (``contents``), in table and part order."""
    digest = hashlib.sha256()
    for table in sorted(contents):
        for key in sorted(contents[table]):
            digest.update(contents[table][key].digest.encode())
    return digest.hexdigest()[:16]


def publication_state(conn: duckdb.DuckDBPyConnection) -> PublicationState:
    """What the analyses read now, and whether newer data was blocked since."""
    if not table_exists(conn, SCHEMA, "publication_log"):
        return PublicationState(None, None, None, None, [])
    last = conn.execute(
        f"select logged_at, run_id, rows from {SCHEMA}.publication_log where status = 'published' "
        "order by logged_at desc limit 1"
    ).fetchone()
    # a clean run that found nothing new to publish also ends a blocked period
    since = (
        conn.execute(
            f"select max(logged_at) from {SCHEMA}.publication_log where status in ('published', "
            "'unchanged')"
        ).fetchone()[0]
        or datetime.min
    )
    blocked = conn.execute(
        f"select min(logged_at), max_by(reasons, logged_at) from {SCHEMA}.publication_log where "
        "status = 'blocked' and logged_at > ?",
        [since],
    ).fetchone()
    reasons = json.loads(blocked[1]) if blocked and blocked[1] else []
    if last is None:
        return PublicationState(None, None, None, blocked[0] if blocked else None, reasons)
    return PublicationState(
        last[0], last[1], last[2], blocked[0] if blocked and blocked[0] else None, reasons
    )
