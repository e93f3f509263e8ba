"""A file's content hash is reused while its signature (size, modification and change
time, inode) is unchanged, and computed again as soon as the file changes in any way."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from orchestration.defs.landing.assets import inventory
from pilotmonitor.ingest import deliveries
from pilotmonitor.ingest.deliveries import content_hash, describe, file_signature, sha256_of
from pilotmonitor.ingest.loader import known_hashes

NAME = "pilots/p1/p1_kosten_20250101.csv"


@pytest.fixture()
def landing(tmp_path: Path) -> Path:
    path = tmp_path / NAME
    path.parent.mkdir(parents=True)
    path.write_text("jaar;fte\n2024;1,0\n", encoding="utf-8")
    return tmp_path


def _no_reading(monkeypatch):
    def refuse(path, chunk=0):
        raise AssertionError(f"{path} was read again")

    monkeypatch.setattr(deliveries, "sha256_of", refuse)


def test_an_unchanged_file_is_not_read_again(landing, monkeypatch):
    path = landing / NAME
    known = {NAME: (file_signature(path), sha256_of(path))}
    _no_reading(monkeypatch)
    assert describe(landing, path, known).sha256 == known[NAME][1]


@pytest.mark.parametrize(
    "change",
    ["same size, other bytes", "touched back to its old times", "replaced by another file"],
)
def test_any_change_to_the_file_gives_a_new_hash(landing, change):
    path = landing / NAME
    before = path.stat()
    known = {NAME: (file_signature(path), sha256_of(path))}
    if change == "same size, other bytes":
        path.write_text("jaar;fte\n2024;2,0\n", encoding="utf-8")
    elif (
        change == "touched back to its old times"
    ):  # content changed, modification time set back: the change time still moves
        path.write_text("jaar;fte\n2024;3,0\n", encoding="utf-8")
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    else:
        other = landing / "other.csv"
        other.write_text("jaar;fte\n2024;4,0\n", encoding="utf-8")
        os.replace(other, path)
    assert content_hash(path, NAME, known) == sha256_of(path) != known[NAME][1]


def test_the_inventory_keeps_signatures_and_the_sources_reuse_them(landing, monkeypatch):
    first = inventory(landing)
    conn = duckdb.connect()
    conn.execute("create schema raw")
    conn.register("files", first)
    conn.execute("create table raw.landing_files as select * from files")
    known = known_hashes(conn, "pilot_costs")
    assert list(known) == [NAME]
    _no_reading(monkeypatch)
    second = inventory(landing, known_hashes(conn))
    assert second.equals(first)
    assert known_hashes(conn, "school_absence") == {}
