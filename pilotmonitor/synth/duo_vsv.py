"""DUO's public figures on early school leaving (voortijdig schoolverlaten, VSV), written
from the simulated world.

Two semicolon-separated UTF-8 files per convenantjaar, per school site and per
municipality of residence (``public/duo/duo_vsv_{vestigingen,gemeenten}_<YYYY>_*.csv``).
The figures are synthetic: counted from the simulated pupils.

Design notes: docs/design/synth.md#pilotmonitorsynthduo_vsvpy.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pilotmonitor.school_types import school_types
from pilotmonitor.synth.delivery_log import DeliveryLog
from pilotmonitor.synth.scenario import Scenario

# secondary: what DUO's VSV figures cover
VSV_SCHOOL_TYPES = tuple(code for code, kind in school_types().items() if kind.sector == "VO")
SCHOOL_COLUMNS = [
    "JAAR",
    "BRIN NUMMER",
    "VESTIGINGSNUMMER",
    "VESTIGINGSNAAM",
    "GEMEENTENUMMER",
    "GEMEENTENAAM",
    "ONDERWIJSTYPE",
    "AANTAL DEELNEMERS",
    "AANTAL VSV ERS",
]
MUNICIPALITY_COLUMNS = [
    "JAAR",
    "GEMEENTENUMMER",
    "GEMEENTENAAM",
    "AANTAL DEELNEMERS",
    "AANTAL VSV ERS",
]


def convenant_year(dates: pd.Series) -> pd.Series:
    """The convenantjaar (its first year) a date falls in: 1 October Y up to 1 October Y+1."""
    return dates.dt.year - (dates.dt.month < 10)


def vsv_events(leavers: pd.DataFrame, schools: pd.DataFrame) -> pd.DataFrame:
    """Early school leavers at a school DUO's figures cover: school, residence, year."""
    school = schools.set_index("school_index")
    types = school.type.to_numpy()[leavers.school_index.to_numpy()]
    kept = leavers[pd.Series(types, index=leavers.index).isin(VSV_SCHOOL_TYPES)]
    return pd.DataFrame(
        {
            "school_id": school.school_id.to_numpy()[kept.school_index.to_numpy()],
            "residence": kept.residence_municipality.to_numpy(),
            "year": convenant_year(pd.to_datetime(kept.leave_date)).to_numpy(),
        }
    )


def vsv_population(
    pupils: pd.DataFrame, schools: pd.DataFrame, first_month: pd.Timestamp, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Pupils enrolled on 1 October of each year of the scenario's window at a covered
    school, per school and residence."""
    school = schools.set_index("school_index")
    covered = pupils[
        pd.Series(school.type.to_numpy()[pupils.school_index.to_numpy()], index=pupils.index).isin(
            VSV_SCHOOL_TYPES
        )
    ]
    parts = []
    for year in range(first_month.year, as_of.year + 1):
        count_date = pd.Timestamp(f"{year}-10-01")
        if count_date < first_month:
            continue
        if count_date > as_of:
            break
        present = covered[
            (covered.enrol_start <= count_date)
            & (covered.enrol_end.fillna(pd.Timestamp.max) >= count_date)
        ]
        counts = (
            present.groupby(["school_index", "residence_municipality"])
            .size()
            .rename("participants")
            .reset_index()
        )
        counts["school_id"] = school.school_id.to_numpy()[counts.school_index.to_numpy()]
        parts.append(
            counts.rename(columns={"residence_municipality": "residence"}).assign(year=year)[
                ["school_id", "residence", "year", "participants"]
            ]
        )
    return (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["school_id", "residence", "year", "participants"])
    )


def write_duo_vsv_files(
    events: pd.DataFrame,
    population: pd.DataFrame,
    schools: pd.DataFrame,
    scenario: Scenario,
    landing_dir: Path,
    log: DeliveryLog,
) -> None:
    """Per complete convenantjaar with a VSV population, the two files (published 1 February)."""
    as_of = pd.Timestamp(scenario.as_of)
    registry = schools.assign(school_id=schools.brin + schools.vestiging).set_index("school_id")
    for year in sorted(population.year.unique()) if len(population) else []:
        delivered = pd.Timestamp(f"{year + 2}-02-01")
        if delivered > as_of:
            continue
        label = f"{year}-{year + 1}"
        pop, vsv = population[population.year == year], events[events.year == year]
        per_school = (
            pop.groupby("school_id")
            .participants.sum()
            .to_frame()
            .join(vsv.groupby("school_id").size().rename("vsv"))
            .fillna(0)
            .reset_index()
        )
        site = registry.loc[per_school.school_id]
        school_frame = pd.DataFrame(
            {
                "JAAR": label,
                "BRIN NUMMER": site.brin.to_numpy(),
                "VESTIGINGSNUMMER": site.vestiging.to_numpy(),
                "VESTIGINGSNAAM": site.name.to_numpy(),
                "GEMEENTENUMMER": site.municipality.str[2:].to_numpy(),
                "GEMEENTENAAM": [scenario.municipalities[m].name for m in site.municipality],
                "ONDERWIJSTYPE": site.type.to_numpy(),
                "AANTAL DEELNEMERS": per_school.participants.astype(int).to_numpy(),
                "AANTAL VSV ERS": per_school.vsv.astype(int).to_numpy(),
            }
        )[SCHOOL_COLUMNS]
        per_place = (
            pop.groupby("residence")
            .participants.sum()
            .to_frame()
            .join(vsv.groupby("residence").size().rename("vsv"))
            .fillna(0)
            .reset_index()
        )
        place_frame = pd.DataFrame(
            {
                "JAAR": label,
                "GEMEENTENUMMER": per_place.residence.str[2:].to_numpy(),
                "GEMEENTENAAM": [scenario.municipalities[m].name for m in per_place.residence],
                "AANTAL DEELNEMERS": per_place.participants.astype(int).to_numpy(),
                "AANTAL VSV ERS": per_place.vsv.astype(int).to_numpy(),
            }
        )[MUNICIPALITY_COLUMNS]
        for sender, frame in (("vestigingen", school_frame), ("gemeenten", place_frame)):
            path = (
                landing_dir / "public" / "duo" / f"duo_vsv_{sender}_{year}_{delivered:%Y%m%d}.csv"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            frame.to_csv(path, sep=";", index=False, encoding="utf-8")
            log.add_file(
                path,
                source="duo_vsv",
                sender=sender,
                period=str(year),
                delivered_on=f"{delivered:%Y-%m-%d}",
                file_format="csv",
                encoding="utf-8",
                rows=len(frame),
            )
