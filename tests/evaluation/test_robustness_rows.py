"""The pre-registered pre-trend test, the national comparison pool, Callaway-Sant'Anna
and the secondary-outcome randomization inference of the analysis plan."""

import json

import duckdb
import pytest

from pilotmonitor.evaluation import build_sample, compute_effect_estimates, read_published
from pilotmonitor.evaluation.sample import national_comparison_pool

from .conftest import make_pilot, simulate, write_published

PRIMARY = "referrals_per_100_pupil_months"


@pytest.fixture(scope="module")
def table(published_db):
    with duckdb.connect(str(published_db), read_only=True) as conn:
        return compute_effect_estimates(conn, [make_pilot()], run_id="run-a")


def _one(table, estimator, outcome=PRIMARY):
    rows = table[(table["estimator"] == estimator) & (table["outcome"] == outcome)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def _run(tmp_path, name, **kw):
    path = tmp_path / f"{name}.duckdb"
    write_published(path, simulate(**kw))
    with duckdb.connect(str(path), read_only=True) as conn:
        return compute_effect_estimates(conn, [make_pilot()], run_id=name)


def test_preregistered_pretrend_test_row(table):
    r = _one(table, "pretrend_test")
    d = json.loads(r["details"])
    assert r["role"] == "robustness" and d["preregistered"] is True
    assert "PRE-REGISTERED" in r["method"] and r["scale"] == "F statistic"
    # p-value = wild cluster restricted bootstrap of the joint Wald (2^8 vectors enumerated)
    assert d["bootstrap_full_enumeration"] and d["bootstrap_n_boot"] == 2**8
    assert r["p_value"] == r["p_value_wild_bootstrap"] and 2 / 2**8 <= r["p_value"] <= 1
    # same statistic as the analytic linear event-study F test (kept as a diagnostic)
    lin = _one(table, "event_study_linear_pretrend")
    assert r["estimate"] == pytest.approx(lin["estimate"]) and d["p_value_f_cr1"] == pytest.approx(
        lin["p_value"]
    )
    assert r["p_value"] > 0.05 and d["rejects"] is False  # no planted pre-trend
    assert d["leads"] == [-4, -3, -2] and r["n_clusters"] == 8
    # the Poisson chi2 and the F rows are labelled as secondary diagnostics
    for name in ("event_study_poisson_pretrend", "event_study_linear_pretrend"):
        assert "NOT the pre-registered test" in json.loads(_one(table, name)["details"])["role"]
    flagged = [
        e
        for e, d in zip(table["estimator"], table["details"])
        if d and json.loads(d).get("preregistered")
    ]
    assert flagged == ["pretrend_test"]  # exactly one pre-registered pre-trend test per pilot


def test_preregistered_pretrend_test_rejects_strong_pretrend(tmp_path):
    strong = _run(tmp_path, "strong", pretrend_per_year=1.0)
    r = _one(strong, "pretrend_test")
    assert r["p_value"] < 0.05 and json.loads(r["details"])["rejects"] is True


def test_national_pool_uses_more_comparison_schools(tmp_path, table):
    t = _run(tmp_path, "national", n_national=4)
    r = _one(t, "twfe_poisson_national_pool")
    d = json.loads(r["details"])
    assert d["n_comparison_registered"] == 5 and d["n_comparison_national"] == 9
    assert (
        d["comparison_added"] == ["99NA00", "99NB00", "99NC00", "99ND00"]
        and not d["same_as_registered_pool"]
    )
    assert r["n_clusters"] == 3 + 9 and r["scale"] == "ratio"
    assert r["ci_lower"] < 0.6 < r["ci_upper"] and 0 < r["p_value_wild_bootstrap"] <= 1
    # registered pool only: the national row reproduces the primary estimate
    same = _one(table, "twfe_poisson_national_pool")
    assert json.loads(same["details"])["same_as_registered_pool"]
    assert same["estimate"] == pytest.approx(_one(table, "twfe_poisson")["estimate"])


def test_national_pool_is_the_published_one_and_missing_is_not_estimable(tmp_path):
    frames = simulate(n_national=2)
    path = tmp_path / "w.duckdb"
    write_published(path, frames)
    with duckdb.connect(str(path)) as conn:  # the warehouse's pool, whatever its rule
        conn.execute(
            "delete from published.dim_pilot_national_pool where school_id in ('99NA00', '99CA00')"
        )
        inputs = read_published(conn)
    pool = national_comparison_pool(inputs, "test-pilot")
    assert pool == ("99CB00", "99CC00", "99CD00", "99CE00", "99NB00")
    s = build_sample(inputs, "test-pilot", comparison=pool)
    assert s.comparison_schools == pool and set(s.panel["school_id"]) == set(pool) | set(
        s.treated_schools
    )
    path2 = tmp_path / "w2.duckdb"
    write_published(path2, frames, with_national_pool=False)
    with duckdb.connect(str(path2), read_only=True) as conn:
        t = compute_effect_estimates(conn, [make_pilot()])
    r = _one(t, "twfe_poisson_national_pool")
    assert not r["estimable"] and "dim_pilot_national_pool" in r["not_estimable_reason"]
    assert _one(t, "twfe_poisson")["estimate"] > 0  # the rest of the plan still runs


def test_callaway_santanna_row(table):
    r = _one(table, "callaway_santanna")
    d = json.loads(r["details"])
    assert r["role"] == "robustness" and r["scale"] == "difference" and d["aggregation"] == "simple"
    assert r["estimable"]
    # planted IRR 0.6 on a rate of ~3 per 100 pupil-months: ATT about -1.2 per 100
    assert r["estimate"] < 0 and r["ci_lower"] < -1.2 < r["ci_upper"]
    assert r["p_value_randomization"] == pytest.approx(1 / 56) and d["ri_full_enumeration"]
    assert r["n_clusters"] == 8


def test_secondary_randomization_inference(table):
    fam = table[table["role"] == "secondary"].set_index("outcome")
    assert fam["p_value_randomization"].between(1 / 56 - 1e-12, 1).all()
    for outcome, row in fam.iterrows():
        d = json.loads(row["details"])
        assert d["ri_assignments"] == 56 and d["ri_full_enumeration"], outcome
    # the RI statistic of a linear outcome is the reported TWFE coefficient
    lin = json.loads(fam.loc["youth_care_cost_per_pupil", "details"])
    assert lin["ri_statistic_linear_twfe"] == pytest.approx(
        fam.loc["youth_care_cost_per_pupil", "estimate"]
    )
    sat = json.loads(fam.loc["satisfaction", "details"])
    assert sat["ri_statistic_linear_twfe"] == pytest.approx(fam.loc["satisfaction", "estimate"])
    # planted satisfaction shift 0.5 is the most extreme assignment or close
    assert fam.loc["satisfaction", "p_value_randomization"] <= 3 / 56
