"""The raw layer's row accounting, a blocking check of every source asset: per delivery,
rows read = rows loaded + rows quarantined, and the delivery register agrees with what the
tables and the quarantine hold.

Counting the tables per delivery reads every raw row (at the country's size 167 million
absence records, seconds in every run, also when nothing was delivered), so the register
is first compared with the tables' totals, which DuckDB answers from its metadata. Only
when the totals disagree are the rows counted per delivery, to name the deliveries. (Two
errors that cancel out in the totals, rows of one delivery counted under another, would
pass; the loader writes a delivery's rows and its register row in one transaction.)
"""

from __future__ import annotations

import duckdb

from pilotmonitor.ingest.raw_catalogue import catalogue


def accounting_problems(conn: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    """Deliveries of ``source`` whose counts don't add up, or whose register row disagrees
    with the tables; empty when all agree."""
    register = conn.execute(
        "select path, delivery_id, rows_read, rows_loaded, rows_quarantined from raw.deliveries "
        "where source = ? and status = 'loaded'",
        [source],
    ).fetchall()
    problems = [
        f"{path}: read {read} != loaded {loaded} + quarantined {quarantined}"
        for path, _, read, loaded, quarantined in register
        if read != loaded + quarantined
    ]
    if _totals_agree(conn, source):
        return problems
    return problems + _per_delivery(conn, source, register)


def _sharing(source: str) -> tuple[list[str], list[str]]:
    """The sources whose readers fill the tables ``source`` fills (an iJw table is filled
    from archives and from flat extracts), and all their tables: the totals compared."""
    sources, tables = {source}, set(catalogue().tables_of_source(source))
    while True:
        more = {s for t in tables for s in catalogue().tables[t].sources} - sources
        if not more:
            return sorted(sources), sorted(tables)
        sources |= more
        tables |= {t for s in more for t in catalogue().tables_of_source(s)}


def _totals_agree(conn: duckdb.DuckDBPyConnection, source: str) -> bool:
    sources, tables = _sharing(source)
    marks = ", ".join("?" for _ in sources)
    loaded, quarantined = conn.execute(
        "select coalesce(sum(rows_loaded), 0), "
        "coalesce(sum(rows_quarantined) filter (where source = ?), 0) "
        f"from raw.deliveries where source in ({marks}) and status = 'loaded'",
        [source, *sources],
    ).fetchone()
    held = sum(conn.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in tables)
    in_quarantine = conn.execute(
        "select count(*) from raw.quarantine where source = ?", [source]
    ).fetchone()[0]
    return held == loaded and in_quarantine == quarantined


def _per_delivery(conn: duckdb.DuckDBPyConnection, source: str, register: list[tuple]) -> list[str]:
    union = " union all ".join(
        f"select delivery_id from raw.{t}" for t in catalogue().tables_of_source(source)
    )
    loaded = dict(
        conn.execute(f"select delivery_id, count(*) from ({union}) group by 1").fetchall()
    )
    quarantined = dict(
        conn.execute(
            "select delivery_id, count(*) from raw.quarantine where source = ? group by 1",
            [source],
        ).fetchall()
    )
    problems = []
    for path, delivery_id, _, n_loaded, n_quarantined in register:
        if loaded.get(delivery_id, 0) != n_loaded:
            problems.append(
                f"{path}: register says {n_loaded} rows loaded, tables hold "
                f"{loaded.get(delivery_id, 0)}"
            )
        if quarantined.get(delivery_id, 0) != n_quarantined:
            problems.append(
                f"{path}: register says {n_quarantined} quarantined, quarantine holds "
                f"{quarantined.get(delivery_id, 0)}"
            )
    return problems
