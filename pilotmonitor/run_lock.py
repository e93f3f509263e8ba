"""One pipeline run per data directory at a time.

`pilotmonitor run` holds an exclusive ``flock`` on ``<data dir>/run.lock`` for the whole
run. The kernel releases it when the process ends in any way, SIGKILL included, so a
lock file left behind by a killed run never blocks the next one, and "is a run going on"
is answered by the lock itself, not by a PID that may have been reused. The file also
records who holds it (PID, start time) for the message a second run prints.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

LOCK_NAME = "run.lock"
# `is_held` takes a shared lock for an instant; a run starting in that instant retries.
ACQUIRE_PATIENCE_SECONDS = 2.0


class RunInProgress(RuntimeError):
    """Another run holds the data directory's run lock."""


def lock_path(data_dir: Path) -> Path:
    return data_dir / LOCK_NAME


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    return f"process {info.get('pid', '?')}, started {info.get('started_at', '?')}"


class RunLock:
    """Context manager: the exclusive run lock, or RunInProgress when another run has it."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None
        self._server_lock = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # not inherited by subprocesses (PEP 446)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + ACQUIRE_PATIENCE_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise RunInProgress(
                        "another pipeline run is using this data directory "
                        f"({_holder(self.path)}; lock {self.path}); this run did nothing: wait "
                        "for it to finish, then run again"
                    ) from None
                time.sleep(0.05)
        # a server warehouse is shared by hosts that do not share this file: the server's
        # own lock too (pilotmonitor/warehouse_access.py)
        from pilotmonitor.warehouse_access import WarehouseInUse, warehouse

        try:
            self._server_lock = warehouse().hold_run_lock()
        except WarehouseInUse as exc:
            os.close(fd)
            raise RunInProgress(f"{exc}; this run did nothing: wait for it to finish") from None
        except BaseException:  # the server cannot be reached: the caller reports it
            os.close(fd)
            raise
        record = {"pid": os.getpid(), "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._server_lock is not None:
            self._server_lock.close()  # the session's end releases the advisory lock
            self._server_lock = None
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # no stale holder in the file; the lock goes with the close
            os.close(self._fd)
            self._fd = None


def is_held(path: Path) -> bool:
    """Whether a live process holds the run lock at `path` (never blocks)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
