"""Plain-words sentences per goal, from disclosure-checked effects."""

from __future__ import annotations

import math

import pandas as pd

from pilotmonitor.pilots import YOUTH_CARE_DATA_FROM

from .content import Effect, ReportContent
from .texts import OUTCOME_NAMES, UNITS, T, euros, month, number, p_value, percent

# The few-cluster test decides the wording; 5% as in the pilots' plans.
ALPHA = 0.05


def _amount(value: float, unit: str, lang: str) -> str:
    if unit == "eur":
        return euros(abs(value), lang)
    digits = 2 if unit == "points" else 1
    return number(abs(value), lang, digits)


def _signed(value: float, unit: str, lang: str) -> str:
    t = T[lang]
    return (
        (t["fewer"] if value < 0 else t["more"]).format(x=_amount(value, unit, lang))
        if unit != "points"
        else (("-" if value < 0 else "+") + _amount(value, unit, lang))
    )


def effect_lines(e: Effect, lang: str) -> list[str]:
    t, name = T[lang], OUTCOME_NAMES[lang].get(e.outcome, e.outcome)
    what = name[0].upper() + name[1:]
    if not e.estimable:
        return [t["not_estimable"].format(What=what, why=(e.why_not or "")[:160])]
    unit = UNITS[lang][e.unit]
    lines = []
    if e.effect is not None and math.isfinite(e.effect):
        verb = (
            t["change_none"]
            if abs(e.pct or 0) < 1 and e.unit != "points"
            else (t["decrease"] if e.effect < 0 else t["increase"])
        )
        template = t["sentence_points"] if e.unit == "points" else t["sentence"]
        lines.append(
            template.format(
                What=what,
                verb=verb,
                amount=_amount(e.effect, e.unit, lang),
                unit=unit,
                pct=percent(e.pct, lang),
            )
        )
        wide = e.low is not None and e.high is not None and (e.low < 0 < e.high)
        lines.append(
            t["uncertainty"].format(
                size=t["size_large"] if wide else t["size_small"],
                low=_signed(e.low, e.unit, lang),
                high=_signed(e.high, e.unit, lang),
            )
        )
    elif e.pct is not None:
        # absolute scale suppressed (small baseline count): the relative change only
        verb = t["decrease"] if e.pct < 0 else t["increase"]
        lines.append(
            f"{what} {verb} {percent(e.pct, lang, signed=False)} (95%: {percent(e.pct_low, lang)} "
            f".. {percent(e.pct_high, lang)})."
        )
    if e.baseline is not None and math.isfinite(e.baseline):
        value = (
            euros(e.baseline, lang)
            if e.unit == "eur"
            else number(e.baseline, lang, 2 if e.unit == "points" else 1)
        )
        lines.append(t["baseline"].format(value=value, unit=unit))
    if e.p_few_clusters is not None:
        key = "evidence_strong" if e.p_few_clusters < ALPHA else "evidence_weak"
        lines.append(t[key].format(p=p_value(e.p_few_clusters, lang)))
    return lines


def status_text(c: ReportContent, lang: str) -> str:
    t = T[lang]
    start = month(c.sample.start_month, lang)
    if c.lang_independent_status == "final":
        return t["final"].format(start=start, end=month(c.sample.window_end, lang))
    end = c.pilot.get("planned_end_date")
    if end is None or (isinstance(end, float) and math.isnan(end)) or str(end) == "NaT":
        return t["interim_open"].format(observed=c.observed_pilot_months)
    return t["interim"].format(
        end=month(end, lang), observed=c.observed_pilot_months, planned=c.planned_pilot_months
    )


def limit_lines(c: ReportContent, lang: str) -> list[str]:
    t = T[lang]
    lines = [
        t["limit_schools"].format(
            n_treated=len(c.sample.treated_schools), n_comparison=len(c.sample.comparison_schools)
        )
    ]
    if c.mde_ratio is not None and math.isfinite(c.mde_ratio):
        lines.append(
            t["limit_mde"].format(mde=percent(100 * (1 - c.mde_ratio), lang, signed=False))
        )
    if c.design_mde_ratio is not None and math.isfinite(c.design_mde_ratio):
        lines.append(
            t["limit_design_mde"].format(
                mde=percent(100 * (1 - c.design_mde_ratio), lang, signed=False)
            )
        )
    lines.append(t["limit_interim"] if c.lang_independent_status == "interim" else t["limit_final"])
    lines.append(
        t["limit_youth_care_data"].format(
            data_from=month(pd.Timestamp(f"{YOUTH_CARE_DATA_FROM}-01"), lang),
            window_start=month(c.sample.window_start, lang),
        )
    )
    if c.closures is not None and c.closures.estimable and c.closures.ratio is not None:
        lines.append(
            t["limit_closures"].format(
                value=(
                    f"{percent(c.closures.pct, lang)} ({percent(c.closures.pct_low, lang)} .. "
                    f"{percent(c.closures.pct_high, lang)})"
                )
            )
        )
    else:
        lines.append(t["limit_no_closures"])
    pt = c.pretrend
    if pt is None or pt["p_value"] is None:
        lines.append(t["limit_pretrend_none"].format(why=(pt or {}).get("why_not") or "-"))
    else:
        lines.append(
            t["limit_pretrend_ok" if pt["p_value"] >= ALPHA else "limit_pretrend_bad"].format(
                p=p_value(pt["p_value"], lang)
            )
        )
    lines.append(t["limit_causal"])
    return lines


def quality_lines(c: ReportContent, lang: str) -> list[str]:
    t = T[lang]
    state = c.publication
    published = f"{state.published_at:%Y-%m-%d %H:%M} UTC" if state.published_at else "-"
    first = (
        t["quality_stale"].format(reasons="; ".join(state.reasons[:3]), published=published)
        if state.is_stale
        else t["quality_ok"].format(published=published)
    )
    rows = t["quality_rows"].format(
        deliveries=number(c.deliveries["loaded"], lang, 0),
        loaded=number(c.deliveries["rows_loaded"], lang, 0),
        quarantined=number(c.deliveries["rows_quarantined"], lang, 0),
    )
    return [first, rows]
