"""Attach synthetic identities to the simulated pupils: numbers, names, addresses.

About 2% of pupils have no BSN known to the school and are registered with an
onderwijsnummer; iJw messages require a BSN, so those pupils get no youth care in the
synthetic world (a documented simplification). 85% live in their school's municipality,
the rest in another municipality of the same province. A pupil referred to special
education (``referred_from``, see special_education) is the same person at the receiving
school: the arrival gets the sender's identity, address included.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pilotmonitor.synth import identities
from pilotmonitor.synth.region_ids import WHOLE_WORLD, RegionIds
from pilotmonitor.synth.scenario import Scenario

SHARE_WITHOUT_BSN = 0.02
SHARE_LIVING_ELSEWHERE = 0.15
PERSON_COLUMNS = [
    "has_bsn",
    "bsn",
    "onderwijsnummer",
    "sex",
    "given_name",
    "surname_prefix",
    "surname",
    "parent_given_name",
    "parent_surname",
    "phone",
    "parent_phone",
    "residence_municipality",
    "postcode",
    "city",
    "street",
    "house_number",
]


def assign_identities(
    pupils: pd.DataFrame,
    schools: pd.DataFrame,
    scenario: Scenario,
    rng: np.random.Generator,
    ids: RegionIds = WHOLE_WORLD,
) -> pd.DataFrame:
    n = len(pupils)
    out = pupils.copy()
    has_bsn = rng.random(n) >= SHARE_WITHOUT_BSN
    n_bsn, n_education = int(has_bsn.sum()), int((~has_bsn).sum())
    if ids.bsn_prefixes is None or ids.education_prefixes is None:
        bsn_numbers, education_numbers = (
            identities.generate_bsns(n_bsn, rng),
            identities.generate_onderwijsnummers(n_education, rng),
        )
    else:
        bsn_numbers = identities.draw_from_prefixes(n_bsn, ids.bsn_prefixes, 0, rng)
        education_numbers = identities.draw_from_prefixes(
            n_education, ids.education_prefixes, 5, rng
        )
    bsn = identities.format_number(bsn_numbers)
    education = identities.format_number(education_numbers)
    out["has_bsn"] = has_bsn
    out["bsn"] = None
    out.loc[has_bsn, "bsn"] = bsn
    out["onderwijsnummer"] = None
    out.loc[~has_bsn, "onderwijsnummer"] = education

    out["sex"] = np.where(rng.random(n) < 0.68, "M", "V")  # special education: about 2/3 boys
    given = np.where(
        out.sex == "M",
        np.array(identities.GIVEN_NAMES_M)[rng.integers(0, len(identities.GIVEN_NAMES_M), n)],
        np.array(identities.GIVEN_NAMES_F)[rng.integers(0, len(identities.GIVEN_NAMES_F), n)],
    )
    out["given_name"] = given
    prefix, surname = identities.split_surname(
        np.array(identities.SURNAMES)[rng.integers(0, len(identities.SURNAMES), n)]
    )
    out["surname_prefix"], out["surname"] = prefix, surname
    out["parent_given_name"] = np.array(identities.GIVEN_NAMES_F + identities.GIVEN_NAMES_M)[
        rng.integers(0, 40, n)
    ]
    out["parent_surname"] = surname
    out["phone"] = identities.generate_phone_numbers(n, rng)
    out["parent_phone"] = identities.generate_phone_numbers(n, rng)

    school_municipality = schools.set_index("school_index").municipality.to_numpy()[
        out.school_index
    ]
    residence = school_municipality.copy()
    by_province: dict[str, list[str]] = {}
    for code, spec in scenario.municipalities.items():
        by_province.setdefault(spec.province, []).append(code)
    moved = rng.random(n) < SHARE_LIVING_ELSEWHERE
    for i in np.flatnonzero(moved):
        options = by_province[scenario.municipalities[residence[i]].province]
        residence[i] = options[rng.integers(0, len(options))]
    out["residence_municipality"] = residence
    low = np.array([scenario.municipalities[c].pc4[0] for c in residence])
    high = np.array([scenario.municipalities[c].pc4[1] for c in residence])
    out["postcode"] = identities.generate_postcodes(low, high, rng)
    out["city"] = [scenario.municipalities[c].town for c in residence]
    out["street"] = np.array(identities.STREETS)[rng.integers(0, len(identities.STREETS), n)]
    out["house_number"] = rng.integers(1, 200, n)
    return same_person_after_referral(out)


def same_person_after_referral(pupils: pd.DataFrame) -> pd.DataFrame:
    """Arrivals at a special school carry the identity of the spell they were referred from."""
    if "referred_from" not in pupils:
        return pupils
    arrived = np.flatnonzero(pupils.referred_from.to_numpy() >= 0)
    sender_rows = pupils.referred_from.to_numpy()[arrived]  # pupil_id is the row position
    for column in PERSON_COLUMNS:
        values = pupils[column].to_numpy().copy()
        values[arrived] = values[sender_rows]
        pupils[column] = values
    return pupils
