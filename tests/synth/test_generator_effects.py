"""The planted pilot effects are visible in the raw counts of the ground truth.

For winschoten-sbo and groningen-cluster3 the difference-in-differences ratio of referral
rates (treated post/pre divided by comparison post/pre), computed from school_month.csv,
must lie near the referral_rate_ratio planted in scenarios/demo.yml, and a run of the same
world with the effect removed (all ratios 1.0) must not show it. The demo run at scale 0.1
has too few referrals for that (a handful per treated post-period), so each pilot gets a
small focused world: the demo scenario restricted to the pilot's schools and some of its
comparison schools, a short window around the start, a raised referral rate and no
pupil/school heterogeneity, so the check has a margin of about three standard errors on
either side while each generation takes a few seconds.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import pandas as pd
import pytest
import yaml

from pilotmonitor.synth.generate import generate
from tests.synth.conftest import PILOTS_DIR, demo_scenario, trimmed_scenario, write_scenario

SEED = 20261123
MAX_LOG_DEVIATION = 0.2  # about 3.5 standard errors of log(DiD) in these worlds


@dataclass(frozen=True)
class Setup:
    pilot_id: str
    first_month: str
    as_of: dt.date
    comparison: list[str]
    school_type: str
    referral_rate: float


SETUPS = {
    "winschoten-sbo": Setup(
        "winschoten-sbo",
        "2024-11",
        dt.date(2026, 10, 31),
        ["99NA", "99NB", "99NC", "99ND", "99NE"],
        "SBO",
        0.3,
    ),
    "groningen-cluster3": Setup(
        "groningen-cluster3",
        "2016-08",
        dt.date(2020, 7, 31),
        ["99SA", "99SB", "99SC", "99SD", "99SE"],
        "SO",
        0.45,
    ),
}


def _pilot(pilot_id: str) -> dict:
    return yaml.safe_load((PILOTS_DIR / f"{pilot_id}.yml").read_text(encoding="utf-8"))


def _world(setup: Setup, with_effect: bool) -> dict:
    pilot = _pilot(setup.pilot_id)
    treated = [school["brin"] for school in pilot["schools"]]
    scenario = trimmed_scenario(
        treated + setup.comparison,
        first_month=setup.first_month,
        as_of=setup.as_of,
        pupil_frailty_shape=1000.0,
        school_heterogeneity_sd=0.0,
        defects={},
    )
    scenario["effects"] = {
        setup.pilot_id: demo_scenario()["effects"][setup.pilot_id] if with_effect else {}
    }
    for baseline in scenario[
        "baseline"
    ].values():  # little absence: faster, and not under test here
        baseline.update(
            unauthorised_episodes=0.02, authorised_episodes=0.05, thuiszitter_hazard=0.0
        )
    scenario["baseline"][setup.school_type]["referral_rate"] = setup.referral_rate
    return scenario


def did_ratio(
    school_month: pd.DataFrame, pilot_id: str, start: str, end: str
) -> tuple[float, pd.DataFrame]:
    """(treated post/pre) / (comparison post/pre) of referrals per pupil-month."""
    treated = (school_month.pilot_id == pilot_id).to_numpy()
    post = ((school_month.month >= start) & (school_month.month <= end)).to_numpy()
    pre = (school_month.month < start).to_numpy()
    cells = {}
    for group, mask in [("treated", treated), ("comparison", ~treated)]:
        for period, when in [("pre", pre), ("post", post)]:
            rows = school_month[mask & when]
            cells[(group, period)] = (rows.referrals.sum(), rows.pupil_months.sum())
    table = pd.DataFrame(cells, index=["referrals", "pupil_months"]).T
    rate = table.referrals / table.pupil_months
    ratio = (rate[("treated", "post")] / rate[("treated", "pre")]) / (
        rate[("comparison", "post")] / rate[("comparison", "pre")]
    )
    return float(ratio), table


@pytest.fixture(scope="module", params=sorted(SETUPS))
def effect_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    setup = SETUPS[request.param]
    pilot = _pilot(setup.pilot_id)
    start = str(pilot["start"])[:7]
    end = min(str(pilot["planned_end"] or "9999-12")[:7], str(setup.as_of)[:7])
    out = {
        "setup": setup,
        "ratio": demo_scenario()["effects"][setup.pilot_id]["referral_rate_ratio"],
    }
    for label, with_effect in [("effect", True), ("null", False)]:
        directory = tmp_path_factory.mktemp(f"{setup.pilot_id}-{label}")
        scenario_path, pilots_dir = write_scenario(
            directory, _world(setup, with_effect), [setup.pilot_id]
        )
        result = generate(
            directory / "data", scenario_path, pilots_dir, scale=1.0, seed=SEED, truth_only=True
        )
        school_month = pd.read_csv(
            result.ground_truth_dir / "school_month.csv", dtype={"month": str}
        )
        out[label] = did_ratio(school_month, setup.pilot_id, start, end)
    return out


def test_planted_referral_effect_shows_in_the_difference_in_differences(effect_runs: dict) -> None:
    ratio = effect_runs["ratio"]
    assert ratio < 1, "the demo plants a reduction"
    did, table = effect_runs["effect"]
    assert (table.referrals > 300).all(), table  # enough counts for the margins used here
    assert did < 1
    assert math.log(did) < math.log(ratio) / 2, (
        f"DiD {did:.3f} is not closer to the planted {ratio} than to 1\n{table}"
    )
    assert abs(math.log(did) - math.log(ratio)) < MAX_LOG_DEVIATION, (
        f"DiD {did:.3f} vs planted {ratio}\n{table}"
    )


def test_without_the_planted_effect_the_check_does_not_pass(effect_runs: dict) -> None:
    """The same world with all effects at 1.0: the check above would fail, so it detects
    the planted effect and not something else (season, trend, closures, composition)."""
    ratio = effect_runs["ratio"]
    did, table = effect_runs["null"]
    assert math.log(did) > math.log(ratio) / 2, f"DiD {did:.3f} without an effect\n{table}"
    assert abs(math.log(did)) < MAX_LOG_DEVIATION, f"DiD {did:.3f} without an effect\n{table}"
