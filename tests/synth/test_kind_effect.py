"""A planted effect on one kind of care (``referral_kind_ratio``) lowers that kind's
referrals and leaves the other kinds at the pilot's general ratio, in the ground truth the
warehouse is tested against; scenarios name only known kinds."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from pilotmonitor.synth.care import _kept_by_kind_effect
from pilotmonitor.synth.generate import generate
from pilotmonitor.synth.scenario import PlantedEffect, Scenario
from tests.synth.conftest import demo_scenario, trimmed_scenario, write_scenario
from tests.synth.test_generator_effects import MAX_LOG_DEVIATION

PILOT = "hoogeveen-positief-opgroeien"
# its ten primary schools and the VO school
HOOGEVEEN = [f"99H{letter}" for letter in "ABCDEFGHJKV"]
COMPARISON = ["99PA", "99PB", "99PC", "99PD", "99DA", "99DB", "99DC"]  # BAO and VO in Drenthe
KINDS = ["jeugdzorg", "youth_mental_health", "intensive_with_stay"]


def test_a_scenario_names_only_known_kinds_and_thinning_ratios():
    assert (
        PlantedEffect(referral_kind_ratio={"youth_mental_health": 0.5}).kind_ratio(
            "youth_mental_health"
        )
        == 0.5
    )
    with pytest.raises(ValidationError, match="unknown kinds of care"):
        PlantedEffect(referral_kind_ratio={"kjp": 0.5})
    with pytest.raises(ValidationError, match=r"in \(0, 1\]"):
        PlantedEffect(referral_kind_ratio={"jeugdzorg": 1.2})
    demo = Scenario.model_validate(demo_scenario())
    effect = demo.effects[PILOT]
    assert effect.kind_ratio("youth_mental_health") == pytest.approx(0.475) and effect.kind_ratio(
        "jeugdzorg"
    ) == pytest.approx(0.95)


def test_thinning_keeps_the_planted_share_of_one_kind_in_treated_months_only():
    scenario = Scenario.model_validate(demo_scenario())
    n = 200_000
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "pilot_id": np.where(rng.random(n) < 0.5, PILOT, "winschoten-sbo"),
            "treated": rng.random(n) < 0.5,
        }
    )
    kind = rng.choice(KINDS, size=n)
    kept = _kept_by_kind_effect(frame, kind, scenario, np.random.default_rng(2))
    target = (
        (frame.pilot_id == PILOT).to_numpy()
        & frame.treated.to_numpy()
        & (kind == "youth_mental_health")
    )
    assert abs(kept[target].mean() - 0.5) < 0.01
    assert kept[~target].all(), "only the treated months of the pilot's named kind are thinned"
    without = Scenario.model_validate({**demo_scenario(), "effects": {}})
    assert _kept_by_kind_effect(frame, kind, without, np.random.default_rng(2)).all()


def did(truth: pd.DataFrame, column: str, start: str) -> float:
    """(pilot post/pre) / (comparison post/pre) of a count per pupil-month."""
    pilot = (truth.pilot_id == PILOT).to_numpy()
    post = (truth.month >= start).to_numpy()
    rate = {}
    for group, mask in [("pilot", pilot), ("comparison", ~pilot)]:
        for period, when in [("post", post), ("pre", ~post)]:
            rows = truth[mask & when]
            rate[(group, period)] = rows[column].sum() / rows.pupil_months.sum()
    return (rate[("pilot", "post")] / rate[("pilot", "pre")]) / (
        rate[("comparison", "post")] / rate[("comparison", "pre")]
    )


@pytest.fixture(scope="module")
def hoogeveen_world(tmp_path_factory):
    """Hoogeveen's schools and four comparison schools, two years either side of the
    start, a raised referral rate and no heterogeneity: enough referrals of each kind for
    a DiD per kind within about three standard errors (as test_generator_effects)."""
    scenario = trimmed_scenario(
        [*HOOGEVEEN, *COMPARISON],
        first_month="2018-08",
        as_of=dt.date(2022, 7, 31),
        pupil_frailty_shape=1000.0,
        school_heterogeneity_sd=0.0,
        defects={},
    )
    scenario["effects"] = {PILOT: demo_scenario()["effects"][PILOT]}
    for baseline in scenario["baseline"].values():
        baseline.update(
            unauthorised_episodes=0.02, authorised_episodes=0.05, thuiszitter_hazard=0.0
        )
    scenario["baseline"]["BAO"]["referral_rate"] = 0.3
    scenario["baseline"]["VO"]["referral_rate"] = 0.3
    directory = tmp_path_factory.mktemp("hoogeveen-kinds")
    scenario_path, pilots_dir = write_scenario(directory, scenario, [PILOT])
    result = generate(
        directory / "data", scenario_path, pilots_dir, scale=1.0, seed=20261123, truth_only=True
    )
    truth = pd.read_csv(result.ground_truth_dir / "school_month.csv", dtype={"month": str})
    metadata = json.loads((result.ground_truth_dir / "scenario.json").read_text(encoding="utf-8"))
    return truth, metadata


def test_the_planted_kind_effect_shows_in_the_ground_truth(hoogeveen_world):
    truth, metadata = hoogeveen_world
    planted = metadata["planted_referral_ratio_by_kind"][PILOT]
    assert planted == pytest.approx(
        {"intensive_with_stay": 0.95, "jeugdzorg": 0.95, "youth_mental_health": 0.475}
    )
    assert (truth[[f"referrals_{k}" for k in KINDS]].sum(axis=1) == truth.referrals).all()
    assert (
        truth.referrals_intensive_with_stay.sum() > 100
        and truth.referrals_youth_mental_health.sum() > 1000
    )
    ratios = {kind: did(truth, f"referrals_{kind}", "2020-08") for kind in KINDS}
    for kind in ["youth_mental_health", "jeugdzorg"]:
        assert abs(math.log(ratios[kind]) - math.log(planted[kind])) < MAX_LOG_DEVIATION, (
            kind,
            ratios,
            planted,
        )
    # the effect is on youth mental health, not on referrals in general
    assert ratios["youth_mental_health"] / ratios["jeugdzorg"] < 0.65, ratios
