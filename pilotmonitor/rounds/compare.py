"""What changed since the previous round of the same pilot (the previous round: the
pilot's round with the latest as-of date before this one's):

* the primary and secondary estimates of both rounds side by side (their frozen rows in
  ``results.effect_estimates_history``);
* the data added: per round the last complete month, the pilot months observed, and the
  school-months and pupil-months of the pilot's schools (pilot and comparison schools
  with pupils), and the difference;
* plan changes: every parameter that differs between the two rounds' stored plans
  (:func:`pilotmonitor.evaluation.plan_view.diff`).

Nothing here is released as it is: the round's report passes the estimates and the data
table through disclosure control (``pilotmonitor.report.round_section``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from . import registry
from .freeze import SCHEMA
from .registry import Round

ESTIMATE_COLUMNS = [
    "outcome",
    "role",
    "estimator",
    "estimable",
    "not_estimable_reason",
    "estimate",
    "ci_lower",
    "ci_upper",
    "p_value_wild_bootstrap",
    "n_obs",
    "n_clusters",
    "details",
]


@dataclass
class RoundComparison:
    this: Round
    previous: Round | None
    # round_name + ESTIMATE_COLUMNS, primary and secondary rows of both rounds
    estimates: pd.DataFrame
    data: pd.DataFrame  # round_name, data_through, pilot_months, school_months, pupil_months
    plan_changes: list[tuple[str, Any, Any]]


def _estimates(conn: duckdb.DuckDBPyConnection, r: Round) -> pd.DataFrame:
    rows = conn.execute(
        f"select {', '.join(ESTIMATE_COLUMNS)} from results.effect_estimates_history where run_id "
        "= ? and pilot_id = ? and role in ('primary', 'secondary') order by role, outcome",
        [r.run_id, r.pilot_id],
    ).df()
    return rows.assign(round_name=r.name)[["round_name", *ESTIMATE_COLUMNS]]


def _data(conn: duckdb.DuckDBPyConnection, r: Round) -> dict:
    school_months, pupil_months = conn.execute(
        f"select count(*), coalesce(sum(pupil_months), 0) from {SCHEMA}.fct_school_month as sm "
        "where sm.round_name = ? and sm.pupil_months > 0 and sm.school_id in (select school_id "
        f"from {SCHEMA}.dim_pilot_assignment where round_name = ? and pilot_id = ?)",
        [r.name, r.name, r.pilot_id],
    ).fetchone()
    first = conn.execute(
        f"select first_treated_month from {SCHEMA}.dim_pilot where round_name = ? and pilot_id = ?",
        [r.name, r.pilot_id],
    ).fetchone()[0]
    pilot_months = max(0, (pd.Period(r.data_through, "M") - pd.Period(first, "M")).n + 1)
    return {
        "round_name": r.name,
        "data_through": r.data_through,
        "pilot_months": pilot_months,
        "school_months": int(school_months),
        "pupil_months": float(pupil_months),
    }


def compare(conn: duckdb.DuckDBPyConnection, this: Round) -> RoundComparison:
    from pilotmonitor.evaluation.plan_view import diff
    from pilotmonitor.evaluation.store import stored_plan

    previous = registry.previous_round(conn, this)
    rounds = [r for r in (previous, this) if r is not None]
    estimates = pd.concat([_estimates(conn, r) for r in rounds], ignore_index=True)
    data = pd.DataFrame([_data(conn, r) for r in rounds])
    changes = []
    if previous is not None:
        changes = diff(
            stored_plan(conn, previous.pilot_id, previous.plan_hash),
            stored_plan(conn, this.pilot_id, this.plan_hash),
        )
    return RoundComparison(this, previous, estimates, data, changes)
