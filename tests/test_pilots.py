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
        (tmp_path / f"{name}.yml").write_text(
            yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8"
        )
    return tmp_path


def test_shipped_registry_loads_with_the_pilots_of_the_domain_brief():
    pilots = {p.id: p for p in load_registry(PILOTS_DIR)}
    assert set(pilots) == {
        "winschoten-sbo",
        "groningen-cluster3",
        "hoogeveen-positief-opgroeien",
        "alkmaar-soos",
        "groningen-vo-wijteam",
    }
    assert [s.school_id for s in pilots["groningen-vo-wijteam"].schools] == [
        "99YA00",
        "99YB00",
        "99YC00",
    ]
    assert pilots["groningen-vo-wijteam"].planned_end is None
    assert [s.name for s in pilots["winschoten-sbo"].schools] == [
        "Bladergroenschool",
        "Delta",
        "Meentschool",
    ]
    assert pilots["winschoten-sbo"].municipality.code == "GM1895"


def test_end_before_start_is_rejected_naming_the_file(tmp_path):
    docs = _copy_pilots(tmp_path)
    docs["winschoten-sbo"]["planned_end"] = "2024-01-01"
    with pytest.raises(
        PilotConfigError,
        match=(
            r"winschoten-sbo\.yml: invalid pilot configuration: .*planned_end 2024-01-01 is not "
            r"after start"
        ),
    ):
        load_registry(_write(tmp_path, docs))


def test_school_in_two_overlapping_pilots_is_rejected(tmp_path):
    docs = _copy_pilots(tmp_path)
    docs["alkmaar-soos"]["schools"].append(
        {"brin": "99WA", "vestiging": "00", "name": "Bladergroenschool"}
    )
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


def test_hoogeveen_holds_the_schools_and_dates_of_its_2012_document():
    pilot = {p.id: p for p in load_registry(PILOTS_DIR)}["hoogeveen-positief-opgroeien"]
    names = [s.name.removesuffix(" (synthetisch)") for s in pilot.schools]
    # eleven names in the document, "de Akker" twice: ten primary schools and the VO school
    assert names == [
        "Juliana van Stolbergschool",
        "het Palet",
        "de Caroussel",
        "de Morgenster",
        "de Akker",
        "Eben Haezerschool",
        "van der Ploegschool",
        "de Kameleon",
        "Vogelvlucht",
        "Blokland",
        "Roelof van Echten College",
    ]
    assert all(s.name.endswith("(synthetisch)") and s.brin.startswith("99") for s in pilot.schools)
    assert str(pilot.programme_start) == "2012-05-22" and str(pilot.start) == "2020-08-01"
    assert "special_education_referrals" in pilot.analysis_plan.secondary_outcomes


def test_pilot_schools_are_the_scenario_schools_by_code_and_name():
    scenario = yaml.safe_load((REPO_ROOT / "scenarios" / "demo.yml").read_text(encoding="utf-8"))
    names = {f"{s['brin']}{s.get('vestiging', '00')}": s["name"] for s in scenario["schools"]}
    for pilot in load_registry(PILOTS_DIR):
        for school in pilot.schools:
            assert names.get(school.school_id) == school.name, (
                f"{pilot.id}: {school.school_id} {school.name!r} vs scenario "
                f"{names.get(school.school_id)!r}"
            )


def test_a_programme_start_after_the_pilot_start_is_rejected(tmp_path):
    docs = _copy_pilots(tmp_path)
    docs["hoogeveen-positief-opgroeien"]["programme_start"] = "2021-01-01"
    with pytest.raises(PilotConfigError, match="programme_start 2021-01-01 is after start"):
        load_registry(_write(tmp_path, docs))


def test_the_published_registry_is_the_validated_files_and_refuses_a_bad_entry():
    import duckdb

    from pilotmonitor.pilots import published_registry

    pilots = load_registry(PILOTS_DIR)
    conn = duckdb.connect()
    conn.execute("create schema published")
    conn.execute("create table published.dim_pilot (pilot_id varchar, configuration varchar)")
    conn.executemany(
        "insert into published.dim_pilot values (?, ?)",
        [(p.id, p.model_dump_json()) for p in reversed(pilots)],
    )
    assert published_registry(conn) == pilots  # every field, in id order
    conn.execute(
        "update published.dim_pilot set configuration = replace(configuration, '\"alpha\":0.05', "
        "'\"alpha\":5') where pilot_id = 'winschoten-sbo'"
    )
    with pytest.raises(PilotConfigError, match="dim_pilot, pilot 'winschoten-sbo': .*alpha"):
        published_registry(conn)
