"""Referral to special education in the synthetic world: a pupil of a regular school (BAO,
VO, PRO) leaves for a special school (SBO, SO, VSO) and enrols there as the same person.

The referral is an early exit of the sending spell (population.EARLY_EXITS, with the
baseline ``special_education_referral_rate`` and the planted
``special_education_referral_ratio``): its destination is the receiving type. The
receiving spell (an *arrival*) starts in a later calendar month than the exit, between
one day and about two months after it (so each pupil-month has one school), at a school
of that type in the same province (any of that type when the province has none). The
arrival carries ``referred_from`` (the sending spell's pupil_id); people.assign_identities
gives it the sender's identity, so the warehouse sees one pseudonymised pupil at two
schools. Without a school of the receiving type in the scenario, or when the arrival would
start after the as-of date, the exit and its destination stay and no arrival is made.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pilotmonitor.school_types import school_types
from pilotmonitor.synth.calendar import SchoolCalendar
from pilotmonitor.synth.scenario import Scenario
from pilotmonitor.synth.stays import REGULAR_DESTINATIONS, cap_at_leaving_age

# Receiving special types by sending sector, with their shares: from primary mostly to SBO,
# some to SO; from secondary (VO, PRO) to VSO.
RECEIVING_SHARES = {"PO": {"SBO": 0.7, "SO": 0.3}, "VO": {"VSO": 1.0}}
LATEST_START_DAYS = 27  # an arrival starts in the month after the exit, on day 1..28


def receiving_types(
    n: int, sender_school_index: pd.Series, schools: pd.DataFrame, rng: np.random.Generator
) -> np.ndarray:
    """The special type each referred pupil goes to (a type the scenario has, if it has one)."""
    types = school_types()
    present = set(schools.type)
    sector = (
        schools.set_index("school_index")
        .type.map(lambda code: types[code].sector)
        .reindex(sender_school_index)
        .to_numpy()
    )
    out = np.empty(n, dtype=object)
    for name, shares in RECEIVING_SHARES.items():
        rows = np.flatnonzero(sector == name)
        options = {code: share for code, share in shares.items() if code in present} or shares
        codes, weights = list(options), np.array(list(options.values()))
        out[rows] = rng.choice(codes, size=len(rows), p=weights / weights.sum())
    return out


def arrivals(
    spells: pd.DataFrame,
    schools: pd.DataFrame,
    scenario: Scenario,
    calendar: SchoolCalendar,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The receiving spells of the referred pupils (columns as the population's spells before
    the early exits are drawn)."""
    referred = spells[
        (spells.early_exit == "special_education_referral") & spells.enrol_end.notna()
    ]
    last_day = calendar.days.date.iloc[-1]
    province = schools.set_index("school_index").province
    rows = []
    for sender in referred.itertuples(index=False):
        candidates = schools[schools.type.eq(sender.destination)]
        local = candidates[candidates.province.eq(province[sender.school_index])]
        pool = local if len(local) else candidates
        if pool.empty:
            continue
        exit_month = sender.enrol_end.to_period("M").to_timestamp()
        start = (
            exit_month
            + pd.DateOffset(months=1)
            + pd.Timedelta(days=int(rng.integers(0, LATEST_START_DAYS + 1)))
        )
        if start > last_day:
            continue
        rows.append(
            {
                "school_index": int(pool.school_index.iloc[rng.integers(0, len(pool))]),
                "enrol_start": start,
                "referred_from": sender.pupil_id,
                "birth_date": sender.birth_date,
                "frailty": sender.frailty,
            }
        )
    if not rows:
        return pd.DataFrame()
    out = pd.DataFrame(rows)
    type_of = schools.set_index("school_index").type.reindex(out.school_index).to_numpy()
    out["stay_years"] = [
        int(
            rng.integers(scenario.baseline[t].stay_years[0], scenario.baseline[t].stay_years[1] + 1)
        )
        for t in type_of
    ]
    school_year = out.enrol_start.dt.year - (out.enrol_start.dt.month < 8)
    planned = pd.to_datetime((school_year + out.stay_years).astype(str) + "-07-31")
    out["planned_end"] = planned
    for code in np.unique(type_of):
        rows = type_of == code
        out.loc[rows, "planned_end"] = cap_at_leaving_age(
            planned[rows], out.enrol_start[rows], out.birth_date[rows], code
        )
    out["destination"] = [
        REGULAR_DESTINATIONS[t][rng.integers(0, len(REGULAR_DESTINATIONS[t]))] for t in type_of
    ]
    out["pupil_id"] = np.arange(len(out), dtype=np.int64) + int(spells.pupil_id.max()) + 1
    return out[
        [
            "enrol_start",
            "stay_years",
            "planned_end",
            "destination",
            "birth_date",
            "school_index",
            "pupil_id",
            "frailty",
            "referred_from",
        ]
    ]
