"""End-to-end tests of the planted bad input: every defect listed in planted_defects.csv is
really in the delivered file at the stated location, the clean records have none of
those defects, and every defect switched on in the demo scenario is planted."""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from lxml import etree
from stdnum.nl import bsn as stdnum_bsn

from pilotmonitor.synth import generate as generate_module
from pilotmonitor.synth.care import PRODUCTS, UNKNOWN_PRODUCT_CODE
from pilotmonitor.synth.delivery_log import DeliveryLog
from pilotmonitor.synth.dialects import Dialect
from pilotmonitor.synth.generate import generate
from pilotmonitor.synth.scenario import load_scenario
from pilotmonitor.synth.school_exports import ExportFile
from tests.synth.conftest import (
    DEMO_SCENARIO,
    IJW_BASIS_NS,
    SMALL_PILOTS,
    SchoolTable,
    canonical,
    demo_scenario,
    parse_export_date,
    planted_message_names,
    planted_row_numbers,
    small_scenario,
    text,
    write_scenario,
)

ROW_KINDS = {"invalid_bsn", "reserved_bsn", "duplicate_row", "impossible_date", "missing_field"}
EXPECTED_HANDLING = {
    "invalid_bsn": {"quarantine"},
    "reserved_bsn": {"quarantine"},
    "impossible_date": {"quarantine"},
    "missing_field": {"quarantine"},
    "unknown_product_code": {"quarantine"},
    "duplicate_row": {"deduplicate", "quarantine"},  # policy changed while these tests were written
    "duplicate_file": {"deduplicate"},
    "corrected_redelivery": {"supersede"},
    "wrongly_encoded_file": {"reject_file"},
    "late_month": {"accept_late"},
}
# demo.yml defect switch -> the kind it plants
SWITCH_TO_KIND = {
    "invalid_bsn_rate": "invalid_bsn",
    "reserved_bsn_count": "reserved_bsn",
    "duplicate_row_rate": "duplicate_row",
    "impossible_date_count": "impossible_date",
    "missing_field_count": "missing_field",
    "unknown_product_code_rate": "unknown_product_code",
    "duplicate_file": "duplicate_file",
    "corrected_redelivery": "corrected_redelivery",
    "late_month": "late_month",
    "wrongly_encoded_file": "wrongly_encoded_file",
}


def _row_defects(row: list[object], table: SchoolTable) -> set[str]:
    """The defects a data row visibly has."""
    found = set()
    bsn, onr = text(row[table.column("bsn")]), text(row[table.column("onderwijsnummer")])
    if bsn in ("000000000", "999999999"):
        found.add("reserved_bsn")
    elif bsn and not stdnum_bsn.is_valid(bsn):
        found.add("invalid_bsn")
    if not bsn and not onr:
        found.add("missing_field")
    date_column = "datum" if "datum" in table.header else "datum_inschrijving"
    value = row[table.column(date_column)]
    if value in (None, ""):
        found.add("missing_field")
    else:
        try:
            parse_export_date(value)
        except ValueError:
            found.add("impossible_date")
    return found


def _deliveries_by_path(deliveries: pd.DataFrame) -> dict[str, pd.Series]:
    return {row.path: row for _, row in deliveries.iterrows()}


# --- row-level defects in school exports -------------------------------------------------


def test_planted_rows_have_their_defect(
    school_tables: dict[str, SchoolTable], planted: pd.DataFrame
) -> None:
    checked = Counter()
    for path, rows in planted_row_numbers(planted).items():
        table = school_tables[path]
        as_tuples = [tuple(text(v) for v in row) for row in table.rows]
        for number, kind in rows.items():
            assert 1 <= number <= len(table.rows), f"{path}: row {number} does not exist"
            row = table.rows[number - 1]
            if kind == "duplicate_row":
                assert as_tuples.count(as_tuples[number - 1]) >= 2, (
                    f"{path} row {number} duplicates no other row"
                )
            else:
                assert kind in _row_defects(row, table), (
                    f"{path} row {number}: expected {kind}, row is {row}"
                )
            checked[kind] += 1
    assert set(checked) == ROW_KINDS, checked


def test_row_locators_count_their_rows(planted: pd.DataFrame) -> None:
    for row in planted.itertuples(index=False):
        if row.locator.startswith("rows ") and row.kind != "corrected_redelivery":
            assert len(row.locator.removeprefix("rows ").split(",")) == row.count, row


def test_clean_rows_have_no_planted_kind_of_defect(
    school_tables: dict[str, SchoolTable], planted: pd.DataFrame
) -> None:
    """The converse: rows not listed as planted are valid and unique, so every bad row the
    pipeline finds is accounted for in the ground truth."""
    bad = planted_row_numbers(planted)
    copies = set(planted.loc[planted.kind == "duplicate_file", "path"])  # a byte copy, never loaded
    for path, table in school_tables.items():
        if path in copies:
            continue
        skip = bad.get(path, {})
        clean = [row for number, row in enumerate(table.rows, start=1) if number not in skip]
        for row in clean:
            assert not _row_defects(row, table), f"{path}: unplanted bad row {row}"
        as_tuples = [tuple(text(v) for v in row) for row in clean]
        assert len(as_tuples) == len(set(as_tuples)), f"{path}: unplanted duplicate rows"
        clean_set = set(as_tuples)
        for number, kind in skip.items():
            if kind == "duplicate_row":
                assert tuple(text(v) for v in table.rows[number - 1]) in clean_set, (
                    f"{path} row {number}"
                )


def test_impossible_dates_look_like_dates_of_the_files_format(
    school_tables: dict[str, SchoolTable], planted: pd.DataFrame
) -> None:
    """An impossible date is a real-looking date in the file's own format (31-04-yyyy),
    not garbage."""
    for path, rows in planted_row_numbers(planted).items():
        table = school_tables[path]
        for number, kind in rows.items():
            if kind != "impossible_date":
                continue
            value = table.rows[number - 1][table.column("datum")]
            if table.encoding == "windows-1252":
                assert len(value) == 10 and value[2] == "-" and value[5] == "-", value
            else:
                assert len(value) == 10 and value[4] == "-" and value[7] == "-", value


# --- file-level defects ------------------------------------------------------------------


def test_duplicate_file_is_byte_identical_to_its_original(
    landing: Path, planted: pd.DataFrame, deliveries: pd.DataFrame
) -> None:
    duplicates = planted[planted.kind == "duplicate_file"]
    assert len(duplicates) == 1
    for row in duplicates.itertuples(index=False):
        original = row.locator.removeprefix("same content as ")
        assert original != row.path
        assert (landing / row.path).read_bytes() == (landing / original).read_bytes()
        by_path = _deliveries_by_path(deliveries)
        for column in ["source", "sender", "period", "delivered_on"]:
            assert by_path[row.path][column] == by_path[original][column]


def test_no_other_school_exports_are_byte_identical(
    landing: Path, deliveries: pd.DataFrame, planted: pd.DataFrame
) -> None:
    copies = set(planted.path[planted.kind == "duplicate_file"])
    # The corrected re-delivery is byte-identical when nothing was corrected: the bug
    # shown by test_corrected_redelivery_always_corrects_some_rows; not counted here.
    copies |= {
        locator.split(" corrected in ")[1]
        for locator in planted.locator[planted.kind == "corrected_redelivery"]
    }
    seen: dict[str, str] = {}
    for path in deliveries.path[deliveries.source.str.startswith("school_")]:
        if path in copies:
            continue
        digest = hashlib.sha256((landing / path).read_bytes()).hexdigest()
        assert digest not in seen, f"{path} is identical to {seen.get(digest)} but not planted"
        seen[digest] = path


def test_wrongly_encoded_file_is_utf16_and_redelivered_correctly(
    landing: Path,
    planted: pd.DataFrame,
    deliveries: pd.DataFrame,
    school_tables: dict[str, SchoolTable],
) -> None:
    wrong = planted[planted.kind == "wrongly_encoded_file"]
    assert len(wrong) == 1
    path = wrong.path.iloc[0]
    raw = (landing / path).read_bytes()
    assert b"\x00" in raw, "UTF-16 without BOM has NUL bytes"
    assert not raw.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf"))
    for encoding in ["utf-8", "cp1252"]:
        try:
            decoded = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        assert not decoded.startswith("BSN") and not decoded.startswith("bsn"), (
            f"readable as {encoding}"
        )
    by_path = _deliveries_by_path(deliveries)
    entry = by_path[path]
    later = deliveries[
        (deliveries.sender == entry.sender)
        & (deliveries.source == entry.source)
        & (deliveries.period == entry.period)
        & (deliveries.path != path)
    ]
    assert len(later) == 1
    fixed = later.iloc[0]
    assert fixed.delivered_on > entry.delivered_on
    # Same content once decoded right.
    table = school_tables[fixed.path]
    delimiter = ";" if fixed.encoding == "windows-1252" else ","
    rows = list(csv.reader(io.StringIO(raw.decode("utf-16-le"), newline=""), delimiter=delimiter))
    assert canonical(rows[0]) == table.header
    assert rows[1:] == [[text(v) for v in row] for row in table.rows]
    assert int(entry.rows) == len(rows) - 1


def test_corrected_redelivery_supersedes_the_first_delivery(
    landing: Path,
    planted: pd.DataFrame,
    deliveries: pd.DataFrame,
    school_tables: dict[str, SchoolTable],
) -> None:
    redeliveries = planted[planted.kind == "corrected_redelivery"]
    assert len(redeliveries) == 1
    defect = redeliveries.iloc[0]
    rows_part, corrected_path = defect.locator.removeprefix("rows ").split(" corrected in ")
    numbers = [int(n) for n in rows_part.split(",") if n.strip()]
    assert len(numbers) == defect["count"]
    by_path = _deliveries_by_path(deliveries)
    first, second = by_path[defect.path], by_path[corrected_path]
    for column in ["source", "sender", "period"]:
        assert first[column] == second[column]
    assert first.source == "school_enrolments"
    assert second.delivered_on > first.delivered_on
    faulty, corrected = school_tables[defect.path], school_tables[corrected_path]
    assert len(faulty.rows) == len(corrected.rows)
    exit_column = faulty.column("datum_uitschrijving")
    for number in numbers:
        assert text(faulty.rows[number - 1][exit_column]) == ""
        assert text(corrected.rows[number - 1][exit_column]) != ""
    differing = [n for n, (a, b) in enumerate(zip(faulty.rows, corrected.rows), start=1) if a != b]
    assert differing == numbers, "exactly the listed rows are corrected"


def _fake_enrolment_export(school_id: str, leavers: int) -> ExportFile:
    n = 8
    rows = pd.DataFrame(
        {
            "brin": school_id[:4],
            "vestiging": "00",
            "bsn": [f"99990{i:04d}" for i in range(n)],
            "onderwijsnummer": "",
            "surname": "Bakker-Synthetisch",
            "surname_prefix": "",
            "given_name": "Sem",
            "sex": "M",
            "birth_date": pd.Timestamp("2014-05-01"),
            "street": "Testweg",
            "house_number": 1,
            "postcode": "9671 AB",
            "city": "Winschoten",
            "group": "6",
            "enrol_start": pd.Timestamp("2022-08-01"),
            "enrol_end": [pd.Timestamp("2025-07-31")] * leavers + [pd.NaT] * (n - leavers),
            "destination": ["VO"] * leavers + [""] * (n - leavers),
            "enrolment_kind": "Hoofdinschrijving",
            "pupil_id": range(n),
            "planted": None,
        }
    )
    return ExportFile(
        school_id,
        "school_enrolments",
        2024,
        pd.Timestamp("2025-08-20"),
        Dialect("semicolon_cp1252"),
        rows,
    )


def test_corrected_redelivery_always_corrects_some_rows(tmp_path: Path) -> None:
    """With one candidate export without leavers and one with, the generator must pick
    one where there is something to correct, whatever the seed."""
    scenario = load_scenario(DEMO_SCENARIO)
    counts = []
    for seed in range(20):
        landing = tmp_path / f"seed{seed}"
        landing.mkdir()
        log = DeliveryLog(landing)
        exports = [
            _fake_enrolment_export("99AA00", leavers=0),
            _fake_enrolment_export("99AB00", leavers=6),
        ]
        generate_module._write_school_exports(
            exports, scenario, landing, log, np.random.default_rng(seed)
        )
        counts += [d.count for d in log.defects if d.kind == "corrected_redelivery"]
    assert len(counts) == 20
    assert min(counts) > 0, (
        f"corrected_redelivery with nothing corrected for {counts.count(0)} of 20 seeds"
    )


def test_corrected_redelivery_in_demo_small_differs_from_the_original(
    planted: pd.DataFrame, school_tables: dict[str, SchoolTable]
) -> None:
    """The corrected delivery changes rows, and the listed rows are the ones it changes."""
    defect = planted[planted.kind == "corrected_redelivery"].iloc[0]
    corrected_path = defect.locator.split(" corrected in ")[1]
    assert defect["count"] > 0
    assert school_tables[defect.path].rows != school_tables[corrected_path].rows


# --- iJw defects -------------------------------------------------------------------------


def test_late_month_arrives_after_the_next_month(
    planted: pd.DataFrame, deliveries: pd.DataFrame
) -> None:
    late = planted[planted.kind == "late_month"]
    assert len(late) == 1
    archives = deliveries[deliveries.source == "ijw_messages"]
    entry = archives[archives.path == late.path.iloc[0]].iloc[0]
    next_period = (pd.Period(entry.period, "M") + 1).strftime("%Y-%m")
    following = archives[(archives.sender == entry.sender) & (archives.period == next_period)]
    assert len(following) == 1
    assert entry.delivered_on > following.delivered_on.iloc[0]


def test_other_months_arrive_in_order(planted: pd.DataFrame, deliveries: pd.DataFrame) -> None:
    late = set(planted.path[planted.kind == "late_month"])
    archives = deliveries[(deliveries.source == "ijw_messages") & ~deliveries.path.isin(late)]
    assert archives.sender.nunique() == len(demo_scenario()["municipalities"])
    for sender, group in archives.groupby("sender"):
        ordered = group.sort_values("period")
        assert ordered.period.is_unique
        assert ordered.delivered_on.is_monotonic_increasing, sender
        assert (ordered.delivered_on > ordered.period + "-31").all(), "delivered after the month"


def test_unknown_product_codes_are_in_the_named_declarations(
    planted: pd.DataFrame, ijw_members: dict[str, list]
) -> None:
    named = {
        key
        for key, kind in planted_message_names(planted).items()
        if kind == "unknown_product_code"
    }
    assert named
    known = set(PRODUCTS.product_code)
    found = set()
    for path, members in ijw_members.items():
        for name, payload in members:
            if not name.startswith("JW323"):
                continue
            for line in etree.fromstring(payload).iterfind(".//{*}Prestatie"):
                reference = line.findtext(
                    f"{{*}}ProductReferentie/{{{IJW_BASIS_NS}}}ReferentieNummer"
                )
                code = line.findtext("{*}ProductCode")
                if (path, f"{name}#{reference}") in named:
                    assert code == UNKNOWN_PRODUCT_CODE
                    found.add((path, f"{name}#{reference}"))
                else:
                    assert code in known, (
                        f"{path}!{name}#{reference}: unplanted unknown code {code}"
                    )
    assert found == named


def test_invalid_bsn_requests_fail_the_11_check(
    planted: pd.DataFrame, ijw_members: dict[str, list]
) -> None:
    named = {key for key, kind in planted_message_names(planted).items() if kind == "invalid_bsn"}
    assert named
    for path, name in named:
        assert name.startswith("JW315_")
        payload = dict(ijw_members[path])[name]
        bsn = etree.fromstring(payload).findtext("{*}Client/{*}Bsn")
        assert len(bsn) == 9 and bsn.isdigit()
        assert not stdnum_bsn.is_valid(bsn), bsn


def test_message_locators_count_their_messages(
    planted: pd.DataFrame, ijw_members: dict[str, list]
) -> None:
    for row in planted[planted.locator.str.startswith("messages ")].itertuples(index=False):
        names = row.locator.removeprefix("messages ").split(",")
        assert len(names) == row.count
        members = {name for name, _ in ijw_members[row.path]}
        assert {n.split("#")[0] for n in names} <= members, row


# --- what is planted at all --------------------------------------------------------------


def test_every_defect_switched_on_in_the_demo_is_planted(planted: pd.DataFrame) -> None:
    switches = demo_scenario()["defects"]
    counts = planted.groupby("kind")["count"].sum()
    kinds = set(planted.kind)
    for switch, kind in SWITCH_TO_KIND.items():
        if switches.get(switch):
            assert kind in kinds, kind
            assert counts[kind] > 0, kind
    assert kinds <= set(SWITCH_TO_KIND.values())
    # Fixed counts are planted exactly.
    assert counts["reserved_bsn"] == switches["reserved_bsn_count"]
    assert counts["impossible_date"] == switches["impossible_date_count"]
    assert counts["missing_field"] == switches["missing_field_count"]
    for row in planted.itertuples(index=False):
        assert row.expected_handling in EXPECTED_HANDLING[row.kind], row


def test_rate_based_defects_follow_their_rates(
    planted: pd.DataFrame, deliveries: pd.DataFrame, ijw_members: dict[str, list]
) -> None:
    switches = demo_scenario()["defects"]
    counts = planted.groupby("kind")["count"].sum()
    absence_rows = deliveries[deliveries.source == "school_absence"].rows.astype(int).sum()
    requests = sum(
        name.startswith("JW315") for members in ijw_members.values() for name, _ in members
    )
    # invalid BSNs: absence rows x rate, plus two enrolment rows, plus requests x rate
    expected = switches["invalid_bsn_rate"] * (absence_rows + requests) + 2
    assert 0.5 * expected <= counts["invalid_bsn"] <= 1.5 * expected + 2
    expected_duplicates = switches["duplicate_row_rate"] * absence_rows
    assert 0.5 * expected_duplicates <= counts["duplicate_row"] <= 1.5 * expected_duplicates + 1


# --- scenarios with defects switched off -------------------------------------------------


def test_no_defects_are_planted_when_all_are_switched_off(tmp_path: Path) -> None:
    scenario_path, pilots_dir = write_scenario(tmp_path, small_scenario(defects={}), SMALL_PILOTS)
    result = generate(tmp_path / "data", scenario_path, pilots_dir, scale=0.3, seed=1)
    planted = pd.read_csv(result.ground_truth_dir / "planted_defects.csv")
    assert result.planted_defects == 0
    assert planted.empty, planted.to_string()


def test_generation_works_without_absence_records(tmp_path: Path) -> None:
    scenario = small_scenario()
    for baseline in scenario["baseline"].values():
        baseline.update(unauthorised_episodes=0.0, authorised_episodes=0.0, thuiszitter_hazard=0.0)
    scenario_path, pilots_dir = write_scenario(tmp_path, scenario, SMALL_PILOTS)
    result = generate(tmp_path / "data", scenario_path, pilots_dir, scale=0.3, seed=1)
    assert result.row_counts["absence_records"] == 0


def test_every_file_level_defect_is_planted_at_demo_scale(tmp_path) -> None:
    """At full scale nearly every absence export holds planted rows; the file-level
    problems must still be planted (they once required a file without planted rows)."""
    import pilotmonitor.synth.generate as generate_module
    from pilotmonitor.settings import REPO_ROOT

    # the demo's last three school years: past and current years, as the defects need
    scenario = generate_module.load_scenario(REPO_ROOT / "scenarios" / "demo.yml").model_copy(
        update={"first_month": "2023-08"}
    )
    pilots = generate_module.load_registry(REPO_ROOT / "pilots")
    rng = np.random.default_rng(3)
    from pilotmonitor.synth import school_exports
    from pilotmonitor.synth.calendar import SchoolCalendar
    from pilotmonitor.synth.outcomes import simulate_absence
    from pilotmonitor.synth.people import assign_identities
    from pilotmonitor.synth.population import school_frame, simulate_population

    calendar = SchoolCalendar.build(scenario.first_month, scenario.as_of, scenario.closures.periods)
    schools = school_frame(scenario, generate_module._pilot_windows(pilots), rng)
    population = simulate_population(scenario, schools, calendar, 0.05, rng)
    pupils = assign_identities(population.pupils, schools, scenario, rng)
    absence, _ = simulate_absence(population, scenario, calendar, rng)
    switches = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0])
    exports = school_exports.build_exports(
        pupils, absence, schools, scenario, calendar.months[0], rng, switches
    )
    for export in exports:  # every absence file holds a planted row, as at full scale
        if export.source == "school_absence" and (export.rows.bsn != "").any():
            first = int(np.flatnonzero((export.rows.bsn != "").to_numpy())[0])
            copy = school_exports._Copy(first, "duplicate_row", {})
            school_exports._insert_rows(export, [copy], rng)
    landing = tmp_path / "landing"
    landing.mkdir()
    log = DeliveryLog(landing)
    generate_module._write_school_exports(exports, scenario, landing, log, rng)
    kinds = {d.kind for d in log.defects}
    assert {"duplicate_file", "wrongly_encoded_file", "corrected_redelivery"} <= kinds
