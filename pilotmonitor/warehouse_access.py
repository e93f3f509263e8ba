"""One way into the warehouse for every layer, on either engine.

The embedded default is a DuckDB file in the data directory. A team's warehouse is
PostgreSQL, named by ``PILOTMONITOR_WAREHOUSE_URL`` (a libpq connection string or
``postgresql://`` URI; the password from ``PGPASSWORD`` or ``~/.pgpass``, never in the
repo). On PostgreSQL the connection is an in-memory DuckDB that attaches the database with
DuckDB's own postgres extension and makes it the default catalog, so every layer keeps
writing one dialect (DuckDB's): reads are pushed down to PostgreSQL, bulk inserts go
through PostgreSQL's binary COPY, and several readers and one writer share the server
(docs/design/team_warehouse.md).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pilotmonitor.settings import Settings, limit_duckdb_memory

URL_VARIABLE = "PILOTMONITOR_WAREHOUSE_URL"
CATALOG = "warehouse"  # the attached PostgreSQL database's name inside DuckDB


# PostgreSQL advisory-lock key of pipeline runs (any fixed bigint; this one spells "pilotmon")
RUN_LOCK_KEY = 0x70696C6F746D6F6E


# libpq's connection parts the dbt profile takes (dbt_project/profiles.yml): the profile's
# variable for each, and libpq's own environment variable for it
DBT_PROFILE_PARTS = {
    "host": ("PILOTMONITOR_PG_HOST", "PGHOST"),
    "port": ("PILOTMONITOR_PG_PORT", "PGPORT"),
    "user": ("PILOTMONITOR_PG_USER", "PGUSER"),
    "dbname": ("PILOTMONITOR_PG_DATABASE", "PGDATABASE"),
    "password": ("PILOTMONITOR_PG_PASSWORD", "PGPASSWORD"),
}


# Inside shared_attachments(): per (URL, read-only) the in-memory DuckDB that attached it
_shared: dict[tuple[str, bool], duckdb.DuckDBPyConnection] | None = None
_shared_lock = threading.Lock()


class WarehouseConnectionError(RuntimeError):
    """The warehouse cannot be opened: the message says which one and why."""


class WarehouseInUse(RuntimeError):
    """Another pipeline run holds the server warehouse's run lock."""


@dataclass(frozen=True)
class Warehouse:
    """Where the warehouse is: a DuckDB file (``path``) or a PostgreSQL database (``url``)."""

    path: Path | None
    url: str = ""

    @property
    def is_postgres(self) -> bool:
        return bool(self.url)

    def describe(self) -> str:
        """For messages and logs: the file, or the server and database without credentials."""
        if not self.is_postgres:
            return str(self.path)
        parts = _dsn_parts(self.url)
        host = parts.get("host", "localhost")
        return f"PostgreSQL {parts.get('dbname', '')} on {host}:{parts.get('port', '5432')}"

    def exists(self) -> bool:
        """False when the warehouse is known not to exist yet (no file; a server database
        without the raw schema a first run creates). A server that cannot be reached gives
        True, so that the caller's connect() reports why instead of "no warehouse"."""
        if not self.is_postgres:
            return self.path is not None and self.path.is_file()
        try:
            with self.connect(read_only=True) as conn:
                return bool(
                    conn.execute(
                        "select count(*) from information_schema.schemata "
                        "where catalog_name = ? and schema_name = 'raw'",
                        [CATALOG],
                    ).fetchone()[0]
                )
        except WarehouseConnectionError:
            return True

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection whose default catalog is the warehouse. ``read_only`` takes
        DuckDB's shared lock on a file and attaches PostgreSQL read-only: nothing the
        connection runs can change the warehouse."""
        if not self.is_postgres:
            conn = duckdb.connect(str(self.path), read_only=read_only)
            limit_duckdb_memory(conn)
            return conn
        with _shared_lock:
            if _shared is None:
                return self._attach(read_only)
            root = _shared.get((self.url, read_only))
            if root is None:
                root = _shared[(self.url, read_only)] = self._attach(read_only)
        conn = root.cursor()
        # another process (dbt) may have replaced tables since: read the catalog afresh
        conn.execute("call pg_clear_cache()")
        conn.execute(f"use {CATALOG}")
        return conn

    def _attach(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        conn = duckdb.connect()
        try:
            limit_duckdb_memory(conn)
            _load_postgres_extension(conn)
            options = "TYPE postgres, READ_ONLY" if read_only else "TYPE postgres"
            conn.execute(f"attach {sql_string(self.url)} as {CATALOG} ({options})")
            conn.execute(f"use {CATALOG}")
        except duckdb.Error as exc:
            conn.close()
            message = str(exc).replace(self.url, "<" + URL_VARIABLE + ">")
            raise WarehouseConnectionError(
                f"cannot open the warehouse ({self.describe()}): {message.splitlines()[0]}"
            ) from None
        return conn

    def hold_run_lock(self):
        """On PostgreSQL, a session holding the advisory lock of pipeline runs, so runs from
        different hosts (which do not share a data directory's lock file) exclude each
        other; close it to release (PostgreSQL releases it too when the session dies).
        None for a DuckDB file, whose writer lock and run lock file already do this."""
        if not self.is_postgres:
            return None
        import psycopg2

        try:
            session = psycopg2.connect(self.url)
        except psycopg2.Error as exc:
            raise WarehouseConnectionError(
                f"cannot open the warehouse ({self.describe()}): {str(exc).strip()}"
            ) from None
        session.autocommit = True
        with session.cursor() as cursor:
            cursor.execute("select pg_try_advisory_lock(%s)", [RUN_LOCK_KEY])
            held = cursor.fetchone()[0]
        if not held:
            session.close()
            raise WarehouseInUse(
                f"another pipeline run holds the run lock of the warehouse ({self.describe()})"
            )
        return session

    def dbt_env(self) -> dict[str, str]:
        """The dbt profile's target and connection (dbt_project/profiles.yml)."""
        if not self.is_postgres:
            return {
                "PILOTMONITOR_DBT_TARGET": "duckdb",
                "PILOTMONITOR_WAREHOUSE": str(self.path.expanduser().resolve()),
            }
        # what the URL names; the rest falls back to libpq's environment (PGHOST, ...) and then
        # to the profile's defaults, so name host, port, user and database in the URL
        parts = _dsn_parts(self.url)
        env = {"PILOTMONITOR_DBT_TARGET": "postgres"}
        for part, (profile_variable, libpq_variable) in DBT_PROFILE_PARTS.items():
            value = parts.get(part) or os.environ.get(libpq_variable, "")
            if value:
                env[profile_variable] = value
        return env


def warehouse(path: Path | str | None = None) -> Warehouse:
    """The warehouse of this environment: PostgreSQL when PILOTMONITOR_WAREHOUSE_URL is set,
    otherwise the DuckDB file ``path`` (default: the data directory's)."""
    file = Path(path) if path is not None else Settings.from_env().warehouse_path
    return Warehouse(path=file, url=os.environ.get(URL_VARIABLE, "").strip())


@contextlib.contextmanager
def shared_attachments() -> Iterator[None]:
    """Within it, connections to a PostgreSQL warehouse are cursors of one attachment per
    access mode instead of an attachment each (the extension's load and the server's
    handshake, about 0.15 s, and a pipeline run connects about 70 times); every one reads
    the catalog afresh. The attachments close at its end, so no idle server session
    outlives it. A DuckDB file is opened per connection either way."""
    global _shared
    with _shared_lock:
        if _shared is not None:  # nested: the outer one owns the attachments
            owner = False
        else:
            _shared, owner = {}, True
    try:
        yield
    finally:
        if owner:
            with _shared_lock:
                attached, _shared = _shared or {}, None
            for conn in attached.values():
                conn.close()


def connect(path: Path | str | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Shorthand for ``warehouse(path).connect(read_only)``."""
    return warehouse(path).connect(read_only=read_only)


def replace_table(conn: duckdb.DuckDBPyConnection, schema: str, table: str, query: str) -> None:
    """Make ``schema.table`` hold exactly the rows of ``query``, in one transaction.

    With the same columns (names, order, types) the table is kept and its rows replaced:
    PostgreSQL refuses to drop a table that dbt's staging views read (DuckDB does not track
    such dependencies), and a reader never finds the table missing. With other columns (an
    upgrade) it is dropped and created again; on PostgreSQL with its dependent views, which
    the dbt build that follows creates again.
    """
    from pilotmonitor.table_digest import columns_of, quote

    relation = f"{quote(schema)}.{quote(table)}"
    wanted = [tuple(row[:2]) for row in conn.execute(f"describe {query}").fetchall()]
    conn.execute("begin transaction")
    try:
        if columns_of(conn, schema, table) == wanted:  # names, order and types
            conn.execute(f"delete from {relation}")
            conn.execute(f"insert into {relation} by name {query}")
        else:
            if _is_postgres(conn):
                conn.execute(
                    "call postgres_execute(?, ?)",
                    [CATALOG, f"drop table if exists {relation} cascade"],
                )
                conn.execute("call pg_clear_cache()")  # DuckDB's copy of the catalog is stale
            else:
                conn.execute(f"drop table if exists {relation}")
            conn.execute(f"create table {relation} as {query}")
        conn.execute("commit")
    except Exception:
        conn.execute("rollback")
        raise


def checkpoint_after_ddl(conn: duckdb.DuckDBPyConnection) -> None:
    """Write the DuckDB file's WAL into the file after creating or altering tables, so a run
    killed later leaves no WAL that mixes that DDL (a primary key is an index) with rows:
    replaying such a WAL can crash DuckDB 1.5.5 at the next indexed write (DuckDB issue
    25928; the project is on 1.5.5 for its postgres extension). Best effort: DuckDB refuses
    while another transaction of the process is open, and PostgreSQL has nothing to do."""
    if _is_postgres(conn):
        return
    try:
        conn.execute("checkpoint")
    except duckdb.TransactionException:
        pass


def relations(
    conn: duckdb.DuckDBPyConnection, schemas: Iterable[str]
) -> list[tuple[str, str, str, str | None]]:
    """(schema, name, "BASE TABLE" or "VIEW", a view's definition) of every relation in
    these schemas, sorted. Through DuckDB's postgres extension a PostgreSQL view reads as a
    base table, so on the server its own catalog says which relations are views."""
    wanted = sorted(set(schemas))
    if _is_postgres(conn):
        listed = ", ".join(sql_string(schema) for schema in wanted) or "null"
        query = (
            "select t.table_schema::text, t.table_name::text, t.table_type::text, "
            "v.definition::text from information_schema.tables t left join pg_views v on "
            "v.schemaname = t.table_schema and v.viewname = t.table_name where t.table_schema "
            f"in ({listed}) order by 1, 2"
        )
        return conn.execute(
            f"select * from postgres_query({sql_string(CATALOG)}, {sql_string(query)})"
        ).fetchall()
    return conn.execute(
        "select t.table_schema, t.table_name, t.table_type, v.sql from information_schema.tables "
        "t left join duckdb_views() v on v.schema_name = t.table_schema and v.view_name = "
        "t.table_name and v.database_name = t.table_catalog where t.table_schema in (select "
        "unnest(?)) order by 1, 2",
        [wanted],
    ).fetchall()


def _is_postgres(conn: duckdb.DuckDBPyConnection) -> bool:
    row = conn.execute(
        "select type from duckdb_databases() where database_name = current_database()"
    ).fetchone()
    return bool(row) and row[0] == "postgres"


def _dsn_parts(url: str) -> dict[str, str]:
    """libpq's own parser (URI or key=value), so every form libpq accepts is understood."""
    from psycopg2.extensions import parse_dsn

    try:
        return parse_dsn(url)
    except Exception as exc:  # psycopg2.ProgrammingError: not a connection string
        raise WarehouseConnectionError(
            f"{URL_VARIABLE} is not a PostgreSQL connection string: {exc}"
        ) from None


def _load_postgres_extension(conn: duckdb.DuckDBPyConnection) -> None:
    """DuckDB downloads extensions from its own site, which is out of reach here; the
    duckdb-extension-postgres wheel carries the same signed binary, installed from disk into
    DuckDB's extension directory the first time (DuckDB checks the signature on load)."""
    try:
        conn.execute("load postgres")
        return
    except duckdb.Error:
        pass
    import duckdb_extension_postgres

    folder = Path(duckdb_extension_postgres.__file__).parent / "extensions"
    binary = next(folder.glob(f"v{duckdb.__version__}/postgres.duckdb_extension"), None)
    if binary is None:
        raise WarehouseConnectionError(
            f"duckdb-extension-postgres has no build for DuckDB {duckdb.__version__} (reinstall "
            "from requirements.lock)"
        )
    conn.execute(f"install {sql_string(str(binary))}")
    conn.execute("load postgres")


def sql_string(value: str) -> str:
    """A SQL string literal of ``value`` (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"
