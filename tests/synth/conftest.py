"""Shared fixtures and readers for the end-to-end tests of the synthetic-data generator.

The demo scenario is generated once per session at a small scale (``demo_small``) and
every file-level test reads that output. The readers here parse the deliveries the way
a recipient would: by the encoding recorded in ``deliveries.csv`` and the dialect that
goes with it (semicolon + Windows-1252, comma + UTF-8 with or without BOM, XLSX).
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml

from pilotmonitor.synth.generate import GenerationResult, generate
from tests.conftest import built_once

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_SCENARIO = REPO_ROOT / "scenarios" / "demo.yml"
PILOTS_DIR = REPO_ROOT / "pilots"
SMALL_SCALE = 0.1
IJW_BASIS_NS = "http://www.istandaarden.nl/ijw/3_2/basisschema/schema"
SCHOOL_SOURCES = ("school_enrolments", "school_absence")


def demo_scenario() -> dict:
    """The demo scenario as a plain dict (a fresh copy each call)."""
    return yaml.safe_load(DEMO_SCENARIO.read_text(encoding="utf-8"))


def write_scenario(
    directory: Path, scenario: dict, pilot_ids: list[str] | None = None
) -> tuple[Path, Path]:
    """Write a scenario YAML and a pilots directory (all pilots, or only ``pilot_ids``)."""
    directory.mkdir(parents=True, exist_ok=True)
    scenario_path = directory / "scenario.yml"
    scenario_path.write_text(
        yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    if pilot_ids is None:
        return scenario_path, PILOTS_DIR
    pilots_dir = directory / "pilots"
    pilots_dir.mkdir(exist_ok=True)
    for pilot_id in pilot_ids:
        shutil.copyfile(PILOTS_DIR / f"{pilot_id}.yml", pilots_dir / f"{pilot_id}.yml")
    return scenario_path, pilots_dir


def trimmed_scenario(brins: list[str], **overrides: object) -> dict:
    """The demo scenario restricted to some schools, with top-level overrides."""
    scenario = copy.deepcopy(demo_scenario())
    scenario["schools"] = [school for school in scenario["schools"] if school["brin"] in brins]
    scenario.update(overrides)
    return scenario


def small_scenario(**overrides: object) -> dict:
    """A quick world (about a second to generate): the Winschoten pilot schools and one
    comparison school over the last fifteen months of the demo window."""
    scenario = trimmed_scenario(
        ["99WA", "99WB", "99WC", "99NA"], first_month="2025-08", **overrides
    )
    scenario["effects"] = {"winschoten-sbo": demo_scenario()["effects"]["winschoten-sbo"]}
    return scenario


SMALL_PILOTS = ["winschoten-sbo"]


# --- readers -----------------------------------------------------------------------------


def csv_delimiter(encoding: str) -> str:
    return ";" if encoding == "windows-1252" else ","


def read_table(path: Path, encoding: str) -> tuple[list[str], list[list[object]]]:
    """Header and data rows of a school export: CSV cells as strings, XLSX cells as values."""
    if encoding == "xlsx":
        workbook = openpyxl.load_workbook(path, read_only=True)
        try:
            rows = [list(row) for row in workbook.active.iter_rows(values_only=True)]
        finally:
            workbook.close()
        return [str(cell) for cell in rows[0]], rows[1:]
    text = path.read_bytes().decode(encoding)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=csv_delimiter(encoding)))
    return rows[0], rows[1:]


def canonical(header: list[str]) -> list[str]:
    """'Datum inschrijving' and 'datum_inschrijving' both become 'datum_inschrijving'."""
    return [name.strip().lower().replace(" ", "_") for name in header]


def text(value: object) -> str:
    """An XLSX empty cell (None) or a CSV empty field as ''; everything else as str."""
    return "" if value is None else str(value)


def parse_export_date(value: object) -> dt.date | None:
    """A date cell as the export writes it: datetime (XLSX), yyyy-mm-dd or dd-mm-yyyy.

    Empty gives None; anything else that is not a real calendar date raises ValueError.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    parts = value.split("-")
    if len(parts) != 3:
        raise ValueError(f"not a date: {value!r}")
    if len(parts[0]) == 4:
        return dt.date(int(parts[0]), int(parts[1]), int(parts[2]))
    return dt.date(int(parts[2]), int(parts[1]), int(parts[0]))


@dataclass(frozen=True)
class SchoolTable:
    path: str
    sender: str
    source: str
    period: str
    delivered_on: str
    encoding: str
    header: list[str]  # canonical (lower snake case)
    rows: list[list[object]]

    def column(self, name: str) -> int:
        return self.header.index(name)


REGISTER_DIR = (
    "leerplicht/"  # the leerplicht register's planted rows: tests/synth/test_leerplicht_register.py
)


def planted_row_numbers(defects: pd.DataFrame) -> dict[str, dict[int, str]]:
    """path -> {1-based data row: kind} for every rows-based planted defect in a school export."""
    out: dict[str, dict[int, str]] = {}
    for row in defects.itertuples(index=False):
        if (
            row.kind == "corrected_redelivery"
            or not row.locator.startswith("rows ")
            or row.path.startswith(REGISTER_DIR)
        ):
            continue
        for number in row.locator.removeprefix("rows ").split(","):
            out.setdefault(row.path, {})[int(number)] = row.kind
    # A file delivered twice is a byte copy: it holds its original's planted rows.
    for row in defects[defects.kind == "duplicate_file"].itertuples(index=False):
        original = row.locator.removeprefix("same content as ")
        if original in out:
            out[row.path] = dict(out[original])
    return out


def planted_message_names(defects: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(zip path, message name or 'JW323_x.xml#reference') -> kind."""
    out: dict[tuple[str, str], str] = {}
    for row in defects.itertuples(index=False):
        if row.locator.startswith("messages "):
            for name in row.locator.removeprefix("messages ").split(","):
                out[(row.path, name)] = row.kind
    return out


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def demo_small(tmp_path_factory: pytest.TempPathFactory) -> GenerationResult:
    """The demo scenario at scale 0.1 with the scenario's own seed, generated once for the
    session's workers together (read-only)."""
    return built_once(
        tmp_path_factory,
        "demo_small",
        lambda root: generate(root, DEMO_SCENARIO, PILOTS_DIR, scale=SMALL_SCALE, seed=None),
    )


@pytest.fixture(scope="session")
def truth_dir(demo_small: GenerationResult) -> Path:
    return demo_small.ground_truth_dir


@pytest.fixture(scope="session")
def landing(demo_small: GenerationResult) -> Path:
    return demo_small.landing_dir


@pytest.fixture(scope="session")
def deliveries(truth_dir: Path) -> pd.DataFrame:
    return pd.read_csv(truth_dir / "deliveries.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def planted(truth_dir: Path) -> pd.DataFrame:
    """The planted defects of the school exports and iJw archives (the register's:
    ``planted_register``)."""
    frame = pd.read_csv(truth_dir / "planted_defects.csv", dtype=str, keep_default_na=False)
    frame["count"] = frame["count"].astype(int)
    return frame[~frame.path.str.startswith(REGISTER_DIR)].reset_index(drop=True)


@pytest.fixture(scope="session")
def planted_register(truth_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(truth_dir / "planted_defects.csv", dtype=str, keep_default_na=False)
    frame["count"] = frame["count"].astype(int)
    return frame[frame.path.str.startswith(REGISTER_DIR)].reset_index(drop=True)


@pytest.fixture(scope="session")
def school_month(truth_dir: Path) -> pd.DataFrame:
    return pd.read_csv(truth_dir / "school_month.csv", dtype={"school_id": str, "month": str})


@pytest.fixture(scope="session")
def pupils_truth(truth_dir: Path) -> pd.DataFrame:
    return pd.read_csv(truth_dir / "pupils.csv", dtype={"school_id": str})


@pytest.fixture(scope="session")
def school_tables(landing: Path, deliveries: pd.DataFrame) -> dict[str, SchoolTable]:
    """Every readable school export (the planted UTF-16 file excluded), keyed by path."""
    tables = {}
    school_files = deliveries[deliveries.source.isin(SCHOOL_SOURCES)]
    for row in school_files.itertuples(index=False):
        if row.encoding == "utf-16-le":
            continue
        header, rows = read_table(landing / row.path, row.encoding)
        tables[row.path] = SchoolTable(
            row.path,
            row.sender,
            row.source,
            row.period,
            row.delivered_on,
            row.encoding,
            canonical(header),
            rows,
        )
    return tables


@pytest.fixture(scope="session")
def ijw_members(landing: Path, deliveries: pd.DataFrame) -> dict[str, list[tuple[str, bytes]]]:
    """zip path -> [(member name, bytes)] for every iJw archive."""
    archives = {}
    for path in deliveries.path[deliveries.source == "ijw_messages"]:
        with zipfile.ZipFile(landing / path) as archive:
            archives[path] = [(info.filename, archive.read(info)) for info in archive.infolist()]
    return archives


@pytest.fixture(scope="session")
def clean_enrolments(
    school_tables: dict[str, SchoolTable], planted: pd.DataFrame
) -> dict[str, dict[str, object]]:
    """BSN -> the child's record from the clean enrolment rows of every export.

    Keys: spells (school (sender) -> enrol_start, enrol_end: latest exit date seen, None
    while enrolled; a child referred to special education has two schools, one after the
    other), surname, prefix, given name, street, house number, postcode, city (the same
    at every school).
    """
    bad = planted_row_numbers(planted)
    children: dict[str, dict[str, object]] = {}
    for table in school_tables.values():
        if table.source != "school_enrolments":
            continue
        skip = bad.get(table.path, {})
        c = {
            name: table.column(name)
            for name in [
                "bsn",
                "achternaam",
                "tussenvoegsel",
                "roepnaam",
                "straat",
                "huisnummer",
                "postcode",
                "woonplaats",
                "datum_inschrijving",
                "datum_uitschrijving",
            ]
        }
        kind = table.column("soort_inschrijving")
        for number, row in enumerate(table.rows, start=1):
            bsn = text(row[c["bsn"]])
            if (
                number in skip or not bsn or text(row[kind]) == "Neveninschrijving"
            ):  # a symbiose school is not the child's school
                continue
            end = parse_export_date(row[c["datum_uitschrijving"]])
            identity = {
                "surname": text(row[c["achternaam"]]),
                "prefix": text(row[c["tussenvoegsel"]]),
                "given_name": text(row[c["roepnaam"]]),
                "street": text(row[c["straat"]]),
                "house_number": text(row[c["huisnummer"]]),
                "postcode": text(row[c["postcode"]]).replace(" ", ""),
                "city": text(row[c["woonplaats"]]),
            }
            record = children.setdefault(bsn, {**identity, "spells": {}})
            if (
                record["spells"] and table.sender not in record["spells"]
            ):  # the same child at a second school
                assert (record["surname"], record["given_name"]) == (
                    identity["surname"],
                    identity["given_name"],
                ), f"BSN {bsn}: another child at {table.sender}"
            spell = record["spells"].setdefault(
                table.sender,
                {"enrol_start": parse_export_date(row[c["datum_inschrijving"]]), "enrol_end": None},
            )
            if end is not None and (spell["enrol_end"] is None or end > spell["enrol_end"]):
                spell["enrol_end"] = end
    for bsn, record in children.items():  # two schools only one after the other
        spells = sorted(record["spells"].values(), key=lambda s: s["enrol_start"])
        for before, after in zip(spells, spells[1:]):
            assert before["enrol_end"] is not None and before["enrol_end"] < after["enrol_start"], (
                f"BSN {bsn} enrolled at two schools at once"
            )
    return children
