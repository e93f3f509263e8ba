"""Scan warehouse tables for identifiers that must never be there.

Looked for per ``column_policy`` class: citizen or education numbers, values that were not
pseudonymised, and person or street names from the landing area. The digit check runs
inside DuckDB and only counts are reported, never the values. Each delivery is scanned
once (``scan_new_deliveries``).

Design notes: docs/design/ingest.md#pilotmonitoringestleak_scanpy.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import pandas as pd
from lxml import etree

from pilotmonitor.ingest import column_policy, identifier_forms
from pilotmonitor.ingest.bounded import (
    SAFE_XML_OPTIONS,
    BoundedStream,
    LimitExceeded,
    archive_problem,
    file_problem,
    member_problem,
    release_element,
)
from pilotmonitor.ingest.deliveries import source_files
from pilotmonitor.ingest.limits import current_limits
from pilotmonitor.table_digest import tables_in
from pilotmonitor.warehouse_access import sql_string

PERSON_COLUMNS_SCHOOL = {"achternaam", "roepnaam", "voornaam", "voornamen"}
STREET_COLUMNS_SCHOOL = {"straat", "straatnaam"}
PERSON_TAGS_IJW = {"Achternaam", "Voornamen"}
STREET_TAGS_IJW = {"Straatnaam"}
SPLIT_PATTERN = r"[\s,;:()/.]+"
MIN_NAME_LENGTH = 4  # shorter tokens (initials, prefixes such as "van") say nothing


@dataclass(frozen=True)
class Leak:
    table: str
    column: str
    kind: str  # identifier_number | landing_name | not_pseudonymised
    rows: int
    delivery_id: str | None = None  # set when scanned per delivery

    def describe(self, values: str = "value(s)") -> str:
        """`table.column: n value(s) ...` for a steward: what was found, never the value."""
        what = {
            "identifier_number": "that look like a BSN or onderwijsnummer",
            "landing_name": "holding a name or street from the landing area",
            "not_pseudonymised": "that are not pseudonyms (not pseudonymised)",
        }.get(self.kind, f"of kind {self.kind}")
        return f"{self.table}.{self.column}: {self.rows} {values} {what}"


def _tokens(values: set[str]) -> set[str]:
    out = set()
    for value in values:
        for token in re.split(SPLIT_PATTERN, value.strip().lower()):
            if len(token) >= MIN_NAME_LENGTH:
                out.add(token)
    return out


def _names_from_table(path: Path) -> tuple[set[str], set[str]]:
    """Person and street names of a school export, read chunk by chunk through the
    readers' own opening (tabular.open_table), so the same parsing limits apply."""
    from pilotmonitor.ingest.readers.tabular import open_table

    people: set[str] = set()
    streets: set[str] = set()
    with open_table(path) as table:
        person_columns = [c for c in table.columns if c in PERSON_COLUMNS_SCHOOL]
        street_columns = [c for c in table.columns if c in STREET_COLUMNS_SCHOOL]
        for _, chunk in table.chunks:
            for columns, found in ((person_columns, people), (street_columns, streets)):
                for column in columns:
                    found.update(v for v in chunk[column].dropna().astype(str) if v.strip())
    return people, streets


_NAME_TAGS = tuple(f"{{*}}{tag}" for tag in sorted(PERSON_TAGS_IJW | STREET_TAGS_IJW))
# Elements released once read, so the tree stays small (a declaration has no names).
_RELEASED_TAGS = ("{*}Client", "{*}Prestatie", "{*}Relatie")


def _names_from_zip(path: Path) -> tuple[set[str], set[str]]:
    """Person and street names of an iJw archive. Members over a parsing limit are
    skipped (the reader quarantines them); the others stream through the same bounded
    stream as in the reader, releasing each client, relation and line once read."""
    people: set[str] = set()
    streets: set[str] = set()
    limits = current_limits()
    if file_problem(path, limits) is not None:
        return people, streets
    with zipfile.ZipFile(path) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if archive_problem(members, limits) is not None:
            return people, streets
        for info in members:
            if member_problem(info, limits) is not None:
                continue
            with archive.open(info) as raw:
                stream = BoundedStream(raw, f"member {info.filename}", limits, limits.member_bytes)
                try:
                    for _, element in etree.iterparse(
                        stream, events=("end",), tag=_NAME_TAGS + _RELEASED_TAGS, **SAFE_XML_OPTIONS
                    ):
                        tag = etree.QName(element).localname
                        if element.text and tag in PERSON_TAGS_IJW:
                            people.add(element.text)
                        elif element.text and tag in STREET_TAGS_IJW:
                            streets.add(element.text)
                        elif tag in ("Client", "Prestatie", "Relatie"):
                            release_element(element)
                except (LimitExceeded, etree.XMLSyntaxError):
                    continue  # the member is the reader's to quarantine; its names so far are kept
    return people, streets


def landing_name_tokens(landing_dir: Path, files_per_kind: int = 40) -> frozenset[str]:
    """Person-name tokens and whole street names from a sample of the landing area's
    files; they live in memory only and are never written anywhere. Cached per state of
    the landing area, so a long-running process sees new deliveries."""
    # the folders the samples come from (school exports, iJw archives), not all of it
    files = tuple(
        source_files(landing_dir, "school_enrolments") + source_files(landing_dir, "ijw_messages")
    )
    return _landing_name_tokens(files, files_per_kind)


@lru_cache(maxsize=4)
def _landing_name_tokens(files: tuple[Path, ...], files_per_kind: int) -> frozenset[str]:
    people: set[str] = set()
    streets: set[str] = set()
    exports = [p for p in files if "schools" in p.parts and "inschrijvingen" in p.name]
    zips = [p for p in files if p.suffix == ".zip"]
    samples = [
        (_names_from_table, exports[:: max(1, len(exports) // files_per_kind)][:files_per_kind]),
        (
            _names_from_zip,
            sorted(zips, key=lambda p: p.stat().st_size, reverse=True)[:files_per_kind],
        ),
    ]
    for read, paths in samples:
        for path in paths:
            try:
                found_people, found_streets = read(path)
            except Exception:  # an unreadable file is the loader's problem, not the scanner's
                continue
            people |= found_people
            streets |= found_streets
    return frozenset(
        _tokens(people) | {s.strip().lower() for s in streets if len(s.strip()) >= MIN_NAME_LENGTH}
    )


def scan_tables(
    conn: duckdb.DuckDBPyConnection,
    tables: list[str],
    name_tokens: frozenset[str],
    delivery_ids: list[str] | None = None,
    derived: bool = False,
    row_filters: Mapping[str, str] | None = None,
) -> list[Leak]:
    """Leaks per (table, column); tables are 'schema.table' names. With ``delivery_ids``,
    only those deliveries' rows are scanned and leaks are counted per delivery;
    ``row_filters`` (a SQL condition per table name) scans only the rows it holds.

    ``derived``: tables built from raw tables that were scanned per delivery (the marts
    before publication). Their distinct values are scanned (counts are then of distinct
    values), and pseudonym columns are left out: they pass through from raw columns
    already checked against the pseudonym's form, and are the costliest to read."""
    conn.execute("create or replace temp table _leak_names (token varchar)")
    if name_tokens:
        conn.executemany("insert into _leak_names values (?)", [[t] for t in sorted(name_tokens)])
    by_delivery = delivery_ids is not None
    if by_delivery:
        conn.register(
            "_leak_delivery_list",
            pd.DataFrame({"delivery_id": pd.Series(delivery_ids, dtype=object)}),
        )
        conn.execute(
            "create or replace temp table _leak_deliveries as select cast(delivery_id as varchar) "
            "as delivery_id from _leak_delivery_list"
        )
        conn.unregister("_leak_delivery_list")

    def rows_of(qualified: str) -> str:
        conditions = [(row_filters or {}).get(qualified)]
        if by_delivery:
            conditions.append("delivery_id in (select delivery_id from _leak_deliveries)")
        where = " and ".join(condition for condition in conditions if condition)
        return f"(select * from {qualified} where {where})" if where else qualified

    group = "delivery_id" if by_delivery else "null"
    leaks: list[Leak] = []
    for qualified in tables:
        schema, table = qualified.split(".")
        columns = conn.execute(
            "select column_name, data_type from information_schema.columns where table_schema = ? "
            "and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
        parts = []
        for column, data_type in columns:
            if data_type not in ("VARCHAR", "BIGINT", "INTEGER", "HUGEINT", "UBIGINT"):
                continue
            klass = column_policy.column_class(column, data_type)
            if klass in column_policy.NOT_SCANNED or (derived and klass == column_policy.PSEUDONYM):
                continue
            # A value of its class's form (a pseudonym, a hash, a municipality's number) is
            # no leak; anything else in the column is scanned as text.
            pattern = column_policy.PATTERNS.get(klass)
            scanned = f"where not regexp_full_match(t, '{pattern}')" if pattern else ""
            # Each distinct value once: the tests below are regular expressions and list
            # searches, and a column holds each value many times (a pupil's pseudonym on
            # every absence record, the same row numbers in every export).
            parts.append(
                f"""select {sql_string(column)} as col, {klass in column_policy.PSEUDONYMISED} as
                    pseudonymised, {data_type == "VARCHAR"} as text, t
                    from (select distinct cast("{column}" as varchar) as t
                    from {rows_of(qualified)}) {scanned}"""
            )
        if not parts:
            continue
        # The table's columns together: their distinct values tested in two queries (not
        # per column: a query costs milliseconds of its own, and a raw table has tens of
        # columns), then rows counted back only for the columns where something was found
        conn.execute("create or replace temp table _leak_values as " + " union all ".join(parts))
        conn.execute(
            f"""
            create or replace temp table _leak_flagged as
            with candidates as (select col, t, unnest({identifier_forms.candidates_sql("t")}) as s from _leak_values)
            select col, 'identifier_number' as kind, t, count(*) as hits from candidates where {identifier_forms.IDENTIFIER_LIKE_SQL} group by all
            union all
            select col, 'not_pseudonymised', t, 1 from _leak_values where pseudonymised and t is not null
            """  # noqa: E501
        )
        if name_tokens:
            conn.execute(
                f"""
                insert into _leak_flagged
                select col, 'landing_name', t, 1 from _leak_values
                where text and (lower(trim(t)) in (select token from _leak_names)
                   or list_has_any(regexp_split_to_array(lower(t), '{SPLIT_PATTERN}'), (select list(token) from _leak_names)))
                """  # noqa: E501
            )
        flagged = [c for (c,) in conn.execute("select distinct col from _leak_flagged").fetchall()]
        found = []
        for column in flagged:
            # Rows of a flagged value (of a derived table: its distinct values), counted per
            # delivery, a value with two identifier-like numbers twice; only a column with
            # something found is read again.
            found += conn.execute(
                f"""select f.col, r.delivery, f.kind, sum(f.hits)
                    from (select {"distinct" if derived else ""} {group} as delivery,
                          cast("{column}" as varchar) as t from {rows_of(qualified)}) as r
                    inner join _leak_flagged as f on f.col = ? and f.t = r.t
                    group by all""",
                [column],
            ).fetchall()
        order = {column: index for index, (column, _) in enumerate(columns)}
        kinds = ("identifier_number", "not_pseudonymised", "landing_name")
        leaks += [
            Leak(qualified, column, kind, int(n), delivery)
            for column, delivery, kind, n in sorted(
                found, key=lambda r: (order[r[0]], kinds.index(r[2]), str(r[1]))
            )
            if n
        ]
    conn.execute("drop table if exists _leak_values")
    conn.execute("drop table if exists _leak_flagged")
    return leaks


def ensure_tables(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(
        "create table if not exists raw.leak_scanned (delivery_id varchar, source varchar, "
        "scanned_at timestamp)"
    )
    conn.execute(
        "create table if not exists raw.leak_findings (delivery_id varchar, source varchar, "
        "table_name varchar, column_name varchar, kind varchar, rows bigint)"
    )


def scan_new_deliveries(
    conn: duckdb.DuckDBPyConnection,
    source: str,
    tables: list[str],
    name_tokens: frozenset[str] | Callable[[], frozenset[str]],
) -> list[Leak]:
    """Scan the source's registered deliveries (loaded, failed or duplicate: a register row
    holds a path and an error) not scanned before, record what was found, and return
    every recorded leak of the source's deliveries still registered (new or earlier).
    ``name_tokens`` may be a function: sampling the landing area for names costs seconds
    and is only needed when there is something new to scan."""
    ensure_tables(conn)
    todo = [
        row[0]
        for row in conn.execute(
            """select distinct delivery_id from raw.deliveries where source = ?
           and delivery_id not in (select delivery_id from raw.leak_scanned where source = ?)""",
            [source, source],
        ).fetchall()
    ]
    if todo:
        found = scan_tables(
            conn, tables, name_tokens() if callable(name_tokens) else name_tokens, delivery_ids=todo
        )
        conn.execute("begin transaction")
        if found:
            conn.executemany(
                "insert into raw.leak_findings values (?, ?, ?, ?, ?, ?)",
                [
                    [leak.delivery_id, source, leak.table, leak.column, leak.kind, leak.rows]
                    for leak in found
                ],
            )
        conn.execute(
            "insert into raw.leak_scanned select delivery_id, ?, current_timestamp from "
            "_leak_deliveries",
            [source],
        )
        conn.execute("commit")
    rows = conn.execute(
        """select f.table_name, f.column_name, f.kind, sum(f.rows)::bigint from raw.leak_findings f
           where f.source = ? and f.delivery_id in (select delivery_id from raw.deliveries where source = ?)
           group by all order by all""",  # noqa: E501
        [source, source],
    ).fetchall()
    return [Leak(table, column, kind, int(n)) for table, column, kind, n in rows]


def tables_in_schema(conn: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    return [f"{schema}.{table}" for table in tables_in(conn, schema)]
