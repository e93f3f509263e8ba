"""Re-run a published estimate from its provenance and say whether the numbers are
identical, and if not, what changed.

A result is named ``<run id>[:<pilot id>[:<outcome>[:<estimator>]]]`` or just
``<pilot id>`` (its primary estimate in the latest run). The stored rows come from
``results.effect_estimates_history``. The plan stored with the run
(``results.analysis_plans``; the current one if the run predates that table) is re-run
on the *current* published data (an evaluation round's run: on the round's frozen data,
``pilotmonitor.rounds.freeze``), and every number of each named row is compared
exactly (floats bit for bit; NaN equals NaN). The provenance is compared too, so a
difference is explained: the input data (hash of the published columns the analysis
reads), the code version (git commit), the plan (hash of the pilot's analysis plan) or
the package versions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from pilotmonitor.pilots import AnalysisPlan, Pilot

from .plan import RESULT_FRAME_COLUMNS, plan_hash, run_pilot
from .sample import read_published
from .spec import NUMBER_COLUMNS
from .store import code_version, package_versions, stored_plan

NUMBERS = NUMBER_COLUMNS


class ResultNotFound(LookupError):
    pass


@dataclass
class Reproduction:
    selector: str
    run_id: str
    rows_compared: int
    differences: list[dict] = field(default_factory=list)  # per differing number
    provenance_changes: list[str] = field(default_factory=list)
    inputs_source: str = "the current published data"

    @property
    def identical(self) -> bool:
        return self.rows_compared > 0 and not self.differences

    def explanation(self) -> str:
        if self.identical:
            text = (
                f"identical: {self.rows_compared} estimate(s) of run {self.run_id} reproduced "
                f"exactly on {self.inputs_source}"
            )
            if self.provenance_changes:
                text += " (despite: " + "; ".join(self.provenance_changes) + ")"
            return text
        causes = (
            "; ".join(self.provenance_changes)
            or "no provenance change found: non-determinism in the analysis"
        )
        return (
            f"DIFFERENT: {len(self.differences)} number(s) in {self.rows_compared} estimate(s) of "
            f"run {self.run_id} changed. What changed: {causes}"
        )


def _parse(selector: str, conn: duckdb.DuckDBPyConnection) -> tuple[str, dict]:
    parts = selector.split(":")
    history = "results.effect_estimates_history"
    try:
        runs = {r[0] for r in conn.execute(f"select distinct run_id from {history}").fetchall()}
    except duckdb.CatalogException as exc:
        raise ResultNotFound(
            "no analysis results in the warehouse yet (results.effect_estimates_history)"
        ) from exc
    if parts[0] in runs:
        keys = dict(zip(("pilot_id", "outcome", "estimator"), parts[1:]))
        return parts[0], keys
    if (
        len(parts) == 1
    ):  # a pilot id: its primary estimate in the latest pipeline run (not an evaluation round)
        from pilotmonitor.rounds.registry import not_a_round_run_sql

        row = conn.execute(
            f"select run_id from {history} where pilot_id = ? and role = 'primary' and "
            f"{not_a_round_run_sql(conn)} order by computed_at desc limit 1",
            [parts[0]],
        ).fetchone()
        if row:
            return row[0], {"pilot_id": parts[0], "role": "primary"}
    raise ResultNotFound(
        f"no result {selector!r}: give a run id (see results.effect_estimates_history), "
        "optionally :pilot[:outcome[:estimator]], or a pilot id"
    )


def _same(a, b) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)) or a is pd.NA:
        return b is None or (isinstance(b, float) and math.isnan(b)) or b is pd.NA
    if b is None or b is pd.NA or (isinstance(b, float) and math.isnan(b)):
        return False
    return float(a) == float(b)


def _inputs(conn: duckdb.DuckDBPyConnection, run_id: str):
    """What the run analysed: an evaluation round's frozen data (pilotmonitor.rounds), or
    the current published data for a pipeline run."""
    from pilotmonitor.rounds.freeze import frozen_inputs
    from pilotmonitor.rounds.registry import round_of_run

    found = round_of_run(conn, run_id)
    if found is None:
        return read_published(conn), "the current published data"
    return frozen_inputs(
        conn, found.name
    ), f"round {found.name}'s frozen data (as of {found.as_of})"


def reproduce(conn: duckdb.DuckDBPyConnection, selector: str, pilots: list[Pilot]) -> Reproduction:
    run_id, keys = _parse(selector, conn)
    where = " and ".join(["run_id = ?", *[f"{k} = ?" for k in keys]])
    stored = conn.execute(
        f"select * from results.effect_estimates_history where {where} order by pilot_id, role, "
        "outcome, estimator",
        [run_id, *keys.values()],
    ).df()
    if stored.empty:
        raise ResultNotFound(f"run {run_id} has no rows matching {keys}")
    by_id = {p.id: p for p in pilots}
    inputs, source = _inputs(conn, run_id)
    out = Reproduction(selector, run_id, len(stored), inputs_source=source)
    first = stored.iloc[0]
    if inputs.content_hash() != first["input_hash"]:
        out.provenance_changes.append(
            f"data: the published inputs changed (input hash {first['input_hash'][:12]} -> "
            f"{inputs.content_hash()[:12]})"
        )
    now = code_version()
    if now != first["code_version"]:
        out.provenance_changes.append(f"code: {first['code_version']} -> {now}")
    if package_versions() != first["package_versions"]:
        before, after = json.loads(first["package_versions"]), json.loads(package_versions())
        changed = [
            f"{k} {before.get(k)} -> {after.get(k)}"
            for k in sorted(set(before) | set(after))
            if before.get(k) != after.get(k)
        ]
        out.provenance_changes.append("packages: " + ", ".join(changed))
    for pilot_id, rows in stored.groupby("pilot_id", sort=True):
        pilot = by_id.get(pilot_id)
        if pilot is None:
            out.provenance_changes.append(f"plan: pilot {pilot_id} is no longer in the registry")
            out.differences.append(
                {"pilot_id": pilot_id, "column": "*", "stored": "present", "now": "missing"}
            )
            continue
        digest = rows["plan_hash"].iloc[0]
        if plan_hash(pilot) != digest:
            then = stored_plan(conn, pilot_id, digest)
            if then is not None:  # re-run what was run, and say the registry has moved on
                pilot = pilot.model_copy(
                    update={"analysis_plan": AnalysisPlan.model_validate(then)}
                )
                out.provenance_changes.append(
                    f"plan: {pilot_id}'s analysis plan changed since ({digest[:12]} -> "
                    f"{plan_hash(by_id[pilot_id])[:12]}); re-run with the stored plan"
                )
            else:
                out.provenance_changes.append(
                    f"plan: {pilot_id}'s analysis plan changed ({digest[:12]} -> "
                    f"{plan_hash(pilot)[:12]})"
                )
        fresh = pd.DataFrame(run_pilot(pilot, inputs), columns=RESULT_FRAME_COLUMNS)
        for _, old in rows.iterrows():
            match = fresh[
                (fresh["outcome"] == old["outcome"])
                & (fresh["role"] == old["role"])
                & (fresh["estimator"] == old["estimator"])
            ]
            if match.empty:
                out.differences.append(
                    {
                        "pilot_id": pilot_id,
                        "outcome": old["outcome"],
                        "estimator": old["estimator"],
                        "column": "*",
                        "stored": "present",
                        "now": "missing",
                    }
                )
                continue
            new = match.iloc[0]
            for column in NUMBERS:
                if not _same(old[column], new[column]):
                    out.differences.append(
                        {
                            "pilot_id": pilot_id,
                            "outcome": old["outcome"],
                            "estimator": old["estimator"],
                            "column": column,
                            "stored": old[column],
                            "now": new[column],
                        }
                    )
    return out
