"""The pilot registry: the shipped pilots load, and bad configuration fails clearly."""

from pathlib import Path

import pytest
import yaml

from pilotmonitor.pilots import PilotConfigError, load_registry
from pilotmonitor.settings import REPO_ROOT

PILOTS_DIR = REPO_ROOT / "pilots"


def _copy_pilots(tmp_path: Path) -> dict[str, dict]:
    docs = {}
    for path in PILOTS_DIR.glob("*.yml"):
        docs[path.stem] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return docs


def _write(tmp_path: Path, docs: dict[str, dict]) -> Path:
    for name, doc in docs.items():
        (tmp_path / f"{name}.yml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return tmp_path


def test_shipped_registry_loads_with_the_pilots_of_the_domain_brief():
    pilots = {p.id: p for p in load_registry(PILOTS_DIR)}
    assert set(pilots) == {"winschoten-sbo", "groningen-cluster3", "hoogeveen-positief-opgroeien", "alkmaar-soos"}
    assert [s.name for s in pilots["winschoten-sbo"].schools] == ["Bladergroenschool", "Delta", "Meentschool"]
    assert pilots["winschoten-sbo"].municipality.code == "GM1895"


def test_end_before_start_is_rejected_naming_the_file(tmp_path):
    docs = _copy_pilots(tmp_path)
    docs["winschoten-sbo"]["planned_end"] = "2024-01-01"
    with pytest.raises(PilotConfigError, match=r"winschoten-sbo\.yml: invalid pilot configuration: .*planned_end 2024-01-01 is not after start"):
        load_registry(_write(tmp_path, docs))


def test_school_in_two_overlapping_pilots_is_rejected(tmp_path):
    docs = _copy_pilots(tmp_path)
    docs["alkmaar-soos"]["schools"].append({"brin": "99WA", "vestiging": "00", "name": "Bladergroenschool"})
    with pytest.raises(PilotConfigError, match=r"99WA00.*overlapping pilots"):
        load_registry(_write(tmp_path, docs))


def test_unknown_field_and_bad_school_code_are_rejected(tmp_path):
    docs = _copy_pilots(tmp_path)
    docs["groningen-cluster3"]["schools"][0]["brin"] = "WINGERD"
    with pytest.raises(PilotConfigError, match="brin"):
        load_registry(_write(tmp_path, docs))
    docs = _copy_pilots(tmp_path)
    docs["groningen-cluster3"]["budget"] = 5
    with pytest.raises(PilotConfigError, match="budget"):
        load_registry(_write(tmp_path, docs))


def test_empty_directory_is_an_error(tmp_path):
    with pytest.raises(PilotConfigError, match="no pilot files"):
        load_registry(tmp_path)
