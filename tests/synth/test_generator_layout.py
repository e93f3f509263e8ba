"""End-to-end tests of the generator: determinism, layout of landing area and ground truth,
and the visible synthetic labelling of every school, person and phone number."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
from lxml import etree

from pilotmonitor.synth.generate import GenerationResult, generate
from tests.synth.conftest import (
    IJW_BASIS_NS,
    PILOTS_DIR,
    REPO_ROOT,
    SMALL_PILOTS,
    SMALL_SCALE,
    SchoolTable,
    demo_scenario,
    read_table,
    small_scenario,
    text,
    write_scenario,
)

TRUTH_FILES = [
    "scenario.json",
    "school_month.csv",
    "pupils.csv",
    "deliveries.csv",
    "planted_defects.csv",
]

_SUBPROCESS_GENERATE = """
import sys
from pathlib import Path
from pilotmonitor.synth import generate as generate_module
from pilotmonitor.synth.generate import generate
generate_module.EXPORT_WRITERS = 0  # the school exports written here, not in worker processes
generate(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), scale=float(sys.argv[4]), seed=None)
"""  # noqa: E501


def _hashes(data_dir: Path) -> dict[str, str]:
    """relative path -> sha256 of every file in landing and ground_truth."""
    out = {}
    for sub in ["landing", "ground_truth"]:
        for path in sorted((data_dir / sub).rglob("*")):
            if path.is_file():
                out[path.relative_to(data_dir).as_posix()] = hashlib.sha256(
                    path.read_bytes()
                ).hexdigest()
    return out


# --- determinism -------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_in_a_fresh_process(tmp_path: Path) -> None:
    """Regenerating in another interpreter (other hash seed), with the school exports
    written in that process instead of by worker processes, reproduces every byte,
    including the XLSX workbooks and the ZIP archives, and the ground truth (whose list of
    deliveries keeps its order). Every demo school and pilot over the last two school years
    (the years add files, not code paths)."""
    scenario_path, pilots_dir = write_scenario(
        tmp_path, {**demo_scenario(), "first_month": "2024-08"}
    )
    here = generate(tmp_path / "here", scenario_path, pilots_dir, scale=SMALL_SCALE, seed=None)
    again = tmp_path / "again"
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _SUBPROCESS_GENERATE,
            str(again),
            str(scenario_path),
            str(pilots_dir),
            str(SMALL_SCALE),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = _hashes(here.landing_dir.parent), _hashes(again)
    assert any(p.endswith(".xlsx") for p in first) and any(p.endswith(".zip") for p in first)
    assert sorted(first) == sorted(second), "a different set of files was written"
    differing = [path for path in first if first[path] != second[path]]
    assert differing == [], (
        f"{len(differing)} files differ between two runs with the same seed, e.g. {differing[:5]}"
    )


# Sources whose content does not depend on the seed (fixed reference data).
SEEDLESS_SOURCES = {"duo_registry", "product_list"}


def _content_by_delivery(result: GenerationResult) -> dict[tuple[str, str, str, str], str]:
    """(source, sender, period, encoding [+ copy mark]) -> sha256. The delivery date in the
    file name is itself random, so files are matched by what they deliver."""
    frame = pd.read_csv(
        result.ground_truth_dir / "deliveries.csv", dtype=str, keep_default_na=False
    )
    out = {}
    for row in frame[frame.rows != "0"].itertuples(
        index=False
    ):  # an empty export is the same whatever the seed
        copy_mark = " (1)" if " (1)" in row.path else ""
        key = (row.source, row.sender, row.period, row.encoding + copy_mark)
        out[key] = hashlib.sha256((result.landing_dir / row.path).read_bytes()).hexdigest()
    return out


def test_other_seed_gives_other_data(tmp_path: Path) -> None:
    """Every seeded part of the generator follows the seed: with another seed, every
    source (schools, iJw, DUO counts, CBS, pilot logs and costs, surveys) changes."""
    scenario_path, pilots_dir = write_scenario(tmp_path, small_scenario(), SMALL_PILOTS)
    first = generate(tmp_path / "a", scenario_path, pilots_dir, scale=0.3, seed=1)
    second = generate(tmp_path / "b", scenario_path, pilots_dir, scale=0.3, seed=2)
    for name in ["school_month.csv", "pupils.csv", "deliveries.csv"]:
        assert (first.ground_truth_dir / name).read_bytes() != (
            second.ground_truth_dir / name
        ).read_bytes(), name
    a, b = _content_by_delivery(first), _content_by_delivery(second)
    sources = {key[0] for key in a}
    assert {
        "school_enrolments",
        "school_absence",
        "ijw_messages",
        "duo_pupil_counts",
        "cbs_youth_care",
        "pilot_activity",
        "pilot_costs",
        "survey_ouders",
    } <= sources
    for source in sources - SEEDLESS_SOURCES:
        keys = [key for key in a if key[0] == source]
        same = [key for key in keys if b.get(key) == a[key]]
        assert len(same) < len(keys), f"{source}: identical for seeds 1 and 2"
        if len(keys) >= 10:
            assert len(same) / len(keys) < 0.1, (
                f"{source}: {len(same)} of {len(keys)} deliveries identical"
            )
    for source in SEEDLESS_SOURCES:
        keys = [key for key in a if key[0] == source]
        assert keys and all(b.get(key) == a[key] for key in keys), source


# --- layout ------------------------------------------------------------------------------


def test_landing_area_is_marked_synthetic(landing: Path) -> None:
    notice = (landing / "SYNTHETIC_DATA.txt").read_text(encoding="utf-8")
    assert notice.startswith("SYNTHETIC DATA")
    assert "invented" in notice


def test_ground_truth_lives_beside_not_inside_the_landing_area(
    demo_small: GenerationResult,
) -> None:
    landing, truth = demo_small.landing_dir, demo_small.ground_truth_dir
    assert truth == landing.parent / "ground_truth"
    assert landing.name == "landing"
    assert not truth.is_relative_to(landing)
    for name in TRUTH_FILES:
        assert (truth / name).is_file(), name
    names_in_landing = {path.name for path in landing.rglob("*")}
    assert names_in_landing.isdisjoint(TRUTH_FILES + ["survey_truth.csv"])


def test_scenario_json_declares_synthetic_and_the_run(truth_dir: Path) -> None:
    metadata = json.loads((truth_dir / "scenario.json").read_text(encoding="utf-8"))
    assert metadata["synthetic"] is True
    assert metadata["scenario"] == "demo"
    assert metadata["seed"] == demo_scenario()["seed"]
    assert metadata["scale"] == SMALL_SCALE
    assert set(metadata["pilots"]) == {p.stem for p in PILOTS_DIR.glob("*.yml")}


def test_deliveries_list_exactly_the_files_in_the_landing_area(
    landing: Path, deliveries: pd.DataFrame
) -> None:
    on_disk = {
        path.relative_to(landing).as_posix() for path in landing.rglob("*") if path.is_file()
    }
    listed = deliveries.path.tolist()
    assert len(listed) == len(set(listed)), "a file is listed twice"
    assert set(listed) == on_disk - {"SYNTHETIC_DATA.txt"}


def test_generation_result_matches_the_ground_truth(
    demo_small: GenerationResult,
    deliveries: pd.DataFrame,
    planted: pd.DataFrame,
    planted_register: pd.DataFrame,
    school_month: pd.DataFrame,
    pupils_truth: pd.DataFrame,
) -> None:
    assert demo_small.files == len(deliveries)
    assert demo_small.planted_defects == planted["count"].sum() + planted_register["count"].sum()
    assert demo_small.row_counts["pupils"] == len(pupils_truth)
    assert demo_small.row_counts["pupil_months"] == school_month.pupil_months.sum()
    assert demo_small.row_counts["referrals"] == school_month.referrals.sum()


def test_file_names_carry_the_delivery_date(deliveries: pd.DataFrame) -> None:
    for row in deliveries.itertuples(index=False):
        stem = Path(row.path).stem.removesuffix(" (1)")
        assert stem.endswith("_" + row.delivered_on.replace("-", "")), row.path


def test_delivered_row_counts_match_the_files(
    school_tables: dict[str, SchoolTable],
    ijw_members: dict[str, list],
    deliveries: pd.DataFrame,
    landing: Path,
) -> None:
    rows = dict(zip(deliveries.path, deliveries.rows.astype(int)))
    for path, table in school_tables.items():
        assert len(table.rows) == rows[path], path
    for path, members in ijw_members.items():
        assert len(members) == rows[path], path
    for path in deliveries.path[deliveries.source == "cbs_youth_care"]:
        document = json.loads((landing / path).read_text(encoding="utf-8"))
        assert len(document["value"]) == rows[path]


# --- synthetic labelling -----------------------------------------------------------------


def test_every_school_code_has_the_synthetic_brin_prefix(
    school_tables: dict[str, SchoolTable],
    school_month: pd.DataFrame,
    deliveries: pd.DataFrame,
    landing: Path,
) -> None:
    assert school_month.school_id.str.startswith("99").all()
    assert deliveries.sender[deliveries.source.str.startswith("school_")].str.startswith("99").all()
    brins = set()
    for table in school_tables.values():
        if table.source == "school_enrolments":
            brins |= {text(row[table.column("brin")]) for row in table.rows}
    for path in deliveries.path[deliveries.source.isin(["duo_registry", "duo_pupil_counts"])]:
        brins |= set(pd.read_csv(landing / path, sep=";", dtype=str)["BRIN NUMMER"])
    for path in deliveries.path[deliveries.source.str.startswith("survey_")]:
        brins |= set(pd.read_csv(landing / path, dtype=str, encoding="utf-8-sig")["brin"])
    for row in deliveries[deliveries.source == "pilot_activity"].itertuples(index=False):
        header, rows = read_table(landing / row.path, row.encoding)
        brins |= {text(r[header.index("BRIN")]) for r in rows}
    assert len(brins) >= 40
    assert all(re.fullmatch(r"99[A-Z]{2}", brin) for brin in brins), sorted(
        b for b in brins if not b.startswith("99")
    )


def test_every_surname_is_marked_synthetic(
    school_tables: dict[str, SchoolTable],
    ijw_members: dict[str, list],
    deliveries: pd.DataFrame,
    landing: Path,
) -> None:
    surnames = set()
    for table in school_tables.values():
        if table.source == "school_enrolments":
            surnames |= {text(row[table.column("achternaam")]) for row in table.rows}
    assert len(surnames) > 10
    assert all("Synthetisch" in name for name in surnames), sorted(
        n for n in surnames if "Synthetisch" not in n
    )
    ijw_surnames = set()
    for members in ijw_members.values():
        for name, payload in members:
            if not name.startswith("JW323"):
                ijw_surnames |= set(
                    etree.fromstring(payload).xpath(
                        "//ijw:Achternaam/text()", namespaces={"ijw": IJW_BASIS_NS}
                    )
                )
    assert len(ijw_surnames) > 10
    workers = set()
    for row in deliveries[deliveries.source == "pilot_activity"].itertuples(index=False):
        header, rows = read_table(landing / row.path, row.encoding)
        workers |= {text(r[header.index("Medewerker")]) for r in rows}
    assert workers and all("Synthetisch" in worker for worker in workers), workers
    assert all("Synthetisch" in name for name in ijw_surnames), sorted(
        n for n in ijw_surnames if "Synthetisch" not in n
    )


def test_every_phone_number_is_in_the_synthetic_0699_block(ijw_members: dict[str, list]) -> None:
    phones = []
    for members in ijw_members.values():
        for name, payload in members:
            if name.startswith("JW301"):
                phones += etree.fromstring(payload).xpath(
                    "//ijw:Telefoonnummer/text()", namespaces={"ijw": IJW_BASIS_NS}
                )
    assert len(phones) > 100
    assert all(re.fullmatch(r"0699[0-9]{6}", phone) for phone in phones), [
        p for p in phones if not p.startswith("0699")
    ][:5]


def test_care_providers_use_synthetic_agb_codes(ijw_members: dict[str, list]) -> None:
    """Sender/receiver AGB codes of providers carry the synthetic 99 prefix."""
    providers = set()
    for members in ijw_members.values():
        for name, payload in members:
            header = etree.fromstring(payload).find("{*}Header")
            sender, receiver = header.findtext("{*}Afzender"), header.findtext("{*}Ontvanger")
            # an allocation, and the retours on the providers' messages
            municipality_sends = name[:5] in ("JW301", "JW306", "JW308", "JW316", "JW325")
            providers.add(receiver if municipality_sends else sender)
    assert providers and all(re.fullmatch(r"99[0-9]{6}", code) for code in providers), providers
