"""Pupils and their enrolment spells, and the pupil-month panel they span.

Per school: the pupils present at the start of the window (with time already spent),
a yearly August intake and mid-year entries. Each pupil stays a planned number of school
years and then leaves regularly on 31 July to a destination by school type (primary
schools up to the summer a pupil turns 13, secondary schools from about 12 to 18).

Three early exits truncate a spell, each a monthly hazard that a pilot can lower (see
``EARLY_EXITS``): dropout from primary schools and early school leaving without a start
qualification (VSV) from secondary schools, both to destination "Geen onderwijs", and a
referral to special education from a regular school (BAO, VO, PRO): the same pupil
leaves for a special school (SBO, SO, VSO; ``special_education``) and enrols there.

A pupil-month is a calendar month in which the pupil was enrolled on at least one day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pilotmonitor.synth import special_education
from pilotmonitor.synth.calendar import SchoolCalendar, school_year_of
from pilotmonitor.synth.scenario import Scenario
from pilotmonitor.synth.stays import (
    DROPOUT_DESTINATION,
    ENTRY_AGE,
    REGULAR_DESTINATIONS,
    cap_at_leaving_age,
)


@dataclass(frozen=True)
class Population:
    schools: pd.DataFrame  # one row per school with effects and treatment windows
    pupils: pd.DataFrame  # pupil_id, school_index, enrol_start, enrol_end, destination, ...
    panel: pd.DataFrame  # pupil_id, month_index, school_index, treated, frailty


def school_frame(
    scenario: Scenario,
    pilots_by_school: dict[str, tuple[str, pd.Timestamp, pd.Timestamp]],
    rng: np.random.Generator,
) -> pd.DataFrame:
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
        frame[column] = (
            np.exp(draw - sd**2 / 2) if column != "climate_effect" else rng.normal(0, 0.15, size=n)
        )
    return frame


def _spells_for_school(
    school: pd.Series,
    scenario: Scenario,
    calendar: SchoolCalendar,
    scale: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
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
        starts = np.concatenate(
            [
                np.repeat(aug.to_datetime64(), n_aug),
                (aug + pd.to_timedelta(mid_offsets, unit="D")).to_numpy(),
            ]
        )
        starts = starts[starts <= last_day.to_datetime64()]
        frames.append(
            pd.DataFrame(
                {
                    "enrol_start": pd.to_datetime(starts),
                    "stay_years": rng.integers(low, high + 1, size=len(starts)),
                }
            )
        )

    spells = pd.concat(frames, ignore_index=True)
    school_year_of_start = school_year_of(spells.enrol_start)
    spells["planned_end"] = pd.to_datetime(
        (school_year_of_start + spells.stay_years).astype(str) + "-07-31"
    )
    destinations = REGULAR_DESTINATIONS[school.type]
    spells["destination"] = rng.choice(destinations, size=len(spells))
    age_low, age_high = ENTRY_AGE[school.type]
    entry_age_days = rng.integers(age_low * 365, age_high * 365 + 365, size=len(spells))
    spells["birth_date"] = (
        spells.enrol_start - pd.to_timedelta(entry_age_days, unit="D")
    ).dt.normalize()
    spells["planned_end"] = cap_at_leaving_age(
        spells.planned_end, spells.enrol_start, spells.birth_date, school.type
    )
    spells["school_index"] = school.school_index
    return spells


def simulate_population(
    scenario: Scenario,
    schools: pd.DataFrame,
    calendar: SchoolCalendar,
    scale: float,
    rng: np.random.Generator,
) -> Population:
    spells = pd.concat(
        [
            _spells_for_school(row, scenario, calendar, scale, rng)
            for row in schools.itertuples(index=False)
        ],
        ignore_index=True,
    )
    first = calendar.months[0]
    # Keep spells that overlap the window.
    spells = spells[spells.planned_end >= first].reset_index(drop=True)
    spells["pupil_id"] = np.arange(len(spells), dtype=np.int64)
    spells["frailty"] = rng.gamma(
        scenario.pupil_frailty_shape, 1 / scenario.pupil_frailty_shape, size=len(spells)
    )
    spells["referred_from"] = np.int64(-1)
    spells, panel = _with_early_exits(spells, scenario, schools, calendar, rng)
    arrivals = special_education.arrivals(spells, schools, scenario, calendar, rng)
    if len(arrivals):
        arrivals, arrival_panel = _with_early_exits(arrivals, scenario, schools, calendar, rng)
        spells = pd.concat([spells, arrivals], ignore_index=True)
        panel = pd.concat([panel, arrival_panel], ignore_index=True)
    return Population(schools=schools, pupils=spells, panel=panel)


def _panel(
    spells: pd.DataFrame, schools: pd.DataFrame, calendar: SchoolCalendar
) -> tuple[pd.DataFrame, np.ndarray]:
    """Pupil-months over the planned spells (clipped to the window) and each spell's last month."""
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
    return panel, m_end


# Early exits: (kind, baseline hazard field, planted-effect ratio field). The first event
# ends the spell; a school type has a hazard for some of them only (see TypeBaseline).
EARLY_EXITS = [
    ("dropout", "dropout_hazard", "dropout_ratio"),
    ("vsv", "vsv_hazard", "vsv_ratio"),
    (
        "special_education_referral",
        "special_education_referral_rate",
        "special_education_referral_ratio",
    ),
]
NO_EXIT = ""


def _with_early_exits(
    spells: pd.DataFrame,
    scenario: Scenario,
    schools: pd.DataFrame,
    calendar: SchoolCalendar,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw the early exits (monthly hazards x pupil frailty x planted ratio while treated),
    truncate the panel at the first one and close the spells: exit date, destination."""
    spells = spells.reset_index(drop=True)
    panel, m_end = _panel(spells, schools, calendar)
    position = pd.Series(np.arange(len(spells)), index=spells.pupil_id.to_numpy())
    row_of = position.reindex(panel.pupil_id).to_numpy()
    types = schools.type.to_numpy()[panel.school_index.to_numpy()]
    treated = panel.treated.to_numpy()
    hazards = np.zeros((len(panel), len(EARLY_EXITS)))
    for k, (_kind, base_field, ratio_field) in enumerate(EARLY_EXITS):
        base = (
            pd.Series(types)
            .map({t: getattr(b, base_field) for t, b in scenario.baseline.items()})
            .to_numpy(dtype=float)
        )
        ratio = np.ones(len(panel))
        for pilot_id, effect in scenario.effects.items():
            ratio[(panel.pilot_id == pilot_id).to_numpy() & treated] = getattr(effect, ratio_field)
        hazards[:, k] = base * ratio * panel.frailty.to_numpy()
    total = hazards.sum(axis=1)
    enrolled_start = spells.enrol_start.to_numpy()[row_of]
    eligible = (panel.month_index.to_numpy() < m_end[row_of]) & (
        panel.month.to_numpy() >= enrolled_start
    )
    draw = rng.random(len(panel))
    event = eligible & (draw < total)
    # Which exit: the draw's place within the stacked hazards.
    kind_index = (
        (draw[:, None] >= np.cumsum(hazards, axis=1)).sum(axis=1).clip(max=len(EARLY_EXITS) - 1)
    )
    no_event = np.iinfo(np.int32).max
    event_month = (
        pd.Series(np.where(event, panel.month_index, no_event))
        .groupby(row_of)
        .min()
        .reindex(np.arange(len(spells)), fill_value=no_event)
        .to_numpy()
    )
    first_rows = np.flatnonzero(event & (panel.month_index.to_numpy() == event_month[row_of]))
    exit_kind = np.full(len(spells), NO_EXIT, dtype=object)
    exit_kind[row_of[first_rows]] = np.array([kind for kind, _, _ in EARLY_EXITS], dtype=object)[
        kind_index[first_rows]
    ]
    panel = panel[panel.month_index.to_numpy() <= event_month[row_of]].reset_index(drop=True)

    early = exit_kind != NO_EXIT
    month_start = calendar.months[np.where(early, event_month, 0)]
    day_offset = pd.to_timedelta(rng.integers(0, 28, size=len(spells)), unit="D")
    exit_date = pd.Series(month_start + day_offset, index=spells.index)
    exit_date = exit_date.where(
        exit_date > spells.enrol_start, spells.enrol_start + pd.Timedelta(days=1)
    )
    last_day = calendar.days.date.iloc[-1]
    spells["early_exit"] = exit_kind
    # Dropout and early school leaving both leave education: both are dropouts (schooluitval).
    spells["dropout"] = np.isin(exit_kind, ["dropout", "vsv"])
    # Close spells at the as-of date: an enrolment still running has no end date.
    spells["enrol_end"] = spells.planned_end.where(spells.planned_end <= last_day)
    spells.loc[early, "enrol_end"] = exit_date[early]
    spells.loc[spells.dropout, "destination"] = DROPOUT_DESTINATION
    referred = exit_kind == "special_education_referral"
    spells.loc[referred, "destination"] = special_education.receiving_types(
        int(referred.sum()), spells.school_index[referred], schools, rng
    )
    spells.loc[spells.enrol_end.isna(), "destination"] = None
    return spells.drop(columns=["planned_end"]), panel
