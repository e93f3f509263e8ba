"""How long pupils stay at a school type and where they go next: entry and leaving ages
and the regular (end-of-stay) destinations. School types are the seed school_types."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pilotmonitor.synth.calendar import school_year_of

# Regular (end-of-stay) destinations by school type: never from a regular to a special
# type (that move is the referral event, planted and counted on its own).
REGULAR_DESTINATIONS = {
    "BAO": ["VO", "VO", "VO", "PRO", "Verhuizing"],
    "SBO": ["VO", "VO", "PRO", "VSO", "SO", "BAO", "Verhuizing"],
    "SO": ["VSO", "VSO", "VSO", "VO", "Verhuizing"],
    # vmbo to MBO; havo/vwo diploma to higher education
    "VO": ["MBO", "MBO", "Hoger onderwijs", "Verhuizing"],
    "PRO": ["MBO", "MBO", "Verhuizing"],
    "VSO": ["MBO", "MBO", "Verhuizing"],
}
ENTRY_AGE = {
    "BAO": (4, 4),
    "SBO": (7, 10),
    "SO": (4, 9),
    "VO": (12, 12),
    "PRO": (12, 12),
    "VSO": (12, 14),
}
# A spell ends by the summer of the year the pupil turns this age.
LEAVING_AGE = {"BAO": 13, "SBO": 13, "SO": 13, "VO": 18, "PRO": 18, "VSO": 20}
DROPOUT_DESTINATION = "Geen onderwijs"


def cap_at_leaving_age(
    planned_end: pd.Series, enrol_start: pd.Series, birth_date: pd.Series, school_type: str
) -> pd.Series:
    """A spell ends by the summer of the year the pupil reaches the type's leaving age (but
    not before the end of its first school year)."""
    school_year_of_start = school_year_of(enrol_start)
    leave_by = pd.to_datetime(
        (birth_date.dt.year + LEAVING_AGE[school_type]).astype(str) + "-07-31"
    )
    first_summer = pd.to_datetime((school_year_of_start + 1).astype(str) + "-07-31")
    return planned_end.where(planned_end <= leave_by, np.maximum(leave_by, first_summer))
