"""The one registry of outcomes a pilot's analysis plan may name.

Everything the runner, the report and the exports need to know about an outcome is
written here once: its kind (``count``, ``rate``, ``survey``) and columns in the analysis
sample, its unit, its Dutch and English label and which direction is better. Nothing here
imports an estimator, so validating a pilot file stays cheap.

Design notes: docs/design/evaluation.md#pilotmonitorevaluationoutcomespy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["count", "rate", "survey"]
LANGUAGES = ("nl", "en")


@dataclass(frozen=True)
class Outcome:
    name: str
    kind: Kind
    rate: str  # column of the analysis sample a linear model uses
    count: str | None  # events column (count outcomes)
    numerator: str  # column summed for the readers' baseline (per pupil-month or events)
    numerator_scale: float  # multiply the numerator by this to get the unit (cents -> euros)
    unit: str  # key of report.texts.UNITS
    label: dict[str, str]  # per language
    better: Literal["lower", "higher"]
    default_estimator: str  # estimator for the outcome as a secondary outcome
    description: str
    kind_of_care: str | None = None  # referrals or cost of this kind of care only (KINDS_OF_CARE)

    @property
    def rate_unit(self) -> str:
        """Unit of ``rate`` (the linear estimators' scale) in words."""
        return RATE_UNITS[self.unit]

    @property
    def exposure(self) -> str | None:
        """Exposure column of the sample: pupil-months, or none for survey cells."""
        return None if self.kind == "survey" else "pupil_months"


PRIMARY = "referrals_per_100_pupil_months"
RATE_UNITS = {
    "per100": "events per 100 pupil-months",
    "hours": "hours per pupil-month",
    "eur": "euros per pupil-month",
    "points": "scale points (school x school-year mean)",
}

# The kinds of care in the readers' words, in report order; the keys are the kinds of
# the seed dbt_project/seeds/codes/ijw_product_categories.csv (tested to be equal).
KINDS_OF_CARE: dict[str, dict[str, str]] = {
    "jeugdzorg": {"nl": "algemene jeugdzorg", "en": "general youth care"},
    "youth_mental_health": {
        "nl": "jeugd-GGZ (met kinder- en jeugdpsychiatrie)",
        "en": "youth mental health care (with child psychiatry)",
    },
    "intensive_with_stay": {"nl": "jeugdhulp met verblijf", "en": "youth care with stay"},
}


def _kind_outcomes(kind: str, words: dict[str, str]) -> tuple[Outcome, Outcome]:
    """New referrals (count) and net declared cost (rate) of one kind of care."""
    return (
        Outcome(
            f"referrals_{kind}",
            "count",
            rate=f"referrals_{kind}_per_100",
            count=f"new_referrals_{kind}",
            numerator=f"new_referrals_{kind}",
            numerator_scale=1.0,
            unit="per100",
            label={
                "nl": f"nieuwe verwijzingen naar {words['nl']}",
                "en": f"new referrals to {words['en']}",
            },
            better="lower",
            default_estimator="twfe_poisson",
            description=(
                f"new youth-care referrals of kind {kind} (JZ020 product category) per 100 "
                "pupil-months"
            ),
            kind_of_care=kind,
        ),
        Outcome(
            f"youth_care_cost_{kind}_per_pupil",
            "rate",
            rate=f"youth_care_cost_{kind}_eur_per_pupil",
            count=None,
            numerator=f"declared_cost_cents_{kind}",
            numerator_scale=0.01,
            unit="eur",
            label={
                "nl": f"jeugdhulpkosten voor {words['nl']}",
                "en": f"youth-care costs of {words['en']}",
            },
            better="lower",
            default_estimator="twfe_linear",
            description=f"net declared youth-care cost (euros) of kind {kind} per pupil-month",
            kind_of_care=kind,
        ),
    )


OUTCOMES: dict[str, Outcome] = {
    o.name: o
    for o in (
        Outcome(
            PRIMARY,
            "count",
            rate="referrals_per_100",
            count="new_referrals",
            numerator="new_referrals",
            numerator_scale=1.0,
            unit="per100",
            label={"nl": "nieuwe verwijzingen naar jeugdhulp", "en": "new referrals to youth care"},
            better="lower",
            default_estimator="twfe_poisson",
            description=(
                "new youth-care referrals (first iJw allocation of a trajectory) per 100 "
                "pupil-months"
            ),
        ),
        Outcome(
            "dropout",
            "count",
            rate="dropouts_per_100",
            count="dropouts",
            numerator="dropouts",
            numerator_scale=1.0,
            unit="per100",
            label={"nl": "schooluitval", "en": "dropout (schooluitval)"},
            better="lower",
            default_estimator="twfe_poisson",
            description="pupils leaving school without transferring, per 100 pupil-months",
        ),
        # Early school leaving without a startkwalificatie (VSV): the school-based events of
        # int_early_school_leavers (exits to no education from VO, PrO, VSO aged 12-22),
        # counted at the school left; the leerplicht/RMC register is their second source
        # (fct_vsv_duo_crosscheck, and DUO's figures). Exposure: all pupil-months of the school.
        Outcome(
            "early_school_leaving",
            "count",
            rate="early_school_leaving_per_100",
            count="early_school_leavers",
            numerator="early_school_leavers",
            numerator_scale=1.0,
            unit="per100",
            label={
                "nl": "voortijdig schoolverlaten zonder startkwalificatie (vsv)",
                "en": "early school leaving without a start qualification",
            },
            better="lower",
            default_estimator="twfe_poisson",
            description=(
                "pupils leaving a secondary school (VO, PrO, VSO) for no education before a "
                "startkwalificatie, per 100 pupil-months"
            ),
        ),
        Outcome(
            "thuiszitter_spells",
            "count",
            rate="thuiszitter_spells_per_100",
            count="thuiszitter_spell_starts",
            numerator="thuiszitter_spell_starts",
            numerator_scale=1.0,
            unit="per100",
            label={"nl": "nieuwe thuiszitperiodes", "en": "new spells of pupils sitting at home"},
            better="lower",
            default_estimator="twfe_poisson",
            description=(
                "new spells of a pupil absent for 4+ weeks without exemption (thuiszitter), per "
                "100 pupil-months"
            ),
        ),
        Outcome(
            "unauthorised_absence_hours",
            "rate",
            rate="unauthorised_absence_hours_per_pupil",
            count=None,
            numerator="unauthorised_absence_hours",
            numerator_scale=1.0,
            unit="hours",
            label={"nl": "ongeoorloofd verzuim", "en": "unauthorised absence"},
            better="lower",
            default_estimator="twfe_linear",
            description="unauthorised absence hours per pupil-month",
        ),
        Outcome(
            "youth_care_cost_per_pupil",
            "rate",
            rate="youth_care_cost_eur_per_pupil",
            count=None,
            numerator="declared_cost_cents",
            numerator_scale=0.01,
            unit="eur",
            label={"nl": "jeugdhulpkosten", "en": "youth-care costs"},
            better="lower",
            default_estimator="twfe_linear",
            description="net declared youth-care cost (euros) per pupil-month",
        ),
        *(o for kind, words in KINDS_OF_CARE.items() for o in _kind_outcomes(kind, words)),
        # A regular school's pupils leaving for special education (SBO, SO, VSO), counted at the
        # sending school (int_special_education_referrals). Exposure is the sample's
        # pupil-months: for a pilot of regular schools with a pool of regular schools these are
        # the regular-school pupil-months the mart also carries (regular_education_pupil_months);
        # a special school has no such referrals.
        Outcome(
            "special_education_referrals",
            "count",
            rate="special_education_referrals_per_100",
            count="special_education_referrals",
            numerator="special_education_referrals",
            numerator_scale=1.0,
            unit="per100",
            label={
                "nl": "verwijzingen naar speciaal onderwijs",
                "en": "referrals to special education",
            },
            better="lower",
            default_estimator="twfe_poisson",
            description=(
                "pupils of a regular school (BAO, VO, PRO) leaving for special education (SBO, "
                "SO, VSO), per 100 pupil-months"
            ),
        ),
        Outcome(
            "school_climate",
            "survey",
            rate="climate_score",
            count=None,
            numerator="climate_score",
            numerator_scale=1.0,
            unit="points",
            label={"nl": "schoolklimaat", "en": "school climate"},
            better="higher",
            default_estimator="did_linear_school_year",
            description="mean school-climate scale score per school and school year",
        ),
        Outcome(
            "satisfaction",
            "survey",
            rate="satisfaction",
            count=None,
            numerator="satisfaction",
            numerator_scale=1.0,
            unit="points",
            label={"nl": "tevredenheid", "en": "satisfaction"},
            better="higher",
            default_estimator="did_linear_school_year",
            description="mean satisfaction score per school and school year",
        ),
    )
}


def outcome(name: str) -> Outcome:
    try:
        return OUTCOMES[name]
    except KeyError:
        raise KeyError(f"unknown outcome {name!r}; known: {', '.join(OUTCOMES)}") from None


def label(name: str, language: str) -> str:
    """The readers' name of an outcome (the name itself for an outcome not in the registry)."""
    entry = OUTCOMES.get(name)
    return entry.label[language] if entry else name
