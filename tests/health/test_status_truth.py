"""What the steward's view must tell truthfully: validation errors of every expectation of
a delivery's latest validation, failed checks apart from checks that never ran, the
reasons behind quarantine and validation failures, aligned tables on the page, and exit
codes scripts can tell apart."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import date, datetime, timedelta
from html.parser import HTMLParser

import pandas as pd
from typer.testing import CliRunner

from pilotmonitor.health.page import render_html
from pilotmonitor.health.status import collect_status
from pilotmonitor.ingest.warehouse_raw import insert_frame, quarantine_columns
from pilotmonitor.publication.check_results import CheckResult
from pilotmonitor.publication.gate import blocking_failures
from pilotmonitor.quality.store import RESULT_COLUMNS
from pilotmonitor.quality.store import ensure_schema as ensure_quality_schema
from tests.health.test_health import AS_OF, SOURCES, clean_rows, delivery, make_warehouse

IJW = clean_rows()[0]["path"]  # ijw/GM0014/..._2026-01_...
IJW_2 = clean_rows()[1]["path"]
SCHOOL = next(r["path"] for r in clean_rows() if r["source"] == "school_enrolments")


def result_row(
    path,
    expectation,
    column,
    severity,
    success,
    at,
    suite="s1",
    table="ijw_starts",
    source="ijw_messages",
    unexpected=0,
    message=None,
):
    row = dict.fromkeys(RESULT_COLUMNS)
    row.update(
        {
            "delivery_id": path[-16:],
            "path": path,
            "source": source,
            "table": table,
            "expectation_type": expectation,
            "column": column,
            "severity": severity,
            "success": success,
            "unexpected_count": unexpected,
            "steward_message": message,
            "suite_hash": suite,
            "validated_at": at,
        }
    )
    return row


def write_results(conn, rows):
    ensure_quality_schema(conn)
    frame = pd.DataFrame(rows)[list(RESULT_COLUMNS)]
    conn.register("_results", frame)
    conn.execute("insert into quality.validation_results select * from _results")
    conn.unregister("_results")


def ijw(status):
    return next(s for s in status.sources if s.source == "ijw_messages")


# --- validation: every expectation of the latest validation of each delivery ----------


def test_an_error_recorded_before_the_last_expectation_of_the_same_validation_counts(tmp_path):
    conn = make_warehouse(tmp_path / "wh.duckdb", clean_rows())
    t0 = datetime(2026, 11, 20, 6, 0, 0)
    write_results(
        conn,
        [
            # one validation of one delivery: each expectation stamped when its result was produced
            result_row(
                IJW,
                "expect_column_values_to_be_in_set",
                "product_code",
                "error",
                False,
                t0,
                unexpected=7,
                message="product codes outside the product list",
            ),
            result_row(
                IJW,
                "expect_column_values_to_not_be_null",
                "start_date",
                "warning",
                True,
                t0 + timedelta(milliseconds=40),
            ),
            result_row(
                IJW,
                "expect_table_row_count_to_be_between",
                None,
                "warning",
                True,
                t0 + timedelta(seconds=3),
            ),
            # another delivery validated later (its time must not hide the first delivery's results)
            result_row(
                IJW_2,
                "expect_column_values_to_be_in_set",
                "product_code",
                "error",
                True,
                t0 + timedelta(days=1),
            ),
        ],
    )
    status = collect_status(conn, AS_OF, sources=SOURCES)
    v = ijw(status).validation
    assert (
        v["deliveries_validated"],
        v["expectations"],
        v["errors"],
        v["warnings"],
        v["deliveries_with_errors"],
    ) == (2, 4, 1, 0, 1)
    assert status.exit_code == 1
    assert any(
        "ijw_messages: 1 error-level validation failure(s) in 1 delivery" == b
        for b in status.blocking
    )


def test_a_revalidation_with_a_new_suite_replaces_the_earlier_validation_as_a_whole(tmp_path):
    conn = make_warehouse(tmp_path / "wh.duckdb", clean_rows())
    old, new = datetime(2026, 11, 1, 6), datetime(2026, 11, 20, 6)
    write_results(
        conn,
        [
            result_row(
                IJW,
                "expect_column_values_to_be_in_set",
                "product_code",
                "error",
                False,
                old,
                suite="old",
            ),
            # dropped from the new suite
            result_row(
                IJW,
                "expect_column_values_to_be_between",
                "volume",
                "error",
                False,
                old + timedelta(seconds=1),
                suite="old",
            ),
            result_row(
                IJW,
                "expect_column_values_to_be_in_set",
                "product_code",
                "error",
                True,
                new,
                suite="new",
            ),
            result_row(
                IJW,
                "expect_column_values_to_not_be_null",
                "start_date",
                "warning",
                False,
                new + timedelta(milliseconds=5),
                suite="new",
                unexpected=2,
            ),
        ],
    )
    status = collect_status(conn, AS_OF, sources=SOURCES)
    v = ijw(status).validation
    assert (v["expectations"], v["errors"], v["warnings"]) == (2, 0, 1)
    assert status.exit_code == 0, status.blocking


def test_top_validation_failures_name_the_expectation_message_and_deliveries(tmp_path):
    conn = make_warehouse(tmp_path / "wh.duckdb", clean_rows())
    t0 = datetime(2026, 11, 20, 6)
    write_results(
        conn,
        [
            result_row(
                IJW,
                "expect_column_values_to_be_in_set",
                "product_code",
                "error",
                False,
                t0,
                unexpected=7,
                message="product codes outside the product list",
            ),
            result_row(
                IJW_2,
                "expect_column_values_to_be_in_set",
                "product_code",
                "error",
                False,
                t0,
                unexpected=3,
                message="product codes outside the product list",
            ),
            result_row(
                IJW,
                "expect_column_values_to_not_be_null",
                "start_date",
                "warning",
                False,
                t0,
                unexpected=1,
            ),
        ],
    )
    [first, second] = ijw(collect_status(conn, AS_OF, sources=SOURCES)).validation["top_failures"]
    assert (first["severity"], first["expectation"], first["table"], first["column"]) == (
        "error",
        "expect_column_values_to_be_in_set",
        "ijw_starts",
        "product_code",
    )
    assert (first["unexpected_values"], first["deliveries"], first["delivery_files"]) == (
        10,
        2,
        sorted([IJW, IJW_2]),
    )
    assert first["message"] == "product codes outside the product list"
    assert (second["severity"], second["deliveries"]) == ("warning", 1)


def test_validations_of_superseded_and_not_yet_delivered_files_are_not_counted(tmp_path):
    replaced = "ijw/GM0014/GM0014_ijw_2026-03_20260405.zip"
    later = "ijw/GM0014/GM0014_ijw_2026-11_20261208.zip"  # delivered after AS_OF
    rows = [
        *clean_rows(),
        delivery(replaced, "ijw_messages", "GM0014", "2026-03", "2026-04-05", superseded_by="x"),
        delivery(later, "ijw_messages", "GM0014", "2026-11", "2026-12-08"),
    ]
    conn = make_warehouse(tmp_path / "wh.duckdb", rows)
    t0 = datetime(2026, 11, 20, 6)
    failing = [
        result_row(p, "expect_column_values_to_be_in_set", "product_code", "error", False, t0)
        for p in (replaced, later)
    ]
    write_results(conn, [*failing, result_row(IJW, "expect_x", "c", "error", True, t0)])
    status = collect_status(conn, AS_OF, sources=SOURCES)
    v = ijw(status).validation
    assert (v["deliveries_validated"], v["expectations"], v["errors"]) == (1, 1, 0)
    assert status.exit_code == 0, status.blocking


def test_without_suite_hashes_the_result_written_last_for_an_expectation_counts(tmp_path):
    """Tables written by other tools: no suite hash and equal times."""
    conn = make_warehouse(tmp_path / "wh.duckdb", clean_rows())
    conn.execute("create schema quality")
    conn.execute(
        'create table quality.validation_results (path varchar, "table" varchar, '
        'expectation_type varchar, "column" varchar, severity varchar, success boolean, '
        "validated_at timestamp)"
    )
    at = datetime(2026, 11, 20, 6)
    insert = "insert into quality.validation_results values (?, 't', 'expect_x', ?, 'error', ?, ?)"
    for success in (False, True, False):  # the same expectation written three times
        conn.execute(insert, [IJW, "c", success, at])
    conn.execute(insert, [IJW, "d", True, None])
    v = ijw(collect_status(conn, AS_OF, sources=SOURCES)).validation
    assert (v["deliveries_validated"], v["expectations"], v["errors"]) == (1, 2, 1)


# --- quarantine reasons -------------------------------------------------------------


def quarantine(conn, rows):
    frame = pd.DataFrame(
        [
            {
                "delivery_id": path[-16:],
                "path": path,
                "source": source,
                "row_locator": str(i),
                "target_table": "t",
                "reason_code": code,
                "reason": reason,
                "pseudonym": None,
                "key_version": None,
            }
            for i, (path, source, code, reason) in enumerate(rows)
        ]
    )
    insert_frame(conn, "quarantine", frame, quarantine_columns())


def test_top_quarantine_reasons_per_source_with_rows_and_deliveries(tmp_path):
    # after the as-of date
    later = delivery(
        "ijw/GM0014/GM0014_ijw_2026-11_20261208.zip",
        "ijw_messages",
        "GM0014",
        "2026-11",
        "2026-12-08",
    )
    conn = make_warehouse(tmp_path / "wh.duckdb", [*clean_rows(), later], quarantine=False)
    quarantine(
        conn,
        [
            *[(IJW, "ijw_messages", "invalid_bsn", "BSN fails the 11-check")] * 3,
            *[(IJW_2, "ijw_messages", "invalid_bsn", "BSN fails the 11-check")] * 2,
            (
                IJW_2,
                "ijw_messages",
                "invalid_date",
                "a date that does not exist or cannot be read: '2026-02-30' for 123456782",
            ),
            (SCHOOL, "school_enrolments", "missing_field", "a mandatory field is empty: brin"),
            *[(later["path"], "ijw_messages", "invalid_code", "a value outside its code list")] * 9,
        ],
    )
    status = collect_status(conn, AS_OF, sources=SOURCES)
    bsn, date_reason = ijw(status).quarantine_reasons
    assert (bsn["reason_code"], bsn["rows"], bsn["deliveries"], bsn["delivery_files"]) == (
        "invalid_bsn",
        5,
        2,
        sorted([IJW, IJW_2]),
    )
    assert bsn["detail"] == "BSN fails the 11-check"
    assert (date_reason["reason_code"], date_reason["rows"], date_reason["deliveries"]) == (
        "invalid_date",
        1,
        1,
    )
    # scrubbed
    assert "123456782" not in date_reason["detail"] and "2026-02-30" not in date_reason["detail"]
    school = next(s for s in status.sources if s.source == "school_enrolments")
    assert [r["reason_code"] for r in school.quarantine_reasons] == ["missing_field"]
    data = json.loads(status.to_json())
    assert (
        next(s for s in data["sources"] if s["source"] == "ijw_messages")["quarantine_reasons"][0][
            "rows"
        ]
        == 5
    )


# --- checks: failed apart from not run --------------------------------------------------


def _blocked_run():
    """A blocking check fails on raw_x; the dbt-like step downstream never runs, and a
    step that ran evaluated only one of its two checks (dbt skipped the other)."""
    import dagster as dg

    @dg.asset(name="raw_x")
    def raw_x():
        return None

    @dg.asset(name="raw_y")
    def raw_y():
        return None

    @dg.asset_check(asset="raw_x", name="expectations_error", blocking=True)
    def gx():
        return dg.AssetCheckResult(passed=False, description="3 product codes outside the list")

    @dg.multi_asset(
        specs=[dg.AssetSpec("m1", deps=["raw_x"]), dg.AssetSpec("m2", deps=["raw_x"])],
        check_specs=[
            dg.AssetCheckSpec("not_null_m1", asset="m1"),
            dg.AssetCheckSpec("unique_m2", asset="m2"),
        ],
    )
    def models():
        yield dg.MaterializeResult(asset_key="m1")
        yield dg.MaterializeResult(asset_key="m2")

    @dg.multi_asset(
        specs=[dg.AssetSpec("s1", deps=["raw_y"])],
        check_specs=[
            dg.AssetCheckSpec("ran", asset="s1"),
            dg.AssetCheckSpec("skipped_by_dbt", asset="s1"),
        ],
        can_subset=True,
    )
    def other():
        yield dg.MaterializeResult(asset_key="s1")
        yield dg.AssetCheckResult(asset_key="s1", check_name="ran", passed=True)

    instance = dg.DagsterInstance.ephemeral()
    dg.materialize([raw_x, raw_y, gx, models, other], instance=instance, raise_on_error=False)
    return instance


def test_checks_an_upstream_failure_kept_from_running_are_not_run_not_failed(tmp_path):
    from pilotmonitor.publication.check_results import checks_from_instance

    results = {c.check: c for c in checks_from_instance(_blocked_run())}
    assert results["expectations_error"].failed and results["expectations_error"].blocks
    for name in ("not_null_m1", "unique_m2", "skipped_by_dbt"):
        assert results[name].not_run and not results[name].failed and not results[name].blocks, name
        assert results[name].outcome == "not run (upstream blocked)"
    assert results["ran"].passed
    # the publication gate agrees
    assert [f.check for f in blocking_failures(list(results.values()))] == ["expectations_error"]

    status = collect_status(
        make_warehouse(tmp_path / "wh.duckdb", clean_rows()),
        AS_OF,
        sources=SOURCES,
        checks=list(results.values()),
    )
    assert status.exit_code == 1
    assert [b for b in status.blocking if "check" in b] == [
        "1 failed check(s) or dbt test(s): raw_x / expectations_error"
    ]
    assert "3 more check(s) not run because something upstream blocked" in status.verdict
    assert any("3 check(s) not run" in w for w in status.warnings)
    totals = status.check_totals()["warehouse checks (dbt tests)"]
    assert (totals["passed"], totals["failed_error"], totals["not_run"]) == (1, 0, 3)
    data = json.loads(status.to_json())
    assert [c["check"] for c in data["failed_checks"]] == ["expectations_error"]
    assert sorted(c["check"] for c in data["not_run_checks"]) == [
        "not_null_m1",
        "skipped_by_dbt",
        "unique_m2",
    ]


def test_a_model_that_failed_to_build_blocks_and_its_tests_are_not_run(tmp_path):
    """A dbt model with a SQL error: its tests never run (not failed), but the failed
    build blocks until the model builds again."""
    import dagster as dg

    from pilotmonitor.publication.check_results import checks_from_instance, failed_builds

    attempts = {"n": 0}

    @dg.asset(name="raw_x")
    def raw_x():
        return None

    @dg.asset(
        name="fct_x",
        deps=["raw_x"],
        check_specs=[dg.AssetCheckSpec("unique_fct_x_id", asset="fct_x")],
    )
    def fct_x():
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise RuntimeError("Binder Error: column not found")
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(check_name="unique_fct_x_id", passed=True)

    instance = dg.DagsterInstance.ephemeral()
    assert not dg.materialize([raw_x, fct_x], instance=instance, raise_on_error=False).success
    checks = (checks_from_instance(instance) or []) + failed_builds(instance)
    by_check = {c.check: c for c in checks}
    assert by_check["unique_fct_x_id"].not_run
    assert by_check["build"].asset == "fct_x" and by_check["build"].blocks
    status = collect_status(
        make_warehouse(tmp_path / "wh.duckdb", clean_rows()), AS_OF, sources=SOURCES, checks=checks
    )
    assert status.exit_code == 1 and "fct_x / build" in status.verdict

    assert dg.materialize([raw_x, fct_x], instance=instance).success  # fixed: built again
    assert failed_builds(instance) == []


def test_only_not_run_checks_do_not_block(tmp_path):
    checks = [
        CheckResult("raw_x", "row_accounting", True, "ERROR"),
        CheckResult("marts/fct_x", "unique_fct_x_id", False, "ERROR", state="not run"),
    ]
    status = collect_status(
        make_warehouse(tmp_path / "wh.duckdb", clean_rows()), AS_OF, sources=SOURCES, checks=checks
    )
    assert status.exit_code == 0, status.blocking
    assert any("not run" in w for w in status.warnings)


def test_a_check_that_errored_still_blocks(tmp_path):
    checks = [
        CheckResult(
            "raw_x", "row_accounting", False, "ERROR", description="errored: ...", state="errored"
        )
    ]
    status = collect_status(
        make_warehouse(tmp_path / "wh.duckdb", clean_rows()), AS_OF, sources=SOURCES, checks=checks
    )
    assert status.exit_code == 1 and "(errored)" in status.verdict


# --- the page ---------------------------------------------------------------------------


class Tables(HTMLParser):
    """Every table as a list of rows of (tag, text, colspan) cells."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = [tag, "", int(dict(attrs).get("colspan") or 1)]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(tuple(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data


def blocked_status_with_reasons(tmp_path):
    from pilotmonitor.publication.check_results import checks_from_instance

    conn = make_warehouse(tmp_path / "wh.duckdb", clean_rows(), quarantine=False)
    quarantine(conn, [(IJW, "ijw_messages", "invalid_bsn", "BSN fails the 11-check")] * 4)
    write_results(
        conn,
        [
            result_row(
                IJW,
                "expect_column_values_to_be_in_set",
                "product_code",
                "error",
                False,
                datetime(2026, 11, 20),
                unexpected=7,
                message="codes outside the list",
            )
        ],
    )
    return collect_status(conn, AS_OF, sources=SOURCES, checks=checks_from_instance(_blocked_run()))


def test_page_tables_have_one_cell_per_column_and_the_checks_table_reads_right(tmp_path):
    status = blocked_status_with_reasons(tmp_path)
    parser = Tables()
    parser.feed(render_html(status, tmp_path))
    assert len(parser.tables) >= 5
    for table in parser.tables:
        header = [text for tag, text, _ in table[0]]
        assert all(tag == "th" for tag, _, _ in table[0])
        for row in table[1:]:
            assert sum(span for _, _, span in row) == len(header), (header, row)
    checks = next(t for t in parser.tables if t[0][0][1] == "kind")
    header = [text for _, text, _ in checks[0]]
    assert header == ["kind", "passed", "failed", "warned", "not run"]
    rows = {r[0][1]: dict(zip(header, (text for _, text, _ in r))) for r in checks[1:]}
    assert rows["ingestion checks"]["failed"] == "1" and rows["ingestion checks"]["not run"] == "0"
    assert (
        rows["warehouse checks (dbt tests)"]["passed"] == "1"
        and rows["warehouse checks (dbt tests)"]["not run"] == "3"
    )
    quarantined = next(t for t in parser.tables if [c[1] for c in t[0]][:2] == ["source", "reason"])
    assert [c[1] for c in quarantined[1]][:5] == [
        "ijw_messages",
        "invalid_bsn",
        "BSN fails the 11-check",
        "4",
        "1",
    ]
    failures = next(
        t
        for t in parser.tables
        if [c[1] for c in t[0]][:3] == ["source", "severity", "expectation"]
    )
    assert [c[1] for c in failures[1]][:7] == [
        "ijw_messages",
        "error",
        "expect_column_values_to_be_in_set",
        "ijw_starts.product_code",
        "codes outside the list",
        "7",
        "1",
    ]


def test_status_text_lists_reasons_and_not_run_checks(tmp_path):
    from rich.console import Console

    from pilotmonitor.health.report import render

    console = Console(width=200, record=True)
    render(blocked_status_with_reasons(tmp_path), console)
    text = console.export_text()
    assert (
        "quarantined ijw_messages: invalid_bsn - BSN fails the 11-check: 4 row(s) in 1 delivery"
        in text
    )
    assert (
        "validation error ijw_messages: expect_column_values_to_be_in_set on "
        "ijw_starts.product_code - codes outside the list: 7 unexpected value(s) in 1 "
        "delivery"
    ) in text
    assert "failed check: raw_x / expectations_error" in text
    assert "not run (upstream blocked): 3 check(s)" in text
    assert "failed check: m1" not in text and "failed check: m2" not in text


def test_the_health_asset_runs_after_the_last_assets_of_a_run():
    import dagster as dg

    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    health = dg.AssetKey("pipeline_health")
    upstream = graph.get(health).parent_keys
    assert {
        dg.AssetKey("published_marts"),
        dg.AssetKey("effect_estimates"),
        dg.AssetKey("pilot_reports"),
    } <= upstream
    assert not graph.get(health).child_keys
    marts = {k for k in graph.get_all_asset_keys() if k.path[0] == "marts"}
    seen, todo = set(), [health]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    assert marts and marts <= seen


def test_a_run_whose_health_asset_was_skipped_still_writes_the_page(tmp_path, monkeypatch):
    from pilotmonitor import cli
    from pilotmonitor.settings import Settings

    data = tmp_path / "data"
    (data / "warehouse").mkdir(parents=True)
    make_warehouse(data / "warehouse" / "pilotmonitor.duckdb", clean_rows()).close()
    monkeypatch.setenv("PILOTMONITOR_DATA_DIR", str(data))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "no_dagster_home"))
    monkeypatch.setenv("PILOTMONITOR_AS_OF", "2026-11-23")

    class Skipped:  # a run result in which pipeline_health was not materialized
        def get_asset_materialization_events(self):
            return []

    cli._health_page_after_run(Settings.from_env(), Skipped())
    assert "READY FOR PUBLICATION" in (data / "health" / "index.html").read_text(encoding="utf-8")


# --- exit codes ----------------------------------------------------------------------------


def invoke(*args):
    from pilotmonitor.cli import app

    return CliRunner().invoke(app, list(args))


def test_exit_0_when_ready_1_when_blocked(cli_env):
    (cli_env / "warehouse").mkdir(parents=True)
    conn = make_warehouse(cli_env / "warehouse" / "pilotmonitor.duckdb", clean_rows())
    conn.close()
    for command in (["status"], ["status", "--json"], ["health"]):
        result = invoke(*command, "--as-of", "2026-11-23")
        assert result.exit_code == 0, (command, result.output)
    import duckdb

    from pilotmonitor.ingest.warehouse_raw import insert_delivery

    with duckdb.connect(
        str(cli_env / "warehouse" / "pilotmonitor.duckdb")
    ) as conn:  # a failed delivery, not re-delivered: blocks
        insert_delivery(
            conn,
            delivery(
                "schools/99BB00/99BB00_verzuim_2025-2026_20260816.csv",
                "school_enrolments",
                "99BB00",
                "2025-2026",
                "2026-08-16",
                status="failed",
                error="contains NUL bytes",
            ),
        )
    for command in (["status"], ["status", "--json"], ["health"]):
        result = invoke(*command, "--as-of", "2026-11-23")
        assert result.exit_code == 1, (command, result.output)
    assert json.loads(invoke("status", "--as-of", "2026-11-23", "--json").stdout)["ready"] is False


def test_exit_2_without_a_warehouse_or_a_delivery_register(cli_env):
    for command in (["status"], ["status", "--json"], ["health"]):
        result = invoke(*command)
        assert result.exit_code == 2, (command, result.output)
        assert (
            "could not read the warehouse" in result.output
            and "pilotmonitor run --demo" in result.output
        )
        assert result.stdout == ""  # nothing a script could mistake for a status
    (cli_env / "warehouse").mkdir(parents=True)
    import duckdb

    duckdb.connect(str(cli_env / "warehouse" / "pilotmonitor.duckdb")).close()
    assert invoke("status").exit_code == 2
    (cli_env / "warehouse" / "pilotmonitor.duckdb").write_bytes(b"not a database at all" * 100)
    broken = invoke("status")
    assert broken.exit_code == 2 and "probably writing it" not in broken.output


HOLD_LOCK = textwrap.dedent("""
    import sys, time, duckdb
    conn = duckdb.connect(sys.argv[1])  # read-write: holds the writer lock, as a run does
    print("locked", flush=True)
    sys.stdin.readline()
""")


def test_exit_2_while_a_run_holds_the_warehouse_lock(cli_env):
    (cli_env / "warehouse").mkdir(parents=True)
    path = cli_env / "warehouse" / "pilotmonitor.duckdb"
    make_warehouse(path, clean_rows()).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        for command in (["status"], ["status", "--json"], ["health"]):
            result = invoke(*command, "--as-of", "2026-11-23")
            assert result.exit_code == 2, (command, result.output)
            assert "a pipeline run is probably writing it" in result.output
    finally:
        holder.communicate("done\n", timeout=30)
    assert invoke("status", "--as-of", "2026-11-23").exit_code == 0  # released: readable again
    assert date.fromisoformat("2026-11-23") == AS_OF


def test_the_fixed_wording_of_a_reason_is_kept_and_the_appended_detail_scrubbed():
    from pilotmonitor.health.reasons import _detail

    assert (
        _detail(
            "reserved BSN value (000000000 or 999999999) instead of a real number: column BSN",
            "reserved_bsn",
        )
        == "reserved BSN value (000000000 or 999999999) instead of a real number: column BSN"
    )
    assert (
        _detail("a value outside its code list: '123456782' in 987654321", "invalid_code")
        == "a value outside its code list: '…' in <number>"
    )
    assert _detail("free text 123456782", "unknown") == "free text <number>"


def test_inside_a_run_the_asking_asset_sees_this_runs_unreached_checks_as_not_run():
    """What `pipeline_health` reads in the run it ends: a check dbt skipped in this run is
    not run; a check whose step has not ended yet is not judged."""
    import dagster as dg

    from pilotmonitor.publication.check_results import checks_from_instance

    seen = {}

    @dg.asset(name="raw_x")
    def raw_x():
        return None

    @dg.asset_check(asset="raw_x", name="warn_only", blocking=False)
    def warn_only():
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)

    @dg.multi_asset(
        specs=[dg.AssetSpec("m1", deps=["raw_x"])],
        check_specs=[
            dg.AssetCheckSpec("ran", asset="m1"),
            dg.AssetCheckSpec("skipped_by_dbt", asset="m1"),
        ],
        can_subset=True,
    )
    def models():
        yield dg.MaterializeResult(asset_key="m1")
        yield dg.AssetCheckResult(asset_key="m1", check_name="ran", passed=True)

    @dg.asset(deps=["m1"])
    def health(context):
        seen.update(
            {
                c.check: c
                for c in checks_from_instance(context.instance, current_run_id=context.run.run_id)
            }
        )

    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([raw_x, warn_only, models, health], instance=instance).success
    assert seen["ran"].passed and seen["skipped_by_dbt"].not_run
    assert "warn_only" not in seen or seen["warn_only"].state == "evaluated"
    # the finished run, read afterwards
    after = {c.check: c for c in checks_from_instance(instance)}
    assert after["skipped_by_dbt"].not_run and after["warn_only"].outcome == "warned"


def test_a_failed_run_started_by_the_daemon_still_leaves_a_page(tmp_path, monkeypatch):
    """Runs the daemon starts (schedule, landing sensor) have no `pilotmonitor run` to write
    the page when Dagster skipped `pipeline_health`: the run-status sensor does."""
    import dagster as dg

    from orchestration.defs.health.assets import health_page_after_failure
    from orchestration.resources import PilotmonitorSettings

    data = tmp_path / "data"
    (data / "warehouse").mkdir(parents=True)
    make_warehouse(data / "warehouse" / "pilotmonitor.duckdb", clean_rows()).close()
    monkeypatch.setenv("PILOTMONITOR_AS_OF", AS_OF.isoformat())

    @dg.asset(name="warehouse_step")
    def broken():
        raise RuntimeError("a model failed")

    instance = dg.DagsterInstance.ephemeral()
    run_id = dg.materialize([broken], instance=instance, raise_on_error=False).run_id
    failure = next(
        iter(instance.all_logs(run_id, of_type={dg.DagsterEventType.RUN_FAILURE}))
    ).dagster_event
    context = dg.build_run_status_sensor_context(
        sensor_name="health_page_after_failure",
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(run_id),
        dagster_event=failure,
        resources={"pilotmonitor": PilotmonitorSettings(data_dir=str(data))},
    ).for_run_failure()
    health_page_after_failure(context)
    page = data / "health" / "index.html"
    assert page.is_file()
    text = page.read_text(encoding="utf-8")
    assert "READY FOR PUBLICATION" in text or "BLOCKED" in text
