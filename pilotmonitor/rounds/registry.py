"""``results.rounds``: one row per (round, pilot). A round is immutable: its name is
taken once, whatever the pilot, and never overwritten.

Columns: round_name, pilot_id, as_of (the date the round freezes), data_through (its
last complete month), created_at (UTC), run_id (its rows in
``results.effect_estimates_history``), input_hash (of the frozen analysis inputs),
plan_hash (the pilot's effective plan, kept in ``results.analysis_plans``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import duckdb

from pilotmonitor.table_digest import table_exists

SCHEMA = "results"
TABLE = "rounds"
COLUMNS = {
    "round_name": "VARCHAR",
    "pilot_id": "VARCHAR",
    "as_of": "DATE",
    "data_through": "DATE",
    "created_at": "TIMESTAMP",
    "run_id": "VARCHAR",
    "input_hash": "VARCHAR",
    "plan_hash": "VARCHAR",
}
# a round's name is a folder name of its report and part of the frozen tables' keys
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


class RoundError(ValueError):
    """A round cannot be created or found (the message says why)."""


class RoundExists(RoundError):
    """The name is taken: rounds are immutable."""


@dataclass(frozen=True)
class Round:
    name: str
    pilot_id: str
    as_of: date
    data_through: date
    created_at: datetime
    run_id: str
    input_hash: str
    plan_hash: str


def check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise RoundError(
            f"round name {name!r} is not allowed: lower-case letters, digits, '.', '_' and '-' "
            "(it names the report's folder), at most 63 characters"
        )


def _exists(conn: duckdb.DuckDBPyConnection) -> bool:
    return table_exists(conn, SCHEMA, TABLE)


def ensure_table(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"create schema if not exists {SCHEMA}")
    cols = ", ".join(f"{c} {t}" for c, t in COLUMNS.items())
    conn.execute(
        f"create table if not exists {SCHEMA}.{TABLE} ({cols}, primary key (round_name, pilot_id))"
    )


def rounds(
    conn: duckdb.DuckDBPyConnection, name: str | None = None, pilot_id: str | None = None
) -> list[Round]:
    """Every round (or one name's, or one pilot's), ordered by pilot, as-of date and creation."""
    if not _exists(conn):
        return []
    where, args = [], []
    if name is not None:
        where.append("round_name = ?")
        args.append(name)
    if pilot_id is not None:
        where.append("pilot_id = ?")
        args.append(pilot_id)
    sql = f"select {', '.join(COLUMNS)} from {SCHEMA}.{TABLE}" + (
        " where " + " and ".join(where) if where else ""
    )
    return [
        Round(*row)
        for row in conn.execute(
            sql + " order by pilot_id, as_of, created_at, round_name", args
        ).fetchall()
    ]


def get_round(
    conn: duckdb.DuckDBPyConnection, name: str, pilot_id: str | None = None
) -> list[Round]:
    found = rounds(conn, name=name, pilot_id=pilot_id)
    if not found:
        known = sorted({r.name for r in rounds(conn)})
        raise RoundError(
            f"no round {name!r}"
            + (f" for pilot {pilot_id!r}" if pilot_id else "")
            + (
                f" (known: {', '.join(known)})"
                if known
                else " (no rounds yet: pilotmonitor round create)"
            )
        )
    return found


def refuse_existing(conn: duckdb.DuckDBPyConnection, name: str) -> None:
    taken = rounds(conn, name=name)
    if taken:
        r = taken[0]
        raise RoundExists(
            f"round {name!r} already exists (as of {r.as_of}, created "
            f"{r.created_at:%Y-%m-%d %H:%M} UTC, run {r.run_id}); a round is immutable: choose "
            "another name"
        )


def previous_round(conn: duckdb.DuckDBPyConnection, this: Round) -> Round | None:
    """The pilot's round with the latest as-of date before this one's (ties: created first)."""
    earlier = [r for r in rounds(conn, pilot_id=this.pilot_id) if r.as_of < this.as_of]
    return earlier[-1] if earlier else None


def register(conn: duckdb.DuckDBPyConnection, entries: list[Round]) -> None:
    ensure_table(conn)
    for r in entries:
        conn.execute(
            f"insert into {SCHEMA}.{TABLE} ({', '.join(COLUMNS)}) values "
            f"({', '.join('?' * len(COLUMNS))})",
            [
                r.name,
                r.pilot_id,
                r.as_of,
                r.data_through,
                r.created_at,
                r.run_id,
                r.input_hash,
                r.plan_hash,
            ],
        )


def round_of_run(conn: duckdb.DuckDBPyConnection, run_id: str) -> Round | None:
    """The round whose estimates carry ``run_id`` (None for a pipeline run)."""
    if not _exists(conn):
        return None
    row = conn.execute(
        f"select round_name from {SCHEMA}.{TABLE} where run_id = ? limit 1", [run_id]
    ).fetchone()
    return rounds(conn, name=row[0])[0] if row else None


def not_a_round_run_sql(conn: duckdb.DuckDBPyConnection, column: str = "run_id") -> str:
    """A SQL condition keeping pipeline runs only (rounds are not the latest estimates)."""
    if not _exists(conn):
        return "true"
    return f"{column} not in (select run_id from {SCHEMA}.{TABLE})"
