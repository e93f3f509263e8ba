"""End-to-end tests that the ground truth is what the deliveries add up to: recount
pupil-months, referrals, absence, dropouts and net declared cost from the raw files (and
pupils.csv) and compare them, school-month by school-month, with school_month.csv."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd
import pytest
import yaml
from lxml import etree

from pilotmonitor.kinds_of_care import kind_by_category, kinds
from pilotmonitor.school_types import school_types
from tests.synth.conftest import (
    IJW_BASIS_NS,
    PILOTS_DIR,
    SchoolTable,
    demo_scenario,
    parse_export_date,
    planted_message_names,
    planted_row_numbers,
    text,
)

NS = {"ijw": IJW_BASIS_NS}
Key = tuple[str, str]  # (school_id, "YYYY-MM")


def _month(day: dt.date | str) -> str:
    return str(day)[:7]


@pytest.fixture(scope="module")
def window() -> tuple[pd.Period, pd.Period]:
    scenario = demo_scenario()
    return pd.Period(scenario["first_month"], "M"), pd.Period(str(scenario["as_of"]), "M")


@pytest.fixture(scope="module")
def school_of(clean_enrolments: dict[str, dict], window: tuple[pd.Period, pd.Period]):
    """(bsn, 'YYYY-MM') -> school where the child was enrolled on a day of that month."""
    last = window[1]

    def lookup(bsn: str, month: str) -> str | None:
        child = clean_enrolments.get(bsn)
        if child is None:
            return None
        for school, spell in child["spells"].items():
            start = pd.Period(spell["enrol_start"], "M")
            end = pd.Period(spell["enrol_end"], "M") if spell["enrol_end"] else last
            if start <= pd.Period(month, "M") <= end:
                return school
        return None

    return lookup


def _compare(truth: pd.DataFrame, column: str, recount: dict[Key, float]) -> None:
    got = {(s, m): v for s, m, v in zip(truth.school_id, truth.month, truth[column]) if v}
    recount = {k: v for k, v in recount.items() if v}
    missing = set(recount) - set(zip(truth.school_id, truth.month))
    assert not missing, (
        f"{column}: recounted school-months absent from school_month.csv: {sorted(missing)[:5]}"
    )
    differing = {
        k: (got.get(k, 0), recount.get(k, 0))
        for k in set(got) | set(recount)
        if abs(got.get(k, 0) - recount.get(k, 0)) > 1e-6
    }
    assert not differing, (
        f"{column}: truth vs recount differ in {len(differing)} school-months, e.g. "
        f"{sorted(differing.items())[:5]}"
    )


def test_pupil_months_are_the_enrolled_months_of_pupils_csv(
    school_month: pd.DataFrame, pupils_truth: pd.DataFrame, window: tuple[pd.Period, pd.Period]
) -> None:
    first, last = window
    counts: Counter[Key] = Counter()
    for school, start, end in zip(
        pupils_truth.school_id, pupils_truth.enrol_start, pupils_truth.enrol_end
    ):
        a = max(pd.Period(start, "M"), first)
        b = last if pd.isna(end) else min(pd.Period(end, "M"), last)
        for k in range((b - a).n + 1):
            counts[(school, str(a + k))] += 1
    assert set(counts) == set(zip(school_month.school_id, school_month.month))
    _compare(school_month, "pupil_months", counts)


def test_pupils_csv_has_no_identifiers(pupils_truth: pd.DataFrame) -> None:
    assert not {"bsn", "onderwijsnummer", "given_name", "surname", "birth_date", "postcode"} & set(
        pupils_truth.columns
    )
    assert set(pupils_truth.identifier_kind) == {"bsn", "onderwijsnummer"}


def test_treated_flag_follows_the_pilot_windows(school_month: pd.DataFrame) -> None:
    metadata_pilots = {}
    for path in PILOTS_DIR.glob("*.yml"):
        pilot = yaml.safe_load(path.read_text(encoding="utf-8"))
        end = pilot["planned_end"]
        for school in pilot["schools"]:
            metadata_pilots[school["brin"] + school.get("vestiging", "00")] = (
                pilot["id"],
                str(pilot["start"])[:7],
                str(end)[:7] if end else "9999-12",
            )
    for row in school_month.itertuples(index=False):
        pilot = metadata_pilots.get(row.school_id)
        if pilot is None:
            assert pd.isna(row.pilot_id) and not row.treated
        else:
            assert row.pilot_id == pilot[0]
            assert bool(row.treated) == (pilot[1] <= row.month <= pilot[2]), row


def test_referrals_are_the_valid_jw315_requests(
    school_month: pd.DataFrame, ijw_members: dict[str, list], planted: pd.DataFrame, school_of
) -> None:
    """A referral is a requested product: a request for two products counts twice. Per
    kind of care too: the requested product's JZ020 category, mapped by the seed."""
    planted_names = planted_message_names(planted)
    recount: Counter[Key] = Counter()
    by_kind: dict[str, Counter[Key]] = defaultdict(Counter)
    total = invalid = 0
    for path, members in ijw_members.items():
        for name, payload in members:
            if not name.startswith("JW315"):
                continue
            document = etree.fromstring(payload)
            products = document.findall(".//{*}AangevraagdProduct")
            total += len(products)
            if planted_names.get((path, name)) == "invalid_bsn":
                invalid += len(products)
                continue
            bsn = document.findtext("{*}Client/{*}Bsn")
            month = _month(
                document.findtext(
                    "{*}Header/{*}BerichtIdentificatie/ijw:Dagtekening", namespaces=NS
                )
            )
            school = school_of(bsn, month)
            assert school, f"{name}: BSN {bsn} not enrolled anywhere in {month}"
            recount[(school, month)] += len(products)
            for product in products:
                by_kind[
                    kind_by_category()[product.findtext("{*}Product/ijw:Categorie", namespaces=NS)]
                ][(school, month)] += 1
    assert (
        invalid
        == planted.loc[
            (planted.kind == "invalid_bsn") & planted.path.str.startswith("ijw/"), "count"
        ].sum()
        > 0
    )
    assert school_month.referrals.sum() == total - invalid
    _compare(school_month, "referrals", recount)
    assert set(by_kind) == kinds(), "every kind of care is requested in the demo"
    for kind, counts in by_kind.items():
        _compare(school_month, f"referrals_{kind}", counts)


def test_net_declared_cost_is_the_signed_sum_of_valid_jw323_lines(
    school_month: pd.DataFrame, ijw_members: dict[str, list], planted: pd.DataFrame, school_of
) -> None:
    """Debit minus credit of the non-planted lines, by month of service, for pupil-months
    at the school (care declared for months after leaving the school does not count)."""
    planted_names = planted_message_names(planted)
    recount: Counter[Key] = Counter()
    credits = outside = 0
    for path, members in ijw_members.items():
        for name, payload in members:
            if not name.startswith("JW323"):
                continue
            for client in etree.fromstring(payload).iterfind(".//{*}Client"):
                bsn = client.findtext("{*}Bsn")
                for line in client.iterfind(".//{*}Prestatie"):
                    reference = line.findtext(
                        "{*}ProductReferentie/ijw:ReferentieNummer", namespaces=NS
                    )
                    if (path, f"{name}#{reference}") in planted_names:
                        continue
                    amount = int(line.findtext("{*}IngediendBedrag/ijw:Bedrag", namespaces=NS))
                    sign = line.findtext("{*}IngediendBedrag/ijw:DebetCredit", namespaces=NS)
                    credits += sign == "C"
                    month = _month(line.findtext("{*}ProductPeriode/ijw:Begindatum", namespaces=NS))
                    school = school_of(bsn, month)
                    if school is None:
                        outside += 1
                        continue
                    recount[(school, month)] += amount if sign == "D" else -amount
    assert credits > 0, "credit reversals are part of the demo"
    assert school_month.net_declared_cost_cents.sum() > 0
    _compare(school_month, "net_declared_cost_cents", recount)


@pytest.fixture(scope="module")
def absence_tables(
    school_tables: dict[str, SchoolTable], planted: pd.DataFrame
) -> list[SchoolTable]:
    """One absence export per school and school year: the planted copy left out."""
    copies = set(planted.path[planted.kind == "duplicate_file"])
    tables = [
        t for t in school_tables.values() if t.source == "school_absence" and t.path not in copies
    ]
    keys = Counter((t.sender, t.period) for t in tables)
    assert max(keys.values()) == 1
    return tables


def _hours(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else float(str(value).replace(",", "."))


def test_absence_hours_and_thuiszitters_add_up_from_the_exports(
    school_month: pd.DataFrame, absence_tables: list[SchoolTable], planted: pd.DataFrame
) -> None:
    bad = planted_row_numbers(planted)
    hours: dict[str, Counter[Key]] = {"Ongeoorloofd": Counter(), "Geoorloofd": Counter()}
    spell_pupils: dict[Key, set[str]] = defaultdict(set)
    for table in absence_tables:
        skip = bad.get(table.path, {})
        c = {
            name: table.column(name)
            for name in ["bsn", "onderwijsnummer", "datum", "uren", "soort_verzuim", "reden"]
        }
        for number, row in enumerate(table.rows, start=1):
            if number in skip:
                continue
            key = (table.sender, _month(parse_export_date(row[c["datum"]])))
            hours[row[c["soort_verzuim"]]][key] += _hours(row[c["uren"]])
            if row[c["reden"]] == "Langdurig verzuim":
                spell_pupils[key].add(text(row[c["bsn"]]) or text(row[c["onderwijsnummer"]]))
    _compare(school_month, "unauthorised_hours", hours["Ongeoorloofd"])
    _compare(school_month, "authorised_hours", hours["Geoorloofd"])
    _compare(
        school_month, "thuiszitter_pupils", Counter({k: len(v) for k, v in spell_pupils.items()})
    )


def test_dropouts_add_up_from_pupils_csv_and_the_exit_destinations(
    school_month: pd.DataFrame,
    pupils_truth: pd.DataFrame,
    school_tables: dict[str, SchoolTable],
    planted: pd.DataFrame,
) -> None:
    dropped = pupils_truth[pupils_truth.dropout]
    assert len(dropped) > 0
    assert (dropped.destination == "Geen onderwijs").all()
    assert (pupils_truth.destination[~pupils_truth.dropout] != "Geen onderwijs").all()
    from_truth = Counter(zip(dropped.school_id, dropped.enrol_end.str[:7]))
    _compare(school_month, "dropouts", from_truth)
    # The same from the enrolment exports: exits to "Geen onderwijs" by school and month.
    bad = planted_row_numbers(planted)
    exits: set[tuple[str, str, str]] = set()
    for table in school_tables.values():
        if table.source != "school_enrolments":
            continue
        skip = bad.get(table.path, {})
        c = {
            name: table.column(name)
            for name in ["bsn", "onderwijsnummer", "datum_uitschrijving", "uitstroombestemming"]
        }
        for number, row in enumerate(table.rows, start=1):
            if number not in skip and row[c["uitstroombestemming"]] == "Geen onderwijs":
                who = text(row[c["bsn"]]) or text(row[c["onderwijsnummer"]])
                exits.add(
                    (table.sender, who, _month(parse_export_date(row[c["datum_uitschrijving"]])))
                )
    _compare(school_month, "dropouts", Counter((school, month) for school, _who, month in exits))


def test_scenario_json_row_counts_match_the_truth_tables(
    truth_dir: Path, school_month: pd.DataFrame, pupils_truth: pd.DataFrame
) -> None:
    metadata = json.loads((truth_dir / "scenario.json").read_text(encoding="utf-8"))
    counts = metadata["row_counts"]
    assert counts["pupils"] == len(pupils_truth)
    assert counts["pupil_months"] == school_month.pupil_months.sum()
    assert counts["referrals"] == school_month.referrals.sum()
    assert counts["schools"] == len(demo_scenario()["schools"]) == school_month.school_id.nunique()
    assert counts["thuiszitter_spells"] == school_month.thuiszitter_spell_starts.sum()
    planted_effects = metadata["planted_effects"]
    for pilot_id, effect in demo_scenario()["effects"].items():
        assert {k: planted_effects[pilot_id][k] for k in effect} == effect


def test_pupils_leave_primary_education_by_fourteen_and_secondary_by_twenty_one(
    pupils_truth: pd.DataFrame,
) -> None:
    as_of = pd.Timestamp(demo_scenario()["as_of"])
    sector = pupils_truth.school_id.map(
        {f"{s['brin']}00": school_types()[s["type"]].sector for s in demo_scenario()["schools"]}
    )
    last_day = pd.to_datetime(pupils_truth.enrol_end).fillna(as_of)
    born = pd.to_datetime(pupils_truth.birth_month + "-01")
    age = (last_day - born).dt.days / 365.25
    oldest = sector.map({"PO": 14.1, "VO": 21.1})
    too_old = pupils_truth.assign(age=age.round(1))[age > oldest]
    assert too_old.empty, (
        f"{len(too_old)} of {len(pupils_truth)} pupils older than 14 (primary) or 21 (secondary) "
        "while enrolled:\n"
        f"{too_old.head().to_string()}"
    )
    first_day = pd.to_datetime(pupils_truth.enrol_start)
    assert ((first_day - born).dt.days / 365.25)[sector.eq("VO")].min() >= 11.5, (
        "secondary pupils enter at about 12"
    )
