"""The RELEASE export: what may leave the secure environment, through disclosure control.

Row-level marts never leave (they hold pupil pseudonyms). A release holds aggregate
tables built from ``published.*``, each checked by :class:`pilotmonitor.disclosure.Release`
with the ACRO rules; suppressed cells are written as ``x``, a failed output is not written.

Design notes: docs/design/export.md#pilotmonitorexportreleasepy.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from pilotmonitor.disclosure import DisclosureError, DisclosureRules, Release
from pilotmonitor.disclosure.models import residual_df
from pilotmonitor.evaluation.outcomes import OUTCOMES, label

from .secure import (
    DICTIONARY_JSON,
    DICTIONARY_MD,
    MANIFEST_NAME,
    ExportError,
    ExportManifest,
    _file_entry,
    _publication,
    _write_text,
    open_warehouse,
    schema_tables,
)

GROUPS = """with groups as (
    select pilot_id, school_id, case role when 'treated' then 'pilot' else 'comparison' end as "group"
    from published.dim_pilot_assignment)"""  # noqa: E501
HALF = "year(month) as year, case when month(month) <= 6 then 1 else 2 end as half_year"
YEAR = "year(month) as year"

TABLES: dict[str, dict] = {
    **{
        name: {
            "description": (
                f"{what} per pilot, group (pilot or comparison schools) and {grain}, from "
                "published.fct_school_month."
            ),
            "columns": {
                "pilot_id": "Pilot.",
                "group": "pilot = the pilot's schools; comparison = its comparison pool.",
                "year": "Calendar year.",
                "half_year": "1 = January-June, 2 = July-December.",
                "pupil_months": "Pupil-months enrolled (exposure).",
                count: what + ".",
                f"{count}_per_100_pupil_months": f"100 x {count} / pupil_months.",
            },
        }
        for name, count, what, grain in (
            (
                "referrals_by_pilot_group_half_year",
                "new_referrals",
                "New referrals to youth care",
                "calendar half-year",
            ),
            (
                "dropouts_by_pilot_group_year",
                "dropouts",
                "Pupils leaving school without a new enrolment",
                "calendar year",
            ),
            (
                "thuiszitter_spells_by_pilot_group_year",
                "thuiszitter_spell_starts",
                "New spells of pupils sitting at home",
                "calendar year",
            ),
        )
    },
    "absence_by_pilot_group_half_year": {
        "description": (
            "Unauthorised absence hours per pilot, group and half-year (sum over pupils), from "
            "published.fct_pupil_month."
        ),
        "columns": {
            "pilot_id": "Pilot.",
            "group": "pilot or comparison.",
            "year": "Calendar year.",
            "half_year": "1 = January-June, 2 = July-December.",
            "unauthorised_absence_hours": "Sum of unauthorised absence hours.",
        },
    },
    "youth_care_cost_by_pilot_group_year": {
        "description": (
            "Declared youth-care cost (euros) per pilot, group and year, from "
            "published.fct_youth_care_costs."
        ),
        "columns": {
            "pilot_id": "Pilot.",
            "group": "pilot or comparison.",
            "year": "Calendar year.",
            "amount_eur": "Net declared cost in euros.",
        },
    },
    "effect_estimates": {
        "description": (
            "The latest effect estimates (results.effect_estimates) with their provenance."
        ),
        "columns": {
            "outcome_label": "The outcome in words (outcome registry, English).",
            "outcome_unit": (
                "Unit of the outcome's rate, the scale of linear estimates (outcome registry)."
            ),
            "preregistered_as": "The estimator of the pre-registered plan that produced the row.",
            "estimable": "false: no estimate exists; the reason is in not_estimable_reason.",
        },
    },
    "effect_estimates_low_df": {
        "description": (
            "Estimates with too few residual degrees of freedom: withheld by disclosure control."
        ),
        "columns": {},
    },
}

RELEASE_NOTE = (
    "RELEASE export: aggregate tables only, each through disclosure control (see "
    "disclosure_log.json); suppressed cells are written as 'x'. No pupil-level rows or "
    "pseudonyms."
)


def _counts(conn, count: str, period: str) -> pd.DataFrame:
    """One count per table: the frequency rule suppresses a row's counts together, so a
    rare event (dropouts) must not take the referrals of its row with it."""
    frame = conn.execute(f"""{GROUPS}
        select g.pilot_id, g."group", {period}, sum(pupil_months)::bigint as pupil_months, sum({count})::bigint as {count}
        from published.fct_school_month m join groups g using (school_id) group by all order by all""").df()  # noqa: E501
    frame[f"{count}_per_100_pupil_months"] = 100 * frame[count] / frame["pupil_months"]
    return frame


def _absence(conn) -> pd.DataFrame:
    return conn.execute(f"""{GROUPS}
        select g.pilot_id, g."group", {HALF}, p.pupil_pseudonym, p.unauthorised_absence_hours
        from published.fct_pupil_month p join groups g using (school_id) order by all""").df()


def _costs(conn) -> pd.DataFrame:
    return conn.execute(f"""{GROUPS}
        select g.pilot_id, g."group", year(c.month) as year, c.client_pseudonym, c.amount_cents / 100.0 as amount_eur
        from published.fct_youth_care_costs c join groups g using (school_id) order by all""").df()  # noqa: E501


def _estimates(conn) -> pd.DataFrame | None:
    try:
        table = conn.execute(
            "select * from results.effect_estimates order by pilot_id, role, outcome, estimator"
        ).df()
    except Exception:  # noqa: BLE001 - no analysis run yet: nothing to release
        return None
    table["df_resid"] = [residual_df(r) for _, r in table.iterrows()]
    table["outcome_label"] = [label(o, "en") for o in table["outcome"]]
    table["outcome_unit"] = [
        OUTCOMES[o].rate_unit if o in OUTCOMES else None for o in table["outcome"]
    ]
    keep = [
        "pilot_id",
        "outcome",
        "outcome_label",
        "outcome_unit",
        "role",
        "estimator",
        "preregistered_as",
        "estimable",
        "not_estimable_reason",
        "estimate",
        "std_error",
        "ci_lower",
        "ci_upper",
        "p_value",
        "p_value_adjusted",
        "p_value_wild_bootstrap",
        "p_value_randomization",
        "scale",
        "n_obs",
        "n_clusters",
        "df_resid",
        "method",
        "run_id",
        "code_version",
        "input_hash",
        "plan_hash",
        "seed",
    ]
    return table[keep]


def export_release(
    warehouse_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    rules: DisclosureRules | None = None,
    synthetic: bool = False,
) -> ExportManifest:
    """Write the release tables (CSV) through disclosure control, with the disclosure log,
    a data dictionary and a manifest. Refuses when nothing has been published."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    conn = open_warehouse(warehouse_path)
    try:
        if "fct_school_month" not in schema_tables(conn, "published"):
            raise ExportError("published.fct_school_month missing: nothing has been published yet")
        release = Release(
            f"export-{datetime.now(UTC):%Y%m%dT%H%M%S}",
            out_dir=out,
            rules=rules or DisclosureRules.from_acro(),
        )
        checked = [
            release.frequency(
                name,
                _counts(conn, count, period),
                count_column=count,
                derived=[f"{count}_per_100_pupil_months"],
                extra_counts=["pupil_months"],
            )
            for name, count, period in (
                ("referrals_by_pilot_group_half_year", "new_referrals", HALF),
                ("dropouts_by_pilot_group_year", "dropouts", YEAR),
                ("thuiszitter_spells_by_pilot_group_year", "thuiszitter_spell_starts", YEAR),
            )
        ] + [
            release.magnitude(
                "absence_by_pilot_group_half_year",
                _absence(conn),
                by=["pilot_id", "group", "year", "half_year"],
                value="unauthorised_absence_hours",
                contributor="pupil_pseudonym",
                aggfunc="sum",
            ),
            release.magnitude(
                "youth_care_cost_by_pilot_group_year",
                _costs(conn),
                by=["pilot_id", "group", "year"],
                value="amount_eur",
                contributor="client_pseudonym",
                aggfunc="sum",
            ),
        ]
        estimates = _estimates(conn)
        if estimates is not None:
            # Estimates below the residual-df threshold are their own output, which fails
            # and is logged as withheld, so they do not hold back the releasable ones.
            low = estimates["df_resid"].notna() & (
                estimates["df_resid"] < release.rules.min_df_resid
            )
            checked.append(
                release.model("effect_estimates", estimates[~low].reset_index(drop=True))
            )
            if low.any():
                checked.append(
                    release.model("effect_estimates_low_df", estimates[low].reset_index(drop=True))
                )
        publication = _publication(conn, "published")
    finally:
        conn.close()

    files, withheld = [], []
    for output in checked:
        try:
            path = release.export(output)
        except DisclosureError as exc:
            withheld.append(str(exc))
            continue
        files.append(
            _file_entry(out, path.name, output.name, len(output.table), list(output.table.columns))
        )
    log_path = release.write_log()
    entries = [
        {
            "table": o.name,
            "description": TABLES[o.name]["description"],
            "status": o.status,
            "columns": [
                {"name": c, "description": TABLES[o.name]["columns"].get(c, "")}
                for c in o.table.columns
            ],
        }
        for o in checked
        if o.status != "fail"
    ]
    note = RELEASE_NOTE + (" SYNTHETIC DATA: every number is invented." if synthetic else "")
    md = ["# Pilotmonitor release export", "", note, ""]
    for e in entries:
        md += [
            f"## {e['table']} (disclosure: {e['status']})",
            "",
            e["description"],
            "",
            "| column | description |",
            "|---|---|",
        ]
        md += [f"| `{c['name']}` | {c['description']} |" for c in e["columns"]] + [""]
    _write_text(out / DICTIONARY_MD, "\n".join(md))
    _write_text(
        out / DICTIONARY_JSON, json.dumps({"note": note, "tables": entries}, indent=2) + "\n"
    )
    for name in (DICTIONARY_MD, DICTIONARY_JSON, log_path.name):
        files.append(_file_entry(out, name, None, None, []))
    manifest = ExportManifest(
        kind="release",
        contains_pseudonyms=False,
        synthetic_data_note=note,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        warehouse_path=str(Path(warehouse_path).resolve()),
        schema="published",
        format="csv",
        out_dir=str(out.resolve()),
        publication=publication,
        dictionary_source="release definitions (pilotmonitor.export.release)",
        dictionary_source_path=__file__,
        files=files,
        warnings=[f"disclosure status {release.status}", *withheld],
    )
    _write_text(
        out / MANIFEST_NAME, json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n"
    )
    return manifest


__all__ = ["export_release", "TABLES"]
