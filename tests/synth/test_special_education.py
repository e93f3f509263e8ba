"""Secondary schools, early school leaving (VSV) and referral to special education in the
synthetic world: the same person moves from a regular to a special school, the planted
ratios act on the hazards, and every event is in the ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from pilotmonitor.school_types import regular_codes, school_types, special_codes
from pilotmonitor.synth.calendar import SchoolCalendar
from pilotmonitor.synth.people import assign_identities
from pilotmonitor.synth.population import school_frame, simulate_population
from pilotmonitor.synth.scenario import Scenario
from pilotmonitor.synth.stays import ENTRY_AGE, LEAVING_AGE, REGULAR_DESTINATIONS
from tests.synth.conftest import demo_scenario

PILOT = "hoogeveen-positief-opgroeien"
REFERRAL_DAYS = 92  # dbt var special_education_referral_days


def _world(
    referral_rate: float = 0.004, vsv_hazard: float = 0.004, ratio: float = 0.5, seed: int = 3
):
    raw = demo_scenario()
    keep = {
        "99HA",
        "99HB",
        "99HC",
        "99HD",
        "99HE",
        "99HV",
        "99PA",
        "99PB",
        "99PC",
        "99PD",
        "99NP",
        "99NK",
        "99SC",
        "99DA",
        "99DB",
        "99DD",
        "99DE",
    }
    raw["schools"] = [s for s in raw["schools"] if s["brin"] in keep]
    raw.update(
        first_month="2018-08",
        as_of="2022-07-31",
        school_heterogeneity_sd=0.0,
        pupil_frailty_shape=1000.0,
    )
    raw["effects"] = {PILOT: {"special_education_referral_ratio": ratio, "vsv_ratio": ratio}}
    for code in ("BAO", "VO", "PRO"):
        raw["baseline"][code]["special_education_referral_rate"] = referral_rate
    for code in ("VO", "PRO", "VSO"):
        raw["baseline"][code]["vsv_hazard"] = vsv_hazard
    scenario = Scenario.model_validate(raw)
    rng = np.random.default_rng(seed)
    windows = {
        f"{b}00": (PILOT, pd.Timestamp("2020-08-01"), pd.NaT)
        for b in ("99HA", "99HB", "99HC", "99HD", "99HE", "99HV")
    }
    schools = school_frame(scenario, windows, rng)
    calendar = SchoolCalendar.build(scenario.first_month, scenario.as_of, scenario.closures.periods)
    population = simulate_population(scenario, schools, calendar, 1.0, rng)
    return scenario, schools, population, rng


@pytest.fixture(scope="module")
def world():
    return _world()


def test_every_school_type_of_the_seed_has_stays_and_destinations():
    assert set(REGULAR_DESTINATIONS) == set(ENTRY_AGE) == set(LEAVING_AGE) == set(school_types())
    # a regular end of stay never goes from a regular to a special school: that is the referral
    # event
    for code in regular_codes():
        assert not set(REGULAR_DESTINATIONS[code]) & set(special_codes()), code


def test_a_referred_pupil_enrols_at_a_special_school_as_the_same_person(world):
    scenario, schools, population, rng = world
    pupils = assign_identities(population.pupils, schools, scenario, rng)
    types = schools.set_index("school_index").type
    referred = pupils[pupils.early_exit == "special_education_referral"]
    arrivals = pupils[pupils.referred_from >= 0]
    assert len(referred) > 30 and len(arrivals) > 0.8 * len(referred)
    assert types[referred.school_index].isin(regular_codes()).all()
    assert referred.destination.isin(special_codes()).all()
    sender = pupils.set_index("pupil_id").loc[arrivals.referred_from]
    assert (types[arrivals.school_index].to_numpy() == sender.destination.to_numpy()).all()
    assert (arrivals.bsn.fillna("-").to_numpy() == sender.bsn.fillna("-").to_numpy()).all()
    assert (
        arrivals.onderwijsnummer.fillna("-").to_numpy()
        == sender.onderwijsnummer.fillna("-").to_numpy()
    ).all()
    assert (arrivals.birth_date.to_numpy() == sender.birth_date.to_numpy()).all()
    gap = (arrivals.enrol_start.to_numpy() - sender.enrol_end.to_numpy()) / np.timedelta64(1, "D")
    assert (gap > 0).all() and (gap <= REFERRAL_DAYS).all()
    # a later calendar month: each pupil-month stays at one school
    assert (
        arrivals.enrol_start.dt.to_period("M").to_numpy()
        > sender.enrol_end.dt.to_period("M").to_numpy()
    ).all()


def test_early_school_leaving_is_a_secondary_school_event_and_dropout_a_primary_one(world):
    _, schools, population, _ = world
    pupils = population.pupils
    sector = (
        schools.set_index("school_index")
        .type.map(lambda c: school_types()[c].sector)[pupils.school_index]
        .to_numpy()
    )
    assert (sector[pupils.early_exit.eq("vsv").to_numpy()] == "VO").all() and pupils.early_exit.eq(
        "vsv"
    ).sum() > 20
    assert (sector[pupils.early_exit.eq("dropout").to_numpy()] == "PO").all()
    assert (pupils.destination[pupils.dropout] == "Geen onderwijs").all()
    # secondary pupils are about 12 to 20 years old
    secondary = population.panel[schools.type.to_numpy()[population.panel.school_index] == "VO"]
    age = (secondary.month - pupils.birth_date.to_numpy()[secondary.pupil_id]).dt.days / 365.25
    assert age.min() >= 11 and age.max() <= 19.5


def _hazard_ratio(population, schools, kind: str) -> float:
    """(pilot treated / pilot before) / (others after / others before) of the event per
    pupil-month."""
    panel, pupils = population.panel, population.pupils
    last = (
        panel.groupby("pupil_id").month_index.transform("max").to_numpy()
        == panel.month_index.to_numpy()
    )
    events = last & pupils.early_exit.eq(kind).to_numpy()[panel.pupil_id]
    pilot = panel.pilot_id.eq(PILOT).to_numpy()
    after = (panel.month >= pd.Timestamp("2020-08-01")).to_numpy()
    rate = {
        (p, a): events[(pilot == p) & (after == a)].sum() / ((pilot == p) & (after == a)).sum()
        for p in (True, False)
        for a in (True, False)
    }
    return (rate[(True, True)] / rate[(True, False)]) / (rate[(False, True)] / rate[(False, False)])


def test_the_planted_ratios_lower_the_hazards_in_treated_months():
    _, schools, population, _ = _world(referral_rate=0.01, vsv_hazard=0.01, ratio=0.5, seed=5)
    for kind in ("special_education_referral", "vsv"):
        ratio = _hazard_ratio(population, schools, kind)
        assert 0.3 < ratio < 0.8, (kind, ratio)


def test_hazards_belong_to_their_school_types():
    raw = demo_scenario()
    raw["baseline"]["VO"]["dropout_hazard"] = 0.001
    with pytest.raises(ValidationError, match="early school leaving"):
        Scenario.model_validate(raw)
    raw = demo_scenario()
    raw["baseline"]["SBO"]["special_education_referral_rate"] = 0.001
    with pytest.raises(ValidationError, match="regular schools only"):
        Scenario.model_validate(raw)
    raw = demo_scenario()
    raw["baseline"]["BAO"]["vsv_hazard"] = 0.001
    with pytest.raises(ValidationError, match="secondary schools only"):
        Scenario.model_validate(raw)
