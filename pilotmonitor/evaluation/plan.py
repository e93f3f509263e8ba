"""Run each pilot's pre-registered analysis plan and return one long results table.

The plan is data (``analysis_plan:`` in ``pilots/<id>.yml``, validated against the outcome
and estimator registries). Every pre-registered (outcome, estimator) pair gets a row; one
that cannot be estimated has ``estimable = false`` and the reason. Everything is
deterministic given the published data, the plan and ``seed``.

Design notes: docs/design/evaluation.md#pilotmonitorevaluationplanpy.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests
from threadpoolctl import threadpool_limits

from analyses import adjust_pvalues
from pilotmonitor.pilots import Pilot

from .cost_rows import cost_rows
from .estimator_runs import PlanContext, design_mde, not_estimable_row
from .estimators import ESTIMATORS
from .outcomes import OUTCOMES
from .sample import PublishedInputs, build_sample
from .spec import RESULT_COLUMNS, RESULT_SCHEMA, plan_hash, preregistered_pairs


def _run_pair(
    ctx: PlanContext, outcome: str, name: str, role: str, function=None
) -> list[dict[str, Any]]:
    ctx = PlanContext(ctx.pilot, ctx.plan, ctx.sample, ctx.inputs, preregistered_as=name)
    try:
        rows = (function or ESTIMATORS[name].function())(ctx, OUTCOMES[outcome], role)
    except Exception as exc:  # noqa: BLE001 - recorded in the table
        return [not_estimable_row(ctx.pilot.id, outcome, role, name, name, exc)]
    if not rows:  # an estimator must say something for each pair it was given
        return [
            not_estimable_row(
                ctx.pilot.id, outcome, role, name, name, "the estimator produced no row"
            )
        ]
    return rows


def _adjust(rows: list[dict[str, Any]], method: str, alpha: float) -> None:
    family = [
        r
        for r in rows
        if r["role"] in ("primary", "secondary")
        and r["p_value_wild_bootstrap"] is not None
        and np.isfinite(r["p_value_wild_bootstrap"])
    ]
    if not family:
        return
    pvals = [float(r["p_value_wild_bootstrap"]) for r in family]
    if method == "none":
        adjusted = pvals
    elif method in ("holm", "fdr_bh"):
        adjusted = adjust_pvalues({r["outcome"]: p for r, p in zip(family, pvals)}, method, alpha)[
            "p_adjusted"
        ].tolist()
    else:  # bonferroni: not in analyses.multiple_testing
        adjusted = multipletests(pvals, alpha=alpha, method="bonferroni")[1].tolist()
    for r, p in zip(family, adjusted):
        r["p_value_adjusted"] = float(p)
        r["details"] = {
            **(r["details"] or {}),
            "multiple_testing": f"{method} over {len(family)} outcomes on wild-bootstrap p-values",
        }


def run_pilot(pilot: Pilot, inputs: PublishedInputs) -> list[dict[str, Any]]:
    """Every pre-registered row of one pilot (see the module's design notes)."""
    plan = pilot.analysis_plan
    pairs = preregistered_pairs(pilot)
    try:
        s = build_sample(inputs, pilot.id, window=plan.window)
    except Exception as exc:  # noqa: BLE001 - every pre-registered pair says why
        rows = [not_estimable_row(pilot.id, o, role, name, name, exc) for o, name, role in pairs]
    else:
        ctx = PlanContext(pilot, plan, s, inputs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = [r for o, name, role in pairs for r in _run_pair(ctx, o, name, role)]
            if (
                OUTCOMES[plan.primary_outcome].kind == "count"
            ):  # what the design could detect, stated beside the result
                rows += _run_pair(ctx, plan.primary_outcome, "design_mde", "design", design_mde)
            pilot_row = inputs.pilots[inputs.pilots["pilot_id"] == pilot.id].iloc[0]
            rows += cost_rows(ctx, pilot_row)
        for r in rows:
            if r["sample"] is None:
                r["sample"] = s.describe()
    _adjust(rows, plan.multiple_testing, plan.alpha)
    digest = plan_hash(pilot)
    for r in rows:
        r["plan_hash"] = digest
        r["seed"] = plan.seed
    return rows


RESULT_FRAME_COLUMNS = [*RESULT_COLUMNS, "plan_hash", "seed"]


def run_plans(
    pilots: list[Pilot],
    inputs: PublishedInputs,
    progress: Callable[[str], None] | None = None,
    workers: int = 1,
) -> pd.DataFrame:
    """All pilots' plans as one long table (without run provenance). With ``workers`` > 1
    the pilots run in that many processes (each pilot's plan has its own seeds, so the
    rows do not depend on where it ran), rows in pilot order."""
    if workers > 1 and len(pilots) > 1:
        return as_result_frame(
            [row for rows in _run_in_workers(pilots, inputs, workers, progress) for row in rows]
        )
    rows: list[dict[str, Any]] = []
    with _single_threaded_blas():
        for pilot in pilots:
            if progress:
                progress(f"analysis plan {pilot.id}")
            rows.extend(run_pilot(pilot, inputs))
    return as_result_frame(rows)


def _single_threaded_blas():
    """One BLAS thread while the plans run. The models are small (hundreds of rows, about
    100 fixed effects) and fitted hundreds of times (randomization inference); on such
    matrices multi-threaded OpenBLAS is an order of magnitude slower on a loaded 2-core
    machine (measured: one Poisson TWFE 1.6 s against 0.09 s). Results change by summation
    order at most (the determinism test runs under the same limit)."""
    return threadpool_limits(limits=1, user_api="blas")


_worker_inputs: PublishedInputs | None = None  # set in each worker by _install_inputs


def _install_inputs(inputs: PublishedInputs) -> None:
    global _worker_inputs
    _worker_inputs = inputs


def _run_pilot_in_worker(pilot: Pilot) -> list[dict[str, Any]]:
    assert _worker_inputs is not None, "worker started without the published inputs"
    with _single_threaded_blas():
        return run_pilot(pilot, _worker_inputs)


def _run_in_workers(
    pilots: list[Pilot],
    inputs: PublishedInputs,
    workers: int,
    progress: Callable[[str], None] | None,
) -> list[list[dict[str, Any]]]:
    """Each pilot's rows, in the order of ``pilots``; the inputs cross to each worker once."""
    from pilotmonitor.worker_processes import spawned_pool

    with spawned_pool(min(workers, len(pilots)), _install_inputs, (inputs,)) as executor:
        futures = []
        for pilot in pilots:
            if progress:
                progress(f"analysis plan {pilot.id}")
            futures.append(executor.submit(_run_pilot_in_worker, pilot))
        return [future.result() for future in futures]


def as_result_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as the typed results table (details as sorted JSON)."""
    table = pd.DataFrame(rows, columns=RESULT_FRAME_COLUMNS)
    table["details"] = [
        json.dumps(_jsonable(d), sort_keys=True) if d is not None else None
        for d in table["details"]
    ]
    for column, kind in {**RESULT_SCHEMA, "seed": "BIGINT"}.items():
        if kind == "DOUBLE":
            table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
        elif kind in ("BIGINT", "INTEGER"):
            table[column] = pd.to_numeric(table[column], errors="coerce").astype("Int64")
        elif kind == "BOOLEAN":
            table[column] = table[column].astype(bool)
    return table


def _jsonable(value):
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else str(v)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
