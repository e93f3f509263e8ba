"""Youth-care trajectories and their declarations, from the simulated referrals.

Each referral becomes a request (JW315). Most are allocated (JW301) a few days to weeks
later, care starts (JW305) within four weeks and ends (JW307) after a product-dependent
duration with a reason from code list JZ588. Every month of care is declared (JW323) in
the following month, in eurocents. A few lines are later reversed by a credit line and
declared again with the corrected volume; the net amount is what counts.

The product list is the synthetic regional product catalogue (written to the landing
area as reference data); category codes come from JZ020, units from WJ756 and
frequencies from WMO757.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pilotmonitor.kinds_of_care import kind_by_category
from pilotmonitor.synth.calendar import SchoolCalendar
from pilotmonitor.synth.scenario import Scenario

PRODUCTS = pd.DataFrame(
    [
        # category, code, description, unit, frequency, volume low-high per frequency period, tariff
        # (ct), share, mean months
        ("45", "45A01", "Ambulante jeugdhulp individueel", "04", "2", 1, 3, 10500, 0.33, 6.0),
        ("45", "45A02", "Ambulante jeugdhulp groep", "04", "2", 2, 4, 6000, 0.12, 5.0),
        ("51", "51001", "Generalistische basis-ggz", "04", "2", 1, 2, 11000, 0.04, 4.0),
        ("54", "54001", "Jeugd-ggz diagnostiek en behandeling", "04", "2", 1, 2, 13500, 0.20, 8.0),
        (
            "54",
            "54002",
            "Jeugd-ggz specialistisch (kinder- en jeugdpsychiatrie)",
            "04",
            "2",
            1,
            3,
            15500,
            0.08,
            9.0,
        ),
        ("41", "41A01", "Dagbehandeling", "16", "2", 2, 6, 9000, 0.08, 10.0),
        ("43", "43A01", "Verblijf inclusief behandeling", "14", "4", 28, 31, 28000, 0.04, 8.0),
        ("44", "44A01", "Pleegzorg", "14", "4", 28, 31, 4500, 0.04, 14.0),
        ("46", "46A01", "Crisisopvang", "14", "4", 28, 31, 32000, 0.02, 0.7),
        (
            "48",
            "48A01",
            "Ondertoezichtstelling (jeugdbescherming)",
            "82",
            "4",
            1,
            1,
            95000,
            0.05,
            12.0,
        ),
    ],
    columns=[
        "product_category",
        "product_code",
        "description",
        "unit",
        "frequency",
        "volume_low",
        "volume_high",
        "tariff_cents",
        "share",
        "mean_months",
    ],
)
# The kind of care of each product, from the one mapping (the JZ020 seed of the warehouse).
# Shares of new referrals by kind: jeugdzorg 0.60, youth mental health 0.32, with stay
# 0.08 (CBS: about one young person in ten with youth care is in care with stay, foster
# care included; youth mental health is about a third of the trajectories).
PRODUCTS["kind_of_care"] = PRODUCTS.product_category.map(kind_by_category())
UNKNOWN_PRODUCT_CODE = "45X99"
REFERRERS = (
    np.array(["01", "02", "03", "04", "05", "06", "08"]),
    np.array([0.42, 0.30, 0.08, 0.05, 0.10, 0.04, 0.01]),
)
REFERRER_LABEL = {
    "02": "Huisartsenpraktijk",
    "03": "Jeugdarts GGD",
    "04": "Gecertificeerde instelling",
    "05": "Kinderarts",
}
REFERRERS_WITH_AGB = ["02", "03", "05"]  # care professionals have an AGB code
END_REASONS = (
    np.array(["31", "32", "33", "34", "35", "38"]),
    np.array([0.55, 0.15, 0.05, 0.15, 0.05, 0.05]),
)
SHARE_ALLOCATED = 0.95
# Requests that ask for a second product for the same child at once (ambulant help and
# youth mental health, say): one message with two products in every step of the chain.
SHARE_SECOND_PRODUCT = 0.08
# residential, foster care, crisis, child protection: never bundled
SINGLE_PRODUCT_CATEGORIES = ("43", "44", "46", "48")


def _kept_by_kind_effect(
    t: pd.DataFrame, kind: np.ndarray, scenario: Scenario, rng: np.random.Generator
) -> np.ndarray:
    """Which referrals stay when a pilot's planted ``referral_kind_ratio`` thins the
    referrals of a kind in its treated months (a Poisson count thinned with probability
    r is a Poisson count with r times the rate). Drawn from a stream of its own, and not
    at all in a scenario without kind effects, so such scenarios draw as before."""
    kept = np.ones(len(t), dtype=bool)
    effects = {
        pilot_id: effect.referral_kind_ratio
        for pilot_id, effect in scenario.effects.items()
        if effect.referral_kind_ratio
    }
    if not effects or not len(t):
        return kept
    keep_probability = np.ones(len(t))
    treated = t.treated.to_numpy().astype(bool)
    for pilot_id, ratios in effects.items():
        of_pilot = treated & (t.pilot_id == pilot_id).to_numpy()
        for kind_name, ratio in ratios.items():
            keep_probability[of_pilot & (kind == kind_name)] = ratio
    own = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0])
    return own.random(len(t)) < keep_probability


def _days(rng: np.random.Generator, low: int, high: int, n: int) -> pd.TimedeltaIndex:
    return pd.to_timedelta(rng.integers(low, high + 1, size=n), unit="D")


def build_trajectories(
    referrals: pd.DataFrame,
    pupils: pd.DataFrame,
    scenario: Scenario,
    calendar: SchoolCalendar,
    rng: np.random.Generator,
    id_offset: int = 0,
) -> pd.DataFrame:
    """One row per request with its allocation, start and end (NaT where not yet)."""
    as_of = pd.Timestamp(scenario.as_of)
    t = referrals[
        ["pupil_id", "school_index", "month_index", "treated", "pilot_id", "request_date"]
    ].copy()
    t["request_row"] = np.arange(len(t))  # the referral a trajectory came from
    product = PRODUCTS.iloc[
        rng.choice(len(PRODUCTS), size=len(t), p=PRODUCTS.share.to_numpy())
    ].reset_index(drop=True)
    # A planted effect on one kind of care thins that kind's referrals in treated months.
    kept = _kept_by_kind_effect(t, product.kind_of_care.to_numpy(), scenario, rng)
    t, product = t[kept].reset_index(drop=True), product[kept].reset_index(drop=True)
    n = len(t)
    t.insert(0, "trajectory_id", id_offset + np.arange(n, dtype=np.int64))
    for column in ["product_category", "product_code", "unit", "frequency", "tariff_cents"]:
        t[column] = product[column].to_numpy()
    t["volume"] = rng.integers(product.volume_low, product.volume_high + 1)

    # The planted cost effect shortens care that starts in a treated month.
    cost_ratio = np.ones(n)
    for pilot_id, effect in scenario.effects.items():
        cost_ratio[(t.pilot_id == pilot_id).to_numpy() & t.treated.to_numpy()] = (
            effect.cost_per_trajectory_ratio
        )
    months = rng.lognormal(np.log(product.mean_months.to_numpy()) - 0.18, 0.6) * cost_ratio
    duration = pd.to_timedelta(np.maximum(np.round(months * 30.4), 3), unit="D")

    referrer = rng.choice(REFERRERS[0], size=n, p=REFERRERS[1])
    referrer[product.product_category.to_numpy() == "48"] = (
        "04"  # child protection goes via a certified institution
    )
    t["referrer_type"] = referrer
    pupil = pupils.set_index("pupil_id").loc[t.pupil_id]
    town = pupil.city.to_numpy()
    t["referrer_name"] = [
        f"{REFERRER_LABEL[r]} {c} (synthetisch)" if r in REFERRER_LABEL else ""
        for r, c in zip(referrer, town)
    ]
    t["referrer_agb"] = np.where(
        np.isin(referrer, REFERRERS_WITH_AGB),
        np.char.add("9901", np.char.zfill(rng.integers(0, 10_000, n).astype(str), 4)),
        "",
    )

    t["municipality_code"] = [code[2:] for code in pupil.residence_municipality]
    province = np.array([scenario.municipalities[c].province for c in pupil.residence_municipality])
    t["provider_agb"] = ""
    for prov in np.unique(province):
        serving = [p.agb for p in scenario.providers if prov in p.provinces]
        rows = province == prov
        t.loc[rows, "provider_agb"] = np.array(serving)[rng.integers(0, len(serving), rows.sum())]
    t["provider_reference"] = [f"REF{i:09d}" for i in t.trajectory_id]
    t["requested_start"] = t.request_date + pd.Timedelta(days=7)
    t["requested_end"] = t.requested_start + pd.DateOffset(years=1)

    allocated = rng.random(n) < SHARE_ALLOCATED
    allocation_date = t.request_date + _days(rng, 3, 21, n)
    allocated &= (allocation_date <= as_of).to_numpy()
    t["allocation_number"] = np.where(
        allocated, np.char.zfill((t.trajectory_id + 1).to_numpy().astype(str), 9), None
    )
    t["allocation_date"] = allocation_date.where(allocated)
    t["allocation_start"] = t.allocation_date
    start = t.allocation_date + _days(rng, 0, 28, n)
    t["start_date"] = start.where(start <= as_of)
    end = t.start_date + duration
    t["end_date"] = end.where(end <= as_of)
    t["allocation_end"] = np.maximum(
        t.allocation_start + pd.DateOffset(years=1), t.end_date.fillna(pd.Timestamp.min)
    ).where(allocated)
    t["end_reason"] = np.where(
        t.end_date.notna(), rng.choice(END_REASONS[0], size=n, p=END_REASONS[1]), None
    )
    for column in [
        "bsn",
        "birth_date",
        "given_name",
        "surname_prefix",
        "surname",
        "street",
        "house_number",
        "postcode",
        "city",
        "phone",
        "parent_given_name",
        "parent_surname",
        "parent_phone",
    ]:
        t[column] = pupil[column].to_numpy()
    t["sex"] = np.where(pupil.sex.to_numpy() == "M", "1", "2")
    return _with_second_products(t, scenario, rng, id_offset + n)


def _with_second_products(
    t: pd.DataFrame, scenario: Scenario, rng: np.random.Generator, first_id: int
) -> pd.DataFrame:
    """Add a second product to some requests: a trajectory of its own (own request
    reference, allocation number and declarations) with the same client, provider and
    dates, bundled with the first in one message per step (``message_group``).
    ``request_row`` is the position of the referral a trajectory came from. Drawn from a
    stream of its own, so the trajectories drawn before are unchanged. A second product of a
    kind with a planted effect is thinned like a first one."""
    t = t.assign(message_group=pd.array([pd.NA] * len(t), dtype="Int64"))
    own = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0])
    eligible = ~t.product_category.isin(SINGLE_PRODUCT_CATEGORIES).to_numpy()
    chosen = np.flatnonzero(eligible & (own.random(len(t)) < SHARE_SECOND_PRODUCT))
    if not len(chosen):
        return t
    second = t.iloc[chosen].copy()
    bundled = PRODUCTS[~PRODUCTS.product_category.isin(SINGLE_PRODUCT_CATEGORIES)].reset_index(
        drop=True
    )
    pick = own.choice(
        len(bundled), size=len(second), p=(bundled.share / bundled.share.sum()).to_numpy()
    )
    same = bundled.product_code.to_numpy()[pick] == second.product_code.to_numpy()
    pick[same] = (pick[same] + 1) % len(bundled)  # a different product than the first
    product = bundled.iloc[pick]
    for column in ["product_category", "product_code", "unit", "frequency", "tariff_cents"]:
        second[column] = product[column].to_numpy()
    second["volume"] = own.integers(
        product.volume_low.to_numpy(), product.volume_high.to_numpy() + 1
    )
    kept = _kept_by_kind_effect(second, product.kind_of_care.to_numpy(), scenario, own)
    second, chosen = second[kept], chosen[kept]
    if not len(chosen):
        return t
    second["trajectory_id"] = first_id + np.arange(len(second), dtype=np.int64)
    second["provider_reference"] = [f"REF{i:09d}" for i in second.trajectory_id]
    second["allocation_number"] = np.where(
        second.allocation_number.notna(),
        np.char.zfill((second.trajectory_id + 1).to_numpy().astype(str), 9),
        None,
    )
    group = t.trajectory_id.to_numpy()[chosen]
    t.loc[t.index[chosen], "message_group"] = group
    second["message_group"] = group
    return pd.concat([t, second], ignore_index=True)


def _declaration_month(dates: pd.Series) -> pd.Series:
    return dates.dt.to_period("M").dt.to_timestamp()


def build_declarations(
    trajectories: pd.DataFrame,
    scenario: Scenario,
    rng: np.random.Generator,
    reference_offset: int = 0,
) -> pd.DataFrame:
    """One debit line per trajectory and month of care, declared the month after."""
    as_of = pd.Timestamp(scenario.as_of)
    started = trajectories[trajectories.start_date.notna()]
    last = started.end_date.fillna(as_of)
    first_month = _declaration_month(started.start_date)
    n_months = (
        (last.dt.year - first_month.dt.year) * 12 + (last.dt.month - first_month.dt.month) + 1
    ).to_numpy()
    rows = np.repeat(np.arange(len(started)), n_months)
    offset = np.arange(n_months.sum()) - np.repeat(np.cumsum(n_months) - n_months, n_months)
    lines = started.iloc[rows][
        [
            "trajectory_id",
            "pupil_id",
            "bsn",
            "municipality_code",
            "provider_agb",
            "allocation_number",
            "product_category",
            "product_code",
            "unit",
            "frequency",
            "volume",
            "tariff_cents",
            "start_date",
            "end_date",
        ]
    ].reset_index(drop=True)
    month = first_month.to_numpy()[rows].astype("datetime64[M]") + offset.astype("timedelta64[M]")
    lines["service_month"] = pd.to_datetime(month.astype("datetime64[D]"))
    month_end = lines.service_month + pd.offsets.MonthEnd(0)
    lines["product_period_start"] = np.maximum(lines.start_date, lines.service_month)
    lines["product_period_end"] = np.minimum(lines.end_date.fillna(as_of), month_end)
    days = (lines.product_period_end - lines.product_period_start).dt.days.to_numpy() + 1
    # Hours and day parts are allocated per week; days in care (etmaal) are counted; a
    # fixed monthly product (stuks) is declared once per month.
    per_week = lines.frequency.to_numpy() == "2"
    per_day_in_care = lines.unit.to_numpy() == "14"
    volume = np.where(
        per_week,
        np.ceil(lines.volume.to_numpy() * days / 7),
        np.where(per_day_in_care, days, lines.volume.to_numpy()),
    )
    lines["volume"] = np.maximum(volume, 1).astype(np.int64)
    lines["amount_cents"] = lines.volume * lines.tariff_cents
    lines["debit_credit"] = "D"
    lines["declaration_date"] = month_end + _days(rng, 5, 20, len(lines))
    lines["previous_product_reference"] = None
    lines = lines[lines.declaration_date <= as_of].reset_index(drop=True)

    reversals = _credit_reversals(lines, scenario, rng)
    lines = pd.concat([lines, reversals], ignore_index=True)
    lines = lines.drop(columns=["start_date", "end_date", "frequency"])
    return _number_declarations(lines, reference_offset)


def _credit_reversals(
    lines: pd.DataFrame, scenario: Scenario, rng: np.random.Generator
) -> pd.DataFrame:
    """Credit lines reversing some earlier lines, each followed by a corrected debit."""
    as_of = pd.Timestamp(scenario.as_of)
    chosen = lines[rng.random(len(lines)) < scenario.defects.credit_reversal_rate].copy()
    later = chosen.declaration_date + pd.DateOffset(months=2)
    chosen = chosen[later <= as_of]
    later = later[later <= as_of]
    credit = chosen.assign(
        debit_credit="C", declaration_date=later, previous_product_reference=chosen.index.to_numpy()
    )
    corrected_volume = np.maximum(
        np.floor(chosen.volume.to_numpy() * rng.uniform(0.5, 0.9, len(chosen))), 1
    ).astype(np.int64)
    corrected = chosen.assign(
        declaration_date=later,
        volume=corrected_volume,
        amount_cents=corrected_volume * chosen.tariff_cents.to_numpy(),
    )
    return pd.concat([credit, corrected])


def declares_per_trajectory(provider_agb: str) -> bool:
    """Whether a provider declares under one product reference per trajectory (every
    third provider, by AGB code) instead of one per line."""
    return int(provider_agb) % 3 == 1


def _number_declarations(lines: pd.DataFrame, reference_offset: int) -> pd.DataFrame:
    """Declaration numbers per municipality, provider and month; references per line."""
    # Line references are assigned first so credit lines can point at their original.
    lines = lines.reset_index(names="line_index")
    lines["product_reference"] = [f"P{reference_offset + i:011d}" for i in range(len(lines))]
    # Some providers' software declares a trajectory month by month under one reference
    # (a line per month, and a corrected line under it again); credit lines always have
    # a reference of their own and name the one they reverse.
    monthly = (
        lines.provider_agb.map(declares_per_trajectory).to_numpy(dtype=bool)
        & lines.debit_credit.eq("D").to_numpy()
    )
    lines.loc[monthly, "product_reference"] = "T" + lines.trajectory_id[monthly].map(
        "{:011d}".format
    )
    original = (
        lines[lines.debit_credit.eq("D") & lines.previous_product_reference.isna()]
        .set_index("line_index")
        .product_reference
    )
    is_credit = lines.debit_credit.eq("C")
    lines.loc[is_credit, "previous_product_reference"] = original.reindex(
        lines.loc[is_credit, "previous_product_reference"].astype(int)
    ).to_numpy()
    # A declaration covers one month of service (DeclaratiePeriode) and every line must
    # lie inside it, so a later correction of a month is a new declaration for that month.
    lines["period_start"] = lines.service_month
    lines["period_end"] = lines.service_month + pd.offsets.MonthEnd(0)
    provider_index = lines.provider_agb.rank(method="dense").astype(int)
    sent_month = _declaration_month(lines.declaration_date)
    key = [lines.municipality_code, lines.provider_agb, lines.period_start]
    sequence = sent_month.groupby(key).rank(method="dense").astype(int) - 1
    lines["declaration_date"] = lines.groupby(key + [sent_month]).declaration_date.transform("min")
    lines["declaration_number"] = (
        lines.municipality_code
        + lines.period_start.dt.strftime("%y%m")
        + provider_index.map("{:02d}".format)
        + sequence.astype(str)
    )
    return (
        lines.drop(columns="line_index")
        .sort_values(["declaration_number", "bsn", "product_reference"])
        .reset_index(drop=True)
    )
