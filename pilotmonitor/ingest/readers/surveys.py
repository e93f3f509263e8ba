"""Questionnaire exports of the survey platform: one file per respondent group (ouders,
leerkrachten, leerlingen) and school year, covering every school.

Five school-climate items sfeer_1..sfeer_5 (Likert 1-5) become climate_1..climate_5,
tevredenheid (a 1-10 mark) becomes satisfaction; an item left unanswered stays empty
(NULL), an answer outside its scale is quarantined (invalid_code). The free-text
toelichting may hold personal remarks and is never read into the output. The respondent
number is the survey tool's free-form id: it is stored as its keyed reference pseudonym
(column_policy.REFERENCE), so a respondent still links across waves but whatever the
tool put in it (a pupil number, a formula) never enters the warehouse.

Rules, in order: missing_field -> invalid_date -> invalid_number -> invalid_code ->
duplicate_row (an exact copy of an earlier row of the file).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pilotmonitor.ingest.contracts import ReadResult
from pilotmonitor.ingest.deliveries import Delivery
from pilotmonitor.ingest.pseudonymise import Pseudonymiser
from pilotmonitor.ingest.readers.school_exports import SCHOOL_COLUMNS
from pilotmonitor.ingest.readers.tabular import RowChecks, Spec, run_reader

ITEMS = {f"climate_{i}": [f"sfeer_{i}", f"sfeer{i}", f"schoolklimaat_{i}"] for i in range(1, 6)}
SURVEY = Spec(
    "survey_responses",
    aliases={
        "respondent_id": ["respondent", "respondent_id", "respondentnummer", "respondent_nummer"],
        **SCHOOL_COLUMNS,
        "response_date": ["afnamedatum", "afname_datum", "datum_afname", "datum"],
        **ITEMS,
        "satisfaction": ["tevredenheid", "rapportcijfer", "tevredenheid_cijfer"],
    },
)
CLIMATE_SCALE = (1, 5)
SATISFACTION_SCALE = (1, 10)


def read_survey_responses(
    path: Path, delivery: Delivery, pseudonymiser: Pseudonymiser
) -> ReadResult:
    """One questionnaire export -> raw.survey_responses (respondent_group = the group in
    the file name, school_id = BRIN + vestiging)."""

    def process(frame: pd.DataFrame, checks: RowChecks) -> pd.DataFrame:
        checks.mandatory("respondent_id", "brin", "vestiging", "response_date")
        response_date = checks.date("response_date")
        scales = {**{item: CLIMATE_SCALE for item in ITEMS}, "satisfaction": SATISFACTION_SCALE}
        # all unreadable answers first,
        answers = {item: checks.parse_number(item, integer=True) for item in scales}
        # then answers outside their scale
        for item, (low, high) in scales.items():
            answers[item] = checks.within(
                item, answers[item], minimum=low, maximum=high, code="invalid_code"
            )
        school = checks.school("brin", "vestiging")
        respondent = checks.category("respondent_id").map(
            lambda value: None if pd.isna(value) else pseudonymiser.reference(value)
        )
        return pd.DataFrame(
            {
                "respondent_group": delivery.sender,
                "respondent_id": respondent,
                "key_version": pseudonymiser.key_version,
                "school_id": school["school_id"],
                "response_date": response_date,
                **answers,
            },
            index=frame.index,
        )

    return run_reader(path, SURVEY, process, pseudonymiser.key_version)
