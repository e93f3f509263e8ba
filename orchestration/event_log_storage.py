"""Dagster's SQLite event log, keeping its database connections open.

Dagster's ``SqliteEventLogStorage`` creates an SQLAlchemy engine, opens a connection,
checks its tables and closes it again for every event it stores, twice for an asset or
check event (the run's database and the cross-run index). A demo run stores about 1,900
events; that cost about 10 s of the run (sampled with py-spy), most of it opening and
closing. This subclass keeps one engine with one open connection per database for the
few most recently used databases (the index and the current run's), and otherwise
stores and reads exactly as Dagster does: same files, same schema, same locking, so the
UI and other Dagster processes read the runs as before.

Configured in ``$DAGSTER_HOME/dagster.yaml`` (``DAGSTER_YAML``, written by the CLI), with
the databases where Dagster's default SQLite storage keeps them (``history/runs`` in
DAGSTER_HOME, read from the environment so a copied or moved home keeps working).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

# Databases kept open: the index and a run's own, with room for a reader of another run.
OPEN_DATABASES = 4

DAGSTER_YAML = """\
telemetry:
  enabled: false  # users' data must not phone home
# Dagster's SQLite event log with its connections kept open (orchestration/event_log_storage.py)
event_log_storage:
  module: orchestration.event_log_storage
  class: PooledSqliteEventLogStorage
  config:
    dagster_home:
      env: DAGSTER_HOME
"""


def _no_sync_per_commit(engine: Engine) -> None:
    """``synchronous=NORMAL`` on the engine's one connection when the database is in WAL
    mode (Dagster creates its event databases so). SQLite's default, FULL, syncs the
    write-ahead log to disk at every commit, and Dagster commits every event (about 2,000
    in a demo run): 2,000 commits took 5.8-7.1 s here against 0.07-0.12 s. In WAL mode
    NORMAL keeps the database consistent through a crash or power loss (SQLite's
    documentation); a power loss may lose the last events written before it. The run's
    status is not among them (Dagster's run storage keeps SQLite's default), and every run
    evaluates its checks again."""
    with engine.connect() as conn:
        if str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower() == "wal":
            conn.exec_driver_sql("PRAGMA synchronous=NORMAL")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with its connections kept open (see the module docstring)."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._known_tables: set[str] = set()
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls):
        return {"dagster_home": StringSource}

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PooledSqliteEventLogStorage:
        base_dir = os.path.join(config_value["dagster_home"], "history", "runs")
        return cls(base_dir, inst_data=inst_data)

    def _engine(self, shard: str) -> Engine:
        """The open engine of a database (called with ``_db_lock`` held)."""
        engine = self._engines.pop(shard, None)
        if engine is None:
            # one connection, used by one thread at a time: every use holds _db_lock
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=StaticPool,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            _no_sync_per_commit(engine)
        self._engines[shard] = engine
        while len(self._engines) > OPEN_DATABASES:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            with self._engine(shard).connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        # asked before every asset-check event; a table, once there, stays
        if table_name in self._known_tables:
            return True
        found = super().has_table(table_name)
        if found:
            self._known_tables.add(table_name)
        return found

    def _close_all(self) -> None:
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def wipe(self) -> None:
        self._close_all()
        super().wipe()

    def delete_events(self, run_id: str) -> None:
        self._close_all()
        super().delete_events(run_id)

    def upgrade(self) -> None:
        self._close_all()
        super().upgrade()

    def dispose(self) -> None:
        self._close_all()
        super().dispose()
