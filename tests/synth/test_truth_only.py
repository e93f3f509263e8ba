"""`pilotmonitor synth --truth-only`: the ground truth of the same world without a delivery
file, for power studies and the checks of the planted effects (which read only the truth)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from pilotmonitor.cli import app
from tests.synth.conftest import SMALL_SCALE

TRUTH_FILES = (
    "school_month.csv",
    "pupils.csv",
    "survey_truth.csv",
    "leerplicht_thuiszitters.csv",
)


def test_the_truth_alone_is_byte_for_byte_the_truth_of_the_whole_generation(
    demo_small, tmp_path, monkeypatch
):
    monkeypatch.setenv("PILOTMONITOR_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data" / "landing").mkdir(parents=True)
    (tmp_path / "data" / "landing" / "old_delivery.csv").write_text("x", encoding="utf-8")
    result = CliRunner().invoke(app, ["synth", "--scale", str(SMALL_SCALE), "--truth-only"])
    assert result.exit_code == 0, result.output
    assert "ground truth only (no deliveries)" in result.output
    alone, whole = tmp_path / "data" / "ground_truth", demo_small.ground_truth_dir
    for name in TRUTH_FILES:
        assert (alone / name).read_bytes() == (whole / name).read_bytes(), name
    # no delivery file, and none left from before: the landing area matches the truth
    assert not any((tmp_path / "data" / "landing").iterdir())
    assert not (alone / "deliveries.csv").exists()
    assert not (alone / "planted_defects.csv").exists()
    metadata = json.loads((alone / "scenario.json").read_text(encoding="utf-8"))
    expected = json.loads((whole / "scenario.json").read_text(encoding="utf-8"))
    assert metadata["truth_only"] is True and "truth_only" not in expected
    delivered = expected["row_counts"].pop("leerplicht_registrations")
    assert delivered > 0 and metadata["row_counts"] == expected["row_counts"]
