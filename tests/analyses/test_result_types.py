"""The typed, frozen results of the few-cluster tests and did_2x2's default variance."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from analyses import did_2x2, event_study, randomization_inference, wild_cluster_bootstrap
from analyses.inference import twfe_randomization_inference, wild_cluster_bootstrap_wald
from analyses.results import BootstrapResult, PretrendTest, RandomizationResult, WaldBootstrapResult


def _panel(seed=0, n_units=8, n_periods=10):
    rng = np.random.default_rng(seed)
    u, t = np.meshgrid(np.arange(n_units), np.arange(n_periods), indexing="ij")
    post = (t >= 5).astype(int)
    d = ((u < 3) & (t >= 5)).astype(int)
    y = rng.normal(0, 1, n_units)[u] + 0.1 * t + 0.8 * d + rng.normal(0, 1, u.shape)
    g = np.where(u.ravel() < 3, 5, np.nan)
    return pd.DataFrame(
        {
            "u": u.ravel(),
            "t": t.ravel(),
            "post": post.ravel(),
            "d": d.ravel(),
            "y": y.ravel(),
            "treated": (u.ravel() < 3).astype(int),
            "g": g,
        }
    )


def test_bootstrap_result_is_frozen_with_draws_and_se():
    df = _panel()
    b = wild_cluster_bootstrap(df, outcome="y", unit="u", time="t", treatment="d")
    assert isinstance(b, BootstrapResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.p_value = 0.0
    assert b.full_enumeration and b.n_boot == 2**8 and len(b.draws) == b.n_boot
    # p = share of bootstrap |t*| >= |t| (the draws are the statistics the p-value counts)
    assert b.p_value == pytest.approx(
        np.mean(
            np.abs(b.draws)
            >= abs(b.t_stat * np.sqrt((8 / 7) * (len(df) - 1) / (len(df) - (1 + 9 + 1)))) - 1e-9
        )
    )
    assert b.std_error == pytest.approx(b.estimate / b.t_stat)
    d = b.to_dict()
    assert "draws" not in d and d["p_value"] == b.p_value and d["model"] == b.model
    assert len(b.to_dict(draws=True)["draws"]) == b.n_boot
    assert "draws" not in repr(b)
    again = wild_cluster_bootstrap(df, outcome="y", unit="u", time="t", treatment="d")
    assert again == b  # equality ignores the array


def test_randomization_and_wald_and_pretrend_results():
    df = _panel()
    ri = twfe_randomization_inference(df, "y", "u", "t", "post", [0, 1, 2])
    assert isinstance(ri, RandomizationResult) and ri.full_enumeration
    assert ri.n_assignments == 56 == len(ri.draws) and ri.p_value == ri.rank / 56
    assert ri.method.startswith("randomization inference, linear TWFE coefficient")

    def est(data, treated):
        return float(data.loc[data.u.isin(treated) & (data.post == 1), "y"].mean())

    r2 = randomization_inference(df, est, "u", [0, 1, 2], n_permutations=20, seed=3)
    assert not r2.full_enumeration and r2.p_value == (1 + r2.rank) / 21

    w = wild_cluster_bootstrap_wald(df, "y ~ d + C(u) + C(t)", ["d"], "u")
    assert isinstance(w, WaldBootstrapResult) and len(w.draws) == w.n_boot == 256
    assert w.p_value == pytest.approx(np.mean(w.draws >= w.statistic * (1 - 1e-10)))

    es = event_study(df, "y", "u", "t", "g", leads=3, lags=2, pretrend_bootstrap=999)
    pt = es.pretrend
    assert isinstance(pt, PretrendTest) and pt.test == "F" and pt.leads == (-3, -2)
    assert len(pt.bootstrap_draws) == pt.bootstrap_n_boot == 256
    assert set(pt.to_dict()) >= {"statistic", "df", "p_value", "bootstrap_p_value"}


def test_did_2x2_runs_on_defaults_with_hc1_and_clusters_when_given():
    df = _panel()
    r = did_2x2(df, "y", "treated", "post")
    assert (
        r.details["cov_type"] == "hc1" and r.n_clusters is None and r.details["df"] == len(df) - 4
    )
    c = did_2x2(df, "y", "treated", "post", cluster="u")
    assert c.details["cov_type"] == "cluster" and c.n_clusters == 8 and c.details["df"] == 7
    assert c.estimate == pytest.approx(r.estimate)
    with pytest.raises(ValueError, match="cluster"):
        did_2x2(df, "y", "treated", "post", cov_type="cluster")
