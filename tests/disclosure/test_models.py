"""Model outputs: residual degrees of freedom at least 10 (ACRO's MinimumDoFCheck)."""

import numpy as np
import pandas as pd
import statsmodels.api as sm

from pilotmonitor.disclosure import Release


def estimates(**columns):
    base = {
        "outcome": ["referrals"],
        "estimate": [-0.8],
        "std_error": [0.3],
        "ci_lower": [-1.4],
        "ci_upper": [-0.2],
    }
    return pd.DataFrame({**base, **{k: [v] for k, v in columns.items()}})


def test_model_with_five_residual_df_fails(release: Release):
    out = release.model("effect_estimates", estimates(n_obs=8, df_resid=5))
    assert out.status == "fail"
    assert any("below 10" in r and "lowest 5" in r for r in out.reasons)
    assert next(c for c in out.checks if c["rule"] == "dof")["cells_flagged"] == 1


def test_model_with_500_residual_df_passes(release: Release):
    out = release.model("effect_estimates", estimates(n_obs=503, df_resid=500))
    assert out.status == "pass", out.reasons
    assert out.table["estimate"].tolist() == [-0.8]


def test_df_from_n_obs_and_n_params(release: Release):
    assert release.model("small", estimates(n_obs=12, n_params=4)).status == "fail"
    assert release.model("large", estimates(n_obs=120, n_params=4)).status == "pass"


def test_model_without_df_information_needs_review(release: Release):
    out = release.model("unknown", estimates(n_obs=120))
    assert out.status == "review" and "cannot be judged" in out.reasons[0]


def test_few_clusters_need_review(release: Release):
    out = release.model("clustered", estimates(n_obs=2000, df_resid=1990, n_clusters=6))
    assert out.status == "review"
    assert next(c for c in out.checks if c["rule"] == "cluster_dof")["outcome"] == "review"


def test_fitted_statsmodels_results_are_accepted(release: Release):
    rng = np.random.default_rng(0)
    x = sm.add_constant(rng.normal(size=(8, 2)))
    y = rng.normal(size=8)
    small = sm.OLS(y, x).fit()  # 8 observations, 3 parameters: 5 residual df
    assert release.model("ols_small", small).status == "fail"
    x = sm.add_constant(rng.normal(size=(200, 2)))
    assert release.model("ols_large", sm.OLS(rng.normal(size=200), x).fit()).status == "pass"


def test_provenance_digests_are_not_pseudonyms_but_pseudonyms_are(release: Release, pseudonymiser):
    digest = "ab" * 32
    ok = release.model(
        "with_provenance", estimates(n_obs=503, df_resid=500, input_hash=digest, plan_hash=digest)
    )
    assert ok.status == "pass", ok.reasons
    assert "provenance" in next(c for c in ok.checks if c["rule"] == "identifiers")["detail"]
    leaked = estimates(n_obs=503, df_resid=500, unit=pseudonymiser.pseudonym("bsn", "999900006"))
    assert release.model("with_pseudonym", leaked).status == "fail"


def test_minimum_and_maximum_columns_fail(release: Release):
    out = release.model("with_extremes", estimates(n_obs=503, df_resid=500, max_cost=12000.0))
    assert out.status == "fail" and any("forbidden statistic" in r for r in out.reasons)


def test_residual_df_counts_every_estimated_parameter():
    from pilotmonitor.disclosure.models import residual_df

    # a linear fit records its parameters, fixed effects included
    assert residual_df({"n_obs": 480, "details": '{"k_all_parameters": 58}'}) == 422
    # otherwise: one per school and per period plus the effect (8 schools x 60 months)
    assert residual_df({"n_obs": 480, "n_clusters": 8, "details": "{}"}) == 480 - (8 + 60 + 1)
    assert residual_df({"n_obs": None}) is None
