"""The pilot's own deliveries: the youth support workers' activity log (the dose) and
the pilot's actual costs.

The activity log has one row per school and month of the pilot with contacts, group
sessions and consultations, plus the worker's name and free-text notes (personal data
the pipeline must drop). Costs are actuals per year around the budget in the registry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pilotmonitor.pilots import Pilot
from pilotmonitor.synth.delivery_log import DeliveryLog
from pilotmonitor.synth.dialects import Dialect
from pilotmonitor.synth.identities import GIVEN_NAMES_F, GIVEN_NAMES_M
from pilotmonitor.synth.scenario import Scenario

ACTIVITY_SEASON = np.array([1.0, 0.9, 1.0, 0.9, 0.9, 1.0, 0.5, 0.3, 1.0, 1.0, 1.0, 0.8])
NOTES = [
    "",
    "",
    "",
    "Overleg met wijkteam",
    "Groep 7 extra begeleiding",
    "Huisbezoek samen met leerkracht",
]


def _school_years(start: pd.Timestamp, end: pd.Timestamp) -> list[int]:
    first = start.year if start.month >= 8 else start.year - 1
    last = end.year if end.month >= 8 else end.year - 1
    return list(range(first, last + 1))


def write_activity_logs(
    pilots: list[Pilot],
    scenario: Scenario,
    landing_dir: Path,
    log: DeliveryLog,
    rng: np.random.Generator,
) -> None:
    as_of = pd.Timestamp(scenario.as_of)
    for pilot in pilots:
        start = pd.Timestamp(pilot.start)
        end = min(pd.Timestamp(pilot.planned_end) if pilot.planned_end else as_of, as_of)
        months = pd.date_range(start, end, freq="MS")
        if len(months) == 0:
            continue
        fte = {cost.year: cost.fte for cost in pilot.costs}
        workers = [f"{GIVEN_NAMES_F[i % 20]} Synthetisch-Werker" for i in range(3)] + [
            f"{GIVEN_NAMES_M[i % 20]} Synthetisch-Werker" for i in range(2)
        ]
        dialect = (
            Dialect("xlsx") if pilot.id.startswith("winschoten") else Dialect("semicolon_cp1252")
        )
        for year in _school_years(months[0], months[-1]):
            in_year = months[
                (months >= pd.Timestamp(f"{year}-08-01"))
                & (months <= pd.Timestamp(f"{year + 1}-07-31"))
            ]
            rows = []
            for month in in_year:
                per_school = fte.get(month.year, max(fte.values(), default=1.0)) / len(
                    pilot.schools
                )
                season = ACTIVITY_SEASON[month.month - 1]
                for school in pilot.schools:
                    mean = 40 * per_school * season
                    rows.append(
                        {
                            "Maand": f"{month:%Y-%m}",
                            "BRIN": school.brin,
                            "Vestiging": school.vestiging,
                            "Medewerker": workers[rng.integers(0, len(workers))],
                            "Contacten leerlingen": rng.poisson(mean),
                            "Contacten ouders": rng.poisson(0.6 * mean),
                            "Groepsbijeenkomsten": rng.poisson(0.1 * mean),
                            "Consultaties leerkrachten": rng.poisson(0.4 * mean),
                            "Overleg zorgaanbieders": rng.poisson(0.15 * mean),
                            "Opmerkingen": NOTES[rng.integers(0, len(NOTES))],
                        }
                    )
            year_end = pd.Timestamp(f"{year + 1}-07-31")
            delivered = (
                year_end + pd.Timedelta(days=20)
                if year_end <= as_of
                else as_of + pd.Timedelta(days=7)
            )
            path = (
                landing_dir
                / "pilots"
                / pilot.id
                / (
                    f"{pilot.id}_activiteiten_{year}-{year + 1}_"
                    f"{delivered:%Y%m%d}.{dialect.extension}"
                )
            )
            dialect.write(pd.DataFrame(rows), path)
            log.add_file(
                path,
                source="pilot_activity",
                sender=pilot.id,
                period=f"{year}-{year + 1}",
                delivered_on=f"{delivered:%Y-%m-%d}",
                file_format=dialect.extension,
                encoding=dialect.encoding,
                rows=len(rows),
            )


def write_pilot_costs(
    pilots: list[Pilot],
    scenario: Scenario,
    landing_dir: Path,
    log: DeliveryLog,
    rng: np.random.Generator,
) -> None:
    as_of = pd.Timestamp(scenario.as_of)
    delivered = as_of + pd.Timedelta(days=7)
    for pilot in pilots:
        rows = []
        for cost in pilot.costs:
            if cost.year > as_of.year or pd.Timestamp(f"{cost.year}-12-31") < pd.Timestamp(
                pilot.start
            ):
                continue
            per_fte = round(cost.cost_per_fte_eur * rng.uniform(0.97, 1.03), 2)
            other = round(cost.other_costs_eur * rng.uniform(0.8, 1.2), 2)
            rows.append(
                {
                    "jaar": cost.year,
                    "fte": cost.fte,
                    "kosten_per_fte": per_fte,
                    "overige_kosten": other,
                    "totaal": round(cost.fte * per_fte + other, 2),
                }
            )
        path = landing_dir / "pilots" / pilot.id / f"{pilot.id}_kosten_{delivered:%Y%m%d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame(rows)
        frame.to_csv(path, sep=";", decimal=",", index=False, encoding="utf-8")
        log.add_file(
            path,
            source="pilot_costs",
            sender=pilot.id,
            period=f"{pilot.start.year}-{as_of.year}",
            delivered_on=f"{delivered:%Y-%m-%d}",
            file_format="csv",
            encoding="utf-8",
            rows=len(rows),
        )
