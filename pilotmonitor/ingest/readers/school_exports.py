"""Schools' pupil-administration exports: enrolments and absence.

Both come in the three export dialects (semicolon Windows-1252, comma UTF-8, XLSX; see
tabular). The pupil's BSN or onderwijsnummer is replaced by its keyed pseudonym here;
names, address, phone numbers and free-text remarks are never read into the output.

Rules, in order (the first one a row fails is its quarantine reason):
identifier (invalid_bsn, reserved_bsn, invalid_onderwijsnummer, malformed_identifier,
missing_identifier) -> missing_field -> invalid_date -> invalid_number -> invalid_code ->
duplicate_row (an exact copy of an earlier row of the file). A row with fewer fields
than the header is missing_field before anything else. Every quarantined row carries the
keyed pseudonym of the identifier it delivered (if any), never the number; reasons
quote dates and numbers only (not birth dates, codes or text), so no identifier, name
or remark reaches the quarantine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from pilotmonitor.ingest.contracts import DeliveryError, ReadResult, combine_parts
from pilotmonitor.ingest.deliveries import Delivery
from pilotmonitor.ingest.pseudonymise import Pseudonymiser
from pilotmonitor.ingest.readers.tabular import (
    Process,
    RowChecks,
    Spec,
    iter_reader,
    read_many,
)

SCHOOL_COLUMNS = {
    "brin": ["brin", "brinnummer", "brin_nummer", "brincode", "brin_code"],
    "vestiging": [
        "vestiging",
        "vestigingsnummer",
        "vestigingscode",
        "vestiging_nummer",
        "vestiging_code",
    ],
}
IDENTIFIER_COLUMNS = {
    "bsn": ["bsn", "burgerservicenummer"],
    "onderwijsnummer": ["onderwijsnummer", "onderwijs_nummer"],
}

ENROLMENTS = Spec(
    "school_enrolments",
    aliases={
        **SCHOOL_COLUMNS,
        "birth_date": ["geboortedatum", "geboorte_datum", "geb_datum"],
        "sex": ["geslacht"],
        "enrol_start": [
            "datum_inschrijving",
            "inschrijfdatum",
            "inschrijvingsdatum",
            "datum_instroom",
        ],
    },
    optional={
        **IDENTIFIER_COLUMNS,
        "postcode": ["postcode"],
        "school_group": ["groep", "leerjaar"],
        "enrol_end": [
            "datum_uitschrijving",
            "uitschrijfdatum",
            "uitschrijvingsdatum",
            "datum_uitstroom",
        ],
        "destination": ["uitstroombestemming", "bestemming", "uitstroom_bestemming"],
        "enrolment_kind": [
            "soort_inschrijving",
            "inschrijvingssoort",
            "inschrijving_soort",
            "type_inschrijving",
        ],
    },
    one_of=[("bsn", "onderwijsnummer")],
)

ABSENCE = Spec(
    "school_absence",
    aliases={
        "absence_date": ["datum", "verzuimdatum", "datum_verzuim"],
        "hours": ["uren", "aantal_uren", "verzuimuren"],
        "kind": ["soort_verzuim", "verzuimsoort", "soort"],
    },
    optional={
        **IDENTIFIER_COLUMNS,
        **SCHOOL_COLUMNS,
        "reason": ["reden", "verzuimreden", "reden_verzuim"],
    },
    one_of=[("bsn", "onderwijsnummer")],
)

# Hoofdinschrijving: the school responsible for the pupil; neveninschrijving: a second
# school the pupil also attends (a symbiose arrangement between special and regular
# education). The panel counts a pupil-month at the main school.
ENROLMENT_KIND = {
    "hoofdinschrijving": "main",
    "hoofd": "main",
    "neveninschrijving": "secondary",
    "neven": "secondary",
}
SEX = {
    "m": "M",
    "man": "M",
    "mannelijk": "M",
    "1": "M",
    "v": "V",
    "vrouw": "V",
    "vrouwelijk": "V",
    "2": "V",
}
ABSENCE_KIND = {"geoorloofd": True, "ongeoorloofd": False}
POSTCODE = r"([1-9][0-9]{3}) ?(?:[A-Z]{2})?"
MAX_HOURS = 24


def pupil_identity(checks: RowChecks, pseudonymiser: Pseudonymiser, cache: dict) -> pd.DataFrame:
    bsn = "bsn" if checks.labels.get("bsn") else None
    ond = "onderwijsnummer" if checks.labels.get("onderwijsnummer") else None
    ids = checks.identifiers(pseudonymiser, bsn, ond, cache)
    return ids.rename(columns={"pseudonym": "pupil_pseudonym"})[
        ["pupil_pseudonym", "id_kind", "key_version"]
    ]


def _enrolment_rows(pseudonymiser: Pseudonymiser) -> Process:
    cache = pseudonymiser.remembered()

    def process(frame: pd.DataFrame, checks: RowChecks) -> pd.DataFrame:
        out = pupil_identity(checks, pseudonymiser, cache)
        checks.mandatory("brin", "vestiging", "birth_date", "sex", "enrol_start")
        birth = checks.date("birth_date", echo=False)
        start = checks.date("enrol_start")
        end = checks.date("enrol_end")
        backwards = (end < start).to_numpy()
        checks.fail(
            backwards,
            "invalid_date",
            f"column {checks.label('enrol_end')}: the enrolment ends before it starts "
            f"({checks.label('enrol_start')})",
        )
        school = checks.school("brin", "vestiging", expected=checks.sender)
        sex = checks.code_list("sex", SEX, "M, V, 1, 2, man, vrouw")
        postcode = checks.text("postcode").str.upper()
        match = postcode.str.extract(f"^{POSTCODE}$", expand=False)
        checks.fail(
            (match.isna() & (postcode != "")).to_numpy(),
            "invalid_code",
            f"column {checks.label('postcode')}: not a Dutch postcode (NNNN AA)",
        )
        return out.assign(
            **school,
            birth_month=birth.dt.to_period("M").dt.to_timestamp(),
            sex=sex,
            postcode4=match.where(match.notna(), None),
            school_group=checks.category("school_group"),
            enrol_start=start,
            enrol_end=end,
            destination=checks.category("destination"),
            enrolment_kind=checks.code_list(
                "enrolment_kind", ENROLMENT_KIND, "hoofdinschrijving, neveninschrijving"
            ),
        )

    return process


def _absence_rows(pseudonymiser: Pseudonymiser) -> Process:
    cache = pseudonymiser.remembered()

    def process(frame: pd.DataFrame, checks: RowChecks) -> pd.DataFrame:
        out = pupil_identity(checks, pseudonymiser, cache)
        checks.mandatory("absence_date", "hours", "kind")
        date = checks.date("absence_date")
        hours = checks.number("hours", above=0, maximum=MAX_HOURS)
        authorised = checks.code_list("kind", ABSENCE_KIND, "geoorloofd, ongeoorloofd")
        if checks.labels.get("brin") and checks.labels.get("vestiging"):
            checks.school("brin", "vestiging", expected=checks.sender)
        return out.assign(
            school_id=checks.sender,
            absence_date=date,
            hours=hours,
            authorised=authorised,
            reason=checks.category("reason"),
        )

    return process


def read_school_enrolments(
    path: Path, delivery: Delivery, pseudonymiser: Pseudonymiser
) -> ReadResult:
    """All of iter_school_enrolments in one ReadResult."""
    return combine_parts(iter_school_enrolments(path, delivery, pseudonymiser))


def iter_school_enrolments(
    path: Path, delivery: Delivery, pseudonymiser: Pseudonymiser, chunk_rows: int | None = None
) -> Iterator[ReadResult]:
    """Enrolments of one school and school year -> raw.school_enrolments.

    school_id is BRIN + vestiging and must be the sending school; birth_month is the
    first day of the birth month (the birth date itself is not kept); sex M/V (also
    1/2, man/vrouw); postcode4 the four digits of the postcode; enrol_end optional but
    not before enrol_start. One part per chunk of the file (see tabular.iter_reader).
    """
    return iter_delivery(
        ENROLMENTS, _enrolment_rows(pseudonymiser), path, delivery, pseudonymiser, chunk_rows
    )


def read_school_absence(path: Path, delivery: Delivery, pseudonymiser: Pseudonymiser) -> ReadResult:
    """All of iter_school_absence in one ReadResult."""
    return combine_parts(iter_school_absence(path, delivery, pseudonymiser))


def iter_school_absence(
    path: Path, delivery: Delivery, pseudonymiser: Pseudonymiser, chunk_rows: int | None = None
) -> Iterator[ReadResult]:
    """Absence records of one school and school year -> raw.school_absence.

    school_id is the sending school (a BRIN/vestiging column, if delivered, must agree);
    hours > 0 and <= 24 (decimal comma or point); authorised from "Soort verzuim"
    (geoorloofd / ongeoorloofd); reason kept as the category delivered; the free-text
    remark column is dropped. One part per chunk of the file (see tabular.iter_reader).
    """
    return iter_delivery(
        ABSENCE, _absence_rows(pseudonymiser), path, delivery, pseudonymiser, chunk_rows
    )


def read_many_enrolments(
    items: Sequence[tuple[Path, Delivery]], pseudonymiser: Pseudonymiser
) -> list[list[ReadResult] | DeliveryError]:
    """iter_school_enrolments of each delivery, small files checked together (read_many)."""
    return read_many_deliveries(ENROLMENTS, _enrolment_rows(pseudonymiser), items, pseudonymiser)


def read_many_absence(
    items: Sequence[tuple[Path, Delivery]], pseudonymiser: Pseudonymiser
) -> list[list[ReadResult] | DeliveryError]:
    """iter_school_absence of each delivery, small files checked together (read_many)."""
    return read_many_deliveries(ABSENCE, _absence_rows(pseudonymiser), items, pseudonymiser)


def iter_delivery(
    spec: Spec,
    process: Process,
    path: Path,
    delivery: Delivery,
    pseudonymiser: Pseudonymiser,
    chunk_rows: int | None = None,
) -> Iterator[ReadResult]:
    """tabular.iter_reader of one delivery's file with its sender (RowChecks.sender);
    also the leerplicht register's."""
    key_version = pseudonymiser.key_version
    return iter_reader(path, spec, process, key_version, chunk_rows, delivery.sender)


def read_many_deliveries(
    spec: Spec,
    process: Process,
    items: Sequence[tuple[Path, Delivery]],
    pseudonymiser: Pseudonymiser,
) -> list[list[ReadResult] | DeliveryError]:
    """tabular.read_many of the deliveries' files, each with its sender (RowChecks.sender);
    also the leerplicht register's."""
    senders = [(path, delivery.sender) for path, delivery in items]
    return read_many(senders, spec, process, pseudonymiser.key_version)
