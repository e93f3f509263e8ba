"""The warehouse-access layer without a server: which engine, what dbt is told, and errors
that name the warehouse without its credentials."""

from __future__ import annotations

import pytest

from pilotmonitor.warehouse_access import (
    URL_VARIABLE,
    Warehouse,
    WarehouseConnectionError,
    warehouse,
)

# a socket folder that does not exist: libpq fails at once, nothing is contacted
UNREACHABLE = "postgresql://alice:s3cret-pw@/teamdb?host=/nonexistent-pilotmonitor&port=5999"


def test_the_duckdb_file_is_the_default_and_postgresql_needs_the_url(tmp_path, monkeypatch):
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    place = warehouse(tmp_path / "w.duckdb")
    assert not place.is_postgres and not place.exists()
    with place.connect() as conn:
        conn.execute("create table t as select 1 as v")
    assert place.exists()
    with place.connect(read_only=True) as conn:
        assert conn.execute("select v from t").fetchall() == [(1,)]
    assert place.dbt_env()["PILOTMONITOR_DBT_TARGET"] == "duckdb"
    monkeypatch.setenv(URL_VARIABLE, UNREACHABLE)
    assert warehouse(tmp_path / "w.duckdb").is_postgres


def test_dbt_gets_the_postgres_target_from_the_url(monkeypatch):
    for name in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD"):
        monkeypatch.delenv(name, raising=False)
    env = Warehouse(path=None, url=UNREACHABLE).dbt_env()
    assert env == {
        "PILOTMONITOR_DBT_TARGET": "postgres",
        "PILOTMONITOR_PG_HOST": "/nonexistent-pilotmonitor",
        "PILOTMONITOR_PG_PORT": "5999",
        "PILOTMONITOR_PG_USER": "alice",
        "PILOTMONITOR_PG_DATABASE": "teamdb",
        "PILOTMONITOR_PG_PASSWORD": "s3cret-pw",
    }


def test_an_unreachable_server_is_named_without_its_password():
    place = Warehouse(path=None, url=UNREACHABLE)
    assert place.describe() == "PostgreSQL teamdb on /nonexistent-pilotmonitor:5999"
    assert place.exists()  # not known to be missing: connecting says why it cannot
    with pytest.raises(WarehouseConnectionError) as failure:
        place.connect(read_only=True)
    assert "PostgreSQL teamdb on /nonexistent-pilotmonitor:5999" in str(failure.value)
    assert "s3cret-pw" not in str(failure.value)
    with pytest.raises(WarehouseConnectionError) as failure:
        place.hold_run_lock()
    assert "s3cret-pw" not in str(failure.value)


def test_a_url_that_is_not_a_connection_string_is_refused():
    with pytest.raises(WarehouseConnectionError, match=URL_VARIABLE):
        Warehouse(path=None, url="warehouse please").describe()


def test_what_the_url_leaves_out_comes_from_libpqs_environment(monkeypatch):
    monkeypatch.setenv("PGHOST", "db.example.nl")
    monkeypatch.setenv("PGPASSWORD", "from-env")
    monkeypatch.delenv("PGPORT", raising=False)
    env = Warehouse(path=None, url="postgresql://bob@/teamdb").dbt_env()
    assert env["PILOTMONITOR_PG_HOST"] == "db.example.nl"
    assert env["PILOTMONITOR_PG_PASSWORD"] == "from-env"
    assert env["PILOTMONITOR_PG_USER"] == "bob" and "PILOTMONITOR_PG_PORT" not in env


def test_replace_table_keeps_the_table_while_its_columns_stay(tmp_path, monkeypatch):
    """Rows replaced in place (a view on the table keeps working, as PostgreSQL requires);
    other columns or types replace the table."""
    import pandas as pd

    from pilotmonitor.warehouse_access import replace_table

    monkeypatch.delenv(URL_VARIABLE, raising=False)
    with warehouse(tmp_path / "w.duckdb").connect() as conn:
        conn.execute("create schema raw")
        for frame in (pd.DataFrame({"a": ["x", "y"]}), pd.DataFrame({"a": ["z"]})):
            conn.register("frame", frame)
            replace_table(conn, "raw", "t", "select * from frame")
            conn.execute("create view if not exists raw.v as select a from raw.t")
        assert conn.execute("select * from raw.v").fetchall() == [("z",)]
        conn.register("frame", pd.DataFrame({"a": [1.5]}))
        replace_table(conn, "raw", "t", "select * from frame")
        assert conn.execute("select a from raw.t").fetchall() == [(1.5,)]
