"""The real readers in worker processes: the demo fixture's SYNTHETIC school absence
exports (CSV and workbooks, read in batches) and iJw archives (XML against the XSDs when
at hand) give the same raw rows, quarantine and register read by two spawned workers as
read in-process. The pipeline reads small sources in-process (loader.MIN_BYTES_FOR_WORKERS),
so the demo-size runs elsewhere in the suite do not cross the process boundary."""

from __future__ import annotations

import duckdb
import pytest

from pilotmonitor.ingest import loader, read_ahead
from pilotmonitor.ingest.pseudonymise import Pseudonymiser, load_key
from pilotmonitor.ingest.sources import SOURCES_BY_NAME, ReadContext, SourceReader
from pilotmonitor.settings import Settings


def _state(conn: duckdb.DuckDBPyConnection, tables: list[str]) -> dict[str, list]:
    state = {t: conn.execute(f"select * from raw.{t} order by all").fetchall() for t in tables}
    state["quarantine"] = conn.execute("select * from raw.quarantine order by all").fetchall()
    state["deliveries"] = conn.execute(
        "select * exclude (registered_at) from raw.deliveries order by path"
    ).fetchall()
    return state


@pytest.mark.parametrize("source", ["school_absence", "ijw_messages"])
def test_reading_in_workers_gives_what_reading_in_process_gives(demo_data_dir, monkeypatch, source):
    monkeypatch.setattr(loader, "MIN_FILES_FOR_WORKERS", 1)
    monkeypatch.setattr(loader, "MIN_BYTES_FOR_WORKERS", 0)
    monkeypatch.setattr(read_ahead, "BATCH_FILES", 5)  # many tasks, results cross in order
    tables = SOURCES_BY_NAME[source].tables
    schema_dir = Settings.from_env().ijw_xsd_dir  # as the ingestion asset finds them
    ctx = ReadContext(
        Pseudonymiser(load_key(demo_data_dir, demo=True, environ={})),
        schema_dir if (schema_dir / "basisschema.xsd").is_file() else None,
        None,
    )
    states = []
    for workers in (1, 2):
        with duckdb.connect() as conn:
            summary = loader.load_source(
                conn,
                demo_data_dir / "landing",
                source,
                tables,
                SourceReader(source, ctx),
                workers=workers,
            )
            states.append(_state(conn, tables))
    assert summary.count("loaded") > 100
    assert states[1] == states[0]
    assert sum(len(states[0][t]) for t in tables) > 1_000
