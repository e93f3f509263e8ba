"""Suite files: loading, hashing, delivery-period parameters and GX suite objects."""

from __future__ import annotations

import calendar
import copy
import hashlib
import json
import re
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from pilotmonitor.school_closures import school_closures
from pilotmonitor.settings import REPO_ROOT

EXPECTATIONS_DIR = REPO_ROOT / "expectations"
RUNNER_VERSION = "3"  # part of the suite hash: a runner change re-validates everything
# 2: period rules as per-row bounds (one GX call per table), row count per covered month
# 3: covered months less national school closures; monthly iJw history of 12 months
SEVERITIES = ("error", "warning")


@cache
def load_suite(table: str, directory: Path = EXPECTATIONS_DIR) -> dict:
    suite = json.loads((directory / f"{table}.json").read_text(encoding="utf-8"))
    for exp in suite["expectations"]:
        meta = exp.get("meta", {})
        if meta.get("severity") not in SEVERITIES or not meta.get("steward_message"):
            raise ValueError(
                f"{table}: expectation {exp['type']} needs meta.severity (error|warning) and "
                "meta.steward_message"
            )
    return suite


def suite_hash(table: str, directory: Path = EXPECTATIONS_DIR) -> str:
    canonical = json.dumps(load_suite(table, directory), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"{RUNNER_VERSION}|{canonical}".encode()).hexdigest()[:16]


def period_bounds(kind: str, period: str) -> tuple[date, date] | None:
    """First and last day of a delivery period: school_year 'YYYY-YYYY' (1 Aug - 31 Jul),
    month 'YYYY-MM', year 'YYYY'. None when the period does not have that form."""
    period = period or ""
    if kind == "school_year" and (m := re.fullmatch(r"(\d{4})-(\d{4})", period)):
        return date(int(m[1]), 8, 1), date(int(m[2]), 7, 31)
    if kind == "month" and (m := re.fullmatch(r"(\d{4})-(\d{2})", period)):
        y, mo = int(m[1]), int(m[2])
        return date(y, mo, 1), date(y, mo, calendar.monthrange(y, mo)[1])
    if kind == "year" and re.fullmatch(r"\d{4}", period):
        return date(int(period), 1, 1), date(int(period), 12, 31)
    return None


def period_rule_bounds(
    rule: dict, period: str
) -> tuple[pd.Timestamp | None, pd.Timestamp | None] | None:
    """Lower and upper date bound of a period rule for one delivery period (None = open
    side); None when the period does not have the form the rule needs."""
    bounds = period_bounds(rule["period"], period)
    if bounds is None:
        return None
    lo = (
        pd.Timestamp(bounds[0] + timedelta(days=rule["min_offset_days"]))
        if rule.get("min_offset_days") is not None
        else None
    )
    hi = (
        pd.Timestamp(bounds[1] + timedelta(days=rule["max_offset_days"]))
        if rule.get("max_offset_days") is not None
        else None
    )
    return lo, hi


# National school closures (dbt seed school_closures): school records (absence) are not
# kept while schools are closed.
SCHOOL_DAYS_PER_MONTH = 21.0


def _closed_months(first: date, last: date) -> float:
    """Weekdays of national school closure between first and last, in months of school days."""
    days = 0
    for start, end in school_closures():
        lo, hi = max(start, first), min(end, last)
        if lo <= hi:
            days += int(np.busday_count(lo, hi + timedelta(days=1)))
    return days / SCHOOL_DAYS_PER_MONTH


def covered_months(period: str, delivered_on=None) -> float:
    """Months of data a delivery covers: a month period 'YYYY-MM' is one month, a year
    'YYYY' twelve, a school year 'YYYY-YYYY' (Aug-Jul) its months up to the delivery
    date (an interim export of the running year delivered in November covers Aug-Oct;
    the delivery month counts only when delivered on its last day), less the weekdays of
    national school closures in that range (so the 2019-2020 absence export is compared
    per open month). Snapshots: 1."""
    period = period or ""
    if re.fullmatch(r"\d{4}-\d{2}", period):
        return 1
    if re.fullmatch(r"\d{4}", period):
        return 12
    if not (m := re.fullmatch(r"(\d{4})-(\d{4})", period)):
        return 1
    if delivered_on is None or pd.isna(delivered_on):
        return max(1.0, 12 - _closed_months(date(int(m[1]), 8, 1), date(int(m[2]), 7, 31)))
    first = pd.Period(year=int(m[1]), month=8, freq="M")
    delivered = pd.Timestamp(delivered_on)
    # the last whole month before the delivery (its own month when delivered on its last day)
    last_whole = pd.Period(delivered, freq="M") - (0 if delivered.is_month_end else 1)
    months = max(1, min(12, (last_whole - first).n + 1))
    last = first + (months - 1)
    return max(1.0, months - _closed_months(first.start_time.date(), last.end_time.date()))


def row_level_expectations(suite: dict) -> list[dict]:
    """Expectations validated on the rows of a delivery (all but the history rule)."""
    out = []
    for exp in suite["expectations"]:
        if exp["meta"].get("history_rule"):
            continue
        out.append(exp)
    return out


def history_expectation(suite: dict) -> dict | None:
    return next((e for e in suite["expectations"] if e["meta"].get("history_rule")), None)


def gx_suite(name: str, expectations: list[dict]):
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    suite = ExpectationSuite(name=name)
    for exp in expectations:
        suite.add_expectation_configuration(
            ExpectationConfiguration(
                type=exp["type"],
                kwargs=copy.deepcopy(exp["kwargs"]),
                meta=copy.deepcopy(exp["meta"]),
            )
        )
    return suite


def value_sets(table: str) -> dict[str, tuple[str, list]]:
    """column -> (code list seed name, value set) of the code-list expectations of a suite."""
    return {
        e["kwargs"]["column"]: (e["meta"]["code_list"], e["kwargs"]["value_set"])
        for e in load_suite(table)["expectations"]
        if e["type"] == "expect_column_values_to_be_in_set" and e["meta"].get("code_list")
    }
