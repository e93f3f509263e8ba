"""A file written through pilotmonitor.atomic_write is whole or not written at all."""

import pytest

from pilotmonitor import atomic_write


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "report.nl.html"
    atomic_write.write_text(path, "<html>old</html>")
    with pytest.raises(RuntimeError):
        with atomic_write.replacing(path, "w", encoding="utf-8") as handle:
            handle.write("<html>half")
            raise RuntimeError("killed mid-write")
    assert path.read_text(encoding="utf-8") == "<html>old</html>"
    assert [p.name for p in tmp_path.iterdir()] == ["report.nl.html"]


def test_a_finished_write_replaces_the_file(tmp_path):
    path = tmp_path / "figure.png"
    atomic_write.write_bytes(path, b"old")
    atomic_write.write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["figure.png"]
