"""Freshness, status verdict, JSON and the health page on a tiny hand-built warehouse."""

from __future__ import annotations

import json
from datetime import date, datetime

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from pilotmonitor.health.cadence import (
    latest_expected_period,
    load_cadences,
    period_index,
    period_name,
)
from pilotmonitor.health.freshness import source_freshness, sources_read
from pilotmonitor.health.page import write_page
from pilotmonitor.health.status import CheckResult, _deliveries, collect_status
from pilotmonitor.ingest.warehouse_raw import (
    ensure_schema,
    insert_delivery,
    insert_frame,
    quarantine_columns,
)

AS_OF = date(2026, 11, 23)
PSEUDONYM = "p_5f2c9a1e7d3b4c6a8e0f"


def delivery(
    path,
    source,
    sender,
    period,
    delivered_on,
    status="loaded",
    rows=10,
    quarantined=0,
    error=None,
    superseded_by=None,
):
    return {
        "path": path,
        "delivery_id": path[-16:],
        "sha256": "0" * 64,
        "source": source,
        "sender": sender,
        "period": period,
        "delivered_on": date.fromisoformat(delivered_on),
        "size_bytes": 100,
        "registered_at": datetime(2026, 11, 23),
        "status": status,
        "error": error,
        "rows_read": rows + quarantined if status == "loaded" else 0,
        "rows_loaded": rows if status == "loaded" else 0,
        "rows_quarantined": quarantined if status == "loaded" else 0,
        "duplicate_of": None,
        "superseded_by": superseded_by,
        "is_current": status == "loaded" and superseded_by is None,
    }


def ijw_months(sender, first="2026-01", last="2026-10", skip=()):
    rows = []
    for month in pd.period_range(first, last, freq="M"):
        name = month.strftime("%Y-%m")
        if name in skip:
            continue
        due = (month + 1).start_time.date().replace(day=8).strftime("%Y%m%d")
        rows.append(
            delivery(
                f"ijw/{sender}/{sender}_ijw_{name}_{due}.zip",
                "ijw_messages",
                sender,
                name,
                f"{due[:4]}-{due[4:6]}-{due[6:]}",
                quarantined=1,
            )
        )
    return rows


def clean_rows():
    return [
        *ijw_months("GM0014"),
        *ijw_months("GM0037"),
        delivery(
            "schools/99AA00/99AA00_inschrijvingen_2025-2026_20260815.csv",
            "school_enrolments",
            "99AA00",
            "2025-2026",
            "2026-08-15",
            rows=100,
            quarantined=2,
        ),
        delivery(
            "reference/productcodelijst_jeugd_20160801.csv",
            "product_list",
            "jeugd",
            "",
            "2016-08-01",
        ),
    ]


def make_warehouse(path, rows, quarantine=True):
    conn = duckdb.connect(str(path))
    ensure_schema(conn)
    for row in rows:
        insert_delivery(conn, row)
    if quarantine:
        frame = pd.DataFrame(
            [
                {
                    "delivery_id": "x",
                    "path": rows[0]["path"],
                    "source": rows[0]["source"],
                    "row_locator": "3",
                    "target_table": "ijw_starts",
                    "reason_code": "invalid_bsn",
                    "reason": "BSN fails the 11-check",
                    "pseudonym": PSEUDONYM,
                    "key_version": "demo",
                }
            ]
        )
        insert_frame(conn, "quarantine", frame, quarantine_columns())
    return conn


SOURCES = ["ijw_messages", "school_enrolments", "product_list", "pilot_activity"]


@pytest.fixture()
def wh(tmp_path):
    def build(rows):
        conn = make_warehouse(tmp_path / "wh.duckdb", rows)
        return conn

    return build


# --- cadence and freshness ---------------------------------------------------------


def test_period_arithmetic():
    cadences = load_cadences()
    ijw = cadences["ijw_messages"]
    assert period_name("month", period_index("month", "2026-10")) == "2026-10"
    # October is due on 10 November (+5 days grace): on 23 November October is expected, on 12
    # November September
    assert period_name("month", latest_expected_period(ijw, date(2026, 11, 23))) == "2026-10"
    assert period_name("month", latest_expected_period(ijw, date(2026, 11, 12))) == "2026-09"
    school = cadences["school_enrolments"]
    assert (
        period_name("school_year", latest_expected_period(school, date(2026, 11, 23)))
        == "2025-2026"
    )
    assert (
        period_name("school_year", latest_expected_period(school, date(2026, 9, 1))) == "2024-2025"
    )
    surveys = cadences["survey_responses"]
    assert (
        period_name("school_year", latest_expected_period(surveys, date(2026, 8, 15)))
        == "2025-2026"
    )


def test_monthly_sender_fresh_then_stale():
    frame = pd.DataFrame(ijw_months("GM0014"))
    fresh = source_freshness("ijw_messages", frame, AS_OF)
    assert fresh.state == "fresh" and fresh.senders[0].latest_period == "2026-10"
    assert fresh.senders[0].next_due == date(2026, 12, 10)
    stale = source_freshness("ijw_messages", frame, date(2026, 12, 20))
    assert stale.state == "stale"
    assert stale.senders[0].overdue_periods == ["2026-11"]
    assert "GM0014" in stale.summary()


def test_yearly_sources_fresh_and_stale():
    rows = pd.DataFrame(
        [
            delivery(
                "schools/99AA00/a.csv", "school_enrolments", "99AA00", "2025-2026", "2026-08-15"
            ),
            delivery("public/cbs/t.json", "cbs_youth_care", "cbs", "", "2025-03-01"),
        ]
    )
    assert source_freshness("school_enrolments", rows, AS_OF).state == "fresh"
    assert source_freshness("school_enrolments", rows, date(2027, 10, 15)).senders[
        0
    ].overdue_periods == ["2026-2027"]
    assert source_freshness("cbs_youth_care", rows, AS_OF).state == "stale"  # older than 400 days
    assert source_freshness("cbs_youth_care", rows, date(2025, 12, 1)).state == "fresh"


def test_product_list_has_no_cadence_and_never_goes_stale():
    rows = pd.DataFrame([delivery("reference/p.csv", "product_list", "jeugd", "", "2016-08-01")])
    result = source_freshness("product_list", rows, AS_OF)
    assert result.state == "fresh" and result.senders[0].state == "on change"


def test_missing_ijw_month_is_flagged():
    frame = pd.DataFrame(ijw_months("GM0014", skip={"2026-03"}) + ijw_months("GM0037"))
    result = source_freshness("ijw_messages", frame, AS_OF)
    assert result.missing == [("GM0014", "2026-03")]
    assert result.state == "missing periods"


def test_a_source_read_with_its_group_only_is_judged_as_with_every_delivery(tmp_path):
    """The freshness check reads only `sources_read(source)` from raw.deliveries: a month
    GM0014 delivered as a flat extract still covers its iJw messages."""
    extract = delivery(
        "ijw/GM0014/GM0014_jeugdhulp_extract_2026-03_20260408.csv",
        "ijw_extracts",
        "GM0014",
        "2026-03",
        "2026-04-08",
    )
    rows = [*clean_rows(), extract]
    rows = [r for r in rows if r["path"] != ijw_months("GM0014")[2]["path"]]  # 2026-03 message
    conn = make_warehouse(tmp_path / "wh.duckdb", rows)
    every = _deliveries(conn)
    for source in [*SOURCES, "ijw_extracts"]:
        read = _deliveries(conn, sources_read(source))
        assert set(read["source"]) <= sources_read(source)
        assert source_freshness(source, read, AS_OF) == source_freshness(source, every, AS_OF)
    assert sources_read("ijw_messages") == {"ijw_messages", "ijw_extracts"}
    assert source_freshness("ijw_messages", _deliveries(conn, {"ijw_messages"}), AS_OF).missing


def test_failed_month_counts_as_missing_until_redelivered():
    rows = ijw_months("GM0014")
    rows[4] = {
        **rows[4],
        "status": "failed",
        "rows_loaded": 0,
        "rows_read": 0,
        "rows_quarantined": 0,
    }
    assert source_freshness("ijw_messages", pd.DataFrame(rows), AS_OF).missing == [
        ("GM0014", "2026-05")
    ]


def test_ended_pilot_is_not_stale():
    rows = pd.DataFrame(
        [
            delivery(
                "pilots/g/g_activiteiten_2018-2019_20190820.csv",
                "pilot_activity",
                "g",
                "2018-2019",
                "2019-08-20",
            ),
            delivery(
                "pilots/g/g_activiteiten_2019-2020_20200820.csv",
                "pilot_activity",
                "g",
                "2019-2020",
                "2020-08-20",
            ),
        ]
    )
    pilots = pd.DataFrame(
        [{"pilot_id": "g", "start_date": date(2018, 8, 1), "planned_end_date": date(2020, 7, 31)}]
    )
    assert (
        source_freshness("pilot_activity", rows, AS_OF, pilots=pilots).senders[0].state == "ended"
    )
    assert source_freshness("pilot_activity", rows, AS_OF).senders[0].state == "stale"


# --- status and verdict ------------------------------------------------------------


def test_clean_warehouse_is_ready(wh):
    conn = wh(clean_rows())
    status = collect_status(
        conn,
        AS_OF,
        sources=SOURCES,
        checks=[CheckResult("raw_ijw_messages", "row_accounting", True, "ERROR")],
    )
    assert status.exit_code == 0, status.blocking
    assert status.verdict.startswith("READY FOR PUBLICATION")
    ijw = next(s for s in status.sources if s.source == "ijw_messages")
    assert (ijw.senders, ijw.deliveries["loaded"], ijw.rows_loaded, ijw.rows_quarantined) == (
        2,
        20,
        200,
        20,
    )
    assert ijw.period_covered == "2026-01 .. 2026-10"
    assert ijw.validation is None  # no quality table: not validated yet
    assert any("not validated yet" in w for w in status.warnings)


def test_failed_delivery_not_redelivered_blocks(wh):
    failed = delivery(
        "schools/99BB00/99BB00_verzuim_2025-2026_20260816.csv",
        "school_enrolments",
        "99BB00",
        "2025-2026",
        "2026-08-16",
        status="failed",
        error="contains NUL bytes",
    )
    conn = wh([*clean_rows(), failed])
    status = collect_status(conn, AS_OF, sources=SOURCES)
    assert status.exit_code == 1
    assert any("failed delivery not re-delivered" in b for b in status.blocking)


def test_failed_delivery_redelivered_does_not_block(wh):
    failed = delivery(
        "schools/99AA00/99AA00_inschrijvingen_2025-2026_20260810.csv",
        "school_enrolments",
        "99AA00",
        "2025-2026",
        "2026-08-10",
        status="failed",
        error="bad",
    )
    conn = wh([*clean_rows(), failed])
    status = collect_status(conn, AS_OF, sources=SOURCES)
    assert status.exit_code == 0, status.blocking


def test_missing_month_blocks(wh):
    rows = [r for r in clean_rows() if not (r["sender"] == "GM0037" and r["period"] == "2026-06")]
    status = collect_status(wh(rows), AS_OF, sources=SOURCES)
    assert status.exit_code == 1
    assert any("missing period" in b and "GM0037 2026-06" in b for b in status.blocking)


def test_stale_sender_warns_but_does_not_block(wh):
    rows = [r for r in clean_rows() if not (r["sender"] == "GM0037" and r["period"] == "2026-10")]
    status = collect_status(wh(rows), AS_OF, sources=SOURCES)
    assert status.exit_code == 0
    assert any("stale" in w for w in status.warnings)


def test_failing_error_check_blocks_and_warn_check_does_not(wh):
    conn = wh(clean_rows())
    warn = collect_status(
        conn,
        AS_OF,
        sources=SOURCES,
        checks=[CheckResult("marts/fct_x", "plausible", False, "WARN")],
    )
    assert warn.exit_code == 0
    error = collect_status(
        conn,
        AS_OF,
        sources=SOURCES,
        checks=[CheckResult("marts/fct_x", "not_null_fct_x_id", False, "ERROR")],
    )
    assert error.exit_code == 1 and "not_null_fct_x_id" in error.verdict


def test_validation_results_are_read_when_present(wh):
    conn = wh(clean_rows())
    conn.execute("create schema quality")
    conn.execute(
        "create table quality.validation_results (delivery_id varchar, path varchar, source "
        'varchar, "table" varchar, expectation_type varchar, "column" varchar, severity varchar, '
        "success boolean, unexpected_count bigint, validated_at timestamp)"
    )
    path = clean_rows()[0]["path"]
    conn.execute(
        "insert into quality.validation_results values ('x', ?, 'ijw_messages', 'ijw_starts', "
        "'expect_column_values_to_not_be_null', 'start_date', 'warning', false, 3, '2026-11-20')",
        [path],
    )
    status = collect_status(conn, AS_OF, sources=SOURCES)
    ijw = next(s for s in status.sources if s.source == "ijw_messages")
    counts = {
        k: ijw.validation[k] for k in ("deliveries_validated", "expectations", "errors", "warnings")
    }
    assert counts == {"deliveries_validated": 1, "expectations": 1, "errors": 0, "warnings": 1}
    assert status.exit_code == 0
    conn.execute(
        "insert into quality.validation_results values ('x', ?, 'ijw_messages', 'ijw_starts', "
        "'expect_column_values_to_be_in_set', 'product_code', 'error', false, 5, '2026-11-20')",
        [path],
    )
    blocked = collect_status(conn, AS_OF, sources=SOURCES)
    assert blocked.exit_code == 1 and any("validation" in b for b in blocked.blocking)


def test_json_output_round_trips(wh):
    status = collect_status(wh(clean_rows()), AS_OF, sources=SOURCES)
    data = json.loads(status.to_json())
    assert data["ready"] is True and data["as_of"] == "2026-11-23"
    ijw = next(s for s in data["sources"] if s["source"] == "ijw_messages")
    assert ijw["freshness"]["state"] == "fresh" and ijw["rows_quarantined"] == 20


def test_health_page_synthetic_label_and_no_pseudonyms(wh, tmp_path):
    conn = wh(clean_rows())
    landing = tmp_path / "data" / "landing"
    landing.mkdir(parents=True)
    (landing / "SYNTHETIC_DATA.txt").write_text("synthetic")
    status = collect_status(conn, AS_OF, sources=SOURCES, landing_dir=landing)
    page = write_page(status, tmp_path / "data", dbt_docs=tmp_path / "nope.html")
    text = page.read_text(encoding="utf-8")
    assert page == tmp_path / "data" / "health" / "index.html"
    assert "SYNTHETIC DATA" in text and "<svg" in text and "READY FOR PUBLICATION" in text
    assert PSEUDONYM not in text
    assert (
        "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        and "https://" not in text
    )
    unlabelled = write_page(
        collect_status(conn, AS_OF, sources=SOURCES), tmp_path / "real"
    ).read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" not in unlabelled


# --- CLI ---------------------------------------------------------------------------


def test_cli_status_without_warehouse_says_what_to_do(cli_env):
    result = CliRunner().invoke(__import__("pilotmonitor.cli", fromlist=["app"]).app, ["status"])
    assert result.exit_code == 2  # could not read the warehouse, not "blocked"
    assert "pilotmonitor run --demo" in result.output


def test_cli_status_json_and_exit_codes(cli_env):
    from pilotmonitor.cli import app

    (cli_env / "warehouse").mkdir(parents=True)
    rows = [r for r in clean_rows() if not (r["sender"] == "GM0037" and r["period"] == "2026-06")]
    make_warehouse(cli_env / "warehouse" / "pilotmonitor.duckdb", rows).close()
    runner = CliRunner()
    blocked = runner.invoke(app, ["status", "--as-of", "2026-11-23", "--json"])
    assert blocked.exit_code == 1, blocked.output
    assert json.loads(blocked.output)["ready"] is False
    table = runner.invoke(app, ["status", "--as-of", "2026-11-23"])
    assert table.exit_code == 1 and "BLOCKED" in table.output and "ijw_messages" in table.output
    page = runner.invoke(app, ["health", "--as-of", "2026-11-23"])
    # the page is written; blocked exits 1 as status does
    assert page.exit_code == 1 and (cli_env / "health" / "index.html").is_file()
    bad = runner.invoke(app, ["status", "--as-of", "23-11-2026"])
    assert bad.exit_code != 0


# --- Dagster -------------------------------------------------------------------------


def test_freshness_check_warns_and_health_asset_writes_the_page(tmp_path, monkeypatch):
    import dagster as dg

    from orchestration.defs.health.assets import freshness_checks, pipeline_health
    from orchestration.resources import PilotmonitorSettings, WarehouseResource

    data = tmp_path / "data"
    (data / "warehouse").mkdir(parents=True)
    (data / "landing").mkdir()
    (data / "landing" / "SYNTHETIC_DATA.txt").write_text("synthetic")
    rows = [r for r in clean_rows() if not (r["sender"] == "GM0037" and r["period"] == "2026-10")]
    make_warehouse(data / "warehouse" / "pilotmonitor.duckdb", rows).close()
    monkeypatch.setenv("PILOTMONITOR_AS_OF", "2026-11-23")
    ijw_check = next(
        c
        for c in freshness_checks
        if dg.AssetKey("raw_ijw_messages") in {k.asset_key for k in c.check_keys}
    )
    resources = {
        "pilotmonitor": PilotmonitorSettings(data_dir=str(data)),
        "warehouse": WarehouseResource(database=str(data / "warehouse" / "pilotmonitor.duckdb")),
    }

    @dg.asset(name="raw_ijw_messages")
    def stand_in():  # the real ingestion asset would load the landing area
        return None

    result = dg.materialize(
        [stand_in, pipeline_health, ijw_check],
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert result.success
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.check_name == "delivery_freshness" and not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN and "GM0037" in evaluation.description
    page = (data / "health" / "index.html").read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in page and "READY FOR PUBLICATION" in page


def test_latest_check_results_from_the_instance_include_checks_that_errored():
    import dagster as dg

    from pilotmonitor.health.status import checks_from_instance

    @dg.asset(name="raw_x")
    def raw_x():
        return None

    @dg.asset_check(asset="raw_x", name="ok")
    def ok():
        return dg.AssetCheckResult(passed=True)

    @dg.asset_check(asset="raw_x", name="late", blocking=False)
    def late():
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)

    @dg.asset_check(asset="raw_x", name="broken")
    def broken():
        raise RuntimeError("bug in the check")

    instance = dg.DagsterInstance.ephemeral()
    assert checks_from_instance(instance) is None
    dg.materialize([raw_x, ok, late, broken], instance=instance, raise_on_error=False)
    results = {c.check: c for c in checks_from_instance(instance)}
    assert (
        results["ok"].passed and not results["late"].passed and results["late"].severity == "WARN"
    )
    broken = results["broken"]
    assert (
        not broken.passed
        and broken.severity == "ERROR"
        and broken.state == "errored"
        and broken.blocks
        and "errored" in broken.description
    )


def test_every_source_has_a_cadence():
    from pilotmonitor.ingest.sources import SOURCES

    assert {s.name for s in SOURCES} == set(load_cadences())


def test_periods_are_consecutive_integers_and_a_month_13_is_no_period():
    assert period_index("month", "2026-13") is None
    assert period_index("school_year", "2025-2027") is None
    assert period_index("month", "2027-01") == period_index("month", "2026-12") + 1
    after = period_index("school_year", "2025-2026") + 1
    assert period_name("school_year", after) == "2026-2027"
