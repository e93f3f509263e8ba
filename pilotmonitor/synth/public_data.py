"""Public reference data in the publishers' formats, and the regional product list.

- DUO open data: the school registry (one row per vestiging) and pupils per vestiging by
  age on the 1 October count date, with counts below five published as "<5".
- CBS StatLine: young people with youth care per municipality and year, as the OData
  JSON the StatLine API returns (region keys padded "GM0014  ", periods "2022JJ00").
  The figures are synthetic: derived from the synthetic world, not from CBS.
- The product list (productcodelijst) a region publishes for its contracts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from pilotmonitor.school_types import label_nl
from pilotmonitor.synth.care import PRODUCTS
from pilotmonitor.synth.delivery_log import DeliveryLog
from pilotmonitor.synth.scenario import PROVINCE_NAMES, Scenario


def write_duo_registry(
    schools: pd.DataFrame,
    scenario: Scenario,
    landing_dir: Path,
    log: DeliveryLog,
    delivered: pd.Timestamp,
) -> None:
    frame = pd.DataFrame(
        {
            "PROVINCIE": schools.province.map(PROVINCE_NAMES),
            "BRIN NUMMER": schools.brin,
            "VESTIGINGSNUMMER": schools.vestiging,
            "VESTIGINGSNAAM": schools.name,
            "PLAATSNAAM": [scenario.municipalities[m].town.upper() for m in schools.municipality],
            "GEMEENTENUMMER": schools.municipality.str[2:],
            "GEMEENTENAAM": [scenario.municipalities[m].name for m in schools.municipality],
            "SOORT PO": schools.type.map(label_nl),
            "CLUSTER": schools.cluster.map(lambda c: "" if pd.isna(c) else str(int(c))),
        }
    )
    path = landing_dir / "public" / "duo" / f"duo_vestigingen_po_{delivered:%Y%m%d}.csv"
    _write_csv(frame, path, log, "duo_registry", "DUO", f"{delivered:%Y}", delivered)


def write_duo_pupil_counts(
    pupils: pd.DataFrame,
    schools: pd.DataFrame,
    scenario: Scenario,
    landing_dir: Path,
    log: DeliveryLog,
) -> None:
    """Pupils per vestiging and age on 1 October of each year (small counts as "<5")."""
    write_duo_pupil_count_files(duo_pupil_count_frames(pupils, schools, scenario), landing_dir, log)


def duo_pupil_count_frames(
    pupils: pd.DataFrame, schools: pd.DataFrame, scenario: Scenario
) -> dict[int, pd.DataFrame]:
    """The published rows per count year (a region's share; regions are concatenated)."""
    as_of = pd.Timestamp(scenario.as_of)
    first = pd.Timestamp(f"{scenario.first_month}-01")
    out = {}
    for year in range(first.year, as_of.year + 1):
        count_date = pd.Timestamp(f"{year}-10-01")
        if count_date < first or count_date > as_of or pd.Timestamp(f"{year + 1}-03-15") > as_of:
            continue
        present = pupils[
            (pupils.enrol_start <= count_date)
            & (pupils.enrol_end.fillna(pd.Timestamp.max) >= count_date)
        ]
        birthday_after_count = (present.birth_date.dt.month > 10) | (
            (present.birth_date.dt.month == 10) & (present.birth_date.dt.day > 1)
        )
        age = year - present.birth_date.dt.year - birthday_after_count
        counts = (
            present.assign(age=age)
            .groupby(["school_index", "age"])
            .size()
            .rename("n")
            .reset_index()
        )
        counts = counts.merge(schools[["school_index", "brin", "vestiging"]], on="school_index")
        out[year] = pd.DataFrame(
            {
                "BRIN NUMMER": counts.brin,
                "VESTIGINGSNUMMER": counts.vestiging,
                "PEILDATUM": f"{count_date:%Y%m%d}",
                "LEEFTIJD": counts.age,
                "AANTAL LEERLINGEN": np.where(counts.n < 5, "<5", counts.n.astype(str)),
            }
        )
    return out


def write_duo_pupil_count_files(
    frames: dict[int, pd.DataFrame], landing_dir: Path, log: DeliveryLog
) -> None:
    """One file per count year, published in March of the next year."""
    for year, frame in frames.items():
        frame = frame.sort_values(["BRIN NUMMER", "VESTIGINGSNUMMER", "LEEFTIJD"])
        delivered = pd.Timestamp(f"{year + 1}-03-15")
        path = (
            landing_dir
            / "public"
            / "duo"
            / f"duo_leerlingen_po_leeftijd_{year}_{delivered:%Y%m%d}.csv"
        )
        _write_csv(frame, path, log, "duo_pupil_counts", "DUO", str(year), delivered)


def cbs_youth_care_rows(
    trajectories: pd.DataFrame, scenario: Scenario, rng: np.random.Generator
) -> list[dict]:
    """The StatLine rows of the scenario's (or a region's) municipalities."""
    as_of = pd.Timestamp(scenario.as_of)
    first_year = int(scenario.first_month[:4])
    rows = []
    for code in sorted(scenario.municipalities):
        local = trajectories[trajectories.municipality_code == code[2:]]
        # Our schools hold a fraction of a municipality's youth: scale up to a plausible whole.
        youth = int(rng.integers(8_000, 60_000))
        for year in range(first_year, as_of.year):  # published with a lag: complete years only
            active = local[
                (local.start_date.dt.year <= year) & (local.end_date.fillna(as_of).dt.year >= year)
            ]
            with_care = int(youth * 0.095 * rng.uniform(0.9, 1.1)) + len(active)
            rows.append(
                {
                    "RegioS": f"{code}  ",
                    "Perioden": f"{year}JJ00",
                    "JongerenMetJeugdhulp_1": float(with_care),
                    "JongerenMetJeugdhulpInProcenten_2": round(100 * with_care / youth, 1),
                }
            )
    return rows


def write_cbs_document(
    rows: list[dict], scenario: Scenario, landing_dir: Path, log: DeliveryLog
) -> None:
    as_of = pd.Timestamp(scenario.as_of)
    first_year = int(scenario.first_month[:4])
    document = {
        "odata.metadata": "https://opendata.cbs.nl/ODataApi/odata/85098NED/$metadata#Cbs.OData.WebAPI.TypedDataSet",
        "value": [{"ID": i, **row} for i, row in enumerate(rows)],
    }
    delivered = as_of.normalize()
    path = landing_dir / "public" / "cbs" / f"85098NED_TypedDataSet_{delivered:%Y%m%d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    log.add_file(
        path,
        source="cbs_youth_care",
        sender="CBS",
        period=f"{first_year}-{as_of.year - 1}",
        delivered_on=f"{delivered:%Y-%m-%d}",
        file_format="json",
        encoding="utf-8",
        rows=len(rows),
    )


def write_product_list(landing_dir: Path, log: DeliveryLog, delivered: pd.Timestamp) -> None:
    frame = PRODUCTS[
        ["product_category", "product_code", "description", "unit", "frequency", "tariff_cents"]
    ].rename(
        columns={
            "product_category": "productcategorie",
            "product_code": "productcode",
            "description": "omschrijving",
            "unit": "eenheid",
            "frequency": "frequentie",
            "tariff_cents": "tarief_eurocent",
        }
    )
    path = landing_dir / "reference" / f"productcodelijst_jeugd_{delivered:%Y%m%d}.csv"
    _write_csv(frame, path, log, "product_list", "regio", f"{delivered:%Y}", delivered)


def _write_csv(
    frame: pd.DataFrame,
    path: Path,
    log: DeliveryLog,
    source: str,
    sender: str,
    period: str,
    delivered: pd.Timestamp,
) -> None:
    """A publisher's semicolon-separated UTF-8 CSV, registered as delivered."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep=";", index=False, encoding="utf-8")
    log.add_file(
        path,
        source=source,
        sender=sender,
        period=period,
        delivered_on=f"{delivered:%Y-%m-%d}",
        file_format="csv",
        encoding="utf-8",
        rows=len(frame),
    )
