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
from concurrent.futures.process import BrokenProcessPool
from typing import Any, NamedTuple

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


class _Task(NamedTuple):
    """One unit of a pilot's plan: a pre-registered (outcome, estimator) pair, the design's
    minimum detectable effect, or the cost rows."""

    outcome: str
    name: str
    role: str
    kind: str = "pair"  # pair | design_mde | costs


def _tasks(pilot: Pilot) -> list[_Task]:
    tasks = [_Task(o, name, role) for o, name, role in preregistered_pairs(pilot)]
    plan = pilot.analysis_plan
    if OUTCOMES[plan.primary_outcome].kind == "count":
        # what the design could detect, stated beside the result
        tasks.append(_Task(plan.primary_outcome, "design_mde", "design", "design_mde"))
    tasks.append(_Task("", "cost_rows", "", "costs"))
    return tasks


def _context(pilot: Pilot, inputs: PublishedInputs) -> PlanContext | Exception:
    """The pilot's plan context, or why its sample cannot be built."""
    try:
        sample = build_sample(inputs, pilot.id, window=pilot.analysis_plan.window)
    except Exception as exc:  # noqa: BLE001 - every pre-registered pair says why
        return exc
    return PlanContext(pilot, pilot.analysis_plan, sample, inputs)


def _run_task(pilot: Pilot, ctx: PlanContext | Exception, task: _Task) -> list[dict[str, Any]]:
    """The task's rows; when the sample could not be built, each pair says why and the
    design and cost rows are left out."""
    if isinstance(ctx, Exception):
        if task.kind != "pair":
            return []
        return [not_estimable_row(pilot.id, task.outcome, task.role, task.name, task.name, ctx)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task.kind == "pair":
            rows = _run_pair(ctx, task.outcome, task.name, task.role)
        elif task.kind == "design_mde":
            rows = _run_pair(ctx, task.outcome, "design_mde", "design", design_mde)
        else:
            pilot_row = ctx.inputs.pilots[ctx.inputs.pilots["pilot_id"] == ctx.pilot.id].iloc[0]
            rows = cost_rows(ctx, pilot_row)
    described = ctx.sample.describe()
    for r in rows:
        if r["sample"] is None:
            r["sample"] = described
    return rows


def _finish(pilot: Pilot, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Multiple-testing correction over the pilot's rows, plan hash and seed on each."""
    plan = pilot.analysis_plan
    _adjust(rows, plan.multiple_testing, plan.alpha)
    digest = plan_hash(pilot)
    for r in rows:
        r["plan_hash"] = digest
        r["seed"] = plan.seed
    return rows


def run_pilot(pilot: Pilot, inputs: PublishedInputs) -> list[dict[str, Any]]:
    """Every pre-registered row of one pilot (see the module's design notes)."""
    ctx = _context(pilot, inputs)
    rows = [r for task in _tasks(pilot) for r in _run_task(pilot, ctx, task)]
    return _finish(pilot, rows)


RESULT_FRAME_COLUMNS = [*RESULT_COLUMNS, "plan_hash", "seed"]


# Workers pay their start (spawn, importing statsmodels and the estimators, the inputs sent
# over; about 1.3 s each) before the first fit: on the demo's 7,749 school-months the five
# plans took 6.2 s here against 7.3 s in two processes. On ZH+NH's 294,831 they take 36.9 s
# in two, most of it one plan's tasks, spread over both cores (the inputs are one
# school-month panel, so its rows size the work; between the two sizes not measured).
MIN_SCHOOL_MONTHS_FOR_WORKERS = 50_000


def run_plans(
    pilots: list[Pilot],
    inputs: PublishedInputs,
    progress: Callable[[str], None] | None = None,
    workers: int = 1,
) -> pd.DataFrame:
    """All pilots' plans as one long table (without run provenance). With ``workers`` > 1
    the plans' tasks (pairs, design and cost rows) run in that many processes: one
    pilot's plan on a large comparison pool outweighs all others (Alkmaar SOOS on 960
    schools: 113 of 131 s), so pilots as units would leave a core idle. Each estimator
    seeds from the plan, so rows do not depend on where they ran; rows in pilot and task
    order. A small panel (below MIN_SCHOOL_MONTHS_FOR_WORKERS) runs here. Within
    `pilotmonitor run` the tasks go to the run's helper processes, whatever the size."""
    from pilotmonitor import run_helpers

    if pilots and (helpers := run_helpers.current()) is not None:
        try:
            return as_result_frame(
                [row for rows in _run_in_helpers(pilots, inputs, helpers, progress) for row in rows]
            )
        except BrokenProcessPool as exc:  # a helper died (killed, out of memory): as below
            if progress:
                progress(f"the run's helper processes stopped ({exc}); estimating without them")
    if workers > 1 and pilots and len(inputs.school_month) >= MIN_SCHOOL_MONTHS_FOR_WORKERS:
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
# the plan contexts of the pilots whose tasks this worker ran: (pilot, context); tasks come
# longest first across pilots, so a worker goes back to a pilot (a sample is school-months
# of one pool: tens of MB at the national pool)
_worker_context: list[tuple[Pilot, PlanContext | Exception]] = []


def _install_inputs(inputs: PublishedInputs | None) -> None:
    global _worker_inputs
    _worker_inputs = inputs
    _worker_context.clear()


def _run_task_in_worker(pilot: Pilot, task: _Task) -> list[dict[str, Any]]:
    assert _worker_inputs is not None, "worker started without the published inputs"
    # Compared as a whole: two pilots may share an id and differ in their plan (its seed).
    ctx = next((c for known, c in _worker_context if known == pilot), None)
    if ctx is None:
        ctx = _context(pilot, _worker_inputs)
        _worker_context.append((pilot, ctx))
    with _single_threaded_blas():
        return _run_task(pilot, ctx, task)


def _run_in_workers(
    pilots: list[Pilot],
    inputs: PublishedInputs,
    workers: int,
    progress: Callable[[str], None] | None,
) -> list[list[dict[str, Any]]]:
    """Each pilot's rows, in the order of ``pilots``; the inputs cross to each worker once."""
    from pilotmonitor.worker_processes import spawned_pool

    with spawned_pool(workers, _install_inputs, (inputs,)) as executor:
        return _run_tasks(pilots, executor.submit, progress)


def _run_in_helpers(pilots, inputs: PublishedInputs, helpers, progress) -> list[list[dict]]:
    """As ``_run_in_workers``, in the run's helper processes (pilotmonitor/run_helpers.py):
    started with the run and warm by now, so even the demo's plans gain from two cores
    (5.2 s here against 3.0 s in the helpers). The inputs are dropped from the helpers
    afterwards (they live on for the rest of the run)."""
    helpers.each(_install_inputs, inputs)
    try:
        return _run_tasks(pilots, helpers.submit, progress)
    finally:
        helpers.each(_install_inputs, None)


def _run_tasks(pilots, submit, progress) -> list[list[dict]]:
    """Every task of every pilot handed to ``submit`` at once, the longest first
    (_submission_rank); each pilot's rows in its plan's order."""
    tasks = [(k, task) for k, pilot in enumerate(pilots) for task in _tasks(pilot)]
    for pilot in pilots:
        if progress:
            progress(f"analysis plan {pilot.id}")
    futures = {}
    for i in sorted(range(len(tasks)), key=lambda i: _submission_rank(tasks[i][1])):
        k, task = tasks[i]
        futures[i] = submit(_run_task_in_worker, pilots[k], task)
    rows: list[list[dict]] = [[] for _ in pilots]
    for i, (k, _) in enumerate(tasks):
        rows[k].extend(futures[i].result())
    return [_finish(pilot, pilot_rows) for pilot, pilot_rows in zip(pilots, rows, strict=True)]


# Tasks that take longest at a large comparison pool, longest first (Alkmaar SOOS on the
# national pool: synthetic DiD 12.3 s, the primary pair with its randomization inference
# and wild bootstrap 7.6 s, synthetic control 7.0 s, the national-pool Poisson 4.0 s (6.5 s
# for Hoogeveen), the cost rows 3.1 s, the negative binomial 2.5 s, the event study 1.7 s;
# every other task under 1 s). Submitted in plan order the two processes ended 8-10 s
# apart; longest first (LPT scheduling) they end together. Only the order changes: each
# estimator seeds from the plan, so rows do not depend on where or when they ran.
_LONGEST_FIRST = (
    "synthetic_did",
    "primary",
    "synthetic_control",
    "twfe_poisson_national_pool",
    "costs",
    "twfe_negative_binomial",
    "event_study",
)


def _submission_rank(task: _Task) -> int:
    for key in (task.name, task.role, task.kind):
        if key in _LONGEST_FIRST:
            return _LONGEST_FIRST.index(key)
    return len(_LONGEST_FIRST)


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
