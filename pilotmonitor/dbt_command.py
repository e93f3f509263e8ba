"""`pilotmonitor-dbt`: dbt-core's own command line, with partial parsing kept across
warehouse paths.

dbt re-parses the whole project (about 2.5 s of CPU, twice a partial parse) when the
profile's connection details differ from those its saved parse state recorded, and for
DuckDB those include the database file's path. Every warehouse at another path (a
test's, a benchmark's, a second data directory) therefore started with a full parse, even
from a copy of the project's parse state. The path decides nothing a parse produces:
the database name (the file's stem) and every other connection setting stay in the
comparison, and a parse at one path gives the manifest of a full parse at another
(`tests/orchestration/test_dbt_command.py`). Only `path` is left out of that comparison;
`dbt` itself is unchanged for anyone who runs it by hand.
"""

from __future__ import annotations

import sys


def _path_free_connection_keys() -> None:
    from dbt.adapters.duckdb.credentials import DuckDBCredentials

    keys = DuckDBCredentials._connection_keys
    if getattr(keys, "_pilotmonitor_path_free", False):
        return

    def connection_keys(self) -> tuple[str, ...]:
        return tuple(key for key in keys(self) if key != "path")

    connection_keys._pilotmonitor_path_free = True
    DuckDBCredentials._connection_keys = connection_keys


def main() -> int:
    _path_free_connection_keys()
    from dbt.cli.main import cli

    return cli()


if __name__ == "__main__":
    sys.exit(main())
