"""Ingestion of a whole synthetic scenario: every source loads, the quarantine holds
exactly the planted bad records, nothing is doubled, nothing identifying gets in."""

import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from pilotmonitor.cli import app

# planted defect kind -> quarantine reason codes it may produce
PLANTED_TO_REASONS = {
    "invalid_bsn": {"invalid_bsn"},
    "reserved_bsn": {"reserved_bsn"},
    "impossible_date": {"invalid_date"},
    "missing_field": {"missing_identifier", "missing_field", "invalid_date"},
    "duplicate_row": {"duplicate_row"},
    "unknown_product_code": {"unknown_product_code"},
    "unknown_kind": {"invalid_code"},
}


@pytest.fixture(scope="module")
def pipeline(copy_demo, demo_outputs, tmp_path_factory):
    """The demo fixture's first run (its output) on a copy of its data directory, which
    the rerun test may change."""
    root = tmp_path_factory.mktemp("e2e")
    data = copy_demo(root)
    env = pytest.MonkeyPatch()
    env.setenv("PILOTMONITOR_DATA_DIR", str(data))
    env.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    env.delenv("PILOTMONITOR_PSEUDONYM_KEY", raising=False)
    env.delenv("PILOTMONITOR_PSEUDONYM_KEY_FILE", raising=False)
    env.delenv("PILOTMONITOR_DEMO", raising=False)
    yield data, demo_outputs["run"], CliRunner()
    env.undo()


def connect(data: Path):
    return duckdb.connect(str(data / "warehouse" / "pilotmonitor.duckdb"), read_only=True)


def test_run_succeeds_and_every_check_passes(pipeline):
    _, first, _ = pipeline  # the fixture fails with the run's output when it does not succeed
    flat = " ".join(first.split())
    for kind in ("asset checks", r"dbt tests \(asset checks\)"):
        counts = re.search(kind + r" │ (\d+) of (\d+) passed", flat)
        assert counts and int(counts.group(1)) == int(counts.group(2)) > 0, first
    assert "check failed" not in flat and "check warned" not in flat


def test_quarantine_holds_exactly_the_planted_bad_records(pipeline):
    data, _, _ = pipeline
    planted = pd.read_csv(data / "ground_truth" / "planted_defects.csv")
    planted = planted[planted.expected_handling == "quarantine"]
    with connect(data) as conn:
        quarantine = conn.execute(
            "select q.path, q.row_locator, q.reason_code from raw.quarantine q join "
            "raw.deliveries d on d.path = q.path and d.status = 'loaded'"
        ).df()
    assert len(quarantine) == planted["count"].sum()
    for kind, reasons in PLANTED_TO_REASONS.items():
        expected = planted.loc[planted.kind == kind, "count"].sum()
        per_file = planted[planted.kind == kind]
        found = quarantine[
            quarantine.path.isin(per_file.path) & quarantine.reason_code.isin(reasons)
        ]
        assert len(found) >= expected, f"{kind}: planted {expected}, quarantined {len(found)}"


def test_file_level_problems_are_handled(pipeline):
    data, _, _ = pipeline
    planted = pd.read_csv(data / "ground_truth" / "planted_defects.csv").set_index("kind")
    with connect(data) as conn:
        register = conn.execute("select * from raw.deliveries").df().set_index("path")
    assert register.loc[planted.loc["duplicate_file", "path"], "status"] == "duplicate"
    wrongly = register.loc[planted.loc["wrongly_encoded_file", "path"]]
    assert wrongly.status == "failed" and "UTF-16" in wrongly.error
    original = register.loc[planted.loc["corrected_redelivery", "path"]]
    assert not original.is_current and original.superseded_by in register.index
    late = register.loc[planted.loc["late_month", "path"]]
    assert late.status == "loaded" and late.is_current
    assert (register.status != "failed").sum() == len(
        register
    ) - 1  # only the planted unreadable file fails


def test_loaded_rows_match_the_ground_truth(pipeline):
    data, _, _ = pipeline
    truth = pd.read_json(data / "ground_truth" / "scenario.json", typ="series")["row_counts"]
    with connect(data) as conn:

        def current(table):
            return conn.execute(
                f"select count(*) from raw.{table} t join raw.deliveries d on d.delivery_id = "
                "t.delivery_id and d.status = 'loaded' and d.is_current"
            ).fetchone()[0]

        assert current("school_absence") == truth["absence_records"]
        assert current("ijw_requests") == truth["referrals"]
        assert current("ijw_starts") == truth["trajectories_started"]


def test_rerunning_changes_nothing(pipeline):
    data, _, runner = pipeline
    with connect(data) as conn:
        before = {
            t: conn.execute(f"select count(*) from raw.{t}").fetchone()[0]
            for t in ["deliveries", "quarantine", "school_absence", "ijw_declaration_lines"]
        }
    again = runner.invoke(app, ["run", "--demo"])
    assert again.exit_code == 0, again.output
    with connect(data) as conn:
        after = {t: conn.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in before}
    assert after == before


def test_no_identifier_or_name_anywhere_in_the_warehouse(pipeline):
    from pilotmonitor.ingest.leak_scan import landing_name_tokens, scan_tables, tables_in_schema

    data, _, _ = pipeline
    with duckdb.connect(str(data / "warehouse" / "pilotmonitor.duckdb")) as conn:
        leaks = scan_tables(
            conn, tables_in_schema(conn, "raw"), landing_name_tokens(data / "landing")
        )
    assert leaks == []
    key = (data / "keys" / "demo-pseudonym.key").read_text().strip()
    warehouse_bytes = (data / "warehouse" / "pilotmonitor.duckdb").read_bytes()
    assert key.encode() not in warehouse_bytes and bytes.fromhex(key) not in warehouse_bytes
