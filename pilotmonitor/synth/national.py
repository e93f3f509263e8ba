"""A scenario built from a base scenario and a national pool, cut into regions.

A pool scenario file (``scenarios/national.yml``) names a base scenario (the demo: every
pilot school, its comparison schools, the rates and planted effects) and target totals
per province. The pool adds invented municipalities and schools until each province
reaches its totals. The result is one ordinary ``Scenario``.

The generator then works region by region: a region is a set of whole municipalities
(iJw archives are per municipality), up to about ``max_region_pupils`` pupils. The base
scenario's municipalities are the first region, always generated (every pilot needs its
schools); the pool's invented municipalities follow, province by province, and pupils live
in their region. Regions are independent: each has its own random stream and its own
disjoint ranges of numbers (see ``RegionIds``), so they can be generated in any order or
in parallel and still give the same files. Choosing provinces keeps the base region and
those provinces' pool regions: a provincial comparison pool around every pilot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from pydantic import Field

from pilotmonitor.school_types import codes as school_type_codes
from pilotmonitor.synth.identities import BSN_PREFIXES, EDUCATION_PREFIXES
from pilotmonitor.synth.people import SHARE_WITHOUT_BSN
from pilotmonitor.synth.region_ids import RegionIds
from pilotmonitor.synth.scenario import (
    PROVINCE_NAMES,
    MunicipalitySpec,
    ProviderSpec,
    Scenario,
    SchoolSpec,
    _Strict,
    load_scenario,
)

LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # as in the demo's codes: I, O and Q (easily misread) left out
# Pupils over the whole window per pupil enrolled at one time (stays of 4-8 years over
# ten years, plus the pupils present at the start), with a margin: sizes the number ranges.
SPELLS_PER_SEAT = 3.0


class ProvinceTarget(_Strict):
    municipalities: int = Field(gt=0)
    pc4: tuple[int, int]
    schools: dict[str, int]


class PoolSpec(_Strict):
    first_municipality_code: int = Field(ge=1000, le=9000)
    providers_per_province: int = Field(gt=0)
    mean_size: dict[str, float]
    size_sd_log: float = Field(ge=0)
    so_clusters: dict[int, float]
    max_region_pupils: int = Field(gt=0)
    provinces: dict[str, ProvinceTarget]


class PoolScenarioFile(_Strict):
    name: str
    base: str
    seed: int
    surveys: str = Field(pattern="^(base|all)$")
    pool: PoolSpec


@dataclass(frozen=True)
class Region:
    ids: RegionIds
    name: str
    province: str | None  # None: the base region (several provinces)
    scenario: Scenario
    expected_pupils: float


def is_pool_scenario(path: Path) -> bool:
    return "pool" in (yaml.safe_load(path.read_text(encoding="utf-8")) or {})


def load_pool_scenario(path: Path) -> Scenario:
    """The base scenario with the pool's municipalities, providers and schools added."""
    spec = PoolScenarioFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    base = load_scenario(path.parent / spec.base)
    pool = spec.pool
    unknown = set(pool.provinces) - set(PROVINCE_NAMES)
    if unknown:
        raise ValueError(f"{path.name}: unknown provinces {sorted(unknown)}")
    rng = np.random.default_rng(spec.seed)
    municipalities = dict(base.municipalities)
    schools = list(base.schools)
    providers = list(base.providers)
    free_brins = _free_school_codes({s.school_id for s in schools})
    code = pool.first_municipality_code
    for province, target in pool.provinces.items():
        own = [c for c, m in base.municipalities.items() if m.province == province]
        new_codes = [f"GM{code + i:04d}" for i in range(target.municipalities - len(own))]
        code += len(new_codes)
        if len(own) > target.municipalities:
            raise ValueError(
                f"{path.name}: province {province} has {len(own)} base municipalities, more than "
                f"its target {target.municipalities}"
            )
        municipalities.update(_municipalities(province, new_codes, target.pc4))
        places = new_codes  # the base municipalities keep the base scenario's schools
        # A type without a target (the secondary types in national.yml) gets no pool schools.
        base_counts = {
            t: sum(
                1
                for s in base.schools
                if s.type == t and base.municipalities[s.municipality].province == province
            )
            for t in school_type_codes()
        }
        needed = {
            t: target.schools[t] - base_counts[t] if t in target.schools else 0
            for t in school_type_codes()
        }
        for school_type, n in needed.items():
            if n < 0:
                raise ValueError(
                    f"{path.name}: province {province} has more base {school_type} schools than "
                    "its target"
                )
        if not places and any(needed.values()):
            raise ValueError(
                f"{path.name}: province {province} needs pool schools but has no municipalities "
                "beyond the base scenario's"
            )
        for school_type, n in needed.items():
            if n == 0:
                continue
            sizes = np.maximum(
                10,
                np.round(
                    pool.mean_size[school_type]
                    * rng.lognormal(-(pool.size_sd_log**2) / 2, pool.size_sd_log, n)
                ),
            ).astype(int)
            where = rng.integers(0, len(places), n)
            clusters = (
                rng.choice(list(pool.so_clusters), size=n, p=list(pool.so_clusters.values()))
                if school_type == "SO"
                else [None] * n
            )
            for size, place, cluster in zip(sizes.tolist(), where.tolist(), list(clusters)):
                brin, vestiging = next(free_brins)
                municipality = municipalities[places[place]]
                schools.append(
                    SchoolSpec(
                        brin=brin,
                        vestiging=vestiging,
                        type=school_type,
                        municipality=places[place],
                        size=size,
                        cluster=int(cluster) if cluster is not None else None,
                        name=f"{school_type} {municipality.town} {brin}{vestiging} (synthetisch)",
                    )
                )
        for i in range(pool.providers_per_province):
            providers.append(
                ProviderSpec(
                    agb=f"99{len(providers) + 1:04d}{i:02d}",
                    name=f"Jeugdhulp {PROVINCE_NAMES[province]} {i + 1} (synthetisch)",
                    provinces=[province],
                )
            )
    surveyed = [s.school_id for s in base.schools] if spec.surveys == "base" else None
    return base.model_copy(
        update={
            "name": spec.name,
            "seed": spec.seed,
            "municipalities": municipalities,
            "providers": providers,
            "schools": schools,
            "surveyed_schools": surveyed,
            "max_region_pupils": pool.max_region_pupils,
            "base_municipalities": list(base.municipalities),
        }
    )


def _municipalities(
    province: str, codes: list[str], pc4: tuple[int, int]
) -> dict[str, MunicipalitySpec]:
    """Invented municipalities, each with its own slice of the province's postcode block."""
    edges = np.linspace(pc4[0], pc4[1] + 1, len(codes) + 1).astype(int)
    out = {}
    for i, code in enumerate(codes):
        town = f"{PROVINCE_NAMES[province]}-{i + 1:02d}"
        out[code] = MunicipalitySpec(
            name=f"Gemeente {town} (synthetisch)",
            town=town,
            province=province,
            pc4=(int(edges[i]), int(max(edges[i], edges[i + 1] - 1))),
        )
    return out


def _free_school_codes(taken: set[str]):
    """School codes not yet used: BRIN 99AA-99ZZ with vestiging 00, then 01, ..."""
    for vestiging in range(100):
        for first in LETTERS:
            for second in LETTERS:
                brin = f"99{first}{second}"
                if f"{brin}{vestiging:02d}" not in taken:
                    yield brin, f"{vestiging:02d}"
    raise ValueError("no synthetic school codes left")


def expected_pupils(scenario: Scenario, school: SchoolSpec, scale: float) -> float:
    return school.size * scale * scenario.pupil_scale


BASE_REGION = "base"


def regions(scenario: Scenario, scale: float) -> list[Region]:
    """Cut the scenario into regions of whole municipalities: the base scenario's first,
    then the others province by province."""
    limit = float(scenario.max_region_pupils or "inf")
    by_municipality: dict[str, list[SchoolSpec]] = {}
    for school in scenario.schools:
        by_municipality.setdefault(school.municipality, []).append(school)

    def load(code: str) -> float:
        return sum(expected_pupils(scenario, s, scale) for s in by_municipality.get(code, []))

    base = list(scenario.base_municipalities or [])
    groups: list[
        tuple[str, str | None, list[str], float]
    ] = []  # (name, province, municipality codes, expected pupils)
    if base:
        groups.append((BASE_REGION, None, base, sum(load(c) for c in base)))
    in_base = set(base)
    for province in PROVINCE_NAMES:
        codes = [
            c
            for c, m in scenario.municipalities.items()
            if m.province == province and c not in in_base
        ]
        parts: list[list[str]] = []
        pupils = 0.0
        for code in codes:
            if not parts or pupils + load(code) > limit:
                parts.append([])
                pupils = 0.0
            parts[-1].append(code)
            pupils += load(code)
        groups += [
            (f"{province}-{i + 1}", province, part, sum(load(c) for c in part))
            for i, part in enumerate(parts)
        ]
    # A municipality without schools has no pupils to simulate: a region of only such is left out.
    groups = [g for g in groups if any(by_municipality.get(code) for code in g[2])]
    loads = [g[3] for g in groups]
    total = sum(loads) or 1.0
    bsn_edges = _split_range(BSN_PREFIXES, loads, total * SPELLS_PER_SEAT)
    education_edges = _split_range(
        EDUCATION_PREFIXES, loads, total * SPELLS_PER_SEAT * 2 * SHARE_WITHOUT_BSN
    )
    out = []
    for index, (name, province, codes, pupils) in enumerate(groups):
        members = set(codes)
        provinces_here = {scenario.municipalities[c].province for c in codes}
        schools = [s for s in scenario.schools if s.municipality in members]
        school_ids = {s.school_id for s in schools}
        sub = scenario.model_copy(
            update={
                "municipalities": {
                    c: m for c, m in scenario.municipalities.items() if c in members
                },
                "providers": [p for p in scenario.providers if provinces_here & set(p.provinces)],
                "schools": schools,
                "surveyed_schools": None
                if scenario.surveyed_schools is None
                else [s for s in scenario.surveyed_schools if s in school_ids],
            }
        )
        out.append(
            Region(
                RegionIds(index, bsn_edges[index], education_edges[index]),
                name,
                province,
                sub,
                pupils,
            )
        )
    return out


def _split_range(
    prefixes: tuple[int, int], loads: list[float], needed: float
) -> list[tuple[int, int]]:
    """Disjoint prefix ranges proportional to each region's expected pupils."""
    low, high = prefixes
    if needed > high - low:
        raise ValueError(
            f"the scenario needs about {needed:,.0f} numbers; the synthetic range holds "
            f"{high - low:,}"
        )
    total = sum(loads) or 1.0
    edges = low + np.round(np.cumsum([0.0] + loads) / total * (high - low)).astype(np.int64)
    return [(int(edges[i]), int(edges[i + 1])) for i in range(len(loads))]
