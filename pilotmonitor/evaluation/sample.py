"""Analysis samples for one pilot, built from the *published* marts only.

The design comes from the warehouse: event time, the pilot period and the school-closure
months (``dim_pilot_month``), the registered pool (``dim_pilot_assignment``) and the
national pool (``dim_pilot_national_pool``). The window (the pilot months in the data,
and a pre-period of as many months, capped at ``window.max_pre_months``, the first month
in the data and ``YOUTH_CARE_DATA_FROM``) is the plan's, the same for every pilot.

Design notes: docs/design/evaluation.md#pilotmonitorevaluationsamplepy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from pilotmonitor.evaluation.outcomes import OUTCOMES
from pilotmonitor.pilots import YOUTH_CARE_DATA_FROM, WindowPlan
from pilotmonitor.table_digest import table_exists

SCHEMA = "published"

# The panel's keys and exposure, then the numerator of every outcome of the registry
# measured per school-month (count and rate outcomes), in registry order.
SCHOOL_MONTH_COLUMNS = (
    "school_id",
    "month",
    "is_treated",
    "months_since_pilot_start",
    "pupil_months",
    *dict.fromkeys(o.numerator for o in OUTCOMES.values() if o.exposure == "pupil_months"),
)
PILOT_COLUMNS = (
    "pilot_id",
    "start_date",
    "planned_end_date",
    "first_treated_month",
    "last_pilot_month",
    "planned_pilot_months",
    "planned_cost_eur",
    "realised_cost_eur",
)
PILOT_MONTH_COLUMNS = (
    "pilot_id",
    "month",
    "event_time",
    "in_pilot_period",
    "is_school_closure_month",
)
SURVEY_COLUMNS = (
    "school_id",
    "school_year",
    "response_date",
    "respondent_group",
    "climate_score",
    "satisfaction",
)


class AnalysisInputError(RuntimeError):
    """The published marts needed for the analysis are missing."""


@dataclass(frozen=True)
class PublishedInputs:
    school_month: pd.DataFrame
    assignment: pd.DataFrame
    pilots: pd.DataFrame
    surveys: pd.DataFrame
    pilot_months: pd.DataFrame | None = None  # published.dim_pilot_month
    national_pool: pd.DataFrame | None = None  # published.dim_pilot_national_pool, if there

    def content_hash(self) -> str:
        """sha256 over a deterministic CSV dump of every column the analysis reads
        (rows sorted), so the hash changes exactly when the analysed data change. Taken
        once (the inputs as read: 3.3-4.4 s at the national pool, asked for by the reuse
        decision and again by the estimates' provenance)."""
        if (known := self.__dict__.get("_content_hash")) is not None:
            return known
        digest = hashlib.sha256()
        for name in (
            "school_month",
            "assignment",
            "pilots",
            "surveys",
            "pilot_months",
            "national_pool",
        ):
            frame = getattr(self, name)
            if frame is None:
                continue
            digest.update(f"{name}:{len(frame)}:{','.join(frame.columns)}\n".encode())
            digest.update(
                frame.to_csv(index=False, lineterminator="\n", float_format="%.12g").encode()
            )
        value = digest.hexdigest()
        object.__setattr__(self, "_content_hash", value)  # a frozen dataclass
        return value


def _exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    return table_exists(conn, SCHEMA, table)


def read_published(conn: duckdb.DuckDBPyConnection) -> PublishedInputs:
    """Read the published marts the plan needs (never marts.*), deterministically ordered."""
    needed = ("fct_school_month", "dim_pilot_assignment", "dim_pilot", "dim_pilot_month")
    missing = [t for t in needed if not _exists(conn, t)]
    if missing:
        raise AnalysisInputError(
            f"published.{', published.'.join(missing)} missing: nothing has been published yet "
            "(publication gate)"
        )
    sm = conn.execute(
        f"select {', '.join(SCHOOL_MONTH_COLUMNS)} from {SCHEMA}.fct_school_month order by "
        "school_id, month"
    ).df()
    asg = conn.execute(
        f"select pilot_id, school_id, role from {SCHEMA}.dim_pilot_assignment order by pilot_id, "
        "school_id"
    ).df()
    pil = conn.execute(
        f"select {', '.join(PILOT_COLUMNS)} from {SCHEMA}.dim_pilot order by pilot_id"
    ).df()
    months = conn.execute(
        f"select {', '.join(PILOT_MONTH_COLUMNS)} from {SCHEMA}.dim_pilot_month "
        "order by pilot_id, month"
    ).df()
    if _exists(conn, "fct_survey_scores"):
        sv = conn.execute(
            f"select {', '.join(SURVEY_COLUMNS)} from {SCHEMA}.fct_survey_scores "
            "order by school_id, response_date, respondent_group, climate_score, satisfaction"
        ).df()
    else:
        sv = pd.DataFrame(columns=list(SURVEY_COLUMNS))
    sm["month"] = pd.to_datetime(sm["month"])
    for c in ("start_date", "planned_end_date", "first_treated_month", "last_pilot_month"):
        pil[c] = pd.to_datetime(pil[c])
    months["month"] = pd.to_datetime(months["month"])
    sv["response_date"] = pd.to_datetime(sv["response_date"])
    pool = None
    if _exists(conn, "dim_pilot_national_pool"):
        pool = conn.execute(
            f"select pilot_id, school_id from {SCHEMA}.dim_pilot_national_pool "
            "order by pilot_id, school_id"
        ).df()
    return PublishedInputs(sm, asg, pil, sv, months, pool)


def national_comparison_pool(inputs: PublishedInputs, pilot_id: str) -> tuple[str, ...]:
    """The national comparison pool of the pilot, as published (dim_pilot_national_pool)."""
    if inputs.national_pool is None:
        raise AnalysisInputError(
            "published.dim_pilot_national_pool missing: no national comparison pool"
        )
    pool = inputs.national_pool
    return tuple(sorted(pool.loc[pool["pilot_id"] == pilot_id, "school_id"]))


def _month_index(ts: pd.Series | pd.Timestamp):
    return ts.year * 12 + ts.month - 1


@dataclass(frozen=True)
class PilotSample:
    pilot_id: str
    panel: pd.DataFrame  # school-month panel in the window
    surveys: pd.DataFrame  # school x school_year x treated cells in the window
    treated_schools: tuple[str, ...]
    comparison_schools: tuple[str, ...]
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    start_month: pd.Timestamp
    pre_months: int
    post_months: int
    treatment_mismatches: int  # pilot-school rows where is_treated disagrees with the period

    def describe(self) -> str:
        return (
            f"window {self.window_start:%Y-%m}..{self.window_end:%Y-%m} ({self.pre_months} pre + "
            f"{self.post_months} pilot months), {len(self.treated_schools)} pilot + "
            f"{len(self.comparison_schools)} comparison schools"
        )


def build_sample(
    inputs: PublishedInputs,
    pilot_id: str,
    window: WindowPlan | None = None,
    comparison: tuple[str, ...] | None = None,
    pre_months: int | None = None,
) -> PilotSample:
    """The pilot's school-month panel and survey cells in its analysis window (``window``:
    the plan's window parameters, defaults if None; ``comparison``: other comparison
    schools than the registered pool, e.g. the national pool; ``pre_months``: exactly this
    many pre-period months, capped at the data, instead of the plan's rule)."""
    window = window or WindowPlan()
    prow = inputs.pilots[inputs.pilots["pilot_id"] == pilot_id]
    if prow.empty:
        raise AnalysisInputError(f"pilot {pilot_id!r} is not in published.dim_pilot")
    prow = prow.iloc[0]
    if inputs.pilot_months is None:
        raise AnalysisInputError("published.dim_pilot_month missing: no event time")
    months = inputs.pilot_months[inputs.pilot_months["pilot_id"] == pilot_id].set_index("month")
    if months.empty:
        raise AnalysisInputError(f"pilot {pilot_id!r} has no months in published.dim_pilot_month")
    start = pd.Timestamp(prow["first_treated_month"])
    asg = inputs.assignment[inputs.assignment["pilot_id"] == pilot_id]
    treated = tuple(sorted(asg.loc[asg["role"] == "treated", "school_id"]))
    if comparison is None:
        comparison = tuple(sorted(asg.loc[asg["role"] == "comparison", "school_id"]))
    else:
        comparison = tuple(sorted(set(comparison) - set(treated)))
    sm = inputs.school_month
    data_first, data_last = sm["month"].min(), sm["month"].max()
    # the pilot's months that the data reach, and the months before its start
    pilot_months = months.index[months["in_pilot_period"] & (months.index <= data_last)]
    post = len(pilot_months)
    if post == 0:
        raise AnalysisInputError(
            f"pilot {pilot_id!r}: no pilot months in the published data (start {start:%Y-%m}, "
            f"data to {data_last:%Y-%m})"
        )
    end = pilot_months.max()
    wanted = pre_months if pre_months is not None else min(post, window.max_pre_months)
    data_from = max(data_first, pd.Timestamp(f"{YOUTH_CARE_DATA_FROM}-01"))
    available = int(((months["event_time"] < 0) & (months.index >= data_from)).sum())
    pre = int(min(wanted, available))
    if pre <= 0:
        raise AnalysisInputError(f"pilot {pilot_id!r}: no pre-period months in the published data")
    wstart = months.index[months["event_time"] == -pre][0]
    panel = sm[
        sm["school_id"].isin(treated + comparison) & (sm["month"] >= wstart) & (sm["month"] <= end)
    ]
    panel = panel[panel["pupil_months"] > 0]
    design = months.loc[panel["month"]]
    panel = panel.assign(
        role=np.where(panel["school_id"].isin(treated), "treated", "comparison"),
        event_time=design["event_time"].to_numpy().astype(int),
        time=_month_index(panel["month"].dt).astype(int),
    )
    panel["d"] = (
        (panel["role"] == "treated") & panel["is_treated"].fillna(False).astype(bool)
    ).astype(int)
    in_period = design["in_pilot_period"].to_numpy().astype(int)
    mismatch = int(((panel["role"] == "treated") & (in_period != panel["d"])).sum())
    pm = panel["pupil_months"].astype(float)
    for o in OUTCOMES.values():  # the rate column of every outcome with pupil-months as exposure
        if o.kind == "count":
            panel[o.rate] = 100 * panel[o.count] / pm
        elif o.kind == "rate":
            # dividing by 1 / scale (exactly 100 for cents) gives the same bits as the
            # hand-written ``cents / 100 / pupil-months`` these columns had before
            panel[o.rate] = panel[o.numerator] / (1 / o.numerator_scale) / pm
    panel["is_closure_month"] = design["is_school_closure_month"].to_numpy().astype(bool)
    panel = panel.sort_values(["school_id", "month"]).reset_index(drop=True)

    sv = inputs.surveys
    sv = sv[
        sv["school_id"].isin(treated + comparison)
        & (sv["response_date"] >= wstart)
        & (sv["response_date"] < (end.to_period("M") + 1).to_timestamp())
    ].copy()
    # a response is in the pilot period when its month is (dim_pilot_month)
    response_month = sv["response_date"].dt.to_period("M").dt.to_timestamp()
    in_period = response_month.map(months["in_pilot_period"]).fillna(False).astype(bool)
    sv["post"] = in_period.astype(int)
    sv["d"] = (sv["school_id"].isin(treated) & in_period).astype(int)
    # One cell per school x school year x pilot-period state (the year a pilot starts may
    # hold responses from before and after the start, for every school); all respondent
    # groups pooled.
    cells = (
        sv.groupby(["school_id", "school_year", "post", "d"], as_index=False)
        .agg(
            climate_score=("climate_score", "mean"),
            satisfaction=("satisfaction", "mean"),
            responses=("school_id", "size"),
        )
        .sort_values(["school_id", "school_year", "post", "d"])
        .reset_index(drop=True)
    )
    return PilotSample(
        pilot_id, panel, cells, treated, comparison, wstart, end, start, pre, post, mismatch
    )
