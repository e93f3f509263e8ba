"""The municipal leerplicht/RMC register export -> raw.leerplicht_register.

One file per municipality and school year, one row per registration (absence
notification, exemption, thuiszitter, RMC registration of an early school leaver), read
through the shared tabular reader. The BSN or onderwijsnummer becomes its keyed pseudonym;
names, address, phone and the remark column are never read.

Design notes: docs/design/ingest.md#pilotmonitoringestreadersleerplichtpy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pilotmonitor.ingest.contracts import DeliveryError, ReadResult, combine_parts
from pilotmonitor.ingest.deliveries import Delivery
from pilotmonitor.ingest.pseudonymise import Pseudonymiser
from pilotmonitor.ingest.readers.school_exports import (
    IDENTIFIER_COLUMNS,
    SCHOOL_COLUMNS,
    SEX,
    iter_delivery,
    pupil_identity,
    read_many_deliveries,
)
from pilotmonitor.ingest.readers.tabular import Process, RowChecks, Spec

# Registration (as delivered, lower case) -> code, and per code the kinds it may have.
REGISTRATIONS = {
    "verzuimmelding": "absence_notification",
    "verzuim": "absence_notification",
    "melding": "absence_notification",
    "vrijstelling": "exemption",
    "thuiszitter": "thuiszitter",
    "vsv": "early_school_leaver",
    "voortijdig schoolverlater": "early_school_leaver",
    "rmc": "early_school_leaver",
}
KINDS = {
    "absence_notification": {
        "relatief verzuim": "relative",
        "luxeverzuim": "luxury",
        "signaalverzuim": "signal",
        "absoluut verzuim": "absolute",
    },
    "exemption": {
        "5 onder a": "5a",
        "5a": "5a",
        "artikel 5 onder a": "5a",
        "art. 5 onder a": "5a",
        "5 onder b": "5b",
        "5b": "5b",
        "artikel 5 onder b": "5b",
        "art. 5 onder b": "5b",
        "5 onder c": "5c",
        "5c": "5c",
        "artikel 5 onder c": "5c",
        "art. 5 onder c": "5c",
        "artikel 11": "11",
        "art. 11": "11",
        "11": "11",
    },
    # A thuiszitter without a kind is the usual case: long-term relative absence.
    "thuiszitter": {
        "langdurig relatief verzuim": "long_relative",
        "": "long_relative",
        "absoluut verzuim": "absolute",
    },
    "early_school_leaver": {
        "zonder startkwalificatie": "without_start_qualification",
        "": "without_start_qualification",
    },
}
# Which date starts a registration: a notification has its date, the others a start.
STARTS_WITH = {
    "absence_notification": "notification_date",
    "exemption": "start_date",
    "thuiszitter": "start_date",
    "early_school_leaver": "start_date",
}

REGISTER = Spec(
    "leerplicht_register",
    aliases={
        "municipality": ["gemeentecode", "gemeente_code", "gemeentenummer", "cbs_code"],
        "registration": ["registratie", "soort_registratie", "registratiesoort"],
    },
    optional={
        **IDENTIFIER_COLUMNS,
        **SCHOOL_COLUMNS,
        "kind": ["soort", "soort_verzuim", "verzuimsoort", "soort_vrijstelling"],
        "birth_date": ["geboortedatum", "geboorte_datum", "geb_datum"],
        "sex": ["geslacht"],
        "notification_date": ["datum_melding", "meldingsdatum", "melddatum"],
        "start_date": ["begindatum", "datum_begin", "startdatum", "ingangsdatum"],
        "end_date": ["einddatum", "datum_einde", "datum_eind"],
        "outcome": ["afdoening", "resultaat", "uitkomst"],
        "reason": ["reden", "oorzaak"],
    },
    one_of=[("bsn", "onderwijsnummer")],
)


def read_leerplicht_register(
    path: Path, delivery: Delivery, pseudonymiser: Pseudonymiser
) -> ReadResult:
    """All of iter_leerplicht_register in one ReadResult."""
    return combine_parts(iter_leerplicht_register(path, delivery, pseudonymiser))


def _municipality(checks: RowChecks, sender: str | np.ndarray) -> pd.Series:
    """'14', '0014' or 'GM0014' -> 'GM0014'; another municipality than the sender (one, or
    one per row when several files are checked together) fails."""
    text = checks.text("municipality").str.upper().str.removeprefix("GM")
    digits = text.str.fullmatch(r"[0-9]{1,4}")
    code = ("GM" + text.str.zfill(4)).where(digits, None)
    label = checks.label("municipality")
    checks.fail(
        (~digits & (text != "")).to_numpy(),
        "invalid_code",
        f"column {label}: not a municipality code (four digits)",
    )
    senders = np.broadcast_to(np.asarray(sender, dtype=object), code.shape)
    expected = pd.Series(senders, index=code.index).str.upper()
    checks.fail(
        (digits & (code != expected)).to_numpy(),
        "invalid_code",
        lambda rows: [
            f"column {label}: row is for another municipality than the sender {senders[r]}"
            for r in rows
        ],
    )
    return code


def _kind(checks: RowChecks, registration: pd.Series) -> pd.Series:
    """The kind code for the row's registration; a kind another registration has fails."""
    given = checks.text("kind").str.lower().str.split().str.join(" ")
    codes = [KINDS.get(r, {}).get(k) if r else None for r, k in zip(registration, given)]
    unknown = np.array(
        [r is not None and c is None for r, c in zip(registration, codes)], dtype=bool
    )
    checks.fail(
        unknown,
        "invalid_code",
        lambda rows: [
            (
                f"column {checks.label('kind')}: value is not a kind of {registration.iloc[r]} "
                f"({', '.join(sorted(k for k in KINDS[registration.iloc[r]] if k))})"
            )
            for r in rows
        ],
    )
    return pd.Series(codes, index=checks.frame.index, dtype=object)


def iter_leerplicht_register(
    path: Path, delivery: Delivery, pseudonymiser: Pseudonymiser, chunk_rows: int | None = None
) -> Iterator[ReadResult]:
    """Registrations of one municipality and school year -> raw.leerplicht_register.

    municipality_code is GM + four digits and must be the sender; school_id (BRIN +
    vestiging) is optional (absoluut verzuim has no school), both or neither; birth_month
    is the first of the birth month; outcome (afdoening) and reason (cause) are kept as
    delivered categories. One part per chunk of the file (see tabular.iter_reader).
    """
    return iter_delivery(
        REGISTER, _register_rows(pseudonymiser), path, delivery, pseudonymiser, chunk_rows
    )


def read_many_leerplicht_register(
    items: Sequence[tuple[Path, Delivery]], pseudonymiser: Pseudonymiser
) -> list[list[ReadResult] | DeliveryError]:
    """iter_leerplicht_register of each delivery, small files checked together
    (tabular.read_many: a municipality's yearly file holds a few dozen rows, fewer than
    the per-file pandas work costs)."""
    return read_many_deliveries(REGISTER, _register_rows(pseudonymiser), items, pseudonymiser)


def _register_rows(pseudonymiser: Pseudonymiser) -> Process:
    """The register's row checks and columns (the sender: RowChecks.sender)."""
    cache = pseudonymiser.remembered()

    def process(frame: pd.DataFrame, checks: RowChecks) -> pd.DataFrame:
        out = pupil_identity(checks, pseudonymiser, cache)
        checks.mandatory("municipality", "registration")
        registration = checks.code_list(
            "registration",
            REGISTRATIONS,
            ", ".join(sorted({k.capitalize() for k in REGISTRATIONS if " " not in k})),
        )
        for code, column in STARTS_WITH.items():
            needs = (registration == code).to_numpy() & checks.empty(column)
            checks.fail(needs, "missing_field", f"column {checks.label(column)} is empty")
        birth = checks.date("birth_date", echo=False)
        notified, start, end = (
            checks.date("notification_date"),
            checks.date("start_date"),
            checks.date("end_date"),
        )
        municipality = _municipality(checks, checks.sender)
        school = checks.school("brin", "vestiging")
        half = (school.brin.isna() != school.vestiging.isna()).to_numpy()
        checks.fail(half, "missing_field", "a school needs both BRIN and vestiging")
        kind = _kind(checks, registration)
        sex = checks.code_list("sex", SEX, "M, V, 1, 2, man, vrouw")
        checks.fail(
            (end < start).to_numpy(),
            "invalid_date",
            f"column {checks.label('end_date')}: the registration ends before it starts "
            f"({checks.label('start_date')})",
        )
        return out.assign(
            municipality_code=municipality,
            school_id=school.school_id,
            brin=school.brin,
            vestiging=school.vestiging,
            birth_month=birth.dt.to_period("M").dt.to_timestamp(),
            sex=sex,
            registration=registration,
            kind=kind,
            notification_date=notified,
            start_date=start,
            end_date=end,
            outcome=checks.category("outcome"),
            reason=checks.category("reason"),
        )

    return process
