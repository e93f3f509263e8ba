"""Every column the warehouse keeps, classified once: what it may hold, how the edge
treats it and how the leak scan checks it at the exit.

Classes: pseudonym, reference, digest, assigned_number, code, public_name, text, measure,
date and flag. Every raw column is listed (tested).

Design notes: docs/design/ingest.md#pilotmonitoringestcolumn_policypy.
"""

from __future__ import annotations

PSEUDONYM = "pseudonym"
REFERENCE = "reference"
DIGEST = "digest"
ASSIGNED_NUMBER = "assigned_number"
CODE = "code"
PUBLIC_NAME = "public_name"
TEXT = "text"
MEASURE = "measure"
DATE = "date"
FLAG = "flag"

# The regular expression (RE2 and Python) a value of a pattern-checked class matches.
PATTERNS: dict[str, str] = {
    PSEUDONYM: "[0-9a-f]{64}",
    REFERENCE: "[0-9a-f]{32}",
    DIGEST: "[0-9a-f]{16,64}",
    ASSIGNED_NUMBER: "[0-9]{1,9}",
}
PSEUDONYMISED = (PSEUDONYM, REFERENCE)  # a value outside the pattern was not pseudonymised
NOT_SCANNED = (MEASURE, DATE, FLAG)

COLUMNS: dict[str, str] = {
    # identifiers and free-form references
    "pupil_pseudonym": PSEUDONYM,
    "client_pseudonym": PSEUDONYM,
    "pseudonym": PSEUDONYM,
    "provider_reference": REFERENCE,
    "product_reference": REFERENCE,
    "previous_product_reference": REFERENCE,
    "message_id": REFERENCE,
    "declaration_number": REFERENCE,
    "respondent_id": REFERENCE,
    "allocation_number": ASSIGNED_NUMBER,
    # made by the pipeline
    "delivery_id": DIGEST,
    "sha256": DIGEST,
    "row_locator": TEXT,
    "path": TEXT,
    "error": TEXT,
    "reason": TEXT,
    "duplicate_of": TEXT,
    "superseded_by": TEXT,
    "messages_ignored": TEXT,
    "review": TEXT,
    "rekeyed_at": DATE,
    "target_table": CODE,
    "reason_code": CODE,
    "source": CODE,
    "sender": CODE,
    "period": CODE,
    "status": CODE,
    "registered_at": DATE,
    "delivered_on": DATE,
    "is_current": FLAG,
    "size_bytes": MEASURE,
    "rows_read": MEASURE,
    "rows_loaded": MEASURE,
    "rows_quarantined": MEASURE,
    # codes and categories
    "id_kind": CODE,
    "key_version": CODE,
    "school_id": CODE,
    "brin": CODE,
    "vestiging": CODE,
    "sex": CODE,
    "postcode4": CODE,
    "school_group": CODE,
    "destination": CODE,
    "enrolment_kind": CODE,
    "provider_agb": CODE,
    "municipality_code": CODE,
    "product_category": CODE,
    "product_code": CODE,
    "unit": CODE,
    "frequency": CODE,
    "referrer_type": CODE,
    "end_reason": CODE,
    "debit_credit": CODE,
    "pilot_id": CODE,
    "school_type": CODE,
    "province": CODE,
    "respondent_group": CODE,
    "registration": CODE,
    "kind": CODE,
    "outcome": CODE,
    "level": CODE,
    # public names
    "school_name": PUBLIC_NAME,
    "municipality_name": PUBLIC_NAME,
    "description": PUBLIC_NAME,
    # dates
    "birth_month": DATE,
    "enrol_start": DATE,
    "enrol_end": DATE,
    "absence_date": DATE,
    "message_date": DATE,
    "requested_start": DATE,
    "requested_end": DATE,
    "allocation_date": DATE,
    "allocation_start": DATE,
    "allocation_end": DATE,
    "start_date": DATE,
    "end_date": DATE,
    "declaration_date": DATE,
    "period_start": DATE,
    "period_end": DATE,
    "product_period_start": DATE,
    "product_period_end": DATE,
    "count_date": DATE,
    "response_date": DATE,
    "month": DATE,
    "notification_date": DATE,
    # measures
    "hours": MEASURE,
    "volume": MEASURE,
    "budget_cents": MEASURE,
    "tariff_cents": MEASURE,
    "amount_cents": MEASURE,
    "age": MEASURE,
    "pupils": MEASURE,
    "year": MEASURE,
    "young_people_with_youth_care": MEASURE,
    "percentage_with_youth_care": MEASURE,
    "contacts_pupils": MEASURE,
    "contacts_parents": MEASURE,
    "group_sessions": MEASURE,
    "consultations_teachers": MEASURE,
    "consultations_providers": MEASURE,
    "fte": MEASURE,
    "cost_per_fte_eur": MEASURE,
    "other_costs_eur": MEASURE,
    "total_eur": MEASURE,
    "climate_1": MEASURE,
    "climate_2": MEASURE,
    "climate_3": MEASURE,
    "climate_4": MEASURE,
    "climate_5": MEASURE,
    "satisfaction": MEASURE,
    "cluster": MEASURE,
    "convenant_year": MEASURE,
    "participants": MEASURE,
    "early_leavers": MEASURE,
    # flags
    "authorised": FLAG,
    "pupils_below_five": FLAG,
}


INTEGER_TYPES = ("BIGINT", "INTEGER", "HUGEINT", "UBIGINT", "SMALLINT", "TINYINT", "UINTEGER")


def column_class(column: str, data_type: str = "VARCHAR") -> str:
    """The class of a column. An unlisted text column is scanned as text; an unlisted
    integer column is a count or an amount the warehouse computed (a mart's
    declared_cost_cents may be any nine-digit number), so a measure."""
    if column in COLUMNS:
        return COLUMNS[column]
    return MEASURE if data_type.upper() in INTEGER_TYPES else TEXT


def columns_of(klass: str, columns) -> list[str]:
    """The given columns that belong to ``klass``, in their order."""
    return [c for c in columns if COLUMNS.get(c) == klass]
