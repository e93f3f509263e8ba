"""The dbt project of the warehouse: where it is, which dbt runs it, with which
environment, and a manifest that is always there when the code location loads.

Used by the Dagster warehouse assets (orchestration/defs/warehouse/), by `pilotmonitor
docs` and by the tests; importing this module does not run dbt (``ensure_manifest`` does,
and ``start_parse_if_stale`` in the background for a command that loads them next).
A manifest is parsed only when a file dbt reads changed: dagster-dbt's own preparation
(``DbtProject.prepare_if_dev``) parses on every load in development and never otherwise,
which would cost every monthly run a parse or leave a fresh clone without a manifest.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from pilotmonitor.settings import REPO_ROOT, Settings

logger = logging.getLogger(__name__)

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
TARGET_DIR = DBT_PROJECT_DIR / "target"
MANIFEST_PATH = TARGET_DIR / "manifest.json"
# Inputs of the manifest: a change to any of them makes target/manifest.json stale.
_MANIFEST_INPUT_DIRS = ("models", "macros", "seeds", "tests", "snapshots", "analyses")
_MANIFEST_INPUT_FILES = (
    "dbt_project.yml",
    "profiles.yml",
    "packages.yml",
    "dependencies.yml",
    "selectors.yml",
)


class DbtNotFoundError(RuntimeError):
    """No dbt executable next to the Python interpreter or on PATH."""


class DbtParseError(RuntimeError):
    """`dbt parse` failed, so there is no manifest to build the warehouse assets from."""


def dbt_executable() -> str:
    """The dbt of this environment: `pilotmonitor-dbt` next to the running Python (dbt-core's
    command line that keeps partial parsing across warehouse paths: dbt_command.py), else
    the `dbt` script there (the venv's bin/ even when it is not on PATH), else `dbt` on
    PATH."""
    for name in ("pilotmonitor-dbt", "dbt"):
        beside_python = Path(sys.executable).parent / (f"{name}.exe" if os.name == "nt" else name)
        if beside_python.is_file() and os.access(beside_python, os.X_OK):
            return str(beside_python)
    on_path = shutil.which("dbt")
    if on_path:
        return on_path
    raise DbtNotFoundError(
        f"dbt not found: neither {Path(sys.executable).parent / 'dbt'} nor `dbt` on PATH. "
        "dagster-dbt does not install dbt; install dbt-core and dbt-duckdb into this "
        "environment (`make install`, or `uv pip install -r requirements.lock`)."
    )


def dbt_env(warehouse_path: Path | None = None) -> dict[str, str]:
    """Environment variables every dbt subprocess gets: the warehouse (profile target and
    connection: pilotmonitor/warehouse_access.py) and DuckDB memory limit of the same
    Settings as the rest of Pilotmonitor, no telemetry, and dbt's own log file
    (target/dbt.log) at warnings unless DBT_LOG_LEVEL_FILE says otherwise: at its default,
    debug, it writes every query, 8 MB and about 8% of the build's time at scale 0.05; the run
    log (data/logs/run.log) has dbt's events at info level."""
    from pilotmonitor.warehouse_access import warehouse

    settings = Settings.from_env()
    return {
        **warehouse(warehouse_path).dbt_env(),
        "PILOTMONITOR_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_LOG_LEVEL_FILE": os.environ.get("DBT_LOG_LEVEL_FILE", "warn"),
    }


def project_files(project_dir: Path = DBT_PROJECT_DIR) -> list[Path]:
    """Every file dbt parses, in a stable order."""
    files = [project_dir / name for name in _MANIFEST_INPUT_FILES if (project_dir / name).is_file()]
    for folder in _MANIFEST_INPUT_DIRS:
        if (project_dir / folder).is_dir():
            files.extend(
                p
                for p in (project_dir / folder).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts
            )
    return sorted(files, key=lambda p: p.relative_to(project_dir).as_posix())


def manifest_is_stale(project_dir: Path = DBT_PROJECT_DIR, manifest: Path = MANIFEST_PATH) -> bool:
    """True when the manifest is missing or older than any file dbt parses."""
    if not manifest.is_file():
        return True
    built = manifest.stat().st_mtime
    return any(p.stat().st_mtime > built for p in project_files(project_dir))


@dataclass
class _Parse:
    """A `dbt parse` running into its private target directory."""

    process: subprocess.Popen
    scratch: Path


_background: _Parse | None = None  # started by start_parse_if_stale, awaited by ensure_manifest


def _start_parse(warehouse_path: Path | None) -> _Parse:
    scratch = TARGET_DIR / f".parse-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    scratch.mkdir(parents=True, exist_ok=True)
    command = [
        dbt_executable(),
        "parse",
        "--quiet",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(scratch),
    ]
    env = {**os.environ, **dbt_env(warehouse_path), "DBT_LOG_PATH": str(scratch)}
    try:
        process = subprocess.Popen(
            command,
            cwd=DBT_PROJECT_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return _Parse(process, scratch)


def _finish_parse(parse: _Parse) -> Path:
    try:
        try:
            stdout, stderr = parse.process.communicate(timeout=600)
        except BaseException:
            parse.process.kill()
            parse.process.wait()
            raise
        produced = parse.scratch / "manifest.json"
        if parse.process.returncode != 0 or not produced.is_file():
            output = (stdout + stderr).strip()
            raise DbtParseError(
                f"`dbt parse` of {DBT_PROJECT_DIR} failed (exit {parse.process.returncode}):\n"
                f"{output}"
            )
        os.replace(produced, MANIFEST_PATH)
        # dagster-dbt copies target/partial_parse.msgpack into a build's empty target
        # directory: the first build of any warehouse then skips a full parse (about 2.5 s;
        # a profile that differs in more than the warehouse path still parses in full).
        parsed = parse.scratch / "partial_parse.msgpack"
        if parsed.is_file():
            os.replace(parsed, TARGET_DIR / "partial_parse.msgpack")
    finally:
        shutil.rmtree(parse.scratch, ignore_errors=True)
    return MANIFEST_PATH


def parse_manifest(warehouse_path: Path | None = None) -> Path:
    """Run `dbt parse` and put its manifest (and partial-parse state) in target/.

    dbt writes into a private target directory first and the manifest is moved into place
    atomically, so two processes loading the code location at once (test workers, the
    UI and the daemon) never read a half-written manifest.
    """
    return _finish_parse(_start_parse(warehouse_path))


def start_parse_if_stale() -> None:
    """Start `dbt parse` in the background when the manifest is stale, for a command that
    loads the code location next: its imports then overlap the parse (`ensure_manifest`
    waits for it). On a fresh clone the first `pilotmonitor run` loaded its definitions in
    10.0 s, 5.9 of them parsing, against 3.8 s with a manifest."""
    global _background
    if _background is None and manifest_is_stale():
        _background = _start_parse(None)
        # a command that stops before loading them still leaves a manifest, not a stray
        # parse and its private directory
        atexit.register(finish_background_parse)


def _finish_background() -> None:
    """Wait for the parse start_parse_if_stale began, if any (DbtParseError if it failed)."""
    global _background
    if _background is not None:
        parse, _background = _background, None
        _finish_parse(parse)


def finish_background_parse() -> None:
    """Wait for the parse start_parse_if_stale began, if any; a failed one is only logged:
    the manifest stays stale, so the next load parses again and reports it."""
    try:
        _finish_background()
    except DbtParseError as exc:
        logger.warning("dbt parse failed: %s", exc)


def ensure_manifest() -> Path:
    """A current target/manifest.json: parsed when missing (a fresh clone) or older than the
    dbt sources (models edited since, or `dagster dev` picking up changes).

    If re-parsing a stale manifest fails the old one is kept with a warning, so the code
    location still loads; the dbt build itself then reports the broken project.
    """
    had_manifest = MANIFEST_PATH.is_file()
    try:
        _finish_background()
        if not manifest_is_stale():
            return MANIFEST_PATH
        return parse_manifest()
    except DbtParseError as exc:
        if not had_manifest:
            raise
        logger.warning("keeping the previous dbt manifest: %s", exc)
        return MANIFEST_PATH
