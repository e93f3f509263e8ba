"""The pilot's own deliveries: the youth support workers' activity log and the costs.

The activity log (CSV or XLSX) has one row per school and month with contact counts; the
worker's name (Medewerker) and the free-text notes (Opmerkingen) are personal data and
are never read into the output. The cost file has one row per year; its total must equal
fte x cost per fte + other costs (within one euro).

Rules, in order: missing_field -> invalid_date -> invalid_number -> invalid_code ->
duplicate_row (an exact copy of an earlier row of the file).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from pilotmonitor.ingest.contracts import ReadResult
from pilotmonitor.ingest.deliveries import Delivery
from pilotmonitor.ingest.readers.school_exports import SCHOOL_COLUMNS
from pilotmonitor.ingest.readers.tabular import (
    MAX_YEAR,
    MIN_YEAR,
    SAFE_DATE,
    RowChecks,
    Spec,
    dates_of,
    run_reader,
    shown,
)

COUNTS = {
    "contacts_pupils": ["contacten_leerlingen", "contacten_leerling"],
    "contacts_parents": ["contacten_ouders", "contacten_ouder"],
    "group_sessions": ["groepsbijeenkomsten", "groepsbijeenkomst"],
    "consultations_teachers": [
        "consultaties_leerkrachten",
        "consultatie_leerkrachten",
        "consultaties_leerkracht",
    ],
    "consultations_providers": [
        "overleg_zorgaanbieders",
        "consultaties_zorgaanbieders",
        "overleg_zorgaanbieder",
    ],
}
ACTIVITY = Spec(
    "pilot_activity", aliases={"month": ["maand", "periode"], **SCHOOL_COLUMNS, **COUNTS}
)
COSTS = Spec(
    "pilot_costs",
    aliases={
        "year": ["jaar"],
        "fte": ["fte", "formatie_fte"],
        "cost_per_fte": ["kosten_per_fte", "kosten_fte"],
        "other_costs": ["overige_kosten"],
        "total": ["totaal", "totale_kosten", "totaal_kosten"],
    },
)
TOTAL_TOLERANCE_EUR = 1.0
_MONTH = re.compile(r"(\d{4})-(\d{1,2})|(\d{1,2})-(\d{4})", re.ASCII)


def _months(checks: RowChecks, column: str) -> pd.Series:
    """yyyy-mm or mm-yyyy, or a date (cell or text) on the first of a month -> that day."""
    factor = checks.factor(column)
    values = np.full(len(factor.uniques), np.datetime64("NaT", "ns"))
    bad = np.zeros(len(factor.uniques), dtype=bool)
    as_dates, bad_dates = dates_of(factor.uniques)
    for i, text in enumerate(factor.text):
        match = _MONTH.fullmatch(text) if text else None
        if match:
            year, month = (
                (int(match.group(1)), int(match.group(2)))
                if match.group(1)
                else (int(match.group(4)), int(match.group(3)))
            )
            if 1 <= month <= 12 and MIN_YEAR <= year <= MAX_YEAR:
                values[i] = np.datetime64(f"{year:04d}-{month:02d}-01", "ns")
            else:
                bad[i] = True
        elif text or factor.cells[i]:
            stamp = as_dates[i]
            if bad_dates[i] or np.isnat(stamp) or pd.Timestamp(stamp).day != 1:
                bad[i] = True
            else:
                values[i] = stamp
    label = checks.label(column)
    checks.fail(
        factor.rows(bad, False),
        "invalid_date",
        checks.each_value(
            column,
            lambda v: (
                f"column {label}: {shown(v, SAFE_DATE) or 'the value'} is not a month (expected "
                "yyyy-mm)"
            ),
        ),
    )
    return pd.Series(
        factor.rows(np.where(bad, np.datetime64("NaT", "ns"), values), np.datetime64("NaT", "ns")),
        index=checks.frame.index,
    )


def read_pilot_activity(path: Path, delivery: Delivery) -> ReadResult:
    """Activity log of one pilot and school year -> raw.pilot_activity (month = first day
    of the month, school_id = BRIN + vestiging, counts whole numbers >= 0)."""

    def process(frame: pd.DataFrame, checks: RowChecks) -> pd.DataFrame:
        checks.mandatory("month", "brin", "vestiging", *COUNTS)
        month = _months(checks, "month")
        counts = {name: checks.parse_number(name, integer=True) for name in COUNTS}
        counts = {name: checks.within(name, values, minimum=0) for name, values in counts.items()}
        school = checks.school("brin", "vestiging")
        return pd.DataFrame(
            {
                "pilot_id": delivery.sender,
                "month": month,
                "school_id": school["school_id"],
                **counts,
            },
            index=frame.index,
        )

    return run_reader(path, ACTIVITY, process)


def read_pilot_costs(path: Path, delivery: Delivery) -> ReadResult:
    """Actual costs of one pilot per year -> raw.pilot_costs (decimal comma or point);
    a total that differs from fte x cost per fte + other costs by more than one euro is
    quarantined (invalid_number) with the difference."""

    def process(frame: pd.DataFrame, checks: RowChecks) -> pd.DataFrame:
        checks.mandatory("year", "fte", "cost_per_fte", "other_costs", "total")
        year = checks.parse_number("year", integer=True)
        fte, per_fte, other, total = (
            checks.parse_number(c) for c in ("fte", "cost_per_fte", "other_costs", "total")
        )
        year = checks.within("year", year, minimum=MIN_YEAR, maximum=MAX_YEAR)
        fte = checks.within("fte", fte, minimum=0)
        per_fte = checks.within("cost_per_fte", per_fte, minimum=0)
        expected = fte * per_fte + other
        difference = (total - expected).to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            off = np.abs(difference) > TOTAL_TOLERANCE_EUR
        labels = {c: checks.label(c) for c in ("total", "fte", "cost_per_fte", "other_costs")}
        checks.fail(
            off,
            "invalid_number",
            lambda rows: [
                (
                    f"column {labels['total']}: {total.iloc[r]:.2f} differs from {labels['fte']} "
                    f"x {labels['cost_per_fte']} + {labels['other_costs']} = "
                    f"{expected.iloc[r]:.2f} by {difference[r]:+.2f}"
                )
                for r in rows
            ],
        )
        return pd.DataFrame(
            {
                "pilot_id": delivery.sender,
                "year": year,
                "fte": fte,
                "cost_per_fte_eur": per_fte,
                "other_costs_eur": other,
                "total_eur": total,
            },
            index=frame.index,
        )

    return run_reader(path, COSTS, process)
