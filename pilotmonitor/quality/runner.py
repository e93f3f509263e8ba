"""Validate raw deliveries against their suites with Great Expectations, on a data frame
(pandas engine) or in the warehouse (warehouse_engine); outcomes alike from both.

Deliveries not yet validated with the current suite hash are read in chunks and validated
in one GX call per chunk; each delivery gets its own verdict, and time is proportional to
the new rows. Outcomes never carry identifiers.

Design notes: docs/design/quality.md#pilotmonitorqualityrunnerpy.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache

import numpy as np
import pandas as pd

from pilotmonitor.quality import suites as S

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
logging.getLogger("great_expectations").setLevel(logging.ERROR)

EXAMPLES = 5
_LONG_NUMBER = re.compile(r"\d{8,10}")
ROW_COUNT = "expect_table_row_count_to_be_between"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class Outcome:
    delivery_id: str
    path: str
    source: str
    table: str
    expectation_type: str
    column: str | None
    severity: str
    success: bool
    unexpected_count: int | None
    unexpected_percent: float | None
    examples: list[str]
    steward_message: str
    rows_validated: int
    suite_hash: str
    validated_at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class DeliveryInfo:
    delivery_id: str
    path: str
    source: str
    sender: str
    period: str
    delivered_on: object = None


# --- identifiers never leave the runner ---------------------------------------------


def _is_identifying(column: str | None) -> bool:
    return bool(column) and "pseudonym" in column.lower()


def safe_example(value) -> str | None:
    if isinstance(value, dict):
        kept = {k: v for k, v in value.items() if not _is_identifying(k) and k != "delivery_id"}
        if not kept:
            return None
        value = ", ".join(f"{k}={_fmt(v)}" for k, v in kept.items())
    else:
        value = _fmt(value)
    return _LONG_NUMBER.sub("<number>", value)[:80]


def _fmt(value) -> str:
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.strftime("%Y-%m-%d")
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "<missing>"
    return str(value)


def examples_of(values, column: str | None) -> list[str]:
    if _is_identifying(column):
        return []
    out: list[str] = []
    for v in values:
        s = safe_example(v)
        if s is not None and s not in out:
            out.append(s)
        if len(out) >= EXAMPLES:
            break
    return out


# --- GX plumbing --------------------------------------------------------------------


@cache
def _context():
    import great_expectations as gx
    import great_expectations.execution_engine.pandas_execution_engine as pandas_engine
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX fingerprints every data frame below HASH_THRESHOLD bytes (hash_pandas_object over
    # all rows, an informational batch marker nothing here reads), twice per validation:
    # a third of the time of validating a million rows. 0 switches the marker off.
    pandas_engine.HASH_THRESHOLD = 0

    context = gx.get_context(mode="ephemeral")
    try:
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # pragma: no cover - cosmetic only
        pass
    return context


@cache
def _batch_definition(table: str):
    context = _context()
    try:
        source = context.data_sources.get("pilotmonitor_raw")
    except Exception:
        source = context.data_sources.add_pandas("pilotmonitor_raw")
    asset = source.add_dataframe_asset(f"raw_{table}")
    return asset.add_batch_definition_whole_dataframe("delivery")


def _gx_validate(
    table: str, frame: pd.DataFrame, expectations: list[dict], params: dict, complete: bool
):
    indexed = [
        dict(e, meta={**e["meta"], "expectation_index": i}) for i, e in enumerate(expectations)
    ]
    suite = S.gx_suite(f"raw.{table}", indexed)
    batch = _batch_definition(table).get_batch(batch_parameters={"dataframe": frame})
    fmt = (
        {"result_format": "COMPLETE", "partial_unexpected_count": EXAMPLES}
        if complete
        else {"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES}
    )
    return batch.validate(suite, expectation_parameters=params, result_format=fmt)


def _column_of(exp: dict) -> str | None:
    kw = exp["kwargs"]
    if "column" in kw:
        return kw["column"]
    if "column_A" in kw:
        return f"{kw['column_A']},{kw['column_B']}"
    if "column_list" in kw:
        return ",".join(c for c in kw["column_list"] if c != "delivery_id")
    return None


def denominator_columns(exp: dict, columns, bound_columns=()) -> list[str]:
    """The columns a row must have (not null) to count in the rows GX's `mostly` refers
    to, for one suite expectation: none for a null check or a compound key (every row)."""
    kw = exp["kwargs"]
    if exp["meta"].get("period_rule"):
        column = kw["column"]
        sides = [BOUND.format(column=column, side=side) for side in ("min", "max")]
        return [column] + [b for b in sides if b in bound_columns]
    if exp["type"] == "expect_column_values_to_not_be_null" or "column_list" in kw:
        return []
    if "column_A" in kw:
        return [kw["column_A"], kw["column_B"]]
    if "column" in kw and kw["column"] in columns:
        return [kw["column"]]
    return []


def _denominators(
    exp: dict, frame: pd.DataFrame, ids: np.ndarray, bound_columns: list[str] = ()
) -> pd.Series:
    """Per delivery the rows GX's `mostly` refers to."""
    mask = np.ones(len(frame), dtype=bool)
    for column in denominator_columns(exp, frame.columns, bound_columns):
        mask &= frame[column].notna().to_numpy()
    return pd.Series(mask.astype(int)).groupby(ids).sum()


BOUND = "__{column}_{side}"  # per-row period bound columns added for GX


def _gx_plan(expectations: list[dict], bound_columns: list[str]) -> list[dict]:
    """The GX expectations for a suite's row-level expectations: a period rule
    (expect_column_values_to_be_between with $PARAMETER bounds) becomes one
    expect_column_pair_values_a_to_be_greater_than_b per bounded side against per-row
    bound columns (column >= __<column>_min, __<column>_max >= column), same `mostly`;
    the exact column-set expectation also accepts the added bound columns. meta.source
    is the index of the suite expectation each GX expectation stands for."""
    plan = []
    for i, exp in enumerate(expectations):
        kw = copy.deepcopy(exp["kwargs"])
        rule = exp["meta"].get("period_rule")
        if rule:
            column = kw["column"]
            common = {"or_equal": True, "ignore_row_if": "either_value_is_missing"}
            if kw.get("mostly") is not None:
                common["mostly"] = kw["mostly"]
            if rule.get("min_offset_days") is not None:
                plan.append(
                    {
                        "type": "expect_column_pair_values_a_to_be_greater_than_b",
                        "kwargs": {
                            "column_A": column,
                            "column_B": BOUND.format(column=column, side="min"),
                            **common,
                        },
                        "meta": {**exp["meta"], "source": i, "side": "min"},
                    }
                )
            if rule.get("max_offset_days") is not None:
                plan.append(
                    {
                        "type": "expect_column_pair_values_a_to_be_greater_than_b",
                        "kwargs": {
                            "column_A": BOUND.format(column=column, side="max"),
                            "column_B": column,
                            **common,
                        },
                        "meta": {**exp["meta"], "source": i, "side": "max"},
                    }
                )
            continue
        if exp["type"] == "expect_table_columns_to_match_set" and bound_columns:
            kw["column_set"] = list(kw["column_set"]) + bound_columns
        plan.append({"type": exp["type"], "kwargs": kw, "meta": {**exp["meta"], "source": i}})
    return plan


def delivery_bounds(
    expectations: list[dict], deliveries: list[DeliveryInfo]
) -> tuple[dict[str, tuple[str, list]], dict[int, set[str]]]:
    """Each delivery's period bounds (raw.deliveries.period + the rule's offsets) per
    bound column: (the rule's column, bounds in the order of ``deliveries``, None where
    the period has not the rule's form), and per period-rule expectation the deliveries
    whose period does not have the rule's form (no outcome for them)."""
    bounds: dict[str, tuple[str, list]] = {}
    unusable: dict[int, set[str]] = {}
    for i, exp in enumerate(expectations):
        rule = exp["meta"].get("period_rule")
        if not rule:
            continue
        column = exp["kwargs"]["column"]
        lo, hi, bad = [], [], set()
        of_period: dict = {}  # many senders deliver each period
        for d in deliveries:
            if d.period not in of_period:
                of_period[d.period] = S.period_rule_bounds(rule, d.period)
            b = of_period[d.period]
            if b is None:
                bad.add(d.delivery_id)
                b = (None, None)
            lo.append(b[0])
            hi.append(b[1])
        unusable[i] = bad
        for side, values in (("min", lo), ("max", hi)):
            if rule.get(f"{side}_offset_days") is not None:
                bounds[BOUND.format(column=column, side=side)] = (column, values)
    return bounds, unusable


def _add_bounds(
    frame: pd.DataFrame, expectations: list[dict], deliveries: list[DeliveryInfo], ids: np.ndarray
) -> tuple[pd.DataFrame, list[str], dict[int, set[str]]]:
    """Add each row's delivery-period bounds as columns; returns the frame, the added
    columns and the deliveries per period rule the rule does not apply to."""
    bounds, unusable = delivery_bounds(expectations, deliveries)
    positions = pd.Index([d.delivery_id for d in deliveries]).get_indexer(ids)
    added: dict[str, np.ndarray] = {}
    for name, (column, values) in bounds.items():
        dtype = (
            frame[column].dtype
            if column in frame and str(frame[column].dtype).startswith("datetime64")
            else "datetime64[ns]"
        )
        per_delivery = pd.DatetimeIndex([*values, None]).astype(dtype).to_numpy()
        added[name] = per_delivery[positions]  # -1 (unknown id) -> NaT
    if added:
        frame = frame.assign(**added)
    return frame, list(added), unusable


def validate_group(
    table: str,
    frame: pd.DataFrame,
    deliveries: list[DeliveryInfo],
    period: str | None = None,
    suite_hash: str | None = None,
) -> tuple[list[Outcome], object]:
    """Validate the rows of any number of deliveries (of any periods) in one GX call; one
    Outcome per delivery and row-level expectation. GX's unexpected row indices attribute
    every failure to its delivery (delivery_id column) and `mostly` is applied per delivery.
    `period` is accepted for compatibility; each delivery's own period is used (a delivery
    without one gets `period`). Returns the outcomes and the GX validation result."""
    suite = S.load_suite(table)
    suite_hash = suite_hash or S.suite_hash(table)
    if period is not None:
        deliveries = [
            d
            if d.period
            else DeliveryInfo(d.delivery_id, d.path, d.source, d.sender, period, d.delivered_on)
            for d in deliveries
        ]
    expectations = S.row_level_expectations(suite)
    frame = frame.reset_index(drop=True)
    if "delivery_id" not in frame:
        frame.insert(0, "delivery_id", deliveries[0].delivery_id)
    ids = frame["delivery_id"].astype(str).to_numpy()
    rows = pd.Series(ids).value_counts().to_dict() if len(frame) else {}
    gx_frame, bound_columns, unusable = _add_bounds(frame, expectations, deliveries, ids)
    plan = _gx_plan(expectations, bound_columns)
    result = _gx_validate(table, gx_frame, plan, {}, complete=True) if len(frame) else None

    def hits_of(exp: dict, results: list) -> pd.DataFrame:
        """The unexpected rows (GX gives their positions): delivery and value."""
        positions, values = [], []
        for r in results:
            res = r.result or {}
            index = res.get("unexpected_index_list") or []
            vals = res.get("unexpected_list") or [None] * len(index)
            for idx, value in zip(index, vals):
                pos = (
                    idx
                    if isinstance(idx, (int, np.integer))
                    else (idx.get("index") if isinstance(idx, dict) else None)
                )
                if pos is not None:
                    positions.append(int(pos))
                    values.append(value)
        hits = pd.DataFrame(
            {"pos": np.asarray(positions, dtype=np.int64), "value": pd.Series(values, dtype=object)}
        ).drop_duplicates("pos")
        if exp["meta"].get("period_rule") and len(hits):  # the dates, not (date, bound) pairs
            hits["value"] = frame[exp["kwargs"]["column"]].to_numpy()[hits["pos"].to_numpy()]
        hits["delivery"] = ids[hits["pos"].to_numpy()]
        return hits[["delivery", "value"]]

    outcomes = outcomes_of(
        table,
        expectations,
        deliveries,
        rows,
        result,
        unusable,
        bound_columns,
        hits_of,
        lambda exp: _denominators(exp, gx_frame, ids, bound_columns).to_dict(),
        suite_hash,
    )
    return outcomes, result


def outcomes_of(
    table: str,
    expectations: list[dict],
    deliveries: list[DeliveryInfo],
    rows: dict[str, int],
    result,
    unusable: dict[int, set[str]],
    bound_columns: list[str],
    hits_of: Callable[[dict, list], pd.DataFrame],
    denominators_of: Callable[[dict], dict[str, int]],
    suite_hash: str,
) -> list[Outcome]:
    """One Outcome per delivery and row-level expectation from a GX result of either
    engine: ``hits_of`` gives an expectation's unexpected rows (delivery, value) in row
    order, ``denominators_of`` its rows per delivery that `mostly` refers to."""
    parts: dict[int, list] = {}
    if result is not None:
        for r in result.results:
            parts.setdefault(r.expectation_config.meta["source"], []).append(r)
    outcomes: list[Outcome] = []
    validated_at = _now()  # once per validation: one call per outcome cost seconds per run
    for i, exp in enumerate(expectations):
        results = parts.get(i, [])
        column = _column_of(exp)
        meta = exp["meta"]
        rule = meta.get("period_rule")
        raised = next(
            (
                S_scrub(str((r.exception_info or {}).get("exception_message", "")))
                for r in results
                if (r.exception_info or {}).get("raised_exception")
            ),
            None,
        )
        table_level = exp["type"].startswith("expect_table_")  # no rows to blame
        # plain dicts: a pandas lookup per delivery and expectation cost seconds per run
        unexpected: dict[str, int] = {}
        examples_by: dict[str, list] = {}
        denominators: dict[str, int] = {}
        if results and not raised and not table_level:
            hits = hits_of(exp, results)
            if "column_list" in exp["kwargs"] and len(hits):
                # a compound key's examples in key order (GX on SQL lists them unordered)
                order = hits["value"].map(lambda v: sorted(v.items()) if isinstance(v, dict) else v)
                hits = hits.assign(_key=order.astype(str)).sort_values(
                    ["delivery", "_key"], kind="stable"
                )
            if len(hits):
                unexpected = hits.groupby("delivery").size().to_dict()
                examples_by = {
                    d: list(g["value"])
                    for d, g in hits.groupby("delivery").head(50).groupby("delivery")
                }
            denominators = denominators_of(exp)
        for delivery in deliveries:
            if rule and delivery.delivery_id in unusable.get(i, ()):
                continue  # the period has not the form the rule needs: the rule does not apply
            n = int(rows.get(delivery.delivery_id, 0))
            if (
                result is None or not results
            ):  # empty delivery: row-level expectations hold vacuously
                success, count, percent, examples = True, 0, 0.0, []
            elif raised:
                success, count, percent, examples = (
                    False,
                    None,
                    None,
                    [f"could not evaluate: {raised[:120]}"],
                )
            elif table_level:
                success = all(bool(r.success) for r in results)
                count, percent = None, None
                observed = (results[0].result or {}).get("observed_value")
                if exp["type"] == "expect_table_columns_to_match_set" and isinstance(
                    observed, list
                ):
                    observed = [c for c in observed if c not in bound_columns]
                examples = [] if success else examples_of(_missing_columns(exp, observed), None)
            else:
                count = int(unexpected.get(delivery.delivery_id, 0))
                denom = int(denominators.get(delivery.delivery_id, 0))
                percent = 100.0 * count / denom if denom else 0.0
                mostly = exp["kwargs"].get("mostly")
                success = (
                    (count == 0)
                    if mostly is None
                    else (denom == 0 or (1 - count / denom) >= mostly)
                )
                found = examples_by.get(delivery.delivery_id)  # most deliveries have none
                examples = examples_of(found, column) if found else []
            outcomes.append(
                Outcome(
                    delivery.delivery_id,
                    delivery.path,
                    delivery.source,
                    table,
                    exp["type"],
                    column,
                    meta["severity"],
                    success,
                    count,
                    percent,
                    examples,
                    meta["steward_message"],
                    n,
                    suite_hash,
                    validated_at,
                )
            )
    return outcomes


def _missing_columns(exp: dict, observed) -> list[str]:
    if exp["type"] == "expect_table_columns_to_match_set" and isinstance(observed, list):
        expected = set(exp["kwargs"]["column_set"])
        return [f"missing {c}" for c in sorted(expected - set(observed))] + [
            f"unexpected {c}" for c in sorted(set(observed) - expected)
        ]
    return [str(observed)] if observed is not None else []


def S_scrub(text: str) -> str:
    from pilotmonitor.ingest.contracts import scrub

    return scrub(text)


def _rates(history: list, months: int) -> list[tuple[int, float]]:
    """(rows, rows per covered month) of previous deliveries; an int entry is a row count
    covering as many months as the delivery being checked."""
    out = []
    for h in history:
        n, m = (h, months) if isinstance(h, (int, np.integer)) else h
        out.append((int(n), int(n) / max(1.0, float(m))))
    return out


def row_count_bounds(rule: dict, history: list, months: int = 1) -> tuple[int, int] | None:
    """Bounds for a delivery covering `months` months, from the rows per covered month of
    the same sender's previous current deliveries (most recent first)."""
    # only the most recent count (a sender's history holds every month for years)
    previous = _rates(history[: rule.get("previous_deliveries", 6)], months)
    if len(previous) < rule.get("min_previous", 3):
        return None
    if statistics.median(n for n, _ in previous) < rule.get("min_median_rows", 20):
        return None
    rate = statistics.median(r for _, r in previous)
    # flagged at or below min_ratio x the usual rows (a half-size delivery is flagged), above
    # max_ratio x
    return math.floor(round(rate * months * rule["min_ratio"], 6)) + 1, math.floor(
        round(rate * months * rule["max_ratio"], 6)
    )


def validate_row_counts(
    table: str, items: list[tuple[DeliveryInfo, int, list]], suite_hash: str | None = None
) -> list[Outcome]:
    """The history rule for many deliveries in one GX call: items are (delivery, rows,
    history of the same sender as ints or (rows, covered months), most recent first).
    Rows are compared per covered month (S.covered_months): an interim export of the
    running school year is held against the previous years' rows per month."""
    suite = S.load_suite(table)
    exp = S.history_expectation(suite)
    if exp is None or not items:
        return []
    suite_hash = suite_hash or S.suite_hash(table)
    rule, meta = exp["meta"]["history_rule"], exp["meta"]
    keep = rule.get("previous_deliveries", 6)
    outcomes: dict[str, Outcome] = {}
    checked: list[dict] = []
    per_month = rule.get("rows_per", "covered_month") == "covered_month"
    for delivery, rows, history in items:
        months = S.covered_months(delivery.period, delivery.delivered_on) if per_month else 1
        history = (
            history
            if per_month
            else [h if isinstance(h, (int, np.integer)) else h[0] for h in history]
        )
        bounds = row_count_bounds(rule, history, months)
        if bounds is None:
            note = (
                f"not enough history ({len(history)} previous deliveries of this sender, at least "
                f"{rule.get('min_previous', 3)} with a median of "
                f"{rule.get('min_median_rows', 20)} rows needed)"
            )
        else:
            rate = statistics.median(r for _, r in _rates(history[:keep], months))
            usual = (
                f"{rate:.1f} rows per month: median of {min(len(history), keep)} previous "
                "deliveries"
                if per_month
                else f"median {rate:g} rows of {min(len(history), keep)} previous deliveries"
            )
            covered = f" over {months:.3g} month(s) covered" if per_month else ""
            note = f"{rows} rows{covered}; expected {bounds[0]}-{bounds[1]} ({usual})"
            checked.append(
                {
                    "delivery_id": delivery.delivery_id,
                    "row_count": rows,
                    "row_count_min": bounds[0],
                    "row_count_max": bounds[1],
                }
            )
        # passed for now: GX below marks the deliveries outside their bounds as failed
        outcomes[delivery.delivery_id] = Outcome(
            delivery.delivery_id,
            delivery.path,
            delivery.source,
            table,
            ROW_COUNT,
            None,
            meta["severity"],
            True,
            None,
            None,
            [note],
            meta["steward_message"],
            rows,
            suite_hash,
        )
    if checked:
        # one row per delivery; GX checks row_count between its per-delivery bounds
        frame = pd.DataFrame(checked)
        plan = [
            {
                "type": "expect_column_pair_values_a_to_be_greater_than_b",
                "kwargs": {"column_A": "row_count", "column_B": "row_count_min", "or_equal": True},
                "meta": {**meta, "side": "min"},
            },
            {
                "type": "expect_column_pair_values_a_to_be_greater_than_b",
                "kwargs": {"column_A": "row_count_max", "column_B": "row_count", "or_equal": True},
                "meta": {**meta, "side": "max"},
            },
        ]
        result = _gx_validate(f"{table}__row_count", frame, plan, {}, complete=True)
        for r in result.results:
            if (r.exception_info or {}).get("raised_exception"):
                failed = list(frame.delivery_id)
            else:
                failed = [
                    frame.delivery_id.iloc[int(i)]
                    for i in (r.result or {}).get("unexpected_index_list") or []
                ]
            for d in failed:
                outcomes[d].success = False
    return [outcomes[d.delivery_id] for d, _, _ in items if d.delivery_id in outcomes]


def validate_row_count(
    table: str, delivery: DeliveryInfo, rows: int, history: list, suite_hash: str | None = None
) -> Outcome | None:
    out = validate_row_counts(table, [(delivery, rows, history)], suite_hash)
    return out[0] if out else None


def validate_frame(
    table: str,
    frame: pd.DataFrame,
    period: str = "",
    delivery: DeliveryInfo | None = None,
    history: list | None = None,
) -> list[Outcome]:
    """Validate one delivery's frame (tests, notebooks): row-level expectations and,
    when `history` is given, the row-count rule."""
    frame = frame.copy()
    if delivery is None:
        delivery = DeliveryInfo(
            frame["delivery_id"].iloc[0] if "delivery_id" in frame and len(frame) else "adhoc",
            "adhoc",
            "adhoc",
            "adhoc",
            period,
        )
    if "delivery_id" not in frame:
        frame.insert(0, "delivery_id", delivery.delivery_id)
    outcomes, _ = validate_group(table, frame, [delivery], period)
    if history is not None:
        rc = validate_row_count(table, delivery, len(frame), history)
        if rc:
            outcomes.append(rc)
    return outcomes


def scrubbed_for_docs(result):
    """A copy of a GX validation result fit for Data Docs: counts and scrubbed examples
    only (no unexpected index lists, no pseudonyms, no long numbers)."""
    import copy as _copy

    doc = _copy.deepcopy(result)
    for r in doc.results:
        res = r.result or {}
        column = r.expectation_config.kwargs.get("column")
        keep = {
            k: res[k]
            for k in (
                "element_count",
                "missing_count",
                "missing_percent",
                "unexpected_count",
                "unexpected_percent",
                "unexpected_percent_nonmissing",
                "observed_value",
            )
            if k in res
        }
        if "partial_unexpected_list" in res:
            keep["partial_unexpected_list"] = examples_of(res["partial_unexpected_list"], column)
        if (
            isinstance(keep.get("observed_value"), (list, dict))
            and r.expectation_config.type != "expect_table_columns_to_match_set"
        ):
            keep.pop("observed_value")
        r.result = keep
        if r.exception_info and r.exception_info.get("exception_message"):
            r.exception_info = {
                "raised_exception": True,
                "exception_message": S_scrub(str(r.exception_info["exception_message"]))[:200],
                "exception_traceback": None,
            }
    return doc
