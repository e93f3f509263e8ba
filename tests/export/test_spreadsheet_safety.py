"""CSV files we write are safe to open in a spreadsheet: formula-like text cells are
neutralised (OWASP CSV injection rule), read back from the written files."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pilotmonitor.disclosure import Release
from pilotmonitor.export import export_marts
from pilotmonitor.spreadsheet_safety import neutralise, neutralise_frame

# Hostile values as a careless or malicious sender could deliver them in a free-form id.
HOSTILE = [
    '=HYPERLINK("http://x.invalid","klik")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
HARMLESS = ["R-12", "a=b", "", "100", "x@example"]


def test_only_text_starting_like_a_formula_is_prefixed():
    assert [neutralise(v) for v in HOSTILE] == ["'" + v for v in HOSTILE]
    assert [neutralise(v) for v in HARMLESS] == HARMLESS
    assert neutralise(-5) == -5 and neutralise(-0.5) == -0.5 and neutralise(None) is None
    frame = pd.DataFrame(
        {"id": HOSTILE[:2] + ["ok"], "n": [-1, 2, -3], "when": pd.to_datetime(["2024-01-01"] * 3)}
    )
    safe, changed = neutralise_frame(frame)
    assert changed == 2
    assert safe["id"].tolist() == ["'" + HOSTILE[0], "'" + HOSTILE[1], "ok"]
    pd.testing.assert_frame_equal(safe[["n", "when"]], frame[["n", "when"]])
    assert frame["id"].tolist()[0] == HOSTILE[0]  # the input is not changed


@pytest.fixture()
def hostile_warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema published")
        rows = [(i, value, -i, f"s{i}") for i, value in enumerate(HOSTILE + HARMLESS)]
        conn.execute(
            "create table published.fct_survey_scores (n integer, remark varchar, delta integer, "
            "school_id varchar)"
        )
        conn.executemany("insert into published.fct_survey_scores values (?, ?, ?, ?)", rows)
    return path


def test_secure_csv_export_neutralises_formula_cells_and_says_so(
    hostile_warehouse: Path, tmp_path: Path
):
    manifest = export_marts(
        hostile_warehouse, tmp_path / "csv", fmt="csv", tables=["fct_survey_scores"]
    )
    with (tmp_path / "csv" / "fct_survey_scores.csv").open(newline="", encoding="utf-8") as handle:
        written = {int(r["n"]): r for r in csv.DictReader(handle)}
    for i, value in enumerate(HOSTILE + HARMLESS):
        expected = "'" + value if i < len(HOSTILE) else value
        assert written[i]["remark"] == expected, (i, value)
        assert written[i]["delta"] == str(-i)  # numbers are written as numbers, minus sign and all
    entry = manifest.tables["fct_survey_scores"]
    assert entry.formula_cells_neutralised == len(HOSTILE)
    assert any("spreadsheet formula" in w for w in manifest.warnings)

    parquet = export_marts(
        hostile_warehouse, tmp_path / "pq", fmt="parquet", tables=["fct_survey_scores"]
    )
    values = sorted(
        pq.read_table(tmp_path / "pq" / "fct_survey_scores.parquet").column("remark").to_pylist()
    )
    assert values == sorted(HOSTILE + HARMLESS)  # Parquet keeps the values exactly
    assert parquet.tables["fct_survey_scores"].formula_cells_neutralised == 0


def test_release_csv_and_disclosure_log_neutralise_formula_cells(tmp_path: Path):
    release = Release("hostile", out_dir=tmp_path)
    output = release.frequency(
        "by_group", pd.DataFrame({"group": ["=1+1", "pilot"], "n": [20, 30]}), count_column="n"
    )
    path = release.export(output)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["group"] for r in rows] == ["'=1+1", "pilot"] and [r["n"] for r in rows] == [
        "20",
        "30",
    ]
    release.write_log()
    with (tmp_path / "disclosure_checks.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in row.values())
