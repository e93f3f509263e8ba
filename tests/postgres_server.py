"""A throwaway PostgreSQL cluster for the team-warehouse tests: initdb in a temporary
folder, the server on a free local port with its socket in that folder (no TCP listener),
removed afterwards. Uses the Debian package's binaries (`make postgres-server`); as root,
runs them as the `postgres` user (PostgreSQL refuses to run as root).

No server binaries: the tests skip, unless PILOTMONITOR_REQUIRE_POSTGRES=1 (CI), where
they fail instead, so CI cannot pass without running them.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


@dataclass
class PostgresServer:
    folder: Path
    port: int
    bindir: Path

    def url(self, database: str, user: str = SUPERUSER, driver: str = "") -> str:
        """A libpq URI; with ``driver``, an SQLAlchemy URL naming that driver."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{user}@/{database}?host={self.folder}&port={self.port}"

    def psql(self, database: str, sql: str, user: str = SUPERUSER) -> str:
        """Run SQL with psql (ON_ERROR_STOP: the first error fails the call)."""
        completed = subprocess.run(
            [
                str(self.bindir / "psql") if (self.bindir / "psql").exists() else "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.folder),
                "-p",
                str(self.port),
                "-U",
                user,
                "-d",
                database,
                "-At",
            ],
            input=sql,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"psql as {user} on {database} failed:\n{completed.stderr}")
        return completed.stdout

    def create_database(self, name: str, owner: str = SUPERUSER) -> None:
        self.psql("postgres", f'create database "{name}" owner "{owner}";')

    def stop(self) -> None:
        _run_as_owner(
            [str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "stop"],
            check=False,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def server_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb): `make postgres-server` installs the Debian package"
    )


def start_server() -> PostgresServer:
    bindir = server_bindir()
    folder = Path(tempfile.mkdtemp(prefix="pilotmonitor-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, SUPERUSER, SUPERUSER)
    port = _free_port()
    _run_as_owner(
        [
            str(bindir / "initdb"),
            "-D",
            str(folder / "data"),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale",
            "C",
        ]
    )
    _run_as_owner(
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(folder / "data"),
            "-l",
            str(folder / "server.log"),
            "-w",
            "-o",
            f"-p {port} -k {folder} -c listen_addresses='' -c fsync=off",
            "start",
        ]
    )
    return PostgresServer(folder=folder, port=port, bindir=bindir)


def start_server_or_skip() -> PostgresServer:
    """start_server, or skip the calling test when there are no server binaries (fail
    instead under PILOTMONITOR_REQUIRE_POSTGRES=1)."""
    import pytest

    try:
        return start_server()
    except PostgresUnavailable as exc:
        if os.environ.get("PILOTMONITOR_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PILOTMONITOR_REQUIRE_POSTGRES=1 but {exc}")
        pytest.skip(str(exc))


def _run_as_owner(command: list[str], check: bool = True) -> None:
    if os.geteuid() == 0:
        command = ["runuser", "-u", SUPERUSER, "--", *command]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if check and completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stdout}\n{completed.stderr}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
