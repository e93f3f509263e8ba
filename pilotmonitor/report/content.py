"""What one pilot's report says, read from the warehouse (``published.*`` and
``results.effect_estimates``) before any disclosure control or rendering.

Effects are put on an absolute scale the reader knows:

* count outcomes (referrals, dropout, thuiszitter spells; Poisson IRR): the pilot
  schools' rate before the pilot, per 100 pupils per year (1,200 x events / pupil-months),
  times (IRR - 1); the interval scales the same way;
* per-pupil-month outcomes (unauthorised absence hours, declared youth-care cost): the
  linear effect x 12, per pupil per year;
* survey scores: the effect in scale points.

The percentage change is (IRR - 1) or effect / baseline. The p-value shown to readers is
the wild cluster bootstrap p (valid with few schools), never the cluster-robust one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from pilotmonitor.disclosure.models import residual_df
from pilotmonitor.evaluation.outcomes import OUTCOMES
from pilotmonitor.evaluation.sample import (
    PilotSample,
    PublishedInputs,
    build_sample,
    read_published,
)
from pilotmonitor.evaluation.store import stored_plan
from pilotmonitor.pilots import AnalysisPlan, WindowPlan
from pilotmonitor.publication.gate import PublicationState, publication_state
from pilotmonitor.table_digest import table_exists

# outcome -> (reader's kind, column summed for the baseline, unit key), from the registry
_READER_KIND = {"count": "count", "rate": "per_pupil_month", "survey": "survey"}
OUTCOME_SCALES = {name: (_READER_KIND[o.kind], o.numerator, o.unit) for name, o in OUTCOMES.items()}


@dataclass
class Effect:
    outcome: str
    role: str
    estimator: str
    estimable: bool
    why_not: str | None
    ratio: float | None  # IRR for count outcomes
    effect: float | None  # absolute effect on the reader's scale
    low: float | None
    high: float | None
    pct: float | None
    pct_low: float | None
    pct_high: float | None
    baseline: float | None  # pilot schools before the pilot, reader's scale
    baseline_count: float | None  # events (count outcomes) or responses behind the baseline
    unit: str
    p_few_clusters: float | None
    p_randomization: float | None
    p_adjusted: float | None
    n_obs: int | None
    n_clusters: int | None
    df_resid: float | None


@dataclass
class ReportContent:
    pilot: dict
    lang_independent_status: str  # "interim" | "final"
    observed_pilot_months: int
    planned_pilot_months: int | None
    sample: PilotSample
    effects: list[Effect]
    estimates: pd.DataFrame  # the pilot's rows of results.effect_estimates
    trend: pd.DataFrame  # role x half-year: new_referrals, pupil_months, rate_per_100_year
    activity: pd.DataFrame  # month: activity counts summed over pilot schools
    cost_micro: pd.DataFrame  # declaration lines: group, month, year, client_pseudonym, amount_eur
    # pilot schools before the pilot: pupil_pseudonym, unauthorised_absence_hours
    absence_micro: pd.DataFrame
    pupil_years: pd.DataFrame  # group, year, pupil_years
    costs: dict | None  # cost-effectiveness rows, if the plan produced them
    pretrend: dict | None
    closures: Effect | None
    mde_ratio: float | None  # from the achieved precision
    design_mde_ratio: float | None  # design stage, pre-period only (the plan's design_mde row)
    publication: PublicationState
    deliveries: dict
    provenance: dict
    data_first: date
    data_last: date
    synthetic: bool
    notes: list[str] = field(default_factory=list)


def _latest_estimates(conn: duckdb.DuckDBPyConnection, pilot_id: str) -> pd.DataFrame:
    table = conn.execute(
        "select * from results.effect_estimates where pilot_id = ? order by role, outcome, "
        "estimator",
        [pilot_id],
    ).df()
    if table.empty:
        raise LookupError(
            f"no effect estimates for pilot {pilot_id!r}: run the analysis (effect_estimates) first"
        )
    return table


def _baseline(sample: PilotSample, outcome: str) -> tuple[float | None, float | None]:
    kind, column, _ = OUTCOME_SCALES[outcome]
    if kind == "survey":
        pre = sample.surveys[
            (sample.surveys["school_id"].isin(sample.treated_schools)) & (sample.surveys["d"] == 0)
        ]
        pre = pre.dropna(subset=[column])
        if pre.empty:
            return None, None
        return float(np.average(pre[column], weights=pre["responses"])), float(
            pre["responses"].sum()
        )
    pre = sample.panel[(sample.panel["role"] == "treated") & (sample.panel["event_time"] < 0)]
    pm = float(pre["pupil_months"].sum())
    if pm <= 0:
        return None, None
    total = float(pre[column].sum()) * OUTCOMES[outcome].numerator_scale
    if kind == "count":
        return 1200 * total / pm, total
    return 12 * total / pm, None


def _effect(row: pd.Series, sample: PilotSample) -> Effect:
    outcome = str(row["outcome"])
    kind, _, unit = OUTCOME_SCALES.get(outcome, ("survey", None, "points"))
    estimable = bool(row.get("estimable")) and pd.notna(row.get("estimate"))
    baseline, baseline_count = (
        _baseline(sample, outcome) if outcome in OUTCOME_SCALES else (None, None)
    )
    ratio = effect = low = high = pct = pct_low = pct_high = None
    if estimable:
        est, lo, hi = float(row["estimate"]), float(row["ci_lower"]), float(row["ci_upper"])
        if kind == "count":
            ratio = est
            pct, pct_low, pct_high = 100 * (est - 1), 100 * (lo - 1), 100 * (hi - 1)
            if baseline is not None:
                effect, low, high = baseline * (est - 1), baseline * (lo - 1), baseline * (hi - 1)
        elif kind == "per_pupil_month":
            effect, low, high = 12 * est, 12 * lo, 12 * hi
            if baseline:
                pct, pct_low, pct_high = (
                    100 * effect / baseline,
                    100 * low / baseline,
                    100 * high / baseline,
                )
        else:
            effect, low, high = est, lo, hi
            if baseline:
                pct, pct_low, pct_high = (
                    100 * est / baseline,
                    100 * lo / baseline,
                    100 * hi / baseline,
                )

    def num(name):
        v = row.get(name)
        return None if v is None or pd.isna(v) else float(v)

    return Effect(
        outcome=outcome,
        role=str(row["role"]),
        estimator=str(row["estimator"]),
        estimable=bool(estimable),
        why_not=(row.get("not_estimable_reason") or "no estimate") if not estimable else None,
        ratio=ratio,
        effect=effect,
        low=low,
        high=high,
        pct=pct,
        pct_low=pct_low,
        pct_high=pct_high,
        baseline=baseline,
        baseline_count=baseline_count,
        unit=unit,
        p_few_clusters=num("p_value_wild_bootstrap"),
        p_randomization=num("p_value_randomization"),
        p_adjusted=num("p_value_adjusted"),
        n_obs=int(row["n_obs"]) if pd.notna(row.get("n_obs")) else None,
        n_clusters=int(row["n_clusters"]) if pd.notna(row.get("n_clusters")) else None,
        df_resid=residual_df(row),
    )


def _half_year_trend(sample: PilotSample) -> pd.DataFrame:
    """Referral rate per role and six-month bin aligned on the pilot start (bin 0 = the
    first six pilot months, as in the event study), so no bin mixes months before and
    during the pilot; `half_start` is the bin's first month, `half_mid` its middle."""
    p = sample.panel.assign(bin=np.floor_divide(sample.panel["event_time"], 6))
    t = p.groupby(["role", "bin"], as_index=False)[["new_referrals", "pupil_months"]].sum()
    t["half_start"] = [sample.start_month + pd.DateOffset(months=6 * int(b)) for b in t["bin"]]
    t["half_mid"] = t["half_start"] + pd.Timedelta(days=91)
    t["half"] = t["half_start"].dt.strftime("%Y-%m")
    t["rate_per_100_year"] = 1200 * t["new_referrals"] / t["pupil_months"]
    return t.sort_values(["role", "half_start"]).reset_index(drop=True)


def _pretrend(estimates: pd.DataFrame) -> dict | None:
    """The pre-registered pre-trend test when the plan has one; else the linear event
    study's joint F test (few-cluster t(G-1)-based)."""
    for name in ("pretrend_test", "event_study_linear_pretrend"):
        rows = estimates[estimates["estimator"] == name]
        if not rows.empty:
            r = rows.iloc[0]
            p = (
                r.get("p_value_wild_bootstrap")
                if pd.notna(r.get("p_value_wild_bootstrap"))
                else r.get("p_value")
            )
            return {
                "estimator": name,
                "p_value": None if pd.isna(p) else float(p),
                "why_not": None if r.get("estimable") else r.get("not_estimable_reason"),
            }
    return None


def _minimal_detectable_ratio(
    estimates: pd.DataFrame, primary: Effect | None, sample: PilotSample
) -> float | None:
    """Minimal detectable rate ratio (a decrease; 5% two-sided, 80% power) from the
    achieved precision: M x SE with M = t(0.975, G-1) + t(0.8, G-1) (the estimators'
    few-cluster convention). SE is taken from the wild-bootstrap interval of the linear
    rate estimate (robustness row) when present, relative to the pilot schools' rate before
    the pilot, because the cluster-robust SE of the Poisson IRR is too small with few
    schools; else from the Poisson interval. The larger (more honest) MDE is reported."""
    if primary is None or not primary.estimable or not primary.n_clusters:
        return None
    df = max(primary.n_clusters - 1, 1)
    from analyses.power import (
        multiplier,  # scipy: imported when a report is built, not for its reuse check
    )

    m = multiplier(0.05, 0.8, df)
    candidates = []
    row = estimates[estimates["role"] == "primary"].iloc[0]
    if primary.ratio and row["ci_lower"] > 0:
        se_log = (math.log(float(row["ci_upper"])) - math.log(float(row["ci_lower"]))) / (
            2 * 1.959963984540054
        )
        candidates.append(math.exp(-m * se_log))
    linear = estimates[estimates["estimator"] == "twfe_linear_rate_per_100"]
    pre = sample.panel[(sample.panel["role"] == "treated") & (sample.panel["event_time"] < 0)]
    base = (
        100 * float(pre["new_referrals"].sum()) / float(pre["pupil_months"].sum())
        if len(pre)
        else 0.0
    )
    if not linear.empty and base > 0:
        lo, hi = linear.iloc[0]["bootstrap_ci_lower"], linear.iloc[0]["bootstrap_ci_upper"]
        if pd.notna(lo) and pd.notna(hi) and math.isfinite(lo) and math.isfinite(hi):
            from scipy import stats

            se = (hi - lo) / (2 * stats.t.ppf(0.975, df))
            candidates.append(max(0.0, 1 - m * se / base))
    return min(candidates) if candidates else None


def _design_mde(estimates: pd.DataFrame) -> float | None:
    rows = estimates[
        (estimates["role"] == "design") & estimates["estimable"].fillna(False).astype(bool)
    ]
    return (
        float(rows["estimate"].iloc[0])
        if len(rows) and pd.notna(rows["estimate"].iloc[0])
        else None
    )


def delivery_totals(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """What the report quotes about the deliveries behind it."""
    loaded, rows_loaded, rows_quarantined = conn.execute(
        "select count(*) filter (where status = 'loaded'), coalesce(sum(rows_loaded), 0), "
        "coalesce(sum(rows_quarantined), 0) from raw.deliveries"
    ).fetchone()
    return {
        "loaded": int(loaded),
        "rows_loaded": int(rows_loaded),
        "rows_quarantined": int(rows_quarantined),
    }


def _window(conn: duckdb.DuckDBPyConnection, pilot_id: str, estimates: pd.DataFrame) -> WindowPlan:
    """The window of the plan the estimates were computed with (stored with the run), so
    the report's baselines and chart use the same sample as the estimates."""
    stored = stored_plan(conn, pilot_id, str(estimates["plan_hash"].iloc[0]))
    return AnalysisPlan.model_validate(stored).window if stored else WindowPlan()


def _pilot_school_pupil_months(conn: duckdb.DuckDBPyConnection) -> str:
    """The published table of pilot schools' pupil-months: fct_pilot_school_pupil_month
    (the whole panel is stored by month, not by school: at the national pool a pilot's
    year before its start took 1.2-1.9 s warm and up to 33 s cold from fct_pupil_month);
    a round's frozen warehouse has no such table, its fct_pupil_month holds the round's
    pilot schools only (pilotmonitor.rounds.freeze)."""
    return (
        "fct_pilot_school_pupil_month"
        if table_exists(conn, "published", "fct_pilot_school_pupil_month")
        else "fct_pupil_month"
    )


def read_content(
    conn: duckdb.DuckDBPyConnection,
    pilot_id: str,
    synthetic: bool,
    inputs: PublishedInputs | None = None,
) -> ReportContent:
    """What the pilot's report shows, from the published marts (``inputs``: read_published
    of the same warehouse, read once for several reports) and its latest estimates."""
    inputs = read_published(conn) if inputs is None else inputs
    estimates = _latest_estimates(conn, pilot_id)
    window = _window(conn, pilot_id, estimates)
    sample = build_sample(inputs, pilot_id, window=window)
    # the trend chart shows the plan's full pre-period history, however short the pilot is yet
    history = build_sample(
        inputs, pilot_id, window=window, pre_months=max(window.chart_pre_months, sample.pre_months)
    )
    prow = inputs.pilots[inputs.pilots["pilot_id"] == pilot_id].iloc[0]
    pilot = (
        conn.execute("select * from published.dim_pilot where pilot_id = ?", [pilot_id])
        .df()
        .iloc[0]
        .to_dict()
    )
    data_first, data_last = inputs.school_month["month"].min(), inputs.school_month["month"].max()

    # the pilot period as published (dim_pilot): final once the data reach its last month
    planned_months = (
        int(prow["planned_pilot_months"]) if pd.notna(prow["planned_pilot_months"]) else None
    )
    last_month = prow["last_pilot_month"]
    status = "final" if pd.notna(last_month) and last_month <= data_last else "interim"

    effects, closures = [], None
    for _, row in estimates.iterrows():
        if row["role"] in ("primary", "secondary"):
            effects.append(_effect(row, sample))
        elif row["estimator"] == "twfe_poisson_excl_closures":
            closures = _effect(row, sample)
    effects.sort(
        key=lambda e: (
            e.role != "primary",
            list(OUTCOME_SCALES).index(e.outcome) if e.outcome in OUTCOME_SCALES else 99,
        )
    )
    primary = next((e for e in effects if e.role == "primary"), None)
    mde = _minimal_detectable_ratio(estimates, primary, sample)
    if closures is not None and not sample.panel["is_closure_month"].any():
        closures = None

    activity = conn.execute(
        "select month, sum(contacts_pupils) as contacts_pupils, sum(contacts_parents) as "
        "contacts_parents, sum(group_sessions) as group_sessions, sum(consultations_teachers + "
        "consultations_providers) as consultations, sum(total_activities) as total_activities "
        "from published.fct_pilot_activity where pilot_id = ? group by month order by month",
        [pilot_id],
    ).df()
    schools = list(sample.treated_schools + sample.comparison_schools)
    cost_micro = conn.execute(
        "select school_id, month, year(month) as year, client_pseudonym, kind_of_care, "
        "amount_cents / 100.0 as amount_eur from published.fct_youth_care_costs where school_id "
        "in (select unnest(?)) and month between ? and ?",
        [schools, sample.window_start.date(), sample.window_end.date()],
    ).df()
    cost_micro["group"] = np.where(
        cost_micro["school_id"].isin(sample.treated_schools), "pilot", "comparison"
    )
    cost_micro["month"] = pd.to_datetime(cost_micro["month"])
    # pupil-level absence behind the absence baseline, for its dominance check
    absence_micro = conn.execute(
        "select pupil_pseudonym, unauthorised_absence_hours from "
        f"published.{_pilot_school_pupil_months(conn)} where school_id in (select unnest(?)) "
        "and month >= ? and month < ?",
        [list(sample.treated_schools), sample.window_start.date(), sample.start_month.date()],
    ).df()
    py = sample.panel.assign(
        year=sample.panel["month"].dt.year,
        group=np.where(sample.panel["role"] == "treated", "pilot", "comparison"),
    )
    pupil_years = py.groupby(["group", "year"], as_index=False)["pupil_months"].sum()
    pupil_years["pupil_years"] = pupil_years["pupil_months"] / 12

    costs = None
    cost_rows = estimates[estimates["role"] == "costs"]
    if not cost_rows.empty:
        costs = {r["outcome"]: r for _, r in cost_rows.iterrows()}

    first = estimates.iloc[0]
    provenance = {
        k: (None if pd.isna(first.get(k)) else str(first.get(k)))
        for k in ("run_id", "computed_at", "input_hash", "code_version", "plan_hash", "seed")
    }
    return ReportContent(
        pilot=pilot,
        lang_independent_status=status,
        observed_pilot_months=sample.post_months,
        planned_pilot_months=planned_months,
        sample=sample,
        effects=effects,
        estimates=estimates,
        trend=_half_year_trend(history),
        activity=activity,
        cost_micro=cost_micro,
        absence_micro=absence_micro,
        pupil_years=pupil_years,
        costs=costs,
        pretrend=_pretrend(estimates),
        closures=closures,
        mde_ratio=mde,
        design_mde_ratio=_design_mde(estimates),
        publication=publication_state(conn),
        deliveries=delivery_totals(conn),
        provenance=provenance,
        data_first=data_first.date(),
        data_last=data_last.date(),
        synthetic=synthetic,
    )


__all__ = ["Effect", "ReportContent", "read_content", "OUTCOME_SCALES"]
