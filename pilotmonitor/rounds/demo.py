"""The demo's evaluation rounds: ``<scenarios dir>/<scenario>.rounds.yml`` of the
scenario the landing area was generated from (``ground_truth/scenario.json``), created at
the end of ``pilotmonitor run --demo`` when missing (rounds are immutable: existing ones
are kept). Their dates only mean something for that synthetic scenario, so they live
beside it, not in the pilot registry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml


@dataclass(frozen=True)
class PlannedRound:
    name: str
    pilot: str
    as_of: date


def planned_rounds(data_dir: Path, scenarios_dir: Path) -> list[PlannedRound]:
    truth = data_dir / "ground_truth" / "scenario.json"
    if not truth.is_file():
        return []
    scenario = json.loads(truth.read_text(encoding="utf-8")).get("scenario")
    path = scenarios_dir / f"{scenario}.rounds.yml"
    if not scenario or not path.is_file():
        return []
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [
        PlannedRound(
            str(r["name"]),
            str(r["pilot"]),
            r["as_of"] if isinstance(r["as_of"], date) else date.fromisoformat(str(r["as_of"])),
        )
        for r in doc.get("rounds", [])
    ]
