"""Pupil-month outcomes: referrals to youth care, absence records, thuiszitter spells.

Each rate is baseline(school type) x school effect x pupil frailty x season x calendar
shock x trend x planted pilot effect (only in treated months). Pilots with a planted
pre-trend get an extra, diverging trend in their schools before the start.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pilotmonitor.synth.calendar import SchoolCalendar
from pilotmonitor.synth.population import Population
from pilotmonitor.synth.scenario import Scenario

# Referrals by calendar month (Jan..Dec): fewer in the summer holiday and December.
REFERRAL_SEASON = np.array([1.1, 1.0, 1.1, 0.9, 1.0, 1.0, 0.6, 0.5, 1.2, 1.1, 1.1, 0.8])
FULL_DAY_HOURS = 5.5
UNAUTHORISED_HOURS = (
    np.array([1.0, 2.0, 3.0, 4.0, FULL_DAY_HOURS]),
    np.array([0.35, 0.25, 0.15, 0.10, 0.15]),
)
AUTHORISED_HOURS = (np.array([1.0, 2.0, 3.0, FULL_DAY_HOURS]), np.array([0.20, 0.20, 0.10, 0.50]))
AUTHORISED_REASONS = (
    np.array(["Ziek", "Medisch bezoek", "Religieuze feestdag", "Familieomstandigheden"]),
    np.array([0.7, 0.2, 0.04, 0.06]),
)
UNAUTHORISED_REASONS = (
    np.array(["Ongeoorloofd", "Te laat", "Spijbelen"]),
    np.array([0.5, 0.35, 0.15]),
)
THUISZITTER_REASON = "Langdurig verzuim"


def _effect_ratio(population: Population, scenario: Scenario, field: str) -> np.ndarray:
    panel = population.panel
    ratio = np.ones(len(panel))
    treated = panel.treated.to_numpy()
    for pilot_id, effect in scenario.effects.items():
        ratio[(panel.pilot_id == pilot_id).to_numpy() & treated] = getattr(effect, field)
    return ratio


def _pre_trend(population: Population, scenario: Scenario) -> np.ndarray:
    """exp(slope x years before start) in pilot schools before their start, else 1."""
    panel = population.panel
    factor = np.ones(len(panel))
    schools = population.schools.set_index("school_index")
    for pilot_id, effect in scenario.effects.items():
        if effect.pre_trend_per_year == 0:
            continue
        starts = schools.loc[schools.pilot_id == pilot_id, "pilot_start"]
        if starts.empty:
            continue
        start = starts.iloc[0]
        rows = (panel.pilot_id == pilot_id).to_numpy() & (panel.month < start).to_numpy()
        years_before = ((start - panel.month[rows]).dt.days / 365.25).to_numpy()
        factor[rows] = np.exp(-effect.pre_trend_per_year * years_before)
    return factor


def _school_values(population: Population, column: str) -> np.ndarray:
    return population.schools.set_index("school_index")[column].to_numpy()[
        population.panel.school_index.to_numpy()
    ]


def _baseline(population: Population, scenario: Scenario, field: str) -> np.ndarray:
    types = _school_values(population, "type")
    lookup = {name: getattr(spec, field) for name, spec in scenario.baseline.items()}
    return pd.Series(types).map(lookup).to_numpy()


def simulate_referrals(
    population: Population,
    scenario: Scenario,
    calendar: SchoolCalendar,
    rng: np.random.Generator,
    has_bsn: np.ndarray,
) -> pd.DataFrame:
    """One row per new youth-care request: pupil, school, month and request date."""
    panel = population.panel
    per_month = calendar.per_month()
    closed_share = per_month.closed_share.to_numpy()[panel.month_index]
    closure = 1 - (1 - scenario.closures.referral_factor) * closed_share
    years = panel.month_index.to_numpy() / 12
    rate = (
        _baseline(population, scenario, "referral_rate")
        * _school_values(population, "referral_effect")
        * panel.frailty.to_numpy()
        * REFERRAL_SEASON[panel.month.dt.month.to_numpy() - 1]
        * closure
        * np.exp(scenario.referral_trend_per_year * years)
        * _effect_ratio(population, scenario, "referral_rate_ratio")
        * _pre_trend(population, scenario)
        * has_bsn[panel.pupil_id.to_numpy()]  # iJw messages need a BSN: see identities
    )
    counts = rng.poisson(rate)
    rows = np.repeat(np.arange(len(panel)), counts)
    referrals = panel.iloc[rows][
        ["pupil_id", "school_index", "month_index", "month", "treated", "pilot_id"]
    ].reset_index(drop=True)
    referrals["expected_rate"] = rate[rows]
    days_in_month = referrals.month.dt.days_in_month.to_numpy()
    referrals["request_date"] = referrals.month + pd.to_timedelta(
        np.floor(rng.random(len(referrals)) * days_in_month), unit="D"
    )
    # A request cannot precede the enrolment nor follow the as-of date.
    start = population.pupils.enrol_start.to_numpy()[referrals.pupil_id]
    referrals["request_date"] = np.maximum(referrals.request_date.to_numpy(), start)
    referrals["request_date"] = np.minimum(
        referrals.request_date.to_numpy(), np.datetime64(calendar.days.date.iloc[-1])
    )
    return referrals


def _thuiszitter_spells(
    population: Population,
    scenario: Scenario,
    calendar: SchoolCalendar,
    open_days: pd.DataFrame,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Spells of 20+ consecutive open school days without attending (4+ weeks)."""
    panel = population.panel
    hazard = (
        _baseline(population, scenario, "thuiszitter_hazard")
        * _school_values(population, "thuiszitter_effect")
        * panel.frailty.to_numpy()
        * _effect_ratio(population, scenario, "thuiszitter_ratio")
    )
    starts = np.flatnonzero(rng.random(len(panel)) < hazard)
    month_first_open = open_days.groupby("month_index").cumcount().eq(0)
    first_open_index = pd.Series(
        np.flatnonzero(month_first_open.to_numpy()),
        index=open_days.month_index[month_first_open].to_numpy(),
    )
    open_count = open_days.groupby("month_index").size()
    month_of_start = panel.month_index.to_numpy()[starts]
    has_days = np.isin(month_of_start, open_count.index.to_numpy())
    starts, month_of_start = starts[has_days], month_of_start[has_days]
    offset = np.floor(
        rng.random(len(starts)) * open_count.reindex(month_of_start).to_numpy()
    ).astype(int)
    start_day = first_open_index.reindex(month_of_start).to_numpy() + offset
    length = 20 + rng.geometric(1 / 30, size=len(starts))
    spells = pd.DataFrame(
        {"pupil_id": panel.pupil_id.to_numpy()[starts], "start_day": start_day, "length": length}
    )
    spells["end_day"] = np.minimum(spells.start_day + spells.length, len(open_days)) - 1
    # One spell at a time per pupil, with at least one school day between two spells (two
    # adjacent spells are one run of absence, and a spell is counted as the run); a spell
    # ends with the enrolment.
    spells = spells.sort_values(["pupil_id", "start_day"]).reset_index(drop=True)
    previous_end = spells.groupby("pupil_id").end_day.shift().fillna(-2).to_numpy()
    spells = spells[spells.start_day.to_numpy() > previous_end + 1].reset_index(drop=True)
    enrol_end = population.pupils.enrol_end.fillna(pd.Timestamp.max).to_numpy()[spells.pupil_id]
    day_dates = open_days.date.to_numpy()
    last_allowed = np.searchsorted(day_dates, enrol_end, side="right") - 1
    spells["end_day"] = np.minimum(spells.end_day, last_allowed)
    spells = spells[spells.end_day - spells.start_day + 1 >= 20].reset_index(drop=True)
    spells["start_date"] = day_dates[spells.start_day]
    spells["end_date"] = day_dates[spells.end_day]
    return spells.drop(columns="length")


def simulate_absence(
    population: Population, scenario: Scenario, calendar: SchoolCalendar, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Absence records (one per pupil, day and kind) and the thuiszitter spells behind some."""
    panel = population.panel
    open_days = calendar.open_days()
    per_month = calendar.per_month()
    day_share = (per_month.open_days / 21.0).to_numpy()[panel.month_index]
    common = _school_values(population, "absence_effect") * panel.frailty.to_numpy() * day_share
    records = []
    for kind, field, (hours, p_hours), (reasons, p_reasons), ratio_field in [
        (
            "ongeoorloofd",
            "unauthorised_episodes",
            UNAUTHORISED_HOURS,
            UNAUTHORISED_REASONS,
            "unauthorised_absence_ratio",
        ),
        ("geoorloofd", "authorised_episodes", AUTHORISED_HOURS, AUTHORISED_REASONS, None),
    ]:
        rate = _baseline(population, scenario, field) * common
        if ratio_field:
            rate = rate * _effect_ratio(population, scenario, ratio_field)
        counts = rng.poisson(rate)
        rows = np.repeat(np.arange(len(panel)), counts)
        records.append(
            pd.DataFrame(
                {
                    "pupil_id": panel.pupil_id.to_numpy()[rows],
                    "month_index": panel.month_index.to_numpy()[rows],
                    "kind": kind,
                    "hours": rng.choice(hours, size=len(rows), p=p_hours),
                    "reason": rng.choice(reasons, size=len(rows), p=p_reasons),
                }
            )
        )
    episodes = pd.concat(records, ignore_index=True)
    # Place each episode on a random open day of its month.
    by_month = open_days.groupby("month_index")
    first = by_month.cumcount().eq(0)
    first_index = pd.Series(
        np.flatnonzero(first.to_numpy()), index=open_days.month_index[first].to_numpy()
    )
    count = by_month.size()
    episodes = episodes[episodes.month_index.isin(count.index)].reset_index(drop=True)
    offset = np.floor(
        rng.random(len(episodes)) * count.reindex(episodes.month_index).to_numpy()
    ).astype(int)
    episodes["day"] = first_index.reindex(episodes.month_index).to_numpy() + offset
    episodes["date"] = open_days.date.to_numpy()[episodes.day]

    spells = _thuiszitter_spells(population, scenario, calendar, open_days, rng)
    lengths = (spells.end_day - spells.start_day + 1).to_numpy()
    spell_rows = np.repeat(np.arange(len(spells)), lengths)
    spell_days = spells.start_day.to_numpy()[spell_rows] + (
        np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    )
    spell_records = pd.DataFrame(
        {
            "pupil_id": spells.pupil_id.to_numpy()[spell_rows],
            "kind": "ongeoorloofd",
            "hours": FULL_DAY_HOURS,
            "reason": THUISZITTER_REASON,
            "day": spell_days,
            "date": open_days.date.to_numpy()[spell_days],
        }
    )
    # Only days inside the enrolment; a day inside a spell holds only the spell record.
    pupils = population.pupils
    start = pupils.enrol_start.to_numpy()[episodes.pupil_id]
    end = pupils.enrol_end.fillna(pd.Timestamp.max).to_numpy()[episodes.pupil_id]
    episodes = episodes[(episodes.date.to_numpy() >= start) & (episodes.date.to_numpy() <= end)]
    spell_keys = pd.MultiIndex.from_arrays([spell_records.pupil_id, spell_records.day])
    episodes = episodes[
        ~pd.MultiIndex.from_arrays([episodes.pupil_id, episodes.day]).isin(spell_keys)
    ]
    # At most one record per pupil, day and kind: merge same-day episodes, cap at a full day.
    episodes = (
        episodes.groupby(["pupil_id", "day", "date", "kind"], as_index=False)
        .agg(hours=("hours", "sum"), reason=("reason", "first"))
        .assign(hours=lambda f: f.hours.clip(upper=FULL_DAY_HOURS))
    )
    # Nor a full day of unauthorised absence on the school day just before or after a spell:
    # it would lengthen the run, and the pipeline (rightly) counts runs, not reason codes.
    next_to_spell = pd.MultiIndex.from_arrays(
        [np.r_[spells.pupil_id, spells.pupil_id], np.r_[spells.start_day - 1, spells.end_day + 1]]
    )
    full_unauthorised = (episodes.kind == "ongeoorloofd").to_numpy() & (
        episodes.hours >= FULL_DAY_HOURS
    ).to_numpy()
    episodes = episodes[
        ~(
            full_unauthorised
            & pd.MultiIndex.from_arrays([episodes.pupil_id, episodes.day]).isin(next_to_spell)
        )
    ]
    absence = (
        pd.concat([episodes, spell_records], ignore_index=True)
        .sort_values(["pupil_id", "date", "kind"])
        .reset_index(drop=True)
    )
    absence["school_index"] = pupils.school_index.to_numpy()[absence.pupil_id]
    return absence.drop(columns="day"), spells
