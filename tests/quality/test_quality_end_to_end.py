"""The demo pipeline on a small synthetic scenario runs the Great Expectations checks
after each ingestion asset; the clean scenario passes every error- and warning-level
check and the results are stored once per delivery and suite. Planted problems, each an
extra delivery added to a copy of the clean run (landing area, warehouse), fail the
right check with the steward's message and the file name:

- a half-size delivery (pilot activity re-delivered with half of its rows) fails
  ``expectations_warning`` (row count against the sender's history) and does not block;
- a shifted date column (school absence re-delivered with every date a year forward)
  fails ``expectations_error`` (dates in the school year) and blocks the dbt assets;
- an unknown code burst (a municipal flat extract whose JW315 requests mostly have
  referrer type '99'; in iJw XML archives the XSD already quarantines '99', the flat
  extract reader passes codes as delivered) fails ``expectations_error`` on the value-set
  expectation.
"""

import json
import re
import shutil
from datetime import date

import duckdb
import pytest
from typer.testing import CliRunner

from pilotmonitor.cli import app
from pilotmonitor.ingest.sources import SOURCES
from pilotmonitor.publication.check_results import open_instance
from tests.conftest import FinishedRun

pytestmark = pytest.mark.slow

ENV_DROP = ("PILOTMONITOR_PSEUDONYM_KEY", "PILOTMONITOR_PSEUDONYM_KEY_FILE", "PILOTMONITOR_DEMO")


def _run(root, args):
    """Invoke the CLI with the data dir and Dagster home of `root`; returns the CLI result
    and the check evaluations and materialized asset keys of the latest Dagster run."""
    env = pytest.MonkeyPatch()
    env.setenv("PILOTMONITOR_DATA_DIR", str(root / "data"))
    env.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    env.setenv("GX_ANALYTICS_ENABLED", "false")
    for name in ENV_DROP:
        env.delenv(name, raising=False)
    try:
        (root / "dagster_home").mkdir(parents=True, exist_ok=True)
        result = CliRunner().invoke(app, args)
        checks, materialized = _latest_run(root) if args[0] == "run" else ({}, set())
    finally:
        env.undo()
    return result, checks, materialized


def _latest_run(root):
    """The check evaluations and materialized asset keys of the latest Dagster run in the
    Dagster home of `root`."""
    from dagster._core.events import DagsterEventType

    checks, materialized = {}, set()
    with open_instance(root / "dagster_home") as instance:
        run = instance.get_runs(limit=1)[0]
        for record in instance.all_logs(
            run.run_id,
            of_type={
                DagsterEventType.ASSET_CHECK_EVALUATION,
                DagsterEventType.ASSET_MATERIALIZATION,
            },
        ):
            event = record.dagster_event
            if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                materialized.add(tuple(event.asset_key.path))
            else:
                ev = event.event_specific_data
                checks[(ev.asset_key.path[-1], ev.check_name)] = ev
    return checks, materialized


def _meta_text(evaluation) -> str:
    return " ".join(str(getattr(v, "value", v)) for v in evaluation.metadata.values())


@pytest.fixture(scope="module")
def clean(copy_demo, demo_outputs, tmp_path_factory):
    """The demo fixture's run (a copy of its data directory and run history)."""
    root = tmp_path_factory.mktemp("quality_e2e")
    copy_demo(root)
    checks, materialized = _latest_run(root)
    return root, FinishedRun(demo_outputs["run"]), checks, materialized


def _scenario(clean, tmp_path, plant, *options):
    """A copy of the clean run (data dir incl. warehouse) with one planted delivery, run again
    (with `options`: `--skip-analyses` where only the checks and the warehouse matter)."""
    root = tmp_path / "scenario"
    shutil.copytree(clean[0] / "data", root / "data")
    written = plant(root / "data" / "landing")
    result, checks, materialized = _run(root, ["run", "--demo", *options])
    with duckdb.connect(
        str(root / "data" / "warehouse" / "pilotmonitor.duckdb"), read_only=True
    ) as conn:
        failures = conn.execute(
            'select path, "table", expectation_type, "column", severity, examples, '
            "steward_message from quality.validation_results where not success"
        ).df()
    return written, result, checks, materialized, failures


def test_clean_demo_passes_every_expectation_check(clean):
    root, result, checks, materialized = clean
    data = root / "data"
    assert result.exit_code == 0, result.output
    assert ("published_marts",) in materialized  # nothing blocked: the marts were published
    gx = {k: v for k, v in checks.items() if k[1] in ("expectations_error", "expectations_warning")}
    assert len(gx) == 2 * len(SOURCES), sorted(checks)  # an error and a warning suite per source
    assert [k for k, v in gx.items() if not v.passed] == []
    with duckdb.connect(str(data / "warehouse" / "pilotmonitor.duckdb"), read_only=True) as conn:
        failed = conn.execute(
            'select path, "table", expectation_type, "column", examples from '
            "quality.validation_results where not success"
        ).fetchall()
        validated = conn.execute(
            "select count(distinct path) from quality.validation_results"
        ).fetchone()[0]
        twice = conn.execute(
            'select count(*) from (select path, "table", expectation_type, "column", suite_hash, '
            "count(*) n from quality.validation_results group by all having count(*) > 1 and "
            "min(expectation_type) <> 'expect_column_values_to_be_between')"
        ).fetchone()[0]
    assert failed == []
    assert validated > 100 and twice == 0
    assert (data / "quality" / "data_docs" / "index.html").is_file()


def test_rerun_validates_nothing_again(clean, tmp_path):
    root = tmp_path / "rerun"
    shutil.copytree(clean[0] / "data", root / "data")
    db = root / "data" / "warehouse" / "pilotmonitor.duckdb"
    with duckdb.connect(str(db), read_only=True) as conn:
        before = conn.execute("select count(*) from quality.validation_results").fetchone()[0]
    result, checks, _ = _run(root, ["run", "--demo"])
    assert all(v.passed for k, v in checks.items() if k[1].startswith("expectations_"))
    assert (
        checks[("raw_school_absence", "expectations_error")]
        .metadata["deliveries_validated_now"]
        .value
        == 0
    )
    with duckdb.connect(str(db), read_only=True) as conn:
        assert (
            conn.execute("select count(*) from quality.validation_results").fetchone()[0] == before
        )


def test_half_size_delivery_warns_without_blocking(clean, tmp_path):
    def plant(landing):
        folder = landing / "pilots" / "hoogeveen-positief-opgroeien"
        old = folder / "hoogeveen-positief-opgroeien_activiteiten_2025-2026_20260820.csv"
        lines = old.read_bytes().splitlines(keepends=True)
        rows = [line for line in lines[1:] if line.strip()]
        # supersedes the old one
        new = folder / "hoogeveen-positief-opgroeien_activiteiten_2025-2026_20261115.csv"
        new.write_bytes(lines[0] + b"".join(rows[: len(rows) // 2]))
        return new.name

    name, result, checks, materialized, failures = _scenario(
        clean, tmp_path, plant, "--skip-analyses"
    )
    warning = checks[("raw_pilot_activity", "expectations_warning")]
    assert not warning.passed and warning.severity.value == "WARN"
    text = _meta_text(warning)
    assert (
        name in text
        and "Ask the sender whether the export is complete" in text
        and "row_count" in text
    )
    assert checks[("raw_pilot_activity", "expectations_error")].passed
    row = failures[failures.path.str.endswith(name)]
    assert list(row.expectation_type) == ["expect_table_row_count_to_be_between"] and list(
        row.severity
    ) == ["warning"]
    # half the rows of a full year: below the range the sender's earlier deliveries give
    found = re.search(r"(\d+) rows over .* expected (\d+)-(\d+)", row.examples.iloc[0])
    assert found, row.examples.iloc[0]
    delivered, low, high = map(int, found.groups())
    assert delivered < low <= high and 2 * delivered >= low - 1
    assert ("marts", "fct_pupil_month") in materialized  # a warning does not block


def _semicolon_absence_export(landing):
    """A school's 2024-2025 absence export in the semicolon Windows-1252 dialect (BSN first,
    dd-mm-yyyy dates). Which school has that dialect, and its delivery date, depend on the
    scenario's random draws, so it is looked up, not named."""
    for path in sorted((landing / "schools").glob("*/*_verzuim_2024-2025_*.csv")):
        if path.read_bytes().startswith(b"BSN;Onderwijsnummer;Datum;"):
            return path
    raise AssertionError("no semicolon absence export for 2024-2025")


def test_shifted_dates_block_the_warehouse_build(clean, tmp_path):
    def plant(landing):
        old = _semicolon_absence_export(landing)
        folder, school = old.parent, old.parent.name
        text = old.read_bytes().decode("cp1252")
        shifted = re.sub(
            r"(?m)^([^;\r\n]*;[^;\r\n]*;)(\d{2})-(\d{2})-(\d{4});",
            lambda m: f"{m[1]}{m[2]}-{m[3]}-{int(m[4]) + 1};",
            text,
        )
        assert shifted != text
        new = folder / f"{school}_verzuim_2024-2025_20261115.csv"
        new.write_bytes(shifted.encode("cp1252"))
        return new.name

    name, result, checks, materialized, failures = _scenario(clean, tmp_path, plant)
    error = checks[("raw_school_absence", "expectations_error")]
    assert not error.passed and error.severity.value == "ERROR"
    text = _meta_text(error)
    assert name in text and "the date column is probably shifted" in text
    row = failures[failures.path.str.endswith(name) & (failures.severity == "error")]
    assert list(zip(row.expectation_type, row["column"])) == [
        ("expect_column_values_to_be_between", "absence_date")
    ]
    assert result.exit_code == 1, result.output
    assert ("staging", "stg_school__absence") not in materialized
    assert ("marts", "fct_pupil_month") not in materialized
    # the analyses keep reading the clean run's publication, now reported as stale
    assert ("published_marts",) not in materialized
    from pilotmonitor.publication.gate import publication_state

    with duckdb.connect(
        str(tmp_path / "scenario" / "data" / "warehouse" / "pilotmonitor.duckdb"), read_only=True
    ) as conn:
        state = publication_state(conn)
        assert state.published_at is not None
        assert conn.execute("select count(*) from published.fct_pupil_month").fetchone()[0] > 0
    _status_tells_the_truth_after_a_blocked_run(tmp_path / "scenario", name)


def _status_tells_the_truth_after_a_blocked_run(root, name):
    """The steward's view of the blocked run: the validation error counted on its source
    with the file named, the one failed check apart from the dbt tests it kept from
    running, exit code 1, and a health page the run wrote from its final state."""
    import json

    # the planted delivery is dated 2026-11-15
    status, _, _ = _run(root, ["status", "--json", "--as-of", "2026-11-30"])
    assert status.exit_code == 1, status.output
    data = json.loads(status.stdout)
    absence = next(s for s in data["sources"] if s["source"] == "school_absence")
    assert absence["validation"]["errors"] >= 1
    assert any(
        name in f
        for failure in absence["validation"]["top_failures"]
        for f in failure["delivery_files"]
    )
    assert [(c["asset"], c["check"]) for c in data["failed_checks"] if c["severity"] != "WARN"] == [
        ("raw_school_absence", "expectations_error")
    ]
    assert data["checks"]["warehouse checks (dbt tests)"]["not_run"] > 0
    assert data["checks"]["warehouse checks (dbt tests)"]["failed_error"] == 0
    page = (root / "data" / "health" / "index.html").read_text(encoding="utf-8")
    assert "BLOCKED" in page and "not run (upstream blocked)" in page


def test_unknown_referrer_codes_fail_the_value_set(clean, tmp_path):
    # The iJw XSD enumerates the referrer types exactly as the suite does, so in an XML
    # archive '99' is quarantined by the reader (schema_invalid) before it reaches raw; a
    # municipal flat extract carries codes as delivered, so there '99' reaches
    # raw.ijw_requests and only the suite catches it.
    def plant(landing):
        bsns = re.findall(rb"(?m)^(\d{9});", _semicolon_absence_export(landing).read_bytes())
        header = (
            "berichttype;bericht_id;aanbieder_agb;gemeente;berichtdatum;bsn;geboortedatum;geslacht;"
            "referentie_aanbieder;productcategorie;productcode;ingangsdatum;volume;eenheid;"
            "frequentie;verwijzer_type"
        )
        rows = [
            f"JW315;3159{i:08d};99000022;0014;2026-09-{10 + i % 15:02d};"
            f"{bsns[i % len(bsns)].decode()};2015-03-01;1;REF{i:09d};54;54001;2026-10-01;2;04;2;"
            f"{'99' if i < 24 else '02'}"
            for i in range(30)
        ]
        new = landing / "ijw" / "GM0014" / "GM0014_jeugdhulp_extract_2026-09_20261120.csv"
        new.write_text("\r\n".join([header, *rows]) + "\r\n", encoding="utf-8")
        return new.name

    name, result, checks, materialized, failures = _scenario(clean, tmp_path, plant)
    error = checks[("raw_ijw_extracts", "expectations_error")]
    assert not error.passed
    text = _meta_text(error)
    assert name in text and "COD327" in text
    row = failures[failures.path.str.endswith(name) & (failures.severity == "error")]
    assert list(zip(row.expectation_type, row["column"])) == [
        ("expect_column_values_to_be_in_set", "referrer_type")
    ]
    assert row.examples.iloc[0] == "99"
    assert result.exit_code == 1


def test_real_shaped_ijw_messages_load_without_blocking_and_publish(clean, tmp_path, ijw_xsd_dir):
    """A municipality re-delivers a month with, besides our generator's messages, messages
    written by hand from the iJw 3.2 specification (tests/ingest/handwritten_ijw):
    several products per message, a reference declared month by month with a credit,
    optional elements absent, retour messages and a change request the warehouse does not
    use, and one message with an impossible date. Nothing blocks, the run publishes, and
    the register counts products and the unused messages. The impossible date is a schema
    violation only with the iJw XSDs at hand (ijw_xsd_dir skips without them)."""
    from pathlib import Path

    handwritten = sorted((Path(__file__).parents[1] / "ingest" / "handwritten_ijw").glob("*.xml"))

    def plant(landing):
        import zipfile

        folder = landing / "ijw" / "GM0014"
        old = next(folder.glob("GM0014_ijw_2024-03_*.zip"))
        new = folder / "GM0014_ijw_2024-03_20241115.zip"  # supersedes the month's delivery
        with (
            zipfile.ZipFile(old) as source,
            zipfile.ZipFile(new, "w", zipfile.ZIP_DEFLATED) as target,
        ):
            for info in source.infolist():
                target.writestr(info.filename, source.read(info))
            # A folder inside the archive (the hand-written clients are surnamed "Handgeschreven":
            # a folder of that name would rightly be a name from the landing area in the locators)
            for path in handwritten:
                target.write(path, f"spec_examples/{path.name}")
        return old.name, new.name

    (old_name, new_name), result, checks, materialized, failures = _scenario(
        clean, tmp_path, plant, "--skip-analyses"
    )
    assert result.exit_code == 0, result.output
    assert [k for k, v in checks.items() if not v.passed and v.severity.value == "ERROR"] == []
    assert ("published_marts",) in materialized
    assert failures[failures.path.str.endswith(new_name) & failures.severity.eq("error")].empty
    from pilotmonitor.ingest.pseudonymise import Pseudonymiser, load_key

    # the provider's reference is stored as its keyed pseudonym (under the scenario's demo key)
    reference = Pseudonymiser(
        load_key(tmp_path / "scenario" / "data", demo=True, environ={})
    ).reference("PR5001")
    with duckdb.connect(
        str(tmp_path / "scenario" / "data" / "warehouse" / "pilotmonitor.duckdb"), read_only=True
    ) as conn:
        register = conn.execute(
            "select path, rows_read, rows_loaded, rows_quarantined, messages_ignored, is_current "
            "from raw.deliveries where path like '%GM0014_ijw_2024-03_%' order by path"
        ).df()
        quarantined = conn.execute(
            "select row_locator, reason_code from raw.quarantine where path like ? and "
            "row_locator like 'spec_examples/%' order by 1",
            [f"%{new_name}"],
        ).fetchall()
        netted = conn.execute(
            "select service_start, debit_cents, credit_cents, net_amount_cents from "
            "intermediate.int_declaration_lines_netted where provider_agb = '99000022' and "
            "product_reference = ? order by 1",
            [reference],
        ).fetchall()
    old, new = (
        register.set_index(register.path.str.rsplit("/", n=1).str[-1])
        .loc[[old_name, new_name]]
        .itertuples()
    )
    assert new.is_current and not old.is_current
    assert new.rows_read == new.rows_loaded + new.rows_quarantined
    assert new.rows_read - old.rows_read == 16  # the hand-written products and lines, not messages
    ignored_before = json.loads(old.messages_ignored or "{}")
    ignored_now = json.loads(new.messages_ignored)
    assert {kind: ignored_now[kind] - ignored_before.get(kind, 0) for kind in ignored_now} == {
        **dict.fromkeys(ignored_now, 0),
        "JW302": 1,
        "JW306": 1,
        "JW317": 1,
        "JW325": 1,
    }
    assert quarantined == [
        ("spec_examples/JW301_impossible_date.xml#1", "schema_invalid"),
        ("spec_examples/JW301_impossible_date.xml#2", "schema_invalid"),
    ]
    # one line per month under one reference; the credit reverses February only
    assert netted == [
        (date(2024, 1, 1), 21000, 0, 21000),
        (date(2024, 2, 1), 21000, 21000, 0),
        (date(2024, 3, 1), 21000, 0, 21000),
    ]
