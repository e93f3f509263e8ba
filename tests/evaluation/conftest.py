"""A small simulated *published* warehouse with a planted effect (tmp duckdb)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from pilotmonitor.evaluation.outcomes import KINDS_OF_CARE
from pilotmonitor.pilots import Pilot
from pilotmonitor.school_closures import school_closures

PLANTED_IRR = 0.6
# every estimator of the demo pilots' plans
FULL_PLAN = [
    "twfe_poisson",
    "twfe_poisson_excl_closures",
    "twfe_linear",
    "pretrend_linear_trend",
    "event_study",
    "twfe_poisson_national_pool",
    "callaway_santanna",
    "synthetic_control",
    "synthetic_did",
    "twfe_negative_binomial",
]


def make_pilot(
    pilot_id="test-pilot",
    start="2021-01-01",
    planned_end=None,
    schools=("99TA", "99TB", "99TC"),
    **plan,
):
    analysis_plan = {
        "primary_outcome": "referrals_per_100_pupil_months",
        "secondary_outcomes": [
            "dropout",
            "unauthorised_absence_hours",
            "youth_care_cost_per_pupil",
            "satisfaction",
        ],
        "estimators": FULL_PLAN,
        "alpha": 0.05,
        "multiple_testing": "holm",
        **plan,
    }
    return Pilot.model_validate(
        {
            "id": pilot_id,
            "name": "Test pilot (synthetic)",
            "municipality": {"code": "GM9999", "name": "Test"},
            "region": "Test",
            "schools": [{"brin": b, "name": b} for b in schools],
            "start": start,
            "planned_end": planned_end,
            "comparison_pool": {"school_types": ["SBO"], "provinces": ["GR"]},
            "analysis_plan": analysis_plan,
        }
    )


def simulate(
    seed=3,
    irr=PLANTED_IRR,
    n_treated=3,
    n_comparison=5,
    first="2019-01-01",
    last="2022-12-01",
    start="2021-01-01",
    planned_end=None,
    pilot_id="test-pilot",
    pretrend_per_year=0.0,
    n_national=0,
    base_rate=0.03,
    size=(150, 400),
):
    """School-month panel: Poisson referrals with school effects, a common seasonal
    time effect, exposure 150-400 pupil-months and the planted IRR in treated months.
    ``pretrend_per_year``: pilot schools' log rate grows by this per year before the start
    (as pilotmonitor.synth: factor exp(-slope x years before start)). ``n_national``:
    extra schools of the same type in another province, not in the registered pool
    (only in fct_school_month and dim_school)."""
    rng = np.random.default_rng(seed)
    treated = [f"99T{chr(65 + i)}00" for i in range(n_treated)]
    comparison = [f"99C{chr(65 + i)}00" for i in range(n_comparison)]
    national = [f"99N{chr(65 + i)}00" for i in range(n_national)]
    schools = treated + comparison + national
    months = pd.date_range(first, last, freq="MS")
    start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(planned_end) if planned_end else None
    school_fe = dict(zip(schools, rng.normal(0, 0.2, len(schools))))
    month_fe = dict(zip(months, 0.15 * np.sin(np.arange(len(months)) * 2 * np.pi / 12)))
    size = dict(zip(schools, rng.integers(size[0], size[1], len(schools))))
    rows = []
    for s in schools:
        for m in months:
            is_pilot = s in treated
            treated_now = is_pilot and m >= start_ts and (end_ts is None or m <= end_ts)
            pm = int(size[s] + rng.integers(-10, 10))
            lam = (
                pm * base_rate * np.exp(school_fe[s] + month_fe[m]) * (irr if treated_now else 1.0)
            )
            if is_pilot and m < start_ts and pretrend_per_year:
                lam *= np.exp(-pretrend_per_year * (start_ts - m).days / 365.25)
            rows.append(
                {
                    "school_id": s,
                    "month": m,
                    "school_year": m.year if m.month >= 8 else m.year - 1,
                    "pilot_id": pilot_id if is_pilot else None,
                    "is_pilot_school": is_pilot,
                    "is_treated": treated_now,
                    "months_since_pilot_start": (
                        (m.year - start_ts.year) * 12 + m.month - start_ts.month
                    )
                    if is_pilot
                    else None,
                    "pupil_months": pm,
                    "new_referrals": int(rng.poisson(lam)),
                    "dropouts": int(rng.poisson(pm * 0.002)),
                    "thuiszitter_spell_starts": int(rng.poisson(pm * 0.003)),
                    "unauthorised_absence_hours": float(rng.gamma(2, pm * 0.5)),
                    "declared_cost_cents": int(rng.gamma(2, pm * 5000)),
                }
            )
    sm = with_kinds_of_care(pd.DataFrame(rows), seed)
    # referrals to special education and early school leavers: streams of their own, so the
    # other draws stay as they were
    sm["special_education_referrals"] = np.random.default_rng([seed, 16]).poisson(
        sm["pupil_months"].to_numpy() * 0.001
    )
    sm["early_school_leavers"] = np.random.default_rng([seed, 17]).poisson(
        sm["pupil_months"].to_numpy() * 0.001
    )
    asg = pd.DataFrame(
        {
            "pilot_id": pilot_id,
            "school_id": treated + comparison,
            "role": ["treated"] * n_treated + ["comparison"] * n_comparison,
        }
    )
    last_month = end_ts.to_period("M") if end_ts is not None else None
    pil = pd.DataFrame(
        {
            "pilot_id": [pilot_id],
            "start_date": [start_ts.date()],
            "planned_end_date": [end_ts.date() if end_ts is not None else None],
            "first_treated_month": [start_ts.date()],
            "last_pilot_month": [last_month.to_timestamp().date() if last_month else None],
            "planned_pilot_months": [
                (last_month - start_ts.to_period("M")).n + 1 if last_month else None
            ],
            # pilot cost for the cost rows: EUR 60,000 a year of pilot months
            "planned_cost_eur": [120000.0],
            "realised_cost_eur": [120000.0],
            "configuration": [
                make_pilot(pilot_id, start=start, planned_end=planned_end).model_dump_json()
            ],
        }
    )
    surveys = []
    for s in schools:
        for y in range(months[0].year, months[-1].year):
            for k in range(10):
                date = pd.Timestamp(f"{y + 1}-03-01") + pd.Timedelta(days=k)
                if date > months[-1]:
                    continue
                shift = 0.5 if (s in treated and date >= start_ts) else 0.0
                surveys.append(
                    {
                        "school_id": s,
                        "school_year": y,
                        "response_date": date.date(),
                        "respondent_group": "parents",
                        "climate_score": float(np.clip(rng.normal(3.5 + shift, 0.5), 1, 5)),
                        "satisfaction": int(np.clip(round(rng.normal(7 + shift, 1)), 1, 10)),
                    }
                )
    return sm, asg, pil, pd.DataFrame(surveys)


KIND_SHARES = (0.60, 0.32, 0.08)  # of referrals and cost, in the order of KINDS_OF_CARE


def with_kinds_of_care(sm: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Split each school-month's referrals (multinomial) and cost (by share, the remainder
    to the first kind) over the kinds of care, as the warehouse does: the kinds add up to
    the totals. A stream of its own, so the other draws stay as they were."""
    rng = np.random.default_rng([seed, 15])
    referrals = rng.multinomial(sm["new_referrals"].to_numpy(), KIND_SHARES)
    cost = np.floor(np.outer(sm["declared_cost_cents"].to_numpy(), KIND_SHARES)).astype(np.int64)
    cost[:, 0] += sm["declared_cost_cents"].to_numpy() - cost.sum(axis=1)
    for i, kind in enumerate(KINDS_OF_CARE):
        sm[f"new_referrals_{kind}"] = referrals[:, i]
        sm[f"declared_cost_cents_{kind}"] = cost[:, i]
    return sm


def pilot_months(sm, pil) -> pd.DataFrame:
    """published.dim_pilot_month as the warehouse publishes it for the simulated months:
    event time from the start month, the pilot period to the planned end inclusive, and
    the months the national school closures (the seed) touch."""
    months = pd.Series(sorted(sm["month"].unique()))
    closed = {
        p for first, last in school_closures() for p in pd.period_range(first, last, freq="M")
    }
    rows = []
    for _, p in pil.iterrows():
        start = pd.Timestamp(p["first_treated_month"]).to_period("M")
        last_month = pd.Timestamp(p["last_pilot_month"])  # NaT while open-ended
        last = None if pd.isna(last_month) else last_month.to_period("M")
        for m in months.dt.to_period("M"):
            rows.append(
                {
                    "pilot_id": p["pilot_id"],
                    "month": m.to_timestamp(),
                    "event_time": (m - start).n,
                    "in_pilot_period": m >= start and (last is None or m <= last),
                    "is_school_closure_month": m in closed,
                }
            )
    return pd.DataFrame(rows)


def national_pool(sm, asg) -> pd.DataFrame:
    """published.dim_pilot_national_pool for the simulation: every simulated school is an
    SBO (the registered pool's type), so every school that is no pilot school; the extra
    national schools (99N...) stand for other provinces."""
    treated = set(asg.loc[asg["role"] == "treated", "school_id"])
    return pd.DataFrame(
        [
            {"pilot_id": pilot_id, "school_id": school}
            for pilot_id in asg["pilot_id"].unique()
            for school in sorted(sm["school_id"].unique())
            if school not in treated
        ]
    )


def write_published(path, frames, with_national_pool=True) -> None:
    sm, asg, pil, sv = frames
    conn = duckdb.connect(str(path))
    conn.execute("create schema if not exists published")
    tables = [
        ("fct_school_month", sm),
        ("dim_pilot_assignment", asg),
        ("dim_pilot", pil),
        ("dim_pilot_month", pilot_months(sm, pil)),
        ("fct_survey_scores", sv),
    ]
    if with_national_pool:
        tables.append(("dim_pilot_national_pool", national_pool(sm, asg)))
    for name, df in tables:
        conn.register("_df", df)
        conn.execute(f"create or replace table published.{name} as select * from _df")
        conn.unregister("_df")
    conn.execute("alter table published.fct_school_month alter month type date")
    conn.execute("alter table published.dim_pilot alter start_date type date")
    conn.execute("alter table published.dim_pilot alter first_treated_month type date")
    conn.execute("alter table published.dim_pilot alter last_pilot_month type date")
    conn.execute("alter table published.dim_pilot_month alter month type date")
    conn.close()


@pytest.fixture(scope="session")
def published_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("published") / "warehouse.duckdb"
    write_published(path, simulate())
    return path
