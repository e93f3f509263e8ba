"""What ``pilotmonitor plan show`` and ``plan diff`` print: a pilot's effective plan
(every parameter, defaults filled in, what a pre-registration document quotes) and the
differences between the plans behind two runs, or a run and the registry now."""

from __future__ import annotations

from typing import Any

import duckdb
import yaml

from pilotmonitor.pilots import Pilot

from .estimators import ESTIMATORS
from .outcomes import OUTCOMES
from .spec import effective_plan, plan_hash, preregistered_pairs
from .store import PLANS_TABLE, SCHEMA, TABLE, stored_plan


class PlanNotFound(LookupError):
    pass


def show(pilot: Pilot) -> str:
    """The effective plan as YAML, its hash, the pre-registered pairs and what each
    outcome and estimator means."""
    pairs = preregistered_pairs(pilot)
    lines = [
        f"# Effective analysis plan of {pilot.id} ({pilot.name})",
        f"# plan_hash: {plan_hash(pilot)}",
        "# every parameter, defaults filled in (pilotmonitor/pilots.py, AnalysisPlan)",
        yaml.safe_dump(
            {"analysis_plan": effective_plan(pilot)}, sort_keys=False, allow_unicode=True
        ).rstrip(),
        "",
        "# Pre-registered (outcome x estimator) pairs; each yields its rows or a not-estimable "
        "row:",
    ]
    lines += [f"#   {role:<10} {outcome} x {name}" for outcome, name, role in pairs]
    if OUTCOMES[pilot.analysis_plan.primary_outcome].kind == "count":
        lines.append(
            f"#   design     {pilot.analysis_plan.primary_outcome} x design_mde (minimal "
            f"detectable rate ratio at power {pilot.analysis_plan.design_power:g}, from the "
            "pre-period)"
        )
    lines.append(
        "#   costs      avoided cost, net savings, avoided referrals, cost per avoided referral x "
        "cost_effectiveness"
    )
    lines += ["", "# Outcomes:"]
    lines += [
        f"#   {o}: {OUTCOMES[o].description} (better: {OUTCOMES[o].better})"
        for o in dict.fromkeys(o for o, _, _ in pairs)
    ]
    lines += ["", "# Estimators:"]
    lines += [
        f"#   {e}: {ESTIMATORS[e].description}" for e in dict.fromkeys(e for _, e, _ in pairs)
    ]
    return "\n".join(lines)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def diff(old: dict | None, new: dict | None) -> list[tuple[str, Any, Any]]:
    """(parameter path, old value, new value) for every parameter that differs;
    a plan that is absent on one side is one ("(plan)", ...) entry."""
    if old is None or new is None:
        return (
            []
            if old is new
            else [
                (
                    "(plan)",
                    "absent" if old is None else "present",
                    "absent" if new is None else "present",
                )
            ]
        )
    a, b = _flatten(old), _flatten(new)
    return [
        (k, a.get(k, "(not set)"), b.get(k, "(not set)"))
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


def run_plans(conn: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, dict | None]:
    """pilot id -> the effective plan a stored run used (None when the run predates the
    plans table)."""
    try:
        rows = conn.execute(
            f"select distinct pilot_id, plan_hash from {SCHEMA}.{TABLE}_history where run_id = ?",
            [run_id],
        ).fetchall()
    except duckdb.CatalogException:
        rows = []
    if not rows:
        raise PlanNotFound(f"no run {run_id!r} in {SCHEMA}.{TABLE}_history")
    return {pilot_id: stored_plan(conn, pilot_id, digest) for pilot_id, digest in rows}


def latest_run(conn: duckdb.DuckDBPyConnection) -> str:
    try:
        from pilotmonitor.rounds.registry import (
            not_a_round_run_sql,  # an evaluation round is not the latest run
        )

        row = conn.execute(
            f"select run_id from {SCHEMA}.{TABLE}_history where {not_a_round_run_sql(conn)} "
            "order by computed_at desc limit 1"
        ).fetchone()
    except duckdb.CatalogException:
        row = None
    if row is None:
        raise PlanNotFound(
            f"no analysis run in the warehouse yet ({SCHEMA}.{TABLE}_history, "
            f"{SCHEMA}.{PLANS_TABLE})"
        )
    return row[0]


def diff_plans(
    before: dict[str, dict | None], after: dict[str, dict | None]
) -> dict[str, list[tuple[str, Any, Any]]]:
    """Per pilot in either side, the parameters that changed (pilots without changes left out)."""
    out = {}
    for pilot_id in sorted(set(before) | set(after)):
        changes = diff(before.get(pilot_id), after.get(pilot_id))
        if changes:
            out[pilot_id] = changes
    return out
