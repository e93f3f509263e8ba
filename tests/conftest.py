"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Only to end a run that hangs: hours, not the minutes a quiet machine needs.
FIXTURE_HANG_LIMIT_S = int(os.environ.get("PILOTMONITOR_FIXTURE_HANG_LIMIT_S", "10800"))


# Files that run whole pipelines (one to three minutes each), longest first. xdist's
# loadfile hands files to the two workers in collection order; by default it first sorts
# them by their number of tests, which put these few-test files last, so one worker ran
# the last of them alone for minutes. `make test` passes --no-loadscope-reorder and this
# order starts them first; the first one builds the shared demo fixture while the other
# worker builds its own scenario. Durations: `pytest --durations=40`.
LONG_FILES = (
    "test_crash_safety.py",  # the demo fixture, then four killed runs and their reruns
    "warehouse/test_marts.py",  # its own scenario, two runs and a full refresh
    "warehouse/test_postgres_end_to_end.py",  # a PostgreSQL cluster and a whole run on it
    "synth/test_national.py",  # three generations of a national pool
    "quality/test_quality_end_to_end.py",
    "orchestration/test_warehouse_assets.py",
    "export/test_export.py",
)


def pytest_collection_modifyitems(items):
    """Long files first (above); the rest keep their order (a stable sort)."""
    tests_dir = Path(__file__).parent
    missing = [name for name in LONG_FILES if not (tests_dir / name).is_file()]
    if missing:  # a renamed file would silently lose its place
        raise pytest.UsageError(f"tests/conftest.py LONG_FILES names no file: {missing}")
    rank = {tests_dir / name: index for index, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(Path(item.path), len(LONG_FILES)))


@pytest.fixture(autouse=True)
def _no_inherited_demo_mode():
    """`pilotmonitor run --demo` invoked in this process (CliRunner) sets PILOTMONITOR_DEMO
    in os.environ, which is how the CLI hands demo mode to the assets it runs. Restored
    after each test, so no later test (or subprocess it starts with os.environ) runs in a
    demo mode it did not ask for: a test that passed only on a worker where an earlier file
    had left it set failed on another."""
    before = os.environ.get("PILOTMONITOR_DEMO")
    yield
    if before is None:
        os.environ.pop("PILOTMONITOR_DEMO", None)
    else:
        os.environ["PILOTMONITOR_DEMO"] = before


def _ijw_xsd_dir() -> Path:
    configured = os.environ.get("PILOTMONITOR_IJW_XSD_DIR")
    if configured:
        return Path(configured)
    return REPO_ROOT.parent / "shared" / "reference" / "ijw-3.2" / "xsd"


@pytest.fixture(scope="session")
def ijw_xsd_dir() -> Path:
    """Directory with the iJw 3.2 XSDs (basisschema.xsd, JW301.xsd, ...).

    The schemas are public reference material kept outside the repository; tests that
    need them skip with a clear reason where they are absent.
    """
    path = _ijw_xsd_dir()
    if not (path / "basisschema.xsd").is_file():
        pytest.skip(f"iJw 3.2 XSDs not found at {path} (set PILOTMONITOR_IJW_XSD_DIR)")
    return path


def built_once(tmp_path_factory, name: str, build):
    """`build(root)` run once per test session, shared by the xdist workers: the first
    worker to ask builds in <session temp>/<name> under a file lock, the others wait and
    get the same (pickled) result. Whatever `build` writes under `root` is shared too and
    must be treated as read-only."""
    import pickle

    from filelock import FileLock

    # xdist workers each have basetemp <session>/popen-gwN: share <session>/<name>; without
    # xdist the session's own basetemp (its parent is shared by earlier sessions)
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    done = root / "built.pickle"
    with FileLock(str(root) + ".lock"):
        if not done.exists():
            root.mkdir(parents=True, exist_ok=True)
            done.write_bytes(pickle.dumps(build(root)))
    return pickle.loads(done.read_bytes())


@pytest.fixture(scope="session")
def demo_data_dir(tmp_path_factory) -> Path:
    """A small SYNTHETIC demo (scale 0.05) after `pilotmonitor synth` and `pilotmonitor
    run --demo`: landing area, warehouse (published marts, effect estimates), reports.

    Built once per test session and shared by the xdist workers. Tests must treat it as
    read-only: open the warehouse with ``duckdb.connect(path, read_only=True)`` and write
    elsewhere (``copy_demo``).
    """
    return built_once(tmp_path_factory, "pilotmonitor_demo", _build_demo)


def _build_demo(root: Path) -> Path:
    import subprocess
    import sys

    data_dir = root / "data"
    env = {
        **os.environ,
        "PILOTMONITOR_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }
    for name in (
        "PILOTMONITOR_PSEUDONYM_KEY",
        "PILOTMONITOR_PSEUDONYM_KEY_FILE",
        "PILOTMONITOR_DEMO",
    ):
        env.pop(name, None)
    cli = [sys.executable, "-m", "pilotmonitor.cli"]
    for args in (["synth", "--scale", "0.05", "--seed", "7"], ["run", "--demo"]):
        # no timeout tuned to a quiet machine: a loaded one is slow, not wrong; the
        # pipeline's own error is the failure (a hang would still need a limit)
        try:
            proc = subprocess.run(
                [*cli, *args], env=env, capture_output=True, text=True, timeout=FIXTURE_HANG_LIMIT_S
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(
                f"demo fixture: pilotmonitor {' '.join(args)} still running after "
                f"{FIXTURE_HANG_LIMIT_S} s (a hang?); its output so far:\n"
                f"{str(exc.stdout or '')[-4000:]}"
            ) from None
        if proc.returncode != 0:
            raise RuntimeError(
                f"demo fixture: pilotmonitor {' '.join(args)} failed:\n"
                f"{proc.stdout[-4000:]}\n"
                f"{proc.stderr[-4000:]}"
            )
        (root / f"{args[0]}_output.txt").write_text(proc.stdout, encoding="utf-8")
    return data_dir


@pytest.fixture(scope="session")
def demo_outputs(demo_data_dir) -> dict[str, str]:
    """What `pilotmonitor synth` and `pilotmonitor run --demo` printed for the demo fixture."""
    root = demo_data_dir.parent
    return {
        name: (root / f"{name}_output.txt").read_text(encoding="utf-8") for name in ("synth", "run")
    }


@pytest.fixture(scope="session")
def copy_demo(demo_data_dir):
    """A factory for a writable copy of the built demo fixture (data directory and Dagster
    home) under a root of the test's choice; returns the copy's data directory.

    A copy is a file copy (seconds), where building another warehouse is a whole pipeline
    run (minutes): tests that rerun, damage or extend a built warehouse start from one.
    """
    import shutil

    def copy(root: Path) -> Path:
        shutil.copytree(demo_data_dir, root / "data", ignore=shutil.ignore_patterns("run.lock"))
        shutil.copytree(demo_data_dir.parent / "dagster_home", root / "dagster_home")
        return root / "data"

    return copy


class FinishedRun:
    """What a finished CLI invocation left (exit code and output), for tests that read
    the demo fixture's run: the fixture fails with the run's output when it did not succeed."""

    def __init__(self, output: str):
        self.exit_code, self.output = 0, output
