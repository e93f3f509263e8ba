"""The pilot registry: one YAML file per pilot in the pilots directory.

A pilot is configuration, not code: its schools, dates, comparison pool, costs and the
pre-registered analysis plan live in ``pilots/<id>.yml``. Loading validates each file and
fails with an error that names the file and the field.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


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


# Defaults of every analysis-plan parameter: the one documented place. A pilot file
# overrides any of them under ``analysis_plan:``; ``pilotmonitor plan show PILOT`` prints
# the effective plan and ``plan_hash`` covers all of it.
DEFAULT_SEED = 20261123
# Youth care is in iJw messages from the decentralisation of 1 January 2015 (Jeugdwet);
# an analysis window never starts before this month (the report says so).
YOUTH_CARE_DATA_FROM = "2015-01"


class WindowPlan(_Strict):
    """The analysis window around the pilot's start (see evaluation/sample.py)."""

    max_pre_months: int = Field(
        default=36,
        ge=1,
        le=240,
        description="pre-period months: as many as the pilot has months, at most this many",
    )
    chart_pre_months: int = Field(
        default=36,
        ge=1,
        le=240,
        description="months before the start the report's trend chart shows",
    )


class EventStudyPlan(_Strict):
    bin_months: int = Field(
        default=6, ge=1, le=24, description="months per event-time bin, aligned on the start"
    )
    leads: int = Field(default=4, ge=2, le=20, description="pre-period bins (endpoints binned)")
    lags: int = Field(default=4, ge=0, le=20, description="pilot-period bins (endpoints binned)")
    reference: int = Field(default=-1, le=-1, description="the omitted reference bin")


class InferencePlan(_Strict):
    bootstrap_reps: int = Field(
        default=9999,
        ge=99,
        description="wild cluster bootstrap draws (full enumeration when 2^G is smaller)",
    )
    bootstrap_weights: Literal["rademacher", "webb"] = "rademacher"
    randomization_draws: int = Field(
        default=499, ge=19, description="reassignments drawn when there are more k-subsets"
    )
    cost_bootstrap_reps: int = Field(
        default=499, ge=99, description="school-cluster bootstrap draws of the cost rows"
    )
    placebo_reps: int = Field(
        default=200,
        ge=20,
        description="placebo assignments behind the synthetic DiD standard error",
    )


class PilotLevelPlan(_Strict):
    """Pilot-level series for synthetic control and synthetic DiD: the pilot schools
    aggregated into one unit, each comparison school a donor."""

    period_months: int = Field(
        default=3, ge=1, le=12, description="months per period, aligned on the start"
    )


class AnalysisPlan(_Strict):
    primary_outcome: str
    secondary_outcomes: list[str] = []
    estimators: list[str] = Field(
        min_length=1, description="estimators of the primary outcome; the first is the headline"
    )
    alpha: float = Field(default=0.05, gt=0, lt=1)
    multiple_testing: Literal["holm", "fdr_bh", "bonferroni", "none"] = "holm"
    window: WindowPlan = WindowPlan()
    event_study: EventStudyPlan = EventStudyPlan()
    inference: InferencePlan = InferencePlan()
    pilot_level: PilotLevelPlan = PilotLevelPlan()
    design_power: float = Field(
        default=0.8, gt=0, lt=1, description="power of the design-stage minimal detectable effect"
    )
    seed: int = Field(
        default=DEFAULT_SEED, ge=0, description="seed of every random draw of the plan"
    )

    @model_validator(mode="after")
    def _against_registries(self) -> AnalysisPlan:
        from pilotmonitor.evaluation.estimators import ESTIMATORS
        from pilotmonitor.evaluation.outcomes import OUTCOMES

        names = [self.primary_outcome, *self.secondary_outcomes]
        unknown = [o for o in names if o not in OUTCOMES]
        if unknown:
            raise ValueError(f"unknown outcome(s) {unknown}; known: {', '.join(OUTCOMES)}")
        if len(set(names)) != len(names):
            raise ValueError(f"an outcome is named twice: {names}")
        bad = [e for e in self.estimators if e not in ESTIMATORS]
        if bad:
            raise ValueError(f"unknown estimator(s) {bad}; known: {', '.join(ESTIMATORS)}")
        if len(set(self.estimators)) != len(self.estimators):
            raise ValueError(f"an estimator is listed twice: {self.estimators}")
        kind = OUTCOMES[self.primary_outcome].kind
        misfit = [e for e in self.estimators if kind not in ESTIMATORS[e].fits]
        if misfit:
            raise ValueError(
                f"estimator(s) {misfit} do not fit the primary outcome {self.primary_outcome!r} "
                f"({kind})"
            )
        if not ESTIMATORS[self.estimators[0]].headline:
            headline = [e.name for e in ESTIMATORS.values() if e.headline and kind in e.fits]
            raise ValueError(
                f"the first estimator is the headline estimate: {self.estimators[0]!r} cannot be "
                f"one (for a {kind} outcome: {', '.join(headline)})"
            )
        return self


class Pilot(_Strict):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    name: str
    municipality: Municipality
    region: str
    description: str = ""
    schools: list[PilotSchool] = Field(min_length=1)
    # When the wider programme began, if before the pilot start evaluated here (Hoogeveen:
    # the agreement of 22 May 2012; its youth professionals from 2020). Descriptive: the
    # estimates use ``start``.
    programme_start: date | None = None
    start: date
    planned_end: date | None
    comparison_pool: ComparisonPool
    costs: list[PilotCost] = []
    analysis_plan: AnalysisPlan

    @model_validator(mode="after")
    def _end_after_start(self) -> Pilot:
        if self.planned_end is not None and self.planned_end <= self.start:
            raise ValueError(f"planned_end {self.planned_end} is not after start {self.start}")
        if self.programme_start is not None and self.programme_start > self.start:
            raise ValueError(f"programme_start {self.programme_start} is after start {self.start}")
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
        raise PilotConfigError(
            f"{path}: invalid pilot configuration: {describe_errors(exc)}"
        ) from exc
    if pilot.id != path.stem:
        raise PilotConfigError(
            f"{path}: pilot id {pilot.id!r} must equal the file name {path.stem!r}"
        )
    return pilot


def _overlaps(a: Pilot, b: Pilot) -> bool:
    a_end = a.planned_end or date.max
    b_end = b.planned_end or date.max
    return a.start <= b_end and b.start <= a_end


def published_registry(conn, schema: str = "published") -> list[Pilot]:
    """The pilots the published marts were built with (dim_pilot.configuration), in id
    order: what the analysis and the reports use, so a pilot file edited after the last
    build cannot disagree with the marts."""
    rows = conn.execute(
        f"select pilot_id, configuration from {schema}.dim_pilot order by pilot_id"
    ).fetchall()
    pilots = []
    for pilot_id, configuration in rows:
        try:
            pilots.append(Pilot.model_validate_json(configuration))
        except ValidationError as exc:
            raise PilotConfigError(
                f"{schema}.dim_pilot, pilot {pilot_id!r}: {describe_errors(exc)}"
            ) from exc
    return pilots


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
                    f"school(s) {sorted(shared)} are in overlapping pilots {first.id!r} and "
                    f"{second.id!r}"
                )
    return pilots
