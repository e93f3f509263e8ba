"""The export dialects format a column once per distinct value; the cells must be those
of formatting every cell by itself (format_date, format_decimal)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pilotmonitor.synth.dialects import DIALECTS, Dialect


@pytest.mark.parametrize("name", DIALECTS)
def test_a_date_column_is_formatted_as_each_date_alone(name):
    rng = np.random.default_rng(7)
    days = pd.Series(
        pd.Timestamp("2019-08-01") + pd.to_timedelta(rng.integers(0, 2500, 2_000), "D"),
        index=pd.RangeIndex(5, 2_005),
        name="Datum",
    )
    days.iloc[::37] = pd.NaT
    dialect = Dialect(name)
    formatted = dialect.format_dates(days)
    one_by_one = [dialect.format_date(None if pd.isna(v) else v) for v in days]
    assert formatted.index.equals(days.index) and formatted.name == "Datum"
    assert formatted.tolist() == one_by_one


@pytest.mark.parametrize("name", DIALECTS)
def test_hours_are_formatted_as_each_value_alone_planted_text_untouched(name):
    hours = pd.Series([2.5, 1, "2,5 uur", 8.0, np.nan, 0.25, 2.5, "", 1.0], dtype=object)
    dialect = Dialect(name)
    formatted = dialect.format_decimals(hours)
    one_by_one = [dialect.format_decimal(v) for v in hours]
    assert [str(v) for v in formatted] == [str(v) for v in one_by_one]
    assert [type(v) for v in formatted] == [type(v) for v in one_by_one]
