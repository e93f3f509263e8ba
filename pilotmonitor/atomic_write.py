"""Files written whole or not at all: a run killed while writing leaves the previous
version (or nothing), never half a report. The content goes to a temporary name beside
the target, which then replaces it in one rename (atomic on POSIX filesystems)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")  # hidden, and per process


@contextmanager
def replacing(path: Path, mode: str = "w", **open_args):
    """Open a temporary file for writing; it replaces `path` when the block ends without error."""
    tmp = _temporary(path)
    try:
        with open(tmp, mode, **open_args) as handle:
            yield handle
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    with replacing(path, "w", encoding=encoding) as handle:
        handle.write(text)
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    with replacing(path, "wb") as handle:
        handle.write(data)
    return path
