"""The expected delivery cadence of every source (cadence.yml beside this module, or the
file named by PILOTMONITOR_CADENCE_FILE) and the period arithmetic freshness needs.

A period is what a delivery covers, as named in its file: a month ``2026-10``, a school
year ``2025-2026`` (1 August - 31 July), a count year ``2025``, or nothing (a snapshot).
A period is *due* ``due_days`` after it ends and *overdue* after ``grace_days`` more.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

CADENCE_FILE = Path(__file__).with_name("cadence.yml")
PERIOD_KINDS = ("month", "school_year", "year", "none")


@dataclass(frozen=True)
class Cadence:
    source: str
    period: str = "none"  # month | school_year | year | none
    due_days: int = 0
    grace_days: int = 0
    max_age_days: int | None = None  # period none: stale when older; None = on change
    gaps: bool = False
    group: str | None = None
    senders: str | None = None  # "pilots": expected only while the pilot runs
    description: str = ""

    @property
    def periodic(self) -> bool:
        return self.period != "none"

    @property
    def label(self) -> str:
        if self.periodic:
            return {"month": "monthly", "school_year": "per school year", "year": "yearly"}[
                self.period
            ]
        return "yearly" if self.max_age_days else "on change"


class CadenceError(ValueError):
    pass


def load_cadences(path: Path | None = None) -> dict[str, Cadence]:
    path = path or Path(os.environ.get("PILOTMONITOR_CADENCE_FILE") or CADENCE_FILE)
    return dict(_load(str(path)))


def _load(path: str) -> tuple[tuple[str, Cadence], ...]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    out = []
    for name, entry in (data.get("sources") or {}).items():
        entry = dict(entry or {})
        if entry.get("period", "none") not in PERIOD_KINDS:
            raise CadenceError(
                f"{path}: source {name}: period must be one of {', '.join(PERIOD_KINDS)}"
            )
        unknown = set(entry) - set(Cadence.__dataclass_fields__)
        if unknown:
            raise CadenceError(
                f"{path}: source {name}: unknown field(s) {', '.join(sorted(unknown))}"
            )
        out.append((name, Cadence(source=name, **entry)))
    return tuple(out)


def cadence_for(source: str, cadences: dict[str, Cadence] | None = None) -> Cadence:
    """The cadence of a source; a source without an entry is 'on change' (never stale)."""
    cadences = cadences if cadences is not None else load_cadences()
    return cadences.get(source) or Cadence(source=source, description="no cadence configured")


# --- periods -------------------------------------------------------------------------

_PATTERNS = {
    "month": re.compile(r"^(\d{4})-(\d{2})$"),
    "school_year": re.compile(r"^(\d{4})-(\d{4})$"),
    "year": re.compile(r"^(\d{4})$"),
}


# A period is a pandas Period; its index the Period's ordinal (consecutive periods,
# consecutive integers). A school year (1 August - 31 July) is pandas' annual period ending
# in July, named after the calendar year it ends in.
_FREQUENCY = {"month": "M", "school_year": "Y-JUL", "year": "Y"}


def _period(kind: str, index: int) -> pd.Period:
    return pd.Period(ordinal=index, freq=_FREQUENCY[kind])


@lru_cache(maxsize=4096)  # called for every delivery; a few hundred distinct periods
def period_index(kind: str, period: str | None) -> int | None:
    """A period as an integer, consecutive periods consecutive integers (None if unparsable)."""
    match = _PATTERNS.get(kind, re.compile("^$")).match(period or "")
    if not match:
        return None
    if kind == "school_year":
        if int(match[2]) != int(match[1]) + 1:
            return None
        return pd.Period(year=int(match[2]), freq=_FREQUENCY[kind]).ordinal
    try:
        return pd.Period(period, freq=_FREQUENCY[kind]).ordinal
    except ValueError:  # a month 13: not a period
        return None


@lru_cache(maxsize=4096)  # pure, and asked for again for every sender
def period_name(kind: str, index: int) -> str:
    period = _period(kind, index)
    if kind == "school_year":
        return f"{period.year - 1}-{period.year}"
    return str(period)  # 2026-10, 2026


@lru_cache(maxsize=4096)
def period_bounds(kind: str, index: int) -> tuple[date, date]:
    """First and last day of a period."""
    period = _period(kind, index)
    return period.start_time.date(), period.end_time.date()


def period_of_date(kind: str, day: date) -> int:
    return pd.Period(day, freq=_FREQUENCY[kind]).ordinal


def due_date(cadence: Cadence, index: int) -> date:
    return period_bounds(cadence.period, index)[1] + timedelta(days=cadence.due_days)


def latest_expected_period(cadence: Cadence, as_of: date) -> int:
    """The latest period that should have been delivered by `as_of` (due + grace passed)."""
    index = period_of_date(cadence.period, as_of)
    while due_date(cadence, index) + timedelta(days=cadence.grace_days) >= as_of:
        index -= 1
    return index
