"""The ground truth beside the landing area: what was planted and what is countable.

Written to ``<data>/ground_truth/`` (never inside the landing area):
- ``scenario.json``: seed, scale, as-of date, pilots, planted effects, calendar shock,
  definitions and row counts;
- ``school_month.csv``: per school and month the directly countable truth (pupil-months,
  referrals, absence hours, thuiszitters, dropouts, early school leavers (vsv), referrals
  to special education with their exposure, net declared cost; referrals and cost
  also per kind of care, ``referrals_<kind>`` and ``net_declared_cost_cents_<kind>``);
- ``pupils.csv``: one row per enrolment spell without any identifier (pupil_id is
  internal; ``referred_from`` links a special school's arrival to the regular school's
  spell of the same person, ``early_exit`` names dropout, vsv or special_education_referral);
- ``survey_truth.csv``: the true latent school climate per school and survey year;
- ``deliveries.csv`` and ``planted_defects.csv``: every file written and every bad
  record planted, with how the pipeline is expected to handle it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pilotmonitor.kinds_of_care import kind_by_category, kinds
from pilotmonitor.school_types import school_types
from pilotmonitor.synth.population import Population
from pilotmonitor.synth.scenario import Scenario

DEFINITIONS = {
    "pupil_month": (
        "a calendar month in which the pupil was enrolled at the school on at least one day"
    ),
    "referral": (
        "a requested product of a youth-care request (JW315) for a pupil (a request for two "
        "products is two referrals), counted in the month of its request date at the school "
        "where the pupil was enrolled"
    ),
    "thuiszitter_spell": (
        "20 or more consecutive open school days of full-day unauthorised absence (4+ weeks) "
        "while enrolled"
    ),
    "dropout": (
        "leaving the school without a new enrolment (destination 'Geen onderwijs'), counted in "
        "the month of leaving"
    ),
    "vsv": (
        "early school leaving: leaving a secondary school (VO, PRO, VSO) for no education before "
        "a start qualification (under 23; destination 'Geen onderwijs'), counted in the month of "
        "leaving; every vsv is also a dropout"
    ),
    "special_education_referral": (
        "a pupil of a regular school (BAO, VO, PRO) leaving for special education (SBO, SO, VSO; "
        "destination the special type), counted at the sending school in the month of leaving; "
        "the same person enrols at a special school in a later month (pupils.csv referred_from) "
        "unless the scenario has no such school or the as-of date comes first"
    ),
    "regular_education_pupil_months": (
        "pupil-months at a regular school (BAO, VO, PRO): the exposure of "
        "special_education_referrals"
    ),
    "net_declared_cost_cents": (
        "debit minus credit of valid JW323 lines by month of service, for pupil-months at the "
        "school"
    ),
    "treated": (
        "the month starts inside the pilot period of the school's pilot (planned end inclusive)"
    ),
    "planted_effects": (
        "ratios multiply monthly rates (referrals, dropout hazard, early school leaving hazard "
        "(vsv_ratio), hazard of a referral to special education "
        "(special_education_referral_ratio), thuiszitter hazard, unauthorised absence episodes, "
        "care volume per trajectory) in treated months; shifts add to the latent climate (1-5) "
        "and satisfaction (1-10); referral_kind_ratio multiplies one kind of care's referral "
        "rate on top of referral_rate_ratio (planted_referral_ratio_by_kind gives the product "
        "per kind)"
    ),
    "kind_of_care": (
        "jeugdzorg (general youth care), youth_mental_health (jeugd-GGZ incl. child psychiatry) "
        "or intensive_with_stay (verblijf), from the JZ020 product category by the seed "
        "dbt_project/seeds/codes/ijw_product_categories.csv"
    ),
    "planted_defects": (
        "bad records are added as extra rows or messages; the clean records alone make up the "
        "world and this truth"
    ),
}


@dataclass(frozen=True)
class TruthTables:
    school_month: pd.DataFrame
    pupils: pd.DataFrame
    survey_truth: pd.DataFrame


def build_truth(
    population: Population,
    referrals: pd.DataFrame,
    trajectories: pd.DataFrame,
    declarations: pd.DataFrame,
    absence: pd.DataFrame,
    spells: pd.DataFrame,
    pupils: pd.DataFrame,
    surveys: dict[tuple[str, int], pd.DataFrame],
    pupil_offset: int = 0,
) -> TruthTables:
    panel = population.panel
    key = ["pupil_id", "month"]
    schools = population.schools.set_index("school_index")
    base = (
        panel.groupby(["school_index", "month"])
        .agg(pupil_months=("pupil_id", "size"), treated=("treated", "max"))
        .reset_index()
    )

    def per_school_month(frame: pd.DataFrame, name: str, value: str | None = None) -> pd.Series:
        grouped = frame.groupby(["school_index", "month"])
        return (grouped[value].sum() if value else grouped.size()).rename(name)

    absence = absence.assign(month=absence.date.dt.to_period("M").dt.to_timestamp())
    unauthorised = per_school_month(
        absence[absence.kind == "ongeoorloofd"], "unauthorised_hours", "hours"
    )
    authorised = per_school_month(
        absence[absence.kind == "geoorloofd"], "authorised_hours", "hours"
    )
    allocated = per_school_month(
        trajectories[trajectories.allocation_date.notna()].assign(
            month=lambda f: f.request_date.dt.to_period("M").dt.to_timestamp()
        ),
        "allocated_requests",
    )
    # A request for two products is two referrals (one per requested product, each with its
    # own referrer), in the month of the referral they came from.
    referred = referrals.iloc[trajectories.request_row.to_numpy()].assign(
        kind=trajectories.product_category.map(kind_by_category()).to_numpy()
    )
    referral_counts = per_school_month(referred, "referrals")
    kind_names = sorted(kinds())
    referrals_by_kind = [
        per_school_month(referred[referred.kind == kind], f"referrals_{kind}")
        for kind in kind_names
    ]
    spell_days = absence[absence.reason == "Langdurig verzuim"]
    thuiszitter = (
        spell_days.drop_duplicates(["pupil_id", "month"])
        .groupby(["school_index", "month"])
        .size()
        .rename("thuiszitter_pupils")
    )
    spell_starts = (
        spells.assign(
            month=spells.start_date.dt.to_period("M").dt.to_timestamp(),
            school_index=pupils.school_index.to_numpy()[spells.pupil_id],
        )
        .groupby(["school_index", "month"])
        .size()
        .rename("thuiszitter_spell_starts")
    )
    exit_month = pupils.enrol_end.dt.to_period("M").dt.to_timestamp()
    dropouts = (
        pupils[pupils.dropout]
        .assign(month=exit_month)
        .groupby(["school_index", "month"])
        .size()
        .rename("dropouts")
    )
    vsv = (
        pupils[pupils.early_exit.eq("vsv")]
        .assign(month=exit_month)
        .groupby(["school_index", "month"])
        .size()
        .rename("vsv")
    )
    special_referrals = (
        pupils[pupils.early_exit.eq("special_education_referral")]
        .assign(month=exit_month)
        .groupby(["school_index", "month"])
        .size()
        .rename("special_education_referrals")
    )
    regular = ~schools.type.map(lambda code: school_types()[code].is_special_education)
    regular_months = (
        panel[regular.reindex(panel.school_index).to_numpy()]
        .groupby(["school_index", "month"])
        .size()
        .rename("regular_education_pupil_months")
    )

    signed = np.where(declarations.debit_credit == "D", 1, -1) * declarations.amount_cents
    cost = declarations.assign(
        net=signed,
        month=declarations.service_month,
        kind=declarations.product_category.map(kind_by_category()),
    )
    # Care follows the person, not the enrolment: a pupil referred to special education keeps
    # the sender's trajectories, declared in the months at the receiving school.
    person = np.where(
        pupils.referred_from.to_numpy() >= 0,
        pupils.referred_from.to_numpy(),
        pupils.pupil_id.to_numpy(),
    )
    cost = (
        cost.assign(person=person[cost.pupil_id.to_numpy()])
        .groupby(["person", "month", "kind"])
        .net.sum()
        .reset_index()
    )
    cost = cost.merge(
        panel[key + ["school_index"]]
        .assign(person=person[panel.pupil_id.to_numpy()])
        .drop(columns="pupil_id"),
        on=["person", "month"],
        how="inner",
    )
    cost_sm = cost.groupby(["school_index", "month"]).net.sum().rename("net_declared_cost_cents")
    cost_by_kind = [
        cost[cost.kind == kind]
        .groupby(["school_index", "month"])
        .net.sum()
        .rename(f"net_declared_cost_cents_{kind}")
        for kind in kind_names
    ]

    truth = base.set_index(["school_index", "month"])
    for series in [
        referral_counts,
        allocated,
        unauthorised,
        authorised,
        thuiszitter,
        spell_starts,
        dropouts,
        vsv,
        special_referrals,
        regular_months,
        cost_sm,
        *referrals_by_kind,
        *cost_by_kind,
    ]:
        truth = truth.join(series, how="left")
    truth = truth.fillna(0).reset_index()
    count_columns = [
        "referrals",
        "allocated_requests",
        "thuiszitter_pupils",
        "thuiszitter_spell_starts",
        "dropouts",
        "vsv",
        "special_education_referrals",
        "regular_education_pupil_months",
        "net_declared_cost_cents",
        *(series.name for series in [*referrals_by_kind, *cost_by_kind]),
    ]
    truth[count_columns] = truth[count_columns].astype(np.int64)
    truth.insert(0, "school_id", schools.school_id.to_numpy()[truth.school_index])
    truth.insert(2, "pilot_id", schools.pilot_id.to_numpy()[truth.school_index])
    truth["month"] = truth.month.dt.strftime("%Y-%m")
    truth = (
        truth.drop(columns="school_index")
        .sort_values(["school_id", "month"])
        .reset_index(drop=True)
    )

    pupil_truth = pd.DataFrame(
        {
            "pupil_id": pupils.pupil_id + pupil_offset,
            "school_id": schools.school_id.to_numpy()[pupils.school_index],
            "enrol_start": pupils.enrol_start.dt.strftime("%Y-%m-%d"),
            "enrol_end": pupils.enrol_end.dt.strftime("%Y-%m-%d"),
            "destination": pupils.destination,
            "dropout": pupils.dropout,
            "early_exit": pupils.early_exit,  # dropout, vsv, special_education_referral or empty
            "referred_from": np.where(
                pupils.referred_from >= 0, pupils.referred_from + pupil_offset, -1
            ),
            "identifier_kind": np.where(pupils.has_bsn, "bsn", "onderwijsnummer"),
            "sex": pupils.sex,
            "birth_month": pupils.birth_date.dt.strftime("%Y-%m"),
        }
    )
    survey_rows = []
    for (group, year), frame in surveys.items():
        summary = (
            frame.groupby(["brin", "vestiging"])
            .agg(
                true_climate=("_true_climate", "first"),
                treated=("_treated", "first"),
                respondents=("respondent", "size"),
            )
            .reset_index()
        )
        survey_rows.append(summary.assign(group=group, survey_year=year))
    survey_truth = pd.concat(survey_rows, ignore_index=True) if survey_rows else pd.DataFrame()
    return TruthTables(truth, pupil_truth, survey_truth)


TABLE_FILES = {
    "school_month": "school_month.csv",
    "pupils": "pupils.csv",
    "survey_truth": "survey_truth.csv",
}
PARTS_DIR = "regions"


def write_truth_tables(out_dir: Path, tables: TruthTables) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for attribute, name in TABLE_FILES.items():
        getattr(tables, attribute).to_csv(out_dir / name, index=False)


def write_region_part(out_dir: Path, region: str, tables: TruthTables) -> None:
    """A region's truth tables, merged into the national files by ``merge_region_parts``."""
    write_truth_tables(out_dir / PARTS_DIR / region, tables)


def merge_region_parts(out_dir: Path, regions: list[str]) -> None:
    """Concatenate the regions' tables in region order (streamed: one header, then the rows)."""
    for name in TABLE_FILES.values():
        with (out_dir / name).open("wb") as merged:
            header_written = False
            for region in regions:
                part = out_dir / PARTS_DIR / region / name
                with part.open("rb") as source:
                    header = source.readline()
                    if header.strip() in (b"", b'""'):  # a region without rows of this table
                        continue
                    if not header_written:
                        merged.write(header)
                        header_written = True
                    shutil.copyfileobj(source, merged, 1 << 20)
    shutil.rmtree(out_dir / PARTS_DIR)


def write_bookkeeping(
    out_dir: Path,
    metadata: dict,
    files: pd.DataFrame | None = None,
    defects: pd.DataFrame | None = None,
) -> None:
    """scenario.json, and the delivered files and planted defects when files were written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if files is not None:
        files.to_csv(out_dir / "deliveries.csv", index=False)
    if defects is not None:
        defects.to_csv(out_dir / "planted_defects.csv", index=False)
    (out_dir / "scenario.json").write_text(
        json.dumps({**metadata, "definitions": DEFINITIONS}, indent=2, default=str),
        encoding="utf-8",
    )


def scenario_metadata(
    scenario: Scenario, scale: float, seed: int, pilots: list, row_counts: dict[str, int]
) -> dict:
    return {
        "synthetic": True,
        "notice": (
            "SYNTHETIC DATA: every school code, person and number in this scenario is invented."
        ),
        "scenario": scenario.name,
        "seed": seed,
        "scale": scale,
        "first_month": scenario.first_month,
        "as_of": scenario.as_of.isoformat(),
        "pilots": {
            p.id: {
                "start": p.start.isoformat(),
                "planned_end": p.planned_end.isoformat() if p.planned_end else None,
                "schools": p.school_ids,
            }
            for p in pilots
        },
        "planted_effects": {pid: effect.model_dump() for pid, effect in scenario.effects.items()},
        "planted_referral_ratio_by_kind": {
            pid: {kind: effect.kind_ratio(kind) for kind in sorted(kinds())}
            for pid, effect in scenario.effects.items()
        },
        "closures": scenario.closures.model_dump(mode="json"),
        "baseline": {k: v.model_dump() for k, v in scenario.baseline.items()},
        "row_counts": row_counts,
    }
