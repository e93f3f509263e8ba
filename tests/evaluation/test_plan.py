import json
import os
from concurrent.futures.process import BrokenProcessPool

import duckdb
import numpy as np
import pandas as pd
import pytest

from pilotmonitor import run_helpers
from pilotmonitor.evaluation import (
    AnalysisInputError,
    build_sample,
    compute_effect_estimates,
    read_published,
    result_numbers,
    write_artifact,
    write_effect_estimates,
)
from pilotmonitor.evaluation import plan as plan_module
from pilotmonitor.evaluation.store import COLUMN_TYPES, PROVENANCE

from .conftest import PLANTED_IRR, make_pilot, simulate, write_published


@pytest.fixture(scope="module")
def table(published_db):
    with duckdb.connect(str(published_db), read_only=True) as conn:
        return compute_effect_estimates(conn, [make_pilot()], run_id="run-a")


def _one(table, estimator, outcome="referrals_per_100_pupil_months"):
    rows = table[(table["estimator"] == estimator) & (table["outcome"] == outcome)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_primary_recovers_planted_irr(table):
    r = _one(table, "twfe_poisson")
    assert r["role"] == "primary" and r["scale"] == "ratio"
    assert r["ci_lower"] < PLANTED_IRR < r["ci_upper"]
    assert 0.5 < r["estimate"] < 0.72
    assert r["n_clusters"] == 8 and r["n_obs"] == 8 * 48
    # few-cluster p-values: full enumeration of 2^8 sign vectors and of C(8,3) assignments
    assert r["p_value_wild_bootstrap"] <= 0.05 and r["p_value_wild_bootstrap"] >= 2 / 2**8
    assert r["p_value_randomization"] == pytest.approx(1 / 56)
    details = json.loads(r["details"])
    assert details["bootstrap_full_enumeration"] and details["ri_full_enumeration"]
    assert details["ri_assignments"] == 56 and details["treatment_mismatches"] == 0


def test_secondary_outcomes_and_multiple_testing(table):
    fam = table[table["role"].isin(["primary", "secondary"])].set_index("outcome")
    assert list(fam.index) == [
        "referrals_per_100_pupil_months",
        "dropout",
        "unauthorised_absence_hours",
        "youth_care_cost_per_pupil",
        "satisfaction",
    ]
    assert fam["estimable"].all()
    assert (
        fam.loc["dropout", "scale"] == "ratio"
        and fam.loc["unauthorised_absence_hours", "scale"] == "difference"
    )
    # planted satisfaction shift 0.5 (survey means, linear DiD by school year)
    assert fam.loc["satisfaction", "ci_lower"] < 0.5 < fam.loc["satisfaction", "ci_upper"]
    # Holm over the wild-bootstrap p-values of the family
    from statsmodels.stats.multitest import multipletests

    expected = multipletests(fam["p_value_wild_bootstrap"].to_numpy(), method="holm")[1]
    np.testing.assert_allclose(fam["p_value_adjusted"].to_numpy(), expected)
    assert table.loc[table["role"] == "robustness", "p_value_adjusted"].isna().all()


def test_robustness_and_pretrend_rows(table):
    excl = _one(table, "twfe_poisson_excl_closures")
    assert excl["n_obs"] == 8 * 48 - 8 * 7  # seven closure months dropped
    lin = _one(table, "twfe_linear_rate_per_100")
    assert lin["estimate"] < 0 and lin["bootstrap_ci_upper"] < 0
    for name in ("event_study_poisson_pretrend", "event_study_linear_pretrend"):
        pt = _one(table, name)
        assert 0 <= pt["p_value"] <= 1 and pt["p_value"] > 0.01  # no planted pre-trend
    assert table["estimator"].str.startswith("event_study_poisson[e=").sum() >= 5


def test_deterministic(published_db, table):
    with duckdb.connect(str(published_db), read_only=True) as conn:
        again = compute_effect_estimates(conn, [make_pilot()], run_id="run-b")
    pd.testing.assert_frame_equal(result_numbers(table), result_numbers(again))


def _calls(monkeypatch, name: str) -> list:
    """The calls of ``plan_module.<name>`` from now on, by their third argument (the
    workers or the helpers they ran in)."""
    calls = []
    real = getattr(plan_module, name)
    monkeypatch.setattr(plan_module, name, lambda *args: calls.append(args[2]) or real(*args))
    return calls


def test_pilots_in_worker_processes_give_the_same_rows_in_pilot_order(
    published_db, table, monkeypatch
):
    """A large panel's plans run their tasks (pairs, design, costs) in two processes; each
    plan has its own seeds, so the numbers do not depend on where or after which task a row
    was made; a pilot whose sample cannot be built says so per pair there too. Within
    `pilotmonitor run` the run's helper processes take the tasks, whatever the panel's size."""
    pilots = [make_pilot(), make_pilot(seed=11), make_pilot(pilot_id="other-pilot"), make_pilot()]
    in_workers = _calls(monkeypatch, "_run_in_workers")
    in_helpers = _calls(monkeypatch, "_run_in_helpers")
    with duckdb.connect(str(published_db), read_only=True) as conn:
        alone = compute_effect_estimates(conn, pilots, run_id="run-c")
        small = compute_effect_estimates(conn, pilots, run_id="run-c", workers=2)
        assert in_workers == []  # a small panel's plans run in this process
        monkeypatch.setattr(plan_module, "MIN_SCHOOL_MONTHS_FOR_WORKERS", 0)
        split = compute_effect_estimates(conn, pilots, run_id="run-c", workers=2)
        assert in_workers == [2]
        with run_helpers.started() as helpers:  # during `pilotmonitor run`: its helpers
            helped = compute_effect_estimates(conn, pilots, run_id="run-c")
            assert in_helpers == [helpers]
        with run_helpers.started() as helpers:  # helpers that died: estimated without them
            with pytest.raises(BrokenProcessPool):
                helpers.each(os._exit, 1)
            notes = []
            without = compute_effect_estimates(conn, pilots, run_id="run-c", progress=notes.append)
            assert any("helper processes stopped" in note for note in notes)
    pd.testing.assert_frame_equal(result_numbers(small), result_numbers(alone))
    pd.testing.assert_frame_equal(result_numbers(split), result_numbers(alone))
    pd.testing.assert_frame_equal(result_numbers(helped), result_numbers(alone))
    pd.testing.assert_frame_equal(result_numbers(without), result_numbers(alone))
    first = result_numbers(alone).iloc[: len(table)].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, result_numbers(table).reset_index(drop=True))


def test_the_longest_tasks_of_every_pilot_are_handed_out_first():
    """Both processes stay busy to the end when the heavy estimators start first (synthetic
    DiD, the primary pair with its randomization inference, synthetic control, ...), across
    pilots; each pilot's rows still come back in its plan's order."""
    from concurrent.futures import Future

    pilots = [make_pilot(), make_pilot(pilot_id="other-pilot")]
    submitted = []

    def submit(_function, pilot, task):
        submitted.append((pilot.id, task.name, task.role))
        done = Future()
        row = {"pilot_id": pilot.id, "estimator": task.name, "role": "robustness"}
        done.set_result([{**row, "outcome": task.outcome, "p_value_wild_bootstrap": None}])
        return done

    rows = plan_module._run_tasks(pilots, submit, None)
    assert submitted[:2] == [(p.id, "synthetic_did", "robustness") for p in pilots]
    assert submitted[2:4] == [(p.id, "twfe_poisson", "primary") for p in pilots]
    ranks = [plan_module._LONGEST_FIRST.index(n) for _, n, _ in submitted[4:8]]
    assert ranks == sorted(ranks)
    for pilot, pilot_rows in zip(pilots, rows, strict=True):
        planned = [t.name for t in plan_module._tasks(pilot)]
        assert [r["estimator"] for r in pilot_rows] == planned
        assert {r["pilot_id"] for r in pilot_rows} == {pilot.id}


def test_provenance_columns_filled(table):
    assert list(table.columns) == list(COLUMN_TYPES)
    for col in PROVENANCE:
        assert table[col].notna().all(), col
    assert table["run_id"].eq("run-a").all() and table["input_hash"].str.len().eq(64).all()
    assert set(json.loads(table["package_versions"].iloc[0])) == {
        "statsmodels",
        "numpy",
        "pandas",
        "scipy",
        "linearmodels",
        "duckdb",
        "pyfixest",
    }
    assert table["plan_hash"].nunique() == 1 and table["seed"].nunique() == 1


def test_hashes_follow_inputs_and_plan(tmp_path, table):
    path = tmp_path / "w.duckdb"
    sm, asg, pil, sv = simulate()
    sm.loc[0, "new_referrals"] += 1
    write_published(path, (sm, asg, pil, sv))
    with duckdb.connect(str(path), read_only=True) as conn:
        other = compute_effect_estimates(conn, [make_pilot(multiple_testing="fdr_bh")], run_id="x")
    assert other["input_hash"].iloc[0] != table["input_hash"].iloc[0]
    assert other["plan_hash"].iloc[0] != table["plan_hash"].iloc[0]


def test_write_table_and_artifact(tmp_path, published_db, table):
    path = tmp_path / "w.duckdb"
    write_published(path, simulate())
    with duckdb.connect(str(path)) as conn:
        write_effect_estimates(conn, table)
        write_effect_estimates(conn, table.assign(run_id="run-2"))
        stored = conn.execute(
            "select * from results.effect_estimates order by pilot_id, outcome, role, estimator"
        ).df()
        history = conn.execute(
            "select run_id, count(*) from results.effect_estimates_history group by 1 order by 1"
        ).fetchall()
    assert len(stored) == len(table) and stored["run_id"].eq("run-2").all()
    assert history == [("run-2", len(table)), ("run-a", len(table))]
    artifact = write_artifact(table, tmp_path / "results")
    doc = json.loads(artifact.read_text())
    assert (
        artifact.name == "run-a.json"
        and len(doc["rows"]) == len(table)
        and doc["input_hash"] == table["input_hash"].iloc[0]
    )


def test_window_ended_pilot_and_pre_cap(tmp_path):
    path = tmp_path / "w.duckdb"
    # data 2016-01..2022-12, pilot 2020-01..2020-06 (ended): window = 6 pre + 6 pilot months
    write_published(
        path,
        simulate(
            first="2016-01-01", last="2022-12-01", start="2020-01-01", planned_end="2020-06-30"
        ),
    )
    with duckdb.connect(str(path), read_only=True) as conn:
        s = build_sample(read_published(conn), "test-pilot")
    assert (s.pre_months, s.post_months) == (6, 6)
    assert s.panel["month"].min() == pd.Timestamp("2019-07-01") and s.panel[
        "month"
    ].max() == pd.Timestamp("2020-06-01")
    # open-ended pilot from 2019-01 with data to 2022-12: 48 pilot months, pre capped at 36
    path2 = tmp_path / "w2.duckdb"
    write_published(path2, simulate(first="2014-01-01", last="2022-12-01", start="2019-01-01"))
    with duckdb.connect(str(path2), read_only=True) as conn:
        s2 = build_sample(read_published(conn), "test-pilot")
    assert (s2.pre_months, s2.post_months) == (36, 48) and s2.window_start == pd.Timestamp(
        "2016-01-01"
    )


def test_nothing_published(tmp_path):
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as conn:
        with pytest.raises(AnalysisInputError, match="nothing has been published"):
            compute_effect_estimates(conn, [make_pilot()])


def test_unknown_pilot_gives_a_not_estimable_row_per_preregistered_pair(published_db):
    from pilotmonitor.evaluation.spec import preregistered_pairs

    pilot = make_pilot(pilot_id="other-pilot")
    with duckdb.connect(str(published_db), read_only=True) as conn:
        t = compute_effect_estimates(conn, [pilot])
    assert len(t) == len(preregistered_pairs(pilot)) and not t["estimable"].any()
    assert t["not_estimable_reason"].str.contains("not in published.dim_pilot").all()
    assert set(t["preregistered_as"]) == {name for _, name, _ in preregistered_pairs(pilot)}


def test_linear_pretrend_row(table):
    r = _one(table, "pretrend_poisson_linear_trend")
    assert r["scale"] == "ratio" and 0 < r["p_value_wild_bootstrap"] <= 1
    assert r["ci_lower"] < 1 < r["ci_upper"]  # no planted pre-trend


def test_separation_reported_not_estimable(tmp_path):
    sm, asg, pil, sv = simulate()
    treated = sm["school_id"].isin(asg.loc[asg["role"] == "treated", "school_id"])
    sm.loc[treated & ~sm["is_treated"], "dropouts"] = (
        0  # no dropouts at pilot schools before the start
    )
    path = tmp_path / "w.duckdb"
    write_published(path, (sm, asg, pil, sv))
    with duckdb.connect(str(path), read_only=True) as conn:
        t = compute_effect_estimates(conn, [make_pilot()])
    r = t[t["outcome"] == "dropout"].iloc[0]
    assert (
        not r["estimable"]
        and r["not_estimable_reason"].startswith("separation")
        and np.isnan(r["estimate"])
    )
    assert 0 < r["p_value_wild_bootstrap"] <= 1 and 0 < r["p_value_adjusted"] <= 1


def test_cost_rows_price_the_planted_referral_reduction(table):
    """The plan's cost rows: avoided referrals follow the planted IRR (0.6 of a 0.03 base
    rate), net savings = avoided cost - the registry's pilot cost, seeded bootstrap."""
    avoided_ref = _one(table, "cost_effectiveness", "avoided_referrals")
    avoided_cost = _one(table, "cost_effectiveness", "avoided_cost_eur")
    net = _one(table, "cost_effectiveness", "net_savings_eur")
    assert {avoided_ref["role"], avoided_cost["role"], net["role"]} == {"costs"}
    details = json.loads(net["details"])
    assert details["pilot_cost"] == 120000.0 and details["pilot_cost_source"].startswith("realised")
    # 3 pilot schools x 24 pilot months x ~275 pupil-months x 0.03 x (1 - 0.6) ~ 240 avoided
    # referrals
    assert 120 < avoided_ref["estimate"] < 400
    assert avoided_ref["ci_lower"] > 0
    assert net["estimate"] == pytest.approx(avoided_cost["estimate"] - 120000.0)
    assert 0.0 <= details["prob_net_savings_positive"] <= 1.0


def test_stored_estimates_are_reused_only_when_nothing_they_depend_on_changed(
    tmp_path, monkeypatch, table
):
    """A monthly run without new published data reuses the estimates; new data, another
    plan, another seed or uncommitted code recompute them."""
    from pilotmonitor.evaluation import reusable_estimates, store
    from pilotmonitor.evaluation.sample import read_published

    # the stored commit has the same analysis code
    trees = {"HEAD": "tree-1", "c0ffee" * 6 + "c0ff": "tree-1"}
    monkeypatch.setattr(store, "code_fingerprint", lambda commit="HEAD": trees.get(commit))
    path = tmp_path / "w.duckdb"
    write_published(path, simulate())
    with duckdb.connect(str(path)) as conn:
        inputs = read_published(conn)
        assert reusable_estimates(conn, [make_pilot()], inputs)[0] is None  # nothing stored yet
        write_effect_estimates(conn, table.assign(code_version="c0ffee" * 6 + "c0ff"))
        reused, why = reusable_estimates(conn, [make_pilot()], inputs)
        assert reused is not None and "unchanged" in why
        pd.testing.assert_frame_equal(
            result_numbers(reused.drop(columns="code_version")),
            result_numbers(table.drop(columns="code_version")),
            check_dtype=False,
        )
        assert reusable_estimates(conn, [make_pilot(alpha=0.1)], inputs) == (
            None,
            "pilots or plans changed",
        )
        assert (
            reusable_estimates(conn, [make_pilot(seed=1)], inputs)[1] == "pilots or plans changed"
        )
        changed = read_published(conn).__class__(
            *(
                f.iloc[:-1] if i == 0 else f
                for i, f in enumerate(read_published(conn).__dict__.values())
            )
        )
        assert reusable_estimates(conn, [make_pilot()], changed)[1] == "input_hash changed"
        trees["HEAD"] = "tree-2"
        assert reusable_estimates(conn, [make_pilot()], inputs)[1] == "analysis code changed"
        trees["HEAD"] = None  # uncommitted changes in the analysis code
        assert reusable_estimates(conn, [make_pilot()], inputs)[1].startswith(
            "uncommitted code changes"
        )


def test_the_sample_has_the_rate_of_every_registered_outcome(published_db):
    """Every count outcome's rate per 100 pupil-months and every rate outcome's amount per
    pupil-month come from the registry: a new outcome (the kinds of care) needs no code here."""
    from pilotmonitor.evaluation.outcomes import OUTCOMES

    with duckdb.connect(str(published_db), read_only=True) as conn:
        panel = build_sample(read_published(conn), "test-pilot").panel
    pm = panel["pupil_months"].astype(float)
    for o in OUTCOMES.values():
        if o.kind == "count":
            np.testing.assert_array_equal(
                panel[o.rate].to_numpy(), (100 * panel[o.count] / pm).to_numpy(), err_msg=o.name
            )
        elif o.kind == "rate":
            np.testing.assert_allclose(
                panel[o.rate].to_numpy(),
                (panel[o.numerator] * o.numerator_scale / pm).to_numpy(),
                rtol=1e-15,
                err_msg=o.name,
            )
    # the two hand-written lines the registry replaced, bit for bit
    np.testing.assert_array_equal(
        panel["youth_care_cost_eur_per_pupil"], panel["declared_cost_cents"] / 100 / pm
    )
    np.testing.assert_array_equal(
        panel["unauthorised_absence_hours_per_pupil"], panel["unauthorised_absence_hours"] / pm
    )
    from pilotmonitor.evaluation.outcomes import KINDS_OF_CARE

    kinds = [OUTCOMES[f"referrals_{kind}"].rate for kind in KINDS_OF_CARE]
    np.testing.assert_allclose(panel[kinds].sum(axis=1), panel["referrals_per_100"])


def test_kinds_of_care_as_secondary_outcomes(published_db):
    """The kinds are estimated like any count or rate outcome; the simulated world plants
    the same IRR on every kind, so each kind's interval holds it."""
    kinds = [
        "referrals_jeugdzorg",
        "referrals_youth_mental_health",
        "referrals_intensive_with_stay",
    ]
    pilot = make_pilot(
        secondary_outcomes=kinds + ["youth_care_cost_youth_mental_health_per_pupil"],
        estimators=["twfe_poisson"],
    )
    with duckdb.connect(str(published_db), read_only=True) as conn:
        table = compute_effect_estimates(conn, [pilot], run_id="run-kinds")
    fam = table[table["role"] == "secondary"].set_index("outcome")
    assert list(fam.index) == kinds + ["youth_care_cost_youth_mental_health_per_pupil"]
    assert fam["estimable"].all() and (fam.loc[kinds, "scale"] == "ratio").all()
    for outcome in kinds[:2]:  # the small kind (8%) is too noisy to pin down here
        assert fam.loc[outcome, "ci_lower"] < PLANTED_IRR < fam.loc[outcome, "ci_upper"], fam.loc[
            outcome
        ]
    assert fam.loc["youth_care_cost_youth_mental_health_per_pupil", "scale"] == "difference"


def test_the_window_never_starts_before_youth_care_is_in_ijw_messages(tmp_path):
    """Data from 2012 (Hoogeveen's programme year): the pre-period stops at January 2015,
    when youth care entered the iJw messages (YOUTH_CARE_DATA_FROM), even when asked for more."""
    from pilotmonitor.pilots import YOUTH_CARE_DATA_FROM

    path = tmp_path / "early.duckdb"
    write_published(path, simulate(first="2012-05-01", last="2022-12-01", start="2016-01-01"))
    with duckdb.connect(str(path), read_only=True) as conn:
        inputs = read_published(conn)
        s = build_sample(inputs, "test-pilot")
        longer = build_sample(inputs, "test-pilot", pre_months=120)
    assert YOUTH_CARE_DATA_FROM == "2015-01"
    assert (s.pre_months, s.window_start) == (12, pd.Timestamp("2015-01-01"))
    assert (longer.pre_months, longer.window_start) == (12, pd.Timestamp("2015-01-01"))
    assert s.panel["month"].min() == pd.Timestamp("2015-01-01")


def test_the_plans_run_with_one_blas_thread():
    """Thousands of small fits run single-threaded (an order of magnitude faster on two
    cores than OpenBLAS's threads): every BLAS library loaded is limited while they run."""
    import scipy.linalg  # noqa: F401  (numpy's and scipy's OpenBLAS both loaded)
    from threadpoolctl import threadpool_info, threadpool_limits

    from pilotmonitor.evaluation.plan import _single_threaded_blas

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    with threadpool_limits(limits=2, user_api="blas"):  # whatever the environment says
        assert set(blas_threads()) == {2}
        with _single_threaded_blas():
            assert set(blas_threads()) == {1}
        assert set(blas_threads()) == {2}
