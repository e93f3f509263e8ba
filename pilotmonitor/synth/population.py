"""Pupils and their enrolment spells, and the pupil-month panel they span.

Per school: the pupils present at the start of the window (with time already spent),
a yearly August intake and mid-year entries. Each pupil stays a planned number of school
years and then leaves regularly on 31 July to a destination by school type. Dropout
(leaving without a new school, destination "Geen onderwijs") is a monthly hazard that
the pilot lowers; it truncates the spell.

A pupil-month is a calendar month in which the pupil was enrolled on at least one day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pilotmonitor.synth.calendar import SchoolCalendar
from pilotmonitor.synth.scenario import Scenario

REGULAR_DESTINATIONS = {
    "BAO": ["VO", "VO", "VO", "SBO", "Verhuizing"],
    "SBO": ["VO", "VO", "VSO", "SO", "BAO", "Verhuizing"],
    "SO": ["VSO", "VSO", "VSO", "VO", "Verhuizing"],
}
ENTRY_AGE = {"BAO": (4, 4), "SBO": (7, 10), "SO": (4, 9)}
DROPOUT_DESTINATION = "Geen onderwijs"
LEAVING_AGE = 13


@dataclass(frozen=True)
class Population:
    schools: pd.DataFrame  # one row per school with effects and treatment windows
    pupils: pd.DataFrame  # pupil_id, school_index, enrol_start, enrol_end, destination, ...
    panel: pd.DataFrame  # pupil_id, month_index, school_index, treated, frailty


def school_frame(scenario: Scenario, pilots_by_school: dict[str, tuple[str, pd.Timestamp, pd.Timestamp]], rng: np.random.Generator) -> pd.DataFrame:
    """Schools with their random effects and pilot windows."""
    rows = []
    sd = scenario.school_heterogeneity_sd
    for index, school in enumerate(scenario.schools):
        pilot = pilots_by_school.get(school.school_id)
        rows.append(
            {
                "school_index": index,
                "school_id": school.school_id,
                "brin": school.brin,
                "vestiging": school.vestiging,
                "name": school.name,
                "type": school.type,
                "cluster": school.cluster,
                "municipality": school.municipality,
                "province": scenario.municipalities[school.municipality].province,
                "size": school.size,
                "pilot_id": pilot[0] if pilot else None,
                "pilot_start": pilot[1] if pilot else pd.NaT,
                "pilot_end": pilot[2] if pilot else pd.NaT,
            }
        )
    frame = pd.DataFrame(rows)
    n = len(frame)
    # Log-normal school effects with mean one on the natural scale.
    for column in ["referral_effect", "absence_effect", "thuiszitter_effect", "climate_effect"]:
        draw = rng.normal(0.0, sd, size=n)
        frame[column] = np.exp(draw - sd**2 / 2) if column != "climate_effect" else rng.normal(0, 0.15, size=n)
    return frame


def _spells_for_school(school: pd.Series, scenario: Scenario, calendar: SchoolCalendar, scale: float, rng: np.random.Generator) -> pd.DataFrame:
    baseline = scenario.baseline[school.type]
    low, high = baseline.stay_years
    mean_stay = (low + high) / 2
    size = school.size * scale * scenario.pupil_scale
    first = calendar.months[0]
    last_day = calendar.days.date.iloc[-1]
    first_year = first.year if first.month >= 8 else first.year - 1

    # Pupils present at the start of the window, part-way through their stay.
    n0 = rng.poisson(size)
    stay0 = rng.integers(low, high + 1, size=n0)
    elapsed = np.floor(rng.random(n0) * stay0).astype(int)
    start0 = pd.to_datetime([f"{first_year - e}-08-01" for e in elapsed])
    frames = [pd.DataFrame({"enrol_start": start0, "stay_years": stay0})]

    # Intake: every August plus mid-year entries, until the as-of date.
    for year in range(first_year + 1, last_day.year + 1):
        aug = pd.Timestamp(f"{year}-08-01")
        if aug > last_day:
            break
        n_aug = rng.poisson(0.8 * size / mean_stay)
        n_mid = rng.poisson(0.2 * size / mean_stay)
        mid_offsets = rng.integers(30, 330, size=n_mid)
        starts = np.concatenate([np.repeat(aug.to_datetime64(), n_aug), (aug + pd.to_timedelta(mid_offsets, unit="D")).to_numpy()])
        starts = starts[starts <= last_day.to_datetime64()]
        frames.append(pd.DataFrame({"enrol_start": pd.to_datetime(starts), "stay_years": rng.integers(low, high + 1, size=len(starts))}))

    spells = pd.concat(frames, ignore_index=True)
    school_year_of_start = spells.enrol_start.dt.year - (spells.enrol_start.dt.month < 8)
    spells["planned_end"] = pd.to_datetime((school_year_of_start + spells.stay_years).astype(str) + "-07-31")
    destinations = REGULAR_DESTINATIONS[school.type]
    spells["destination"] = rng.choice(destinations, size=len(spells))
    age_low, age_high = ENTRY_AGE[school.type]
    entry_age_days = rng.integers(age_low * 365, age_high * 365 + 365, size=len(spells))
    spells["birth_date"] = (spells.enrol_start - pd.to_timedelta(entry_age_days, unit="D")).dt.normalize()
    # Primary (special) education ends in the summer of the year a pupil turns 13.
    leave_by = pd.to_datetime((spells.birth_date.dt.year + LEAVING_AGE).astype(str) + "-07-31")
    first_summer = pd.to_datetime((school_year_of_start + 1).astype(str) + "-07-31")
    spells["planned_end"] = spells.planned_end.where(spells.planned_end <= leave_by, np.maximum(leave_by, first_summer))
    spells["school_index"] = school.school_index
    return spells


def simulate_population(scenario: Scenario, schools: pd.DataFrame, calendar: SchoolCalendar, scale: float, rng: np.random.Generator) -> Population:
    spells = pd.concat(
        [_spells_for_school(row, scenario, calendar, scale, rng) for row in schools.itertuples(index=False)],
        ignore_index=True,
    )
    first, last_day = calendar.months[0], calendar.days.date.iloc[-1]
    # Keep spells that overlap the window.
    spells = spells[spells.planned_end >= first].reset_index(drop=True)
    spells["pupil_id"] = np.arange(len(spells), dtype=np.int64)
    spells["frailty"] = rng.gamma(scenario.pupil_frailty_shape, 1 / scenario.pupil_frailty_shape, size=len(spells))

    # Panel over the planned spell, clipped to the window.
    m_start = np.maximum(calendar.month_index(spells.enrol_start), 0)
    m_end = np.minimum(calendar.month_index(spells.planned_end), calendar.n_months - 1)
    lengths = np.maximum(m_end - m_start + 1, 0)
    pupil_rows = np.repeat(np.arange(len(spells)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    panel = pd.DataFrame(
        {
            "pupil_id": spells.pupil_id.to_numpy()[pupil_rows],
            "month_index": (m_start[pupil_rows] + offsets).astype(np.int32),
            "school_index": spells.school_index.to_numpy()[pupil_rows],
            "frailty": spells.frailty.to_numpy()[pupil_rows],
        }
    )
    panel["month"] = calendar.months[panel.month_index.to_numpy()]
    school_rows = schools.set_index("school_index").loc[panel.school_index]
    # Treated: the month starts inside the school's pilot period.
    pilot_end = school_rows.pilot_end.fillna(pd.Timestamp.max).to_numpy()
    panel["treated"] = (
        school_rows.pilot_start.notna().to_numpy()
        & (panel.month.to_numpy() >= school_rows.pilot_start.to_numpy())
        & (panel.month.to_numpy() <= pilot_end)
    )
    panel["pilot_id"] = school_rows.pilot_id.to_numpy()

    # Dropout: monthly hazard, reduced while treated; the first event ends the spell.
    base = schools.type.map({k: v.dropout_hazard for k, v in scenario.baseline.items()}).to_numpy()[panel.school_index]
    ratio = np.ones(len(panel))
    for pilot_id, effect in scenario.effects.items():
        ratio[(panel.pilot_id == pilot_id).to_numpy() & panel.treated.to_numpy()] = effect.dropout_ratio
    enrolled_start = spells.enrol_start.to_numpy()[panel.pupil_id]
    eligible = (panel.month_index.to_numpy() < m_end[panel.pupil_id]) & (panel.month.to_numpy() >= enrolled_start)
    event = eligible & (rng.random(len(panel)) < base * ratio * panel.frailty.to_numpy())
    no_event = np.iinfo(np.int32).max
    event_month = pd.Series(np.where(event, panel.month_index, no_event)).groupby(panel.pupil_id.to_numpy()).min()
    dropout_month = event_month.reindex(spells.pupil_id, fill_value=no_event).to_numpy()
    panel = panel[panel.month_index.to_numpy() <= dropout_month[panel.pupil_id]].reset_index(drop=True)

    spells["dropout"] = dropout_month != no_event
    month_start = calendar.months[np.where(spells.dropout, dropout_month, 0)]
    day_offset = pd.to_timedelta(rng.integers(0, 28, size=len(spells)), unit="D")
    dropout_date = pd.Series(month_start + day_offset, index=spells.index)
    dropout_date = dropout_date.where(dropout_date > spells.enrol_start, spells.enrol_start + pd.Timedelta(days=1))
    spells["dropout_date"] = dropout_date.where(spells.dropout)
    # Close spells at the as-of date: an enrolment still running has no end date.
    spells["enrol_end"] = spells.planned_end.where(spells.planned_end <= last_day)
    spells.loc[spells.dropout, "enrol_end"] = spells.loc[spells.dropout, "dropout_date"]
    spells.loc[spells.dropout, "destination"] = DROPOUT_DESTINATION
    spells.loc[spells.enrol_end.isna(), "destination"] = None
    spells = spells.drop(columns=["planned_end", "dropout_date"])
    return Population(schools=schools, pupils=spells, panel=panel)

