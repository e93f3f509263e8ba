"""`pilotmonitor-dbt`: dbt-core's own command line, with partial parsing kept across
warehouse paths.

dbt re-parses the whole project (about 2.5 s of CPU, twice a partial parse) when the
profile's connection details differ from those its saved parse state recorded, and for
DuckDB those include the database file's path. Every warehouse at another path (a
test's, a benchmark's, a second data directory) therefore started with a full parse, even
from a copy of the project's parse state. Only `path` is left out of that comparison.
dbt compares exactly the keys it shows to Jinja as `target`, so `target.path` is gone
from the project's Jinja too (the project never used it) and no parse can depend on the
path; the database name (the file's stem) and every other connection setting stay. A
parse at one path gives the manifest of a full parse at another
(`tests/orchestration/test_dbt_command.py`). `dbt` run by hand is unchanged.
"""

from __future__ import annotations

import sys


def _path_free_connection_keys() -> None:
    from dbt.adapters.duckdb.credentials import DuckDBCredentials

    keys = DuckDBCredentials._connection_keys  # main() runs once per process

    def connection_keys(self) -> tuple[str, ...]:
        return tuple(key for key in keys(self) if key != "path")

    DuckDBCredentials._connection_keys = connection_keys


def main() -> int:
    _path_free_connection_keys()
    from dbt.cli.main import cli

    return cli()


if __name__ == "__main__":
    sys.exit(main())
