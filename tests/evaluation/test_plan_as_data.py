"""The pre-registered plan is data and is obeyed: every parameter is in the effective
plan and its hash, names are checked against the registries, and every pre-registered
(outcome, estimator) pair yields a row or an explicit not-estimable row."""

from __future__ import annotations

import copy

import duckdb
import pytest
from typer.testing import CliRunner

from pilotmonitor.evaluation import (
    compute_effect_estimates,
    estimator_runs,
    write_effect_estimates,
)
from pilotmonitor.evaluation.estimators import ESTIMATORS
from pilotmonitor.evaluation.outcomes import OUTCOMES
from pilotmonitor.evaluation.plan_view import diff_plans, latest_run, run_plans
from pilotmonitor.evaluation.spec import effective_plan, plan_hash, preregistered_pairs
from pilotmonitor.pilots import AnalysisPlan, Pilot, PilotConfigError, load_pilot

from .conftest import FULL_PLAN, make_pilot


def _leaves(value, prefix=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*prefix, key))
    else:
        yield prefix, value


# a valid other value for every parameter of the effective plan (a new parameter without
# an entry here fails test_every_parameter_changes_the_hash: add it)
OTHER_VALUE = {
    ("primary_outcome",): "thuiszitter_spells",
    ("secondary_outcomes",): ["dropout"],
    ("estimators",): ["twfe_poisson", "event_study"],
    ("alpha",): 0.1,
    ("multiple_testing",): "fdr_bh",
    ("window", "max_pre_months"): 24,
    ("window", "chart_pre_months"): 48,
    ("event_study", "bin_months"): 3,
    ("event_study", "leads"): 6,
    ("event_study", "lags"): 2,
    ("event_study", "reference"): -2,
    ("inference", "bootstrap_reps"): 999,
    ("inference", "bootstrap_weights"): "webb",
    ("inference", "randomization_draws"): 199,
    ("inference", "cost_bootstrap_reps"): 199,
    ("inference", "placebo_reps"): 100,
    ("pilot_level", "period_months"): 6,
    ("design_power",): 0.9,
    ("seed",): 1,
}


def _with(pilot: Pilot, path: tuple, value) -> Pilot:
    plan = copy.deepcopy(effective_plan(pilot))
    node = plan
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return pilot.model_copy(update={"analysis_plan": AnalysisPlan.model_validate(plan)})


def test_every_parameter_changes_the_hash():
    pilot = make_pilot()
    leaves = dict(_leaves(effective_plan(pilot)))
    assert set(leaves) == set(OTHER_VALUE), "a plan parameter without a test value (or a stale one)"
    base = plan_hash(pilot)
    for path, value in OTHER_VALUE.items():
        assert value != leaves[path]
        changed = _with(pilot, path, value)
        assert plan_hash(changed) != base, path


def test_defaults_are_in_the_effective_plan_and_overridable():
    plan = effective_plan(make_pilot(inference={"bootstrap_reps": 999}, seed=7))
    assert (
        plan["inference"]["bootstrap_reps"] == 999
        and plan["inference"]["randomization_draws"] == 499
    )
    assert plan["seed"] == 7 and plan["event_study"] == {
        "bin_months": 6,
        "leads": 4,
        "lags": 4,
        "reference": -1,
    }


@pytest.mark.parametrize(
    "plan, message",
    [
        ({"primary_outcome": "referals"}, "unknown outcome"),
        ({"secondary_outcomes": ["dropout", "dropout"]}, "named twice"),
        ({"estimators": ["twfe_poisson", "synthetic_controll"]}, "unknown estimator"),
        (
            {"estimators": ["twfe_poisson", "did_linear_school_year"]},
            "do not fit the primary outcome",
        ),
        ({"estimators": ["event_study", "twfe_poisson"]}, "first estimator is the headline"),
        ({"inference": {"bootstrap_reps": 9}}, "bootstrap_reps"),
        ({"event_study": {"binmonths": 6}}, "binmonths"),
    ],
)
def test_plan_names_are_checked_against_the_registries(tmp_path, plan, message):
    import yaml

    pilot = make_pilot().model_dump(mode="json")
    pilot["analysis_plan"] = {
        k: v
        for k, v in pilot["analysis_plan"].items()
        if k in ("primary_outcome", "secondary_outcomes", "estimators")
    } | plan
    path = tmp_path / "test-pilot.yml"
    path.write_text(yaml.safe_dump(pilot))
    with pytest.raises(PilotConfigError, match=message) as info:
        load_pilot(path)
    assert "analysis_plan" in str(info.value) and str(path) in str(info.value)


@pytest.fixture(scope="module")
def planted_tables(published_db):
    """The full count plan and a plan with a survey primary outcome: together they
    pre-register every estimator of the registry."""
    count = make_pilot()
    survey = make_pilot(
        primary_outcome="satisfaction",
        secondary_outcomes=["school_climate"],
        estimators=["did_linear_school_year"],
    )
    with duckdb.connect(str(published_db), read_only=True) as conn:
        return {
            p.analysis_plan.primary_outcome: (p, compute_effect_estimates(conn, [p], run_id="r"))
            for p in (count, survey)
        }


def test_every_registered_estimator_yields_its_rows(planted_tables):
    planted = {
        name for pilot, _ in planted_tables.values() for _, name, _ in preregistered_pairs(pilot)
    }
    assert planted == set(ESTIMATORS), "plant every registered estimator in a test plan"
    for pilot, table in planted_tables.values():
        for outcome, name, role in preregistered_pairs(pilot):
            rows = table[(table["outcome"] == outcome) & (table["preregistered_as"] == name)]
            assert len(rows) >= 1, (outcome, name)
            assert set(rows["role"]) == {role}
            not_estimable = rows[~rows["estimable"]]
            assert not_estimable["not_estimable_reason"].str.len().gt(0).all(), (outcome, name)
            assert not_estimable["estimate"].isna().all()
    count_table = planted_tables["referrals_per_100_pupil_months"][1]
    # the simulated panel is Poisson (no over-dispersion): NB2 says so instead of estimating
    nb = count_table[count_table["preregistered_as"] == "twfe_negative_binomial"].iloc[0]
    assert (
        nb["estimable"]
        or "over-dispersion" in nb["not_estimable_reason"]
        or "alpha" in nb["not_estimable_reason"]
    )
    estimable = set(count_table.loc[count_table["estimable"], "preregistered_as"])
    assert estimable >= set(FULL_PLAN) - {"twfe_negative_binomial"}


def test_an_estimator_that_fails_gives_a_not_estimable_row(published_db, monkeypatch):
    def broken(ctx, outcome, role):
        raise ZeroDivisionError("planted failure")

    monkeypatch.setattr(estimator_runs, "synthetic_control", broken)
    pilot = make_pilot(estimators=["twfe_poisson", "synthetic_control"])
    with duckdb.connect(str(published_db), read_only=True) as conn:
        table = compute_effect_estimates(conn, [pilot], run_id="r")
    row = table[table["preregistered_as"] == "synthetic_control"]
    assert len(row) == 1 and not row["estimable"].iloc[0]
    assert row["not_estimable_reason"].iloc[0] == "ZeroDivisionError: planted failure"
    assert table[table["preregistered_as"] == "twfe_poisson"][
        "estimable"
    ].all()  # the rest of the plan runs


def test_plan_parameters_reach_the_estimators(published_db):
    """Changing a parameter changes what is computed, not only the hash."""
    pilot = make_pilot(
        estimators=["twfe_poisson", "event_study", "synthetic_control"],
        event_study={"bin_months": 3, "leads": 3, "lags": 2},
        pilot_level={"period_months": 6},
        inference={"bootstrap_reps": 199, "randomization_draws": 19},
    )
    with duckdb.connect(str(published_db), read_only=True) as conn:
        table = compute_effect_estimates(conn, [pilot], run_id="r")
    leads = table[table["estimator"].str.startswith("event_study_linear[e=-")]
    assert sorted(leads["rel_time_bin"]) == [-3, -2]
    primary = table[table["role"] == "primary"].iloc[0]
    import json

    details = json.loads(primary["details"])
    assert details["bootstrap_n_boot"] == 199 or details["bootstrap_full_enumeration"]
    assert details["ri_assignments"] == 19 or details["ri_full_enumeration"]
    sc = json.loads(table[table["preregistered_as"] == "synthetic_control"].iloc[0]["details"])
    assert sc["period_months"] == 6


def test_plan_show_prints_every_parameter(tmp_path, monkeypatch):
    import yaml

    from pilotmonitor.cli import app

    pilot = make_pilot()
    (tmp_path / "test-pilot.yml").write_text(yaml.safe_dump(pilot.model_dump(mode="json")))
    monkeypatch.setenv("PILOTMONITOR_PILOTS_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["plan", "show", "test-pilot"])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(
        "\n".join(line for line in result.output.splitlines() if not line.startswith("#"))
    )
    assert shown["analysis_plan"] == effective_plan(pilot)
    assert plan_hash(pilot) in result.output
    for outcome, name, role in preregistered_pairs(pilot):
        assert f"{role:<10} {outcome} x {name}" in result.output
    assert CliRunner().invoke(app, ["plan", "show", "no-such-pilot"]).exit_code == 1


def test_plan_diff_between_runs(tmp_path, published_db):
    import shutil

    path = tmp_path / "w.duckdb"
    shutil.copy(published_db, path)
    before = make_pilot(estimators=["twfe_poisson"], secondary_outcomes=[])
    after = _with(before, ("inference", "bootstrap_reps"), 999)
    with duckdb.connect(str(path)) as conn:
        for run, pilot in (("run-1", before), ("run-2", after)):
            table = compute_effect_estimates(conn, [pilot], run_id=run)
            write_effect_estimates(conn, table, [pilot])
        assert latest_run(conn) == "run-2"
        changes = diff_plans(run_plans(conn, "run-1"), run_plans(conn, "run-2"))
    assert changes == {"test-pilot": [("inference.bootstrap_reps", 9999, 999)]}


def test_outcome_registry_is_complete():
    for name, o in OUTCOMES.items():
        assert (
            o.default_estimator in ESTIMATORS and o.kind in ESTIMATORS[o.default_estimator].fits
        ), name
        assert set(o.label) == {"nl", "en"} and o.better in ("lower", "higher")


def test_pilot_level_synthetic_estimators_recover_the_planted_effect(tmp_path):
    """Synthetic control and synthetic DiD on the aggregated pilot: the planted IRR 0.6 on
    a rate of about 3 per 100 pupil-months is a difference of about -1.2 per 100. With 12
    donors SDID has a placebo SE; with 5 (the shared fixture) it has none, only the
    placebo-in-space p-value, which cannot go below 1/(1 + donors)."""
    from .conftest import simulate, write_published

    path = tmp_path / "w.duckdb"
    write_published(path, simulate(n_comparison=12))
    pilot = make_pilot(
        estimators=["twfe_poisson", "synthetic_control", "synthetic_did"], secondary_outcomes=[]
    )
    with duckdb.connect(str(path), read_only=True) as conn:
        table = compute_effect_estimates(conn, [pilot], run_id="r")
    sdid = table[table["estimator"] == "synthetic_did"].iloc[0]
    sc = table[table["estimator"] == "synthetic_control"].iloc[0]
    assert (
        sdid["std_error"] > 0
        and sdid["ci_lower"] < -1.2 < sdid["ci_upper"]
        and sdid["ci_upper"] < 0
    )
    assert -2.0 < sc["estimate"] < -0.5 and sc["p_value_randomization"] <= 2 / 13
    assert sdid["p_value_randomization"] == pytest.approx(1 / 13)
    # the design-stage MDE: a decrease, from the pre-period of all 15 schools, reproducible
    # from its own details with analyses.power.pilot_mde
    import json

    from analyses.power import pilot_mde

    design = table[table["role"] == "design"].iloc[0]
    d = json.loads(design["details"])
    assert 0 < design["estimate"] < 1 and d["schools_used_for_cv"] == 15 and d["cv_change"] >= 0
    again = pilot_mde(3, 12, d["pupil_months"], d["baseline_rate"], cv_between=d["cv_change"])
    assert again.rate_ratio == pytest.approx(design["estimate"], rel=1e-12)


def test_synthetic_did_without_enough_donors_has_no_standard_error(planted_tables):
    table = planted_tables["referrals_per_100_pupil_months"][1]
    sdid = table[table["estimator"] == "synthetic_did"].iloc[0]
    assert sdid["estimable"] and sdid["estimate"] < 0
    assert sdid["std_error"] != sdid["std_error"] and sdid["p_value_randomization"] >= 1 / 6
    assert "too few placebo" in sdid["details"]
