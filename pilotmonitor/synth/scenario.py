"""The synthetic scenario: schools, municipalities, providers, rates and planted effects.

A scenario is a YAML file in the scenarios directory (``scenarios/demo.yml``). Pilot
membership and dates come from the pilot registry, so the synthetic world and the
pipeline read the same configuration.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pilotmonitor.kinds_of_care import kinds
from pilotmonitor.pilots import Pilot
from pilotmonitor.school_types import code_pattern, school_types

# The twelve provinces: the short codes the scenarios use and the names DUO publishes.
PROVINCE_NAMES = {
    "GR": "Groningen",
    "FR": "Fryslân",
    "DR": "Drenthe",
    "OV": "Overijssel",
    "FL": "Flevoland",
    "GE": "Gelderland",
    "UT": "Utrecht",
    "NH": "Noord-Holland",
    "ZH": "Zuid-Holland",
    "ZE": "Zeeland",
    "NB": "Noord-Brabant",
    "LI": "Limburg",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MunicipalitySpec(_Strict):
    name: str
    town: str
    province: str = Field(pattern="^(" + "|".join(PROVINCE_NAMES) + ")$")
    pc4: tuple[int, int]


class ProviderSpec(_Strict):
    agb: str = Field(pattern=r"^[0-9]{8}$")
    name: str
    provinces: list[str]


class SchoolSpec(_Strict):
    brin: str = Field(pattern=r"^[0-9]{2}[A-Z]{2}$")
    vestiging: str = Field(default="00", pattern=r"^[0-9]{2}$")
    name: str
    type: str = Field(pattern=code_pattern())  # seed school_types
    cluster: int | None = None
    municipality: str
    size: int = Field(gt=0)

    @property
    def school_id(self) -> str:
        return f"{self.brin}{self.vestiging}"


class TypeBaseline(_Strict):
    referral_rate: float
    thuiszitter_hazard: float
    dropout_hazard: float
    unauthorised_episodes: float
    authorised_episodes: float
    stay_years: tuple[int, int]
    # Secondary types (sector VO): leaving without a start qualification (VSV, early school
    # leaving) is their monthly hazard of leaving to no education; their dropout_hazard is 0.
    vsv_hazard: float = Field(default=0.0, ge=0)
    # Regular types (BAO, VO, PRO): monthly hazard of a move to special education (SBO, SO,
    # VSO) of the same pupil.
    special_education_referral_rate: float = Field(default=0.0, ge=0)


class Closures(_Strict):
    periods: list[tuple[date, date]]
    referral_factor: float


class PlantedEffect(_Strict):
    referral_rate_ratio: float = 1.0
    dropout_ratio: float = 1.0
    thuiszitter_ratio: float = 1.0
    unauthorised_absence_ratio: float = 1.0
    cost_per_trajectory_ratio: float = 1.0
    climate_shift: float = 0.0
    satisfaction_shift: float = 0.0
    pre_trend_per_year: float = 0.0
    vsv_ratio: float = 1.0  # early school leaving hazard (secondary schools)
    special_education_referral_ratio: float = (
        1.0  # hazard of a move to special education (regular schools)
    )
    # Ratio per kind of care (pilotmonitor.kinds_of_care) on top of referral_rate_ratio:
    # {youth_mental_health: 0.5} halves the treated months' rate of youth mental health
    # referrals and leaves the other kinds at referral_rate_ratio.
    referral_kind_ratio: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_kinds(self) -> PlantedEffect:
        unknown = set(self.referral_kind_ratio) - kinds()
        if unknown:
            raise ValueError(
                f"referral_kind_ratio: unknown kinds of care {sorted(unknown)}; known: "
                f"{sorted(kinds())}"
            )
        if any(ratio <= 0 or ratio > 1 for ratio in self.referral_kind_ratio.values()):
            raise ValueError(
                "referral_kind_ratio: a ratio must be in (0, 1] (a kind's referrals are thinned)"
            )
        return self

    def kind_ratio(self, kind: str) -> float:
        """The planted ratio of one kind's referral rate in treated months."""
        return self.referral_rate_ratio * self.referral_kind_ratio.get(kind, 1.0)


class DefectSpec(_Strict):
    invalid_bsn_rate: float = 0.0
    reserved_bsn_count: int = 0
    duplicate_row_rate: float = 0.0
    impossible_date_count: int = 0
    missing_field_count: int = 0
    unknown_product_code_rate: float = 0.0
    credit_reversal_rate: float = 0.0
    duplicate_file: bool = False
    corrected_redelivery: bool = False
    late_month: bool = False
    wrongly_encoded_file: bool = False


class Scenario(_Strict):
    name: str
    synthetic: bool
    seed: int
    first_month: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}$")
    as_of: date
    pupil_scale: float = 1.0
    municipalities: dict[str, MunicipalitySpec]
    providers: list[ProviderSpec]
    schools: list[SchoolSpec]
    baseline: dict[str, TypeBaseline]
    school_heterogeneity_sd: float
    pupil_frailty_shape: float
    referral_trend_per_year: float
    climate_mean: float
    satisfaction_mean: float
    closures: Closures
    effects: dict[str, PlantedEffect]
    defects: DefectSpec
    # Schools whose questionnaires the survey platform delivers; None: every school.
    surveyed_schools: list[str] | None = None
    # Generate in regions of whole municipalities up to about this many pupils (None: one region).
    max_region_pupils: int | None = None
    # Municipalities of the base scenario (pilots and their comparison schools): always
    # generated, as one region, whichever provinces are chosen.
    base_municipalities: list[str] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if not self.synthetic:
            raise ValueError("a generator scenario must be marked synthetic: true")
        for school in self.schools:
            if school.municipality not in self.municipalities:
                raise ValueError(
                    f"school {school.brin}: unknown municipality {school.municipality}"
                )
            if school.type not in self.baseline:
                raise ValueError(f"school {school.brin}: no baseline for type {school.type}")
        types = school_types()
        for code, baseline in self.baseline.items():
            if code not in types:
                raise ValueError(f"baseline for unknown school type {code}")
            if types[code].sector == "VO" and baseline.dropout_hazard > 0:
                raise ValueError(
                    f"baseline {code}: a secondary school's leaving without a new school is early "
                    "school leaving (vsv_hazard), not dropout_hazard"
                )
            if types[code].sector == "PO" and baseline.vsv_hazard > 0:
                raise ValueError(f"baseline {code}: vsv_hazard applies to secondary schools only")
            if types[code].is_special_education and baseline.special_education_referral_rate > 0:
                raise ValueError(
                    f"baseline {code}: special_education_referral_rate applies to regular schools "
                    "only"
                )
        ids = [school.school_id for school in self.schools]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate school ids in scenario")
        unknown = set(self.surveyed_schools or []) - set(ids)
        if unknown:
            raise ValueError(f"surveyed schools not in the scenario: {sorted(unknown)}")
        return self

    def check_against(self, pilots: list[Pilot]) -> None:
        """Every pilot school must exist in the scenario and every effect must name a pilot."""
        known = {school.school_id for school in self.schools}
        for pilot in pilots:
            missing = set(pilot.school_ids) - known
            if missing:
                raise ValueError(
                    f"pilot {pilot.id}: schools {sorted(missing)} are not in scenario {self.name}"
                )
        unknown = set(self.effects) - {pilot.id for pilot in pilots}
        if unknown:
            raise ValueError(f"scenario {self.name}: effects for unknown pilots {sorted(unknown)}")


def load_scenario(path: Path) -> Scenario:
    return Scenario.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
