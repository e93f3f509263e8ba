"""Questionnaire exports from the survey platform: parents, teachers and pupils, once a
year in March, one file per respondent group and school year covering every school.

Five school-climate items (sfeer_1..sfeer_5, Likert 1-5) measure one latent climate per
school and year; satisfaction is a 1-10 mark. Pilots shift both by their planted
effect. A free-text field (toelichting) sometimes holds personal remarks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pilotmonitor.synth.delivery_log import DeliveryLog
from pilotmonitor.synth.dialects import Dialect
from pilotmonitor.synth.scenario import Scenario

GROUPS = {"ouders": 0.35, "leerkrachten": None, "leerlingen": 0.6}
REMARKS = [
    "",
    "",
    "",
    "",
    "Meer rust in de klas sinds dit jaar",
    "Mijn kind gaat met plezier naar school",
    "Te weinig contact met de leerkracht",
]
ITEMS = 5
RESPONSE_COLUMNS = [
    "brin",
    "vestiging",
    "afnamedatum",
    *(f"sfeer_{i + 1}" for i in range(ITEMS)),
    "tevredenheid",
    "toelichting",
    "_true_climate",
    "_treated",
]


def simulate_surveys(
    pupils: pd.DataFrame, schools: pd.DataFrame, scenario: Scenario, rng: np.random.Generator
) -> dict[tuple[str, int], pd.DataFrame]:
    """Responses per (group, school year) with the true latent climate as truth columns."""
    as_of = pd.Timestamp(scenario.as_of)
    first = pd.Timestamp(f"{scenario.first_month}-01")
    out: dict[tuple[str, int], pd.DataFrame] = {}
    shift_climate = {pid: e.climate_shift for pid, e in scenario.effects.items()}
    shift_satisfaction = {pid: e.satisfaction_shift for pid, e in scenario.effects.items()}
    if scenario.surveyed_schools is not None:
        schools = schools[schools.school_id.isin(scenario.surveyed_schools)]
        if schools.empty:
            return out
    for year in range(first.year, as_of.year + 1):
        survey_date = pd.Timestamp(f"{year}-03-15")
        if survey_date < first or survey_date > as_of:
            continue
        present = pupils[
            (pupils.enrol_start <= survey_date)
            & (pupils.enrol_end.fillna(pd.Timestamp.max) >= survey_date)
        ]
        enrolled = (
            present.groupby("school_index").size().reindex(schools.school_index, fill_value=0)
        )
        age = (survey_date - present.birth_date).dt.days / 365.25
        older = (
            present[age >= 8]
            .groupby("school_index")
            .size()
            .reindex(schools.school_index, fill_value=0)
        )
        # the 21 possible answer dates, formatted once
        answer_dates = np.asarray(
            (survey_date + pd.to_timedelta(np.arange(21), unit="D")).strftime("%Y-%m-%d"),
            dtype=object,
        )
        for group, share in GROUPS.items():
            # one frame per group and year from per-school arrays (a frame per school cost
            # most of the generation's survey time); the draws are made in the same order
            parts: dict[str, list] = {name: [] for name in RESPONSE_COLUMNS}
            for school in schools.itertuples(index=False):
                if group == "leerkrachten":
                    n = max(3, int(rng.poisson(enrolled[school.school_index] / 12 * 0.8)))
                elif group == "leerlingen":
                    n = int(rng.binomial(older[school.school_index], share))
                else:
                    n = int(rng.binomial(enrolled[school.school_index], share))
                treated = bool(
                    pd.notna(school.pilot_start)
                    and school.pilot_start <= survey_date
                    and (pd.isna(school.pilot_end) or survey_date <= school.pilot_end)
                )
                climate = (
                    scenario.climate_mean
                    + school.climate_effect
                    + (shift_climate.get(school.pilot_id, 0.0) if treated else 0.0)
                )
                satisfaction = (
                    scenario.satisfaction_mean
                    + 2 * school.climate_effect
                    + (shift_satisfaction.get(school.pilot_id, 0.0) if treated else 0.0)
                )
                latent = climate + rng.normal(0, 0.5, n)
                items = np.clip(
                    np.round(latent[:, None] + rng.normal(0, 0.7, (n, ITEMS))), 1, 5
                ).astype(int)
                parts["brin"].append(np.full(n, school.brin, dtype=object))
                parts["vestiging"].append(np.full(n, school.vestiging, dtype=object))
                parts["afnamedatum"].append(answer_dates[rng.integers(0, 21, n)])
                for i in range(ITEMS):
                    parts[f"sfeer_{i + 1}"].append(items[:, i])
                parts["tevredenheid"].append(
                    np.clip(np.round(satisfaction + rng.normal(0, 1.2, n)), 1, 10).astype(int)
                )
                parts["toelichting"].append(
                    np.array(REMARKS, dtype=object)[rng.integers(0, len(REMARKS), n)]
                )
                parts["_true_climate"].append(np.full(n, climate, dtype=float))
                parts["_treated"].append(np.full(n, treated, dtype=bool))
            responses = pd.DataFrame(
                {name: np.concatenate(values) for name, values in parts.items()}
            )
            responses.insert(
                0,
                "respondent",
                [f"R{year}{group[:2].upper()}{i:05d}" for i in range(len(responses))],
            )
            out[(group, year)] = responses
    return out


def combine_regions(
    per_region: list[dict[tuple[str, int], pd.DataFrame]],
) -> dict[tuple[str, int], pd.DataFrame]:
    """One platform export per group and year over every region, respondents numbered anew."""
    if len(per_region) == 1:
        return per_region[0]
    keys = sorted({key for responses in per_region for key in responses})
    out = {}
    for group, year in keys:
        frame = pd.concat(
            [r[(group, year)] for r in per_region if (group, year) in r], ignore_index=True
        )
        frame["respondent"] = [f"R{year}{group[:2].upper()}{i:05d}" for i in range(len(frame))]
        out[(group, year)] = frame
    return out


def write_surveys(
    responses: dict[tuple[str, int], pd.DataFrame], landing_dir: Path, log: DeliveryLog
) -> None:
    dialect = Dialect("comma_utf8", bom=True)
    for (group, year), frame in responses.items():
        delivered = pd.Timestamp(f"{year}-06-01")
        school_year = f"{year - 1}-{year}"
        path = landing_dir / "surveys" / f"vragenlijst_{group}_{school_year}_{delivered:%Y%m%d}.csv"
        dialect.write(frame[[c for c in frame.columns if not c.startswith("_")]], path)
        log.add_file(
            path,
            source=f"survey_{group}",
            sender="vragenlijstplatform",
            period=school_year,
            delivered_on=f"{delivered:%Y-%m-%d}",
            file_format="csv",
            encoding=dialect.encoding,
            rows=len(frame),
        )
