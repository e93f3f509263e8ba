"""The national (pool) scenario: its totals, its regions and their number ranges, and that
generating region by region gives the same files whatever the number of workers and
whichever provinces are chosen."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pilotmonitor.school_types import school_types
from pilotmonitor.synth import national
from pilotmonitor.synth.generate import generate
from pilotmonitor.synth.scenario import PROVINCE_NAMES, load_scenario
from tests.synth.conftest import DEMO_SCENARIO, PILOTS_DIR

NATIONAL = DEMO_SCENARIO.parent / "national.yml"


def test_the_national_pool_reaches_every_provinces_targets():
    spec = yaml.safe_load(NATIONAL.read_text(encoding="utf-8"))
    scenario = national.load_pool_scenario(NATIONAL)
    base = load_scenario(DEMO_SCENARIO)
    for province, target in spec["pool"]["provinces"].items():
        in_province = [
            s
            for s in scenario.schools
            if scenario.municipalities[s.municipality].province == province
        ]
        assert Counter(s.type for s in in_province) == Counter(
            {t: n for t, n in target["schools"].items() if n}
        ), province
        assert (
            sum(1 for m in scenario.municipalities.values() if m.province == province)
            == target["municipalities"]
        ), province
    ids = [s.school_id for s in scenario.schools]
    assert len(ids) == len(set(ids)) and all(i.startswith("99") for i in ids)
    # The base scenario is kept whole: its schools stay in its municipalities, none are added there.
    assert {s.school_id for s in scenario.schools if s.municipality in base.municipalities} == {
        s.school_id for s in base.schools
    }
    assert len(scenario.schools) == sum(
        sum(t["schools"].values()) for t in spec["pool"]["provinces"].values()
    )
    # about 1.5 million pupils at a time
    assert 1.3e6 < sum(s.size for s in scenario.schools) < 1.7e6
    assert set(PROVINCE_NAMES) == set(spec["pool"]["provinces"])


def test_regions_partition_the_country_with_disjoint_number_ranges():
    scenario = national.load_pool_scenario(NATIONAL)
    regions = national.regions(scenario, 1.0)
    assert regions[0].name == national.BASE_REGION and regions[0].province is None
    codes = [c for r in regions for c in r.scenario.municipalities]
    assert sorted(codes) == sorted(scenario.municipalities)
    assert sum(len(r.scenario.schools) for r in regions) == len(scenario.schools)
    limit = scenario.max_region_pupils
    for region in regions:
        # A region exceeds the limit only when one municipality alone does.
        assert region.expected_pupils <= limit or len(region.scenario.municipalities) == 1, (
            region.name
        )
        assert {m.province for m in region.scenario.municipalities.values()} == (
            {region.province}
            if region.province
            else {m.province for m in region.scenario.municipalities.values()}
        )
    for attribute in ("bsn_prefixes", "education_prefixes"):
        ranges = sorted(getattr(r.ids, attribute) for r in regions)
        assert all(low < high for low, high in ranges)
        assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:])), attribute


def test_a_pool_file_that_cannot_hold_the_base_scenario_is_refused(tmp_path):
    spec = yaml.safe_load(NATIONAL.read_text(encoding="utf-8"))
    spec["base"] = str(DEMO_SCENARIO)
    spec["pool"]["provinces"]["GR"]["schools"]["SBO"] = (
        1  # the demo alone has more SBO schools in Groningen
    )
    path = tmp_path / "pool.yml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    with pytest.raises(ValueError, match="province GR has more base SBO schools than its target"):
        national.load_pool_scenario(path)
    spec = yaml.safe_load(NATIONAL.read_text(encoding="utf-8"))
    spec["base"] = str(DEMO_SCENARIO)
    spec["pool"]["provinces"]["XX"] = spec["pool"]["provinces"]["GR"]
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    with pytest.raises(ValueError, match="unknown provinces"):
        national.load_pool_scenario(path)


def _small_pool(tmp_path: Path) -> Path:
    """The national file cut down: two provinces with a few pool schools in small regions,
    over the demo's last three school years (the files per school and month, not the
    years, are what these tests compare)."""
    spec = yaml.safe_load(NATIONAL.read_text(encoding="utf-8"))
    base_spec = yaml.safe_load(DEMO_SCENARIO.read_text(encoding="utf-8"))
    base_spec["first_month"] = "2023-08"
    spec["base"] = str(tmp_path / "demo_last_years.yml")
    (tmp_path / "demo_last_years.yml").write_text(yaml.safe_dump(base_spec), encoding="utf-8")
    spec["pool"]["max_region_pupils"] = 400
    base = load_scenario(DEMO_SCENARIO)
    provinces = {}
    for province in PROVINCE_NAMES:
        own = [c for c, m in base.municipalities.items() if m.province == province]
        counts = Counter(
            s.type for s in base.schools if base.municipalities[s.municipality].province == province
        )
        extra = 3 if province in ("GR", "FL") else 0
        provinces[province] = {
            "municipalities": len(own) + (2 if extra else 0) or 1,
            "pc4": spec["pool"]["provinces"][province]["pc4"],
            "schools": {
                "BAO": counts["BAO"] + extra,
                "SBO": counts["SBO"] + (1 if extra else 0),
                "SO": counts["SO"],
            },
        }
    spec["pool"]["provinces"] = provinces
    path = tmp_path / "small_pool.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def _digests(data_dir: Path, prefix: str = "") -> dict[str, str]:
    landing = data_dir / "landing"
    return {
        p.relative_to(landing).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(landing.rglob("*"))
        if p.is_file() and p.relative_to(landing).as_posix().startswith(prefix)
    }


@pytest.fixture(scope="module")
def small_pool_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pool")
    path = _small_pool(tmp)
    one = generate(tmp / "one", path, PILOTS_DIR, scale=0.05, workers=1)
    two = generate(tmp / "two", path, PILOTS_DIR, scale=0.05, workers=2)
    groningen = generate(tmp / "gr", path, PILOTS_DIR, scale=0.05, workers=2, provinces=["GR"])
    generate(tmp / "truth", path, PILOTS_DIR, scale=0.05, workers=2, truth_only=True)
    return tmp, one, two, groningen


def test_the_files_do_not_depend_on_the_number_of_workers(small_pool_runs):
    tmp, one, two, _ = small_pool_runs
    assert one.files == two.files and one.row_counts == two.row_counts
    assert _digests(tmp / "one") == _digests(tmp / "two")
    for name in ("school_month.csv", "pupils.csv", "survey_truth.csv", "deliveries.csv"):
        assert (tmp / "one" / "ground_truth" / name).read_bytes() == (
            tmp / "two" / "ground_truth" / name
        ).read_bytes(), name


def test_the_truth_alone_is_the_truth_of_the_whole_generation(small_pool_runs):
    """`truth_only` simulates the same regions and writes their truth, merged as in a whole
    generation, and no delivery file."""
    tmp = small_pool_runs[0]
    whole, alone = tmp / "one" / "ground_truth", tmp / "truth" / "ground_truth"
    for name in (
        "school_month.csv",
        "pupils.csv",
        "survey_truth.csv",
        "leerplicht_thuiszitters.csv",
    ):
        assert (alone / name).read_bytes() == (whole / name).read_bytes(), name
    assert not (alone / "deliveries.csv").exists() and not (alone / "regions").exists()
    assert not any((tmp / "truth" / "landing").iterdir())
    metadata = pd.read_json(alone / "scenario.json", typ="series")
    assert metadata["truth_only"] and metadata["synthetic"]


def test_a_province_gets_the_files_the_whole_country_has_there(small_pool_runs):
    tmp, _, _, groningen = small_pool_runs
    metadata = pd.read_json(tmp / "gr" / "ground_truth" / "scenario.json", typ="series")
    assert metadata["regions"][0] == national.BASE_REGION and all(
        r == "base" or r.startswith("GR-") for r in metadata["regions"]
    )
    whole, province = _digests(tmp / "one", "schools/"), _digests(tmp / "gr", "schools/")
    assert province and all(whole[name] == digest for name, digest in province.items())
    assert len(province) < len(whole)  # Flevoland's pool schools are left out
    every_pilot_school = {s for p in metadata["pilots"].values() for s in p["schools"]}
    truth = pd.read_csv(tmp / "gr" / "ground_truth" / "school_month.csv")
    assert every_pilot_school <= set(truth.school_id)


def test_region_truth_is_merged_with_unique_pupils_and_every_school(small_pool_runs):
    tmp, one, _, _ = small_pool_runs
    pupils = pd.read_csv(tmp / "one" / "ground_truth" / "pupils.csv")
    assert pupils.pupil_id.is_unique and len(pupils) == one.row_counts["pupils"]
    truth = pd.read_csv(tmp / "one" / "ground_truth" / "school_month.csv")
    assert truth.school_id.nunique() == one.row_counts["schools"]
    assert not (tmp / "one" / "ground_truth" / "regions").exists()
    # Surveys come from the base scenario's schools only (the platform serves the region).
    survey = pd.read_csv(tmp / "one" / "ground_truth" / "survey_truth.csv")
    base_ids = {s.school_id for s in load_scenario(DEMO_SCENARIO).schools}
    assert (
        len(survey)
        and (survey.brin + survey.vestiging.astype(str).str.zfill(2)).isin(base_ids).all()
    )


def test_citizen_numbers_are_unique_across_regions(small_pool_runs):
    tmp, _, _, _ = small_pool_runs
    files = pd.read_csv(tmp / "one" / "ground_truth" / "deliveries.csv")
    enrolments = files[(files.source == "school_enrolments") & (files.file_format == "csv")]
    registry = pd.concat(
        pd.read_csv(path, sep=";", dtype=str)
        for path in (tmp / "one" / "landing" / "public" / "duo").glob("duo_vestigingen_*.csv")
    )
    label_to_code = {row.label_nl: code for code, row in school_types().items()}
    special = {
        f"{b}{v}"
        for b, v, label in zip(
            registry["BRIN NUMMER"], registry["VESTIGINGSNUMMER"], registry["SOORT PO"]
        )
        if school_types()[label_to_code[label]].is_special_education
    }
    seen: dict[str, set[str]] = {}
    for row in enrolments.itertuples():
        path = tmp / "one" / "landing" / row.path
        text = path.read_bytes().decode("cp1252" if row.encoding == "windows-1252" else "utf-8-sig")
        frame = pd.read_csv(
            pd.io.common.StringIO(text),
            sep=";" if row.encoding == "windows-1252" else ",",
            dtype=str,
        )
        column = "BSN" if "BSN" in frame else "bsn"
        kind = frame[
            "Soort inschrijving" if "Soort inschrijving" in frame else "soort_inschrijving"
        ]
        # a symbiose school lists another school's pupil
        frame = frame[kind.ne("Neveninschrijving")]
        for bsn in frame[column].dropna():
            if bsn in ("000000000", "999999999"):  # planted reserved numbers, in several schools
                continue
            seen.setdefault(bsn, set()).add(row.sender)
    assert len(seen) > 100
    # a pupil keeps its BSN within its school; another school gets the same one only when
    # the pupil was referred from a regular school to a special one
    for bsn, senders in seen.items():
        assert len(senders) == 1 or (len(senders) == 2 and len(senders & special) == 1), (
            bsn,
            senders,
        )


def test_choosing_provinces_is_checked(tmp_path):
    with pytest.raises(ValueError, match="unknown provinces \\['XX'\\]"):
        generate(tmp_path / "a", NATIONAL, PILOTS_DIR, scale=0.01, provinces=["XX"])
    with pytest.raises(ValueError, match="needs a regional scenario"):
        generate(tmp_path / "b", DEMO_SCENARIO, PILOTS_DIR, scale=0.01, provinces=["GR"])
