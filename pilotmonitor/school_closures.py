"""National school closures, read from the dbt seed that lists them once
(dbt_project/seeds/school_closures.csv): the warehouse flags the months they touch
(dim_pilot_month.is_school_closure_month); the GX row-count rule discounts their weekdays."""

from __future__ import annotations

import csv
from datetime import date
from functools import cache

from pilotmonitor.settings import REPO_ROOT

SEED = REPO_ROOT / "dbt_project" / "seeds" / "school_closures.csv"


@cache
def school_closures() -> tuple[tuple[date, date], ...]:
    """(first closed day, last closed day) of every national closure, in date order."""
    with SEED.open(encoding="utf-8") as handle:
        rows = [
            (date.fromisoformat(row["first_day"]), date.fromisoformat(row["last_day"]))
            for row in csv.DictReader(handle)
        ]
    return tuple(sorted(rows))
