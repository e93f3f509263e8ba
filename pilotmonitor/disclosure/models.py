"""Model outputs: residual degrees of freedom, as ACRO's MinimumDoFCheck.

ACRO checks a fitted statsmodels model it ran itself (acro.ols, acro.logit, ...).
Our effect estimates are computed in the analysis plan (TWFE, bootstraps, randomisation
inference) and arrive as a table of estimates, so the same rule is applied to the
table's columns: df_resid, or n_obs - n_params when df_resid is absent. A statsmodels
results object (anything with df_resid and nobs) is accepted too.

With cluster-robust inference the effective degrees of freedom are about
n_clusters - 1; when the table has n_clusters and that is below the threshold the
output goes to review (not fail: the residual df rule itself is met).
"""

from __future__ import annotations

import json
import math

import pandas as pd

from .common import extreme_value_check, identifier_check
from .outcome import FAIL, PASS, REVIEW, CheckedOutput, check, finish
from .rules import DisclosureRules

PROVENANCE_DIGESTS = ("input_hash", "plan_hash")


def residual_df(row) -> float | None:
    """Residual degrees of freedom of the model behind one results row (for disclosure
    control): n_obs minus every estimated parameter, fixed effects included. Linear fits
    record ``k_all_parameters`` in details; otherwise (Poisson TWFE, event studies) one
    parameter per school and per period plus the effect, periods = n_obs / schools."""
    n_obs = row.get("n_obs")
    if n_obs is None or pd.isna(n_obs):
        return None
    try:
        details = json.loads(row.get("details") or "{}")
    except (TypeError, ValueError):
        details = {}
    if isinstance(details, dict) and details.get("k_all_parameters") is not None:
        return float(n_obs) - float(details["k_all_parameters"])
    clusters = row.get("n_clusters")
    g = float(clusters) if clusters is not None and not pd.isna(clusters) and clusters > 0 else 1.0
    return float(n_obs) - (g + math.ceil(float(n_obs) / g) + 1)


def estimates_frame(estimates) -> pd.DataFrame:
    """A DataFrame of estimates from a DataFrame or a fitted statsmodels results object."""
    if isinstance(estimates, pd.DataFrame):
        return estimates.reset_index(drop=not any(n is not None for n in estimates.index.names))
    if hasattr(estimates, "df_resid") and hasattr(estimates, "params"):
        params = pd.Series(estimates.params)
        return pd.DataFrame(
            {
                "term": [str(t) for t in params.index],
                "estimate": params.to_numpy(),
                "n_obs": float(getattr(estimates, "nobs", float("nan"))),
                "df_resid": float(estimates.df_resid),
            }
        )
    raise TypeError("model(): give a DataFrame of estimates or a fitted statsmodels results object")


def check_model(
    name: str,
    estimates,
    rules: DisclosureRules,
    provenance_columns: tuple[str, ...] = PROVENANCE_DIGESTS,
) -> CheckedOutput:
    table = estimates_frame(estimates)
    t = rules.min_df_resid
    if "df_resid" in table.columns:
        dof, source = pd.to_numeric(table["df_resid"], errors="coerce"), "df_resid"
    elif {"n_obs", "n_params"} <= set(table.columns):
        dof, source = (
            pd.to_numeric(table["n_obs"], errors="coerce")
            - pd.to_numeric(table["n_params"], errors="coerce"),
            "n_obs - n_params",
        )
    else:
        dof, source = None, None

    checks, reasons = [], []
    if dof is None:
        checks.append(
            check("dof", t, len(table), len(table), REVIEW, "no df_resid, nor n_obs and n_params")
        )
        reasons.append(
            "residual degrees of freedom cannot be judged: the table has no df_resid (or n_obs "
            "and n_params); an output checker must confirm"
        )
    else:
        low, unknown = dof.lt(t), dof.isna()
        outcome = FAIL if low.any() else REVIEW if unknown.any() else PASS
        checks.append(
            check(
                "dof",
                t,
                len(table),
                int(low.sum() + unknown.sum()),
                outcome,
                f"{source}: minimum {dof.min():g}"
                if dof.notna().any()
                else f"{source}: all missing",
            )
        )
        if low.any():
            reasons.append(
                f"dof: {int(low.sum())} of {len(table)} estimates have residual degrees of "
                f"freedom below {t} (lowest {dof.min():g}); the model is close to a lookup table"
            )
        if unknown.any():
            reasons.append(
                f"dof: {int(unknown.sum())} estimates have no residual degrees of freedom; an "
                "output checker must confirm"
            )

    if "n_clusters" in table.columns:
        clusters = pd.to_numeric(table["n_clusters"], errors="coerce")
        few = (clusters - 1).lt(t)
        checks.append(
            check(
                "cluster_dof",
                t,
                len(table),
                int(few.sum()),
                REVIEW if few.any() else PASS,
                "n_clusters - 1 (effective df with clustered errors)",
            )
        )
        if few.any():
            reasons.append(
                f"cluster dof: {int(few.sum())} estimates rest on fewer than {t + 1} clusters; an "
                "output checker should look"
            )

    exempt = tuple(c for c in provenance_columns if c in table.columns)
    for entry, why in (identifier_check(table, exempt), extreme_value_check(table)):
        checks.append(entry)
        reasons += why
    return finish(
        name,
        "model",
        checks,
        reasons,
        table=table,
        suppressed=pd.DataFrame(False, index=table.index, columns=table.columns),
    )
