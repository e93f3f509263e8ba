"""The exit check: an export or report holding a citizen or education number in any of
its written forms, or a non-pseudonymised value in a pseudonym column, is not written."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pilotmonitor.disclosure.identifiers import scan
from pilotmonitor.export import export_marts
from pilotmonitor.export.secure import IdentifierInExportError
from pilotmonitor.report.build import IdentifierInReportError, _refuse_identifiers

PSEUDONYM = "ab12" * 16
REFERENCE = "cd34" * 8


def _warehouse(tmp_path: Path, remark: str, respondent: str = REFERENCE) -> Path:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema published")
        conn.execute(
            "create table published.fct_survey_scores (pupil_pseudonym varchar, respondent_id "
            "varchar, remark varchar, declared_cost_cents bigint)"
        )
        conn.execute(
            "insert into published.fct_survey_scores values (?, ?, 'ok', 999964392), (?, ?, ?, 12)",
            [PSEUDONYM, REFERENCE, PSEUDONYM, respondent, remark],
        )
    return path


@pytest.mark.parametrize("remark", ["R999964392", "bsn 9999.64.392", "kind 108329477"])
def test_export_with_an_identifier_in_text_is_not_written(tmp_path: Path, remark: str):
    with pytest.raises(
        IdentifierInExportError,
        match=(
            r"published\.fct_survey_scores\.remark: 1 value\(s\) that look like a BSN or "
            r"onderwijsnummer"
        ),
    ) as error:
        export_marts(
            _warehouse(tmp_path, remark), tmp_path / "out", fmt="csv", tables=["fct_survey_scores"]
        )
    assert "999964392" not in str(error.value) and "108329477" not in str(error.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_export_with_a_value_that_is_not_a_pseudonym_is_not_written(tmp_path: Path):
    with pytest.raises(IdentifierInExportError, match="respondent_id: 1 value.*not pseudonymised"):
        export_marts(
            _warehouse(tmp_path, "ok", respondent="R2025OU00001"),
            tmp_path / "out",
            fmt="parquet",
            tables=["fct_survey_scores"],
        )


def test_clean_export_with_pseudonyms_and_nine_digit_amounts_is_written(tmp_path: Path):
    manifest = export_marts(
        _warehouse(tmp_path, "belde 999964393 (geen BSN)"),
        tmp_path / "out",
        fmt="csv",
        tables=["fct_survey_scores"],
    )
    assert manifest.tables["fct_survey_scores"].rows == 2


def test_report_with_an_identifier_is_refused_and_money_and_images_are_not():
    clean = (
        "<p>Kosten € 999.964.392 en EUR 999 964 392</p><img "
        'src="data:image/png;base64,QUJD999964392YWJj">'
    )
    _refuse_identifiers("p", {"nl": clean, "en": clean})
    with pytest.raises(IdentifierInReportError, match="report p not written.*en: 1"):
        _refuse_identifiers("p", {"nl": clean, "en": clean + "<td>school R999964392</td>"})


def test_release_tables_are_scanned_for_identifiers_inside_text():
    findings = scan(pd.DataFrame({"group": ["pilot R999964392", "pilot"], "n": [20, 30]}))
    assert [(f.column, f.kind) for f in findings] == [("group", "BSN/onderwijsnummer value")]
