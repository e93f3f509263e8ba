"""Writes expectations/<table>.json from the definitions below (run once after a change:
``python -m pilotmonitor.quality.suite_builder``). The JSON files are the reviewed
artefacts the runner reads; this module only keeps them consistent with each other and
with the code-list seeds of the dbt project (dbt_project/seeds/codes/*.csv).

Every expectation has meta.severity (error | warning) and meta.steward_message.
Date rules depending on the delivery period use GX suite parameters
({"$PARAMETER": "<column>_min"/"_max"}) with meta.period_rule saying how the runner
derives them from raw.deliveries.period; the row-count rule uses meta.history_rule.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pilotmonitor.ingest.raw_catalogue import catalogue
from pilotmonitor.school_types import codes as school_type_codes
from pilotmonitor.settings import REPO_ROOT

EXPECTATIONS_DIR = REPO_ROOT / "expectations"
SEEDS_DIR = REPO_ROOT / "dbt_project" / "seeds" / "codes"


def seed_codes(name: str) -> list[str]:
    with (SEEDS_DIR / f"{name}.csv").open(encoding="utf-8") as handle:
        return [row["code"] for row in csv.DictReader(handle)]


def E(type_: str, severity: str, message: str, **kwargs) -> dict:
    meta = {"severity": severity, "steward_message": message}
    for key in ("period_rule", "history_rule", "code_list"):
        if key in kwargs:
            meta[key] = kwargs.pop(key)
    return {"type": type_, "kwargs": kwargs, "meta": meta}


def columns(table: str) -> dict:
    cols = list(catalogue().tables[table].types())
    return E(
        "expect_table_columns_to_match_set",
        "error",
        f"The delivery does not have the columns of raw.{table} the pipeline expects; the reader "
        "or the export format changed. Ask the data engineer before using it.",
        column_set=cols,
        exact_match=True,
    )


def not_null(
    column: str, severity: str = "error", mostly: float | None = None, what: str = ""
) -> dict:
    extra = {"mostly": mostly} if mostly is not None else {}
    share = f"more than {round((1 - mostly) * 100, 2):g}% of" if mostly is not None else "some"
    return E(
        "expect_column_values_to_not_be_null",
        severity,
        f"{share} rows have no {what or column}; check the export settings with the sender.",
        column=column,
        **extra,
    )


def in_set(
    column: str,
    values: list,
    severity: str,
    message: str,
    mostly: float | None = None,
    code_list: str | None = None,
) -> dict:
    extra = {"mostly": mostly} if mostly is not None else {}
    if code_list:
        extra["code_list"] = code_list
    return E(
        "expect_column_values_to_be_in_set",
        severity,
        message,
        column=column,
        value_set=values,
        **extra,
    )


def between(
    column: str,
    lo,
    hi,
    severity: str,
    message: str,
    mostly: float | None = None,
    strict_min: bool = False,
) -> dict:
    extra = {"mostly": mostly} if mostly is not None else {}
    if strict_min:
        extra["strict_min"] = True
    return E(
        "expect_column_values_to_be_between",
        severity,
        message,
        column=column,
        min_value=lo,
        max_value=hi,
        **extra,
    )


def in_period(
    column: str,
    kind: str,
    min_offset: int | None,
    max_offset: int | None,
    message: str,
    mostly: float | None = 0.99,
    severity: str = "error",
) -> dict:
    """Dates of `column` inside the delivery period (plus offsets in days); min/max None = open."""
    rule = {"period": kind, "min_offset_days": min_offset, "max_offset_days": max_offset}
    kw = {
        "column": column,
        "min_value": {"$PARAMETER": f"{column}_min"} if min_offset is not None else None,
        "max_value": {"$PARAMETER": f"{column}_max"} if max_offset is not None else None,
    }
    if mostly is not None:
        kw["mostly"] = mostly
    return E("expect_column_values_to_be_between", severity, message, period_rule=rule, **kw)


def unique(cols: list[str], message: str, severity: str = "error") -> dict:
    return E(
        "expect_compound_columns_to_be_unique",
        severity,
        message,
        column_list=["delivery_id", *cols],
    )


def row_count(
    min_ratio: float = 0.5,
    max_ratio: float = 2.0,
    rows_per: str = "covered_month",
    min_median_rows: int = 20,
    previous_deliveries: int = 6,
    min_previous: int = 3,
) -> dict:
    """Row count against the same sender's previous deliveries. rows_per "covered_month":
    rows per month the delivery covers (a school year's interim export covers its months
    up to the delivery date; see suites.covered_months); "delivery": rows per delivery
    (a roster such as an enrolment export lists everyone enrolled, whatever the months).
    Flagged at or below min_ratio x or above max_ratio x the median."""
    if rows_per == "covered_month":
        usual = (
            "the usual number of rows per month covered (median of the same sender's previous "
            "deliveries of this source; an interim export of the running school year covers only "
            "the months up to its delivery date)"
        )
    else:
        usual = "the median number of rows of the same sender's previous deliveries of this source"
    return E(
        "expect_table_row_count_to_be_between",
        "warning",
        f"This delivery has at most {min_ratio:g}x or more than {max_ratio:g}x {usual}. Ask the "
        "sender whether the export is complete (a missing month, a filter, a partial school "
        "year) before using it.",
        min_value={"$PARAMETER": "row_count_min"},
        max_value={"$PARAMETER": "row_count_max"},
        history_rule={
            "min_ratio": min_ratio,
            "max_ratio": max_ratio,
            "rows_per": rows_per,
            "previous_deliveries": previous_deliveries,
            "min_previous": min_previous,
            "min_median_rows": min_median_rows,
        },
    )


SCHOOL = "^[0-9]{2}[A-Z]{2}[0-9]{2}$"
IDKIND = ["bsn", "onderwijsnummer"]
MUNICIPALITY = "^GM[0-9]{4}$"


def at_least(column_a: str, column_b: str, message: str) -> dict:
    """``column_a`` >= ``column_b`` in every row that has both (an end not before its start)."""
    return E(
        "expect_column_pair_values_a_to_be_greater_than_b",
        "error",
        message,
        column_A=column_a,
        column_B=column_b,
        or_equal=True,
        ignore_row_if="either_value_is_missing",
    )


def id_kind() -> dict:
    """Pupil files identify a pupil by BSN or onderwijsnummer, nothing else."""
    return in_set("id_kind", IDKIND, "error", "Identifier kind is neither BSN nor onderwijsnummer.")


def school_id_format(message: str = "School id is not BRIN + vestiging (e.g. 99AB00).") -> dict:
    return E(
        "expect_column_values_to_match_regex", "error", message, column="school_id", regex=SCHOOL
    )


def municipality_code_format(message: str = "Municipality code is not GM + four digits.") -> dict:
    return E(
        "expect_column_values_to_match_regex",
        "error",
        message,
        column="municipality_code",
        regex=MUNICIPALITY,
    )


# Monthly iJw deliveries are judged against a year of the sender's history (median of the
# previous 12 months, at least 12 needed): caseloads build up over the first months of a
# contract and vary with the season, so a shorter history raises false alarms. Below a
# median of 50 rows a month, half the usual count is within chance (Poisson: about 1% of
# months of a 22-row sender), so small senders are not judged.
MONTHLY_HISTORY = {"previous_deliveries": 12, "min_previous": 12, "min_median_rows": 50}


# The real grain of each iJw table: what identifies one row within a delivery. A message
# carries one client (JW323: several) and any number of products; a declaration has one
# line per product reference *and period* (a long trajectory is declared month by month
# under one reference). Two rows with the same key mean the message (declaration) was
# exported twice.
IJW_KEYS = {
    "ijw_requests": ["message_id", "client_pseudonym", "provider_reference"],
    "ijw_allocations": ["message_id", "client_pseudonym", "allocation_number"],
    "ijw_starts": [
        "message_id",
        "client_pseudonym",
        "allocation_number",
        "product_category",
        "product_code",
        "start_date",
    ],
    "ijw_stops": [
        "message_id",
        "client_pseudonym",
        "allocation_number",
        "product_category",
        "product_code",
        "start_date",
        "end_date",
    ],
    "ijw_declaration_lines": [
        "declaration_number",
        "client_pseudonym",
        "product_reference",
        "product_period_start",
        "product_period_end",
    ],
}
IJW_DUPLICATE = {
    "ijw_requests": (
        "The same requested product (message, client, provider reference) appears twice in this "
        "delivery; the message was probably exported twice."
    ),
    "ijw_allocations": (
        "The same allocation (message, client, allocation number) appears twice in this delivery; "
        "the message was probably exported twice."
    ),
    "ijw_starts": (
        "The same start of care (message, client, allocation, product, start date) appears twice "
        "in this delivery; the message was probably exported twice."
    ),
    "ijw_stops": (
        "The same end of care (message, client, allocation, product, dates) appears twice in this "
        "delivery; the message was probably exported twice."
    ),
    "ijw_declaration_lines": (
        "The same declaration line (declaration, client, product reference and period) appears "
        "twice in this delivery: costs would be counted twice."
    ),
}


def ijw_common(table: str, date_col: str = "message_date") -> list[dict]:
    return [
        columns(table),
        not_null("message_id", what="message identifier"),
        unique(IJW_KEYS[table], IJW_DUPLICATE[table]),
        not_null("client_pseudonym", what="client (BSN) — the client could not be identified"),
        not_null(date_col, what="message date"),
        in_period(
            date_col,
            "month",
            0,
            45,
            f"{date_col} lies outside the delivery month (or more than 45 days after it): dates "
            "may be shifted or day and month swapped. Do not use this delivery until the sender "
            "confirms.",
        ),
        E(
            "expect_column_values_to_match_regex",
            "error",
            "The municipality code is not a four-digit CBS code.",
            column="municipality_code",
            regex="^[0-9]{4}$",
        ),
        in_set(
            "sex",
            seed_codes("ijw_sex"),
            "warning",
            "Sex code outside COD046 (0, 1, 2).",
            code_list="ijw_sex",
        ),
        in_set(
            "product_category",
            seed_codes("ijw_product_categories"),
            "error",
            "Product category outside the JZ020 code list (31-38, 40-55); youth-care types cannot "
            "be classified.",
            code_list="ijw_product_categories",
        ),
        not_null("product_code", "warning", 0.99, "product code"),
    ]


def units(severity: str = "error") -> list[dict]:
    return [
        in_set(
            "unit",
            seed_codes("ijw_units"),
            severity,
            "Unit outside the WJ756 code list; volumes cannot be converted.",
            code_list="ijw_units",
        ),
        in_set(
            "frequency",
            seed_codes("ijw_frequencies"),
            severity,
            "Frequency outside the WMO757 code list.",
            code_list="ijw_frequencies",
        ),
    ]


def suites() -> dict[str, dict]:
    s: dict[str, list[dict]] = {}
    s["school_enrolments"] = [
        columns("school_enrolments"),
        not_null("pupil_pseudonym", what="pupil identifier"),
        not_null("enrol_start", what="enrolment start date"),
        id_kind(),
        school_id_format(),
        in_set("sex", ["M", "V", "O", "X"], "warning", "Sex outside M/V/O/X."),
        in_set(
            "enrolment_kind",
            ["main", "secondary"],
            "error",
            "Enrolment kind is neither a main nor a secondary enrolment "
            "(hoofd-/neveninschrijving).",
        ),
        unique(
            ["pupil_pseudonym", "enrol_start"],
            "A pupil has the same enrolment twice in this export.",
        ),
        in_period(
            "enrol_start",
            "school_year",
            None,
            0,
            "Enrolments start after the end of the school year of this delivery: the date column "
            "may be shifted.",
        ),
        in_period(
            "enrol_end",
            "school_year",
            0,
            0,
            "Enrolment end dates outside the school year of this delivery (1 August - 31 July): "
            "dates may be shifted or day and month swapped.",
        ),
        at_least("enrol_end", "enrol_start", "Enrolment ends before it starts."),
        E(
            "expect_column_values_to_match_regex",
            "warning",
            "More than 1% of postcodes are not four digits (PC4).",
            column="postcode4",
            regex="^[1-9][0-9]{3}$",
            mostly=0.99,
        ),
        not_null("birth_month", "warning", 0.99, "birth month"),
        row_count(rows_per="delivery"),
    ]
    s["school_absence"] = [
        columns("school_absence"),
        not_null("pupil_pseudonym", what="pupil identifier"),
        not_null("absence_date", what="absence date"),
        not_null("hours", what="hours"),
        id_kind(),
        school_id_format(),
        between(
            "hours",
            0,
            24,
            "error",
            "Absence hours per record must be more than 0 and at most 24.",
            strict_min=True,
        ),
        between(
            "hours",
            0,
            8,
            "warning",
            "More than 1% of records have more than 8 absence hours on one day (a school day is "
            "at most about 8 hours): hours may be in minutes or summed over a week.",
            mostly=0.99,
        ),
        in_set("authorised", [True, False], "error", "Authorised flag is not yes/no."),
        unique(
            ["pupil_pseudonym", "absence_date", "authorised"],
            "The same pupil has two authorised (or two unauthorised) absence records on one day.",
        ),
        in_period(
            "absence_date",
            "school_year",
            0,
            0,
            "Absence dates outside the school year of this delivery (1 August - 31 July): the "
            "date column is probably shifted (a year off, or day and month swapped). Do not use "
            "this delivery until the school re-exports it.",
        ),
        not_null("reason", "warning", 0.95, "absence reason"),
        # below ~500 rows a year a school's absence count swings 0.1x-5x with a few long absences
        # (clean synthetic data, scale 0.05)
        row_count(min_median_rows=500),
    ]
    s["ijw_requests"] = (
        ijw_common("ijw_requests")
        + units("warning")
        + [
            in_set(
                "referrer_type",
                seed_codes("ijw_referrer_types"),
                "error",
                "Referrer type outside COD327 (01-06, 08): referrals cannot be attributed to GP, "
                "municipality, court etc.",
                code_list="ijw_referrer_types",
            ),
            not_null("referrer_type", "error", 0.99, "referrer type"),
            between("volume", 0, None, "error", "Requested volume is negative."),
            row_count(**MONTHLY_HISTORY),
        ]
    )
    s["ijw_allocations"] = (
        ijw_common("ijw_allocations")
        + units()
        + [
            not_null("allocation_number", what="allocation number"),
            between("volume", 0, None, "error", "Allocated volume is negative."),
            between("budget_cents", 0, None, "error", "Allocated budget is negative."),
            at_least("allocation_end", "allocation_start", "Allocation ends before it starts."),
            row_count(**MONTHLY_HISTORY),
        ]
    )
    s["ijw_starts"] = ijw_common("ijw_starts") + [
        not_null("start_date", what="start date"),
        in_period(
            "start_date",
            "month",
            -366,
            45,
            "Care start dates more than a year before or well after the delivery month: dates may "
            "be shifted.",
        ),
        row_count(**MONTHLY_HISTORY),
    ]
    s["ijw_stops"] = ijw_common("ijw_stops") + [
        in_set(
            "end_reason",
            seed_codes("ijw_end_reasons"),
            "error",
            "End reason outside the JZ588 code list: dropout cannot be told from planned endings.",
            code_list="ijw_end_reasons",
        ),
        not_null("end_date", what="end date"),
        at_least("end_date", "start_date", "Care ends before it started."),
        row_count(**MONTHLY_HISTORY),
    ]
    d = [
        c
        for c in ijw_common("ijw_declaration_lines", "declaration_date")
        if c["kwargs"].get("column") != "sex"
    ]
    s["ijw_declaration_lines"] = d + [
        in_set(
            "unit",
            seed_codes("ijw_units"),
            "error",
            "Unit outside the WJ756 code list; volumes cannot be converted.",
            code_list="ijw_units",
        ),
        in_set(
            "debit_credit",
            seed_codes("ijw_debit_credit"),
            "error",
            "Debit/credit indicator is not D or C (COD043): amounts cannot be signed.",
            code_list="ijw_debit_credit",
        ),
        not_null("product_reference", what="declaration line reference"),
        between(
            "amount_cents",
            0,
            None,
            "error",
            "Declared amounts must be zero or positive (credits are marked with C, not with a "
            "minus sign).",
        ),
        between("tariff_cents", 0, None, "error", "Tariffs must be zero or positive."),
        between("volume", 0, None, "error", "Declared volume is negative."),
        in_period(
            "product_period_start",
            "month",
            -366,
            0,
            "Service periods start more than a year before the declaration month or after it: "
            "dates may be shifted.",
        ),
        in_period(
            "product_period_end",
            "month",
            -366,
            0,
            "Service periods end after the delivery month or more than a year before it: dates "
            "may be shifted.",
        ),
        at_least(
            "product_period_end", "product_period_start", "A service period ends before it starts."
        ),
        row_count(**MONTHLY_HISTORY),
    ]
    s["product_list"] = [
        columns("product_list"),
        not_null("product_code", what="product code"),
        in_set(
            "product_category",
            seed_codes("ijw_product_categories"),
            "error",
            "Product category outside JZ020.",
            code_list="ijw_product_categories",
        ),
        *units(),
        unique(["product_code"], "A product code is listed twice in the product list."),
        between("tariff_cents", 0, None, "error", "Tariffs must be zero or positive."),
    ]
    s["duo_schools"] = [
        columns("duo_schools"),
        school_id_format("School id is not BRIN + vestiging."),
        unique(["school_id"], "A school site appears twice in the DUO registry file."),
        in_set(
            "school_type",
            list(school_type_codes()),
            "warning",
            "Unknown school type (seed school_types).",
        ),
        in_set("cluster", [1, 2, 3, 4], "warning", "Cluster outside 1-4."),
        municipality_code_format(),
    ]
    s["duo_pupil_counts"] = [
        columns("duo_pupil_counts"),
        not_null("school_id"),
        between("age", 2, 20, "warning", "Pupil age outside 2-20."),
        between("pupils", 0, None, "error", "Negative pupil count."),
        unique(
            ["school_id", "age", "count_date"], "The same school, age and count date appears twice."
        ),
        in_period(
            "count_date",
            "year",
            0,
            0,
            "Count dates outside the year of the file name: dates may be shifted.",
        ),
        row_count(),
    ]
    s["cbs_youth_care"] = [
        columns("cbs_youth_care"),
        municipality_code_format("Region key is not GM + four digits."),
        between(
            "year",
            2010,
            2035,
            "error",
            "Year outside 2010-2035: the period key was probably misread.",
        ),
        between("percentage_with_youth_care", 0, 100, "error", "Percentage outside 0-100."),
        between(
            "young_people_with_youth_care", 0, None, "error", "Negative number of young people."
        ),
        unique(["municipality_code", "year"], "The same municipality and year appear twice."),
    ]
    counts = [
        "contacts_pupils",
        "contacts_parents",
        "group_sessions",
        "consultations_teachers",
        "consultations_providers",
    ]
    s["pilot_activity"] = [
        columns("pilot_activity"),
        not_null("month"),
        not_null("school_id"),
        *[
            between(
                c,
                0,
                1000,
                "error",
                f"{c.replace('_', ' ')} per school per month must be between 0 and 1000.",
            )
            for c in counts
        ],
        unique(
            ["pilot_id", "school_id", "month"],
            "The same pilot, school and month appear twice in the activity log.",
        ),
        in_period(
            "month",
            "school_year",
            0,
            0,
            "Activity months outside the school year of this delivery: dates may be shifted.",
            mostly=None,
        ),
        row_count(),
    ]
    s["pilot_costs"] = [
        columns("pilot_costs"),
        between("year", 2010, 2035, "error", "Cost year outside 2010-2035."),
        *[
            between(c, 0, None, "error", f"{c.replace('_', ' ')} must not be negative.")
            for c in ["fte", "cost_per_fte_eur", "other_costs_eur", "total_eur"]
        ],
        between(
            "fte",
            0,
            20,
            "warning",
            "More than 20 FTE of youth support workers for one pilot: check the unit (hours "
            "instead of FTE?).",
        ),
        unique(["pilot_id", "year"], "The same pilot and year appear twice in the cost file."),
    ]
    from pilotmonitor.ingest.readers.leerplicht import KINDS

    s["leerplicht_register"] = [
        columns("leerplicht_register"),
        not_null("pupil_pseudonym", what="pupil identifier"),
        id_kind(),
        municipality_code_format(),
        school_id_format(),
        in_set(
            "registration",
            sorted(KINDS),
            "error",
            "Registration is not an absence notification, exemption, thuiszitter or early school "
            "leaver.",
        ),
        in_set(
            "kind",
            sorted({kind for kinds in KINDS.values() for kind in kinds.values()}),
            "error",
            "Kind of registration outside the known kinds (relatief/luxe/signaal/absoluut "
            "verzuim, vrijstelling 5a/5b/5c/11, ...).",
        ),
        at_least("end_date", "start_date", "A registration ends before it starts."),
        in_period(
            "notification_date",
            "school_year",
            0,
            0,
            "Notification dates outside the school year of this export (1 August - 31 July): "
            "dates may be shifted or day and month swapped. Ask the municipality before using it.",
        ),
        in_period(
            "start_date",
            "school_year",
            -3660,
            0,
            "Registrations start after the school year of this export: dates may be shifted.",
            severity="warning",
        ),
        unique(
            ["pupil_pseudonym", "registration", "kind", "notification_date", "start_date"],
            "The same registration of a pupil appears twice in this export.",
            severity="warning",
        ),
        # per month covered: the running school year's interim export covers only its first months
        row_count(min_median_rows=50),
    ]
    s["duo_vsv"] = [
        columns("duo_vsv"),
        in_set(
            "level",
            ["school", "municipality"],
            "error",
            "Level is neither a school site nor a municipality.",
        ),
        municipality_code_format(),
        school_id_format("School id is not BRIN + vestiging."),
        not_null("convenant_year", what="convenantjaar"),
        between(
            "convenant_year",
            2010,
            2035,
            "error",
            "Convenantjaar outside 2010-2035: the year column was probably misread.",
        ),
        between("participants", 0, None, "error", "Negative VSV population."),
        between("early_leavers", 0, None, "error", "Negative number of early school leavers."),
        at_least(
            "participants",
            "early_leavers",
            "More early school leavers than pupils in the VSV population.",
        ),
        in_set(
            "school_type",
            ["VO", "PRO", "VSO", "MBO"],
            "warning",
            "School type outside VO, PRO, VSO, MBO.",
        ),
        unique(
            ["level", "school_id", "municipality_code", "convenant_year", "school_type"],
            "The same site or municipality and convenantjaar appears twice.",
        ),
    ]
    likert = [f"climate_{i}" for i in range(1, 6)]
    s["survey_responses"] = [
        columns("survey_responses"),
        in_set(
            "respondent_group",
            ["ouders", "leerkrachten", "leerlingen"],
            "error",
            "Unknown respondent group.",
        ),
        *[between(c, 1, 5, "error", f"{c} is a Likert item: answers must be 1-5.") for c in likert],
        *[not_null(c, "warning", 0.8, f"answer to {c}") for c in likert],
        between("satisfaction", 1, 10, "error", "Satisfaction is a mark from 1 to 10."),
        unique(["respondent_id"], "A respondent answers twice in this delivery."),
        in_period(
            "response_date",
            "school_year",
            0,
            0,
            "Response dates outside the school year of this questionnaire round: dates may be "
            "shifted.",
        ),
        row_count(),
    ]
    out = {}
    for table, expectations in s.items():
        sources = list(catalogue().tables[table].sources)
        out[table] = {
            "name": f"raw.{table}",
            "expectations": expectations,
            "meta": {
                "table": table,
                "sources": sources,
                "notes": (
                    "Severity error blocks the warehouse build (blocking Dagster check); warning "
                    "is shown but does not block."
                ),
            },
        }
    return out


def write_all(directory: Path = EXPECTATIONS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for table, suite in suites().items():
        path = directory / f"{table}.json"
        path.write_text(json.dumps(suite, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_all():
        print(p)
