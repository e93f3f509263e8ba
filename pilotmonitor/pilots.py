"""The pilot registry: one YAML file per pilot in the pilots directory.

A pilot is configuration, not code: its schools, dates, comparison pool, costs and the
pre-registered analysis plan live in ``pilots/<id>.yml``. Loading validates each file and
fails with an error that names the file and the field.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class PilotConfigError(ValueError):
    """A pilot file is missing, unreadable or inconsistent."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PilotSchool(_Strict):
    brin: str = Field(pattern=r"^[0-9]{2}[A-Z]{2}$")
    vestiging: str = Field(default="00", pattern=r"^[0-9]{2}$")
    name: str

    @property
    def school_id(self) -> str:
        """BRIN + vestiging, the key used throughout the warehouse."""
        return f"{self.brin}{self.vestiging}"


class Municipality(_Strict):
    code: str = Field(pattern=r"^GM[0-9]{4}$")
    name: str


class ComparisonPool(_Strict):
    school_types: list[str]
    provinces: list[str]
    clusters: list[int] | None = None
    exclude_pilot_schools: bool = True
    schools: list[str] | None = None  # explicit BRIN+vestiging list instead of the rule


class PilotCost(_Strict):
    year: int
    fte: float = Field(ge=0)
    cost_per_fte_eur: float = Field(ge=0)
    other_costs_eur: float = Field(default=0, ge=0)


class AnalysisPlan(_Strict):
    primary_outcome: str
    secondary_outcomes: list[str]
    estimators: list[str]
    alpha: float = Field(gt=0, lt=1)
    multiple_testing: str

    @field_validator("multiple_testing")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value not in {"holm", "fdr_bh", "bonferroni", "none"}:
            raise ValueError(f"unknown multiple-testing method {value!r}")
        return value


class Pilot(_Strict):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    name: str
    municipality: Municipality
    region: str
    description: str = ""
    schools: list[PilotSchool] = Field(min_length=1)
    start: date
    planned_end: date | None
    comparison_pool: ComparisonPool
    costs: list[PilotCost] = []
    analysis_plan: AnalysisPlan

    @model_validator(mode="after")
    def _end_after_start(self) -> "Pilot":
        if self.planned_end is not None and self.planned_end <= self.start:
            raise ValueError(f"planned_end {self.planned_end} is not after start {self.start}")
        return self

    @property
    def school_ids(self) -> list[str]:
        return [school.school_id for school in self.schools]


def describe_errors(exc: ValidationError) -> str:
    """One line per problem, 'field.path: message', without echoing the whole input."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(file)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def load_pilot(path: Path) -> Pilot:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PilotConfigError(f"{path}: cannot read pilot file: {exc}") from exc
    try:
        pilot = Pilot.model_validate(raw)
    except ValidationError as exc:
        raise PilotConfigError(f"{path}: invalid pilot configuration: {describe_errors(exc)}") from exc
    if pilot.id != path.stem:
        raise PilotConfigError(f"{path}: pilot id {pilot.id!r} must equal the file name {path.stem!r}")
    return pilot


def _overlaps(a: Pilot, b: Pilot) -> bool:
    a_end = a.planned_end or date.max
    b_end = b.planned_end or date.max
    return a.start <= b_end and b.start <= a_end


def load_registry(pilots_dir: Path) -> list[Pilot]:
    """Load and cross-check every pilot; a school may not be in two overlapping pilots."""
    paths = sorted(pilots_dir.glob("*.yml"))
    if not paths:
        raise PilotConfigError(f"{pilots_dir}: no pilot files (*.yml)")
    pilots = [load_pilot(path) for path in paths]
    for i, first in enumerate(pilots):
        for second in pilots[i + 1 :]:
            shared = set(first.school_ids) & set(second.school_ids)
            if shared and _overlaps(first, second):
                raise PilotConfigError(
                    f"school(s) {sorted(shared)} are in overlapping pilots {first.id!r} and {second.id!r}"
                )
    return pilots
