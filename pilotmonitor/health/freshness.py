"""Freshness per source and sender, from the delivery register and the cadences.

For every sender of a source: the last delivery date, the latest period covered (by a
loaded delivery), the expected next delivery, and

- **stale** when the latest period covered is behind the latest period that is due
  (due date + grace passed on the as-of date), or, for snapshot sources, when the last
  delivery is older than ``max_age_days``; the overdue periods are listed;
- **missing periods** (gaps) when a period between the sender's first and latest covered
  period has no loaded delivery, e.g. a municipality that skipped a month.

Stale means "not delivered yet" (a warning: chase the sender); a gap means the data has
a hole behind later deliveries (it blocks publication). Periods are covered across the
sources of one ``group`` (iJw messages or the municipal extract for the same month).
Senders of ``senders: pilots`` sources are expected only while their pilot runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

import pandas as pd

from pilotmonitor.health.cadence import (
    Cadence,
    cadence_for,
    due_date,
    latest_expected_period,
    load_cadences,
    period_index,
    period_name,
    period_of_date,
)

FRESH, STALE, ENDED, ON_CHANGE, NO_DELIVERIES = (
    "fresh",
    "stale",
    "ended",
    "on change",
    "no deliveries",
)


@dataclass
class SenderFreshness:
    source: str
    sender: str
    last_delivery: date | None
    latest_period: str | None
    expected_period: str | None  # latest period due on the as-of date
    next_due: date | None  # due date of the next period (or next snapshot)
    state: str  # fresh | stale | ended | on change
    overdue_periods: list[str] = field(default_factory=list)
    missing_periods: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = asdict(self)
        for key in ("last_delivery", "next_due"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


@dataclass
class SourceFreshness:
    source: str
    cadence: str
    description: str
    senders: list[SenderFreshness]

    @property
    def stale(self) -> list[SenderFreshness]:
        return [s for s in self.senders if s.state == STALE]

    @property
    def missing(self) -> list[tuple[str, str]]:
        return [(s.sender, p) for s in self.senders for p in s.missing_periods]

    @property
    def state(self) -> str:
        if not self.senders:
            return NO_DELIVERIES
        if self.missing:
            return "missing periods"
        if self.stale:
            return STALE
        return FRESH

    def summary(self) -> str:
        """One line for a steward: fresh, or what is overdue and missing, by sender."""
        if not self.senders:
            return "no deliveries yet"
        parts = []
        if self.missing:
            parts.append(
                "missing: "
                + ", ".join(f"{sender} {period}" for sender, period in self.missing[:8])
                + (f" (+{len(self.missing) - 8} more)" if len(self.missing) > 8 else "")
            )
        if self.stale:
            stale = [
                f"{s.sender} ({', '.join(s.overdue_periods[:3]) or 'last ' + str(s.last_delivery)})"
                for s in self.stale
            ]
            parts.append(
                f"stale {len(self.stale)} of {len(self.senders)}: "
                + ", ".join(stale[:6])
                + (f" (+{len(stale) - 6} more)" if len(stale) > 6 else "")
            )
        return "; ".join(parts) or FRESH

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "cadence": self.cadence,
            "state": self.state,
            "summary": self.summary(),
            "stale_senders": len(self.stale),
            "missing_periods": [{"sender": s, "period": p} for s, p in self.missing],
            "senders": [s.to_dict() for s in self.senders],
        }


def _as_date(value) -> date | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date()


def _active_periods(
    cadence: Cadence, sender: str, pilots: pd.DataFrame | None
) -> tuple[int | None, int | None]:
    """First and last period a pilot sender is expected to deliver (None: unbounded)."""
    if cadence.senders != "pilots" or pilots is None or pilots.empty:
        return None, None
    row = pilots[pilots["pilot_id"] == sender]
    if row.empty:
        return None, None
    start, end = _as_date(row["start_date"].iloc[0]), _as_date(row["planned_end_date"].iloc[0])
    first = period_of_date(cadence.period, start) if start else None
    last = period_of_date(cadence.period, end) if end else None
    return first, last


def sources_read(source: str, cadences: dict[str, Cadence] | None = None) -> set[str]:
    """The sources whose deliveries `source_freshness` of `source` reads: its own and those
    of its cadence group (either covers a period)."""
    cadences = cadences if cadences is not None else load_cadences()
    group = cadence_for(source, cadences).group
    return {source} | ({n for n, c in cadences.items() if c.group == group} if group else set())


def source_freshness(
    source: str,
    deliveries: pd.DataFrame,
    as_of: date,
    cadences: dict[str, Cadence] | None = None,
    pilots: pd.DataFrame | None = None,
) -> SourceFreshness:
    """Freshness of one source's senders; `deliveries` is raw.deliveries (any sources; those
    of `sources_read(source)` suffice)."""
    cadences = cadences if cadences is not None else load_cadences()
    cadence = cadence_for(source, cadences)
    frame = (
        deliveries[deliveries["delivered_on"].notna()].copy()
        if not deliveries.empty
        else deliveries
    )
    frame = (  # on or before the as-of date: before midnight after it
        frame[pd.to_datetime(frame["delivered_on"]) < pd.Timestamp(as_of + timedelta(days=1))]
        if not frame.empty
        else frame
    )
    own = frame[frame["source"] == source] if not frame.empty else frame
    group_sources = sources_read(source, cadences)
    covering = (
        frame[frame["source"].isin(group_sources) & (frame["status"] == "loaded")]
        if not frame.empty
        else frame
    )
    senders = []
    # per sender as plain values, grouped once: a frame per sender cost more than the
    # freshness rules (2,400 schools at the ZH+NH pool; a mask per sender would cost
    # senders x deliveries)
    last_of = own.groupby("sender", sort=True)["delivered_on"].max() if not own.empty else {}
    loaded_last_of = (
        covering.groupby("sender")["delivered_on"].max().to_dict() if not covering.empty else {}
    )
    periods_of = (
        covering.groupby("sender")["period"].agg(list).to_dict() if not covering.empty else {}
    )
    index_of: dict = {}  # period name -> index, worked out once per name
    for sender, last_delivered in last_of.items():
        last = _as_date(last_delivered)  # not null: filtered above
        if not cadence.periodic:
            if cadence.max_age_days is None:
                senders.append(SenderFreshness(source, sender, last, None, None, None, ON_CHANGE))
                continue
            last_good = _as_date(loaded_last_of[sender]) if sender in loaded_last_of else None
            next_due = (last_good or last) + timedelta(days=365)
            stale = last_good is None or (as_of - last_good).days > cadence.max_age_days
            senders.append(
                SenderFreshness(
                    source,
                    sender,
                    last,
                    None,
                    None,
                    next_due,
                    STALE if stale else FRESH,
                    ["snapshot"] if stale else [],
                )
            )
            continue
        for p in periods_of.get(sender, ()):
            if p not in index_of:
                index_of[p] = period_index(cadence.period, p)
        covered = {index_of[p] for p in periods_of.get(sender, ())} - {None}
        expected = latest_expected_period(cadence, as_of)
        first_active, last_active = _active_periods(cadence, sender, pilots)
        ended = last_active is not None and last_active <= expected
        if last_active is not None:
            expected = min(expected, last_active)
        latest = max(covered) if covered else None
        overdue = []
        if latest is None or latest < expected:
            start = (latest + 1) if latest is not None else expected
            if first_active is not None:
                start = max(start, first_active)
            overdue = [period_name(cadence.period, i) for i in range(start, expected + 1)]
        missing = []
        if cadence.gaps and covered:
            missing = [
                period_name(cadence.period, i)
                for i in range(min(covered), max(covered) + 1)
                if i not in covered
            ]
        if latest is not None and latest >= expected and ended:
            state = ENDED
        else:
            state = STALE if overdue else FRESH
        next_index = (latest + 1) if latest is not None else expected
        next_due = (
            None
            if (last_active is not None and next_index > last_active)
            else due_date(cadence, next_index)
        )
        senders.append(
            SenderFreshness(
                source,
                sender,
                last,
                period_name(cadence.period, latest) if latest is not None else None,
                period_name(cadence.period, expected),
                next_due,
                state,
                overdue,
                missing,
            )
        )
    return SourceFreshness(source, cadence.label, cadence.description, senders)


def all_freshness(
    deliveries: pd.DataFrame,
    as_of: date,
    sources: list[str],
    pilots: pd.DataFrame | None = None,
    cadences: dict[str, Cadence] | None = None,
) -> dict[str, SourceFreshness]:
    cadences = cadences if cadences is not None else load_cadences()
    return {name: source_freshness(name, deliveries, as_of, cadences, pilots) for name in sources}


__all__ = ["SenderFreshness", "SourceFreshness", "all_freshness", "source_freshness"]
