"""School calendar for the synthetic world: months, school days, holidays and closures.

Holidays are a simplified national calendar (regional variation ignored): summer
16 July - 31 August, autumn week 42, Christmas 24 December - 5 January, spring week 8,
May 27 April - 5 May. Closure days (COVID-19) are school days on which the buildings
were closed: nobody is recorded absent on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd


def _is_holiday(days: pd.DatetimeIndex) -> np.ndarray:
    month, day = days.month.to_numpy(), days.day.to_numpy()
    week = days.isocalendar().week.to_numpy()
    summer = ((month == 7) & (day >= 16)) | (month == 8)
    christmas = ((month == 12) & (day >= 24)) | ((month == 1) & (day <= 5))
    autumn = (month == 10) & (week == 42)
    spring = (month == 2) & (week == 8)
    may = ((month == 4) & (day >= 27)) | ((month == 5) & (day <= 5))
    return summer | christmas | autumn | spring | may


@dataclass(frozen=True)
class SchoolCalendar:
    """Day-level calendar; ``months`` are month starts, indexed 0..n_months-1."""

    days: pd.DataFrame  # date, month_index, school_day, closed
    months: pd.DatetimeIndex

    @classmethod
    def build(
        cls, first_month: str, as_of: date, closures: list[tuple[date, date]]
    ) -> SchoolCalendar:
        start = pd.Timestamp(f"{first_month}-01")
        end = pd.Timestamp(as_of)
        months = pd.date_range(start, end.to_period("M").to_timestamp(), freq="MS")
        dates = pd.date_range(start, end, freq="D")
        weekday = dates.dayofweek.to_numpy() < 5
        school_day = weekday & ~_is_holiday(dates)
        closed = np.zeros(len(dates), dtype=bool)
        for first, last in closures:
            closed |= (dates >= pd.Timestamp(first)) & (dates <= pd.Timestamp(last))
        month_index = (dates.year - start.year) * 12 + (dates.month - start.month)
        days = pd.DataFrame(
            {
                "date": dates,
                "month_index": month_index.to_numpy(),
                "school_day": school_day,
                "closed": closed & school_day,
            }
        )
        return cls(days=days, months=months)

    @property
    def n_months(self) -> int:
        return len(self.months)

    def month_index(self, timestamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
        ts = pd.DatetimeIndex(timestamps)
        first = self.months[0]
        return ((ts.year - first.year) * 12 + (ts.month - first.month)).to_numpy()

    def open_days(self) -> pd.DataFrame:
        """School days on which the school was open (absence can be recorded)."""
        frame = self.days[self.days.school_day & ~self.days.closed]
        return frame.reset_index(drop=True)

    def per_month(self) -> pd.DataFrame:
        """Per month: number of school days, open days and the closed share."""
        grouped = self.days.groupby("month_index").agg(
            school_days=("school_day", "sum"), closed_days=("closed", "sum")
        )
        grouped = grouped.reindex(range(self.n_months), fill_value=0)
        grouped["open_days"] = grouped.school_days - grouped.closed_days
        grouped["closed_share"] = np.where(
            grouped.school_days > 0, grouped.closed_days / grouped.school_days.clip(lower=1), 0.0
        )
        grouped["month"] = self.months
        return grouped


def school_year_of(dates: pd.Series) -> pd.Series:
    """The school year (its first calendar year) of each date: August to July."""
    return dates.dt.year - (dates.dt.month < 8)
