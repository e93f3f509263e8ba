"""The dbt warehouse on a small synthetic scenario: the marts reproduce the ground truth
where it is directly countable, every dbt test passes, and a new delivery month added to
an existing warehouse is an update: dbt builds only the nodes the month reaches (the
incremental facts only for the months it touches) and every mart equals a full rebuild."""

import json
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from orchestration.defs.warehouse import affected, reuse
from orchestration.defs.warehouse.assets import dbt_schemas
from pilotmonitor.cli import app
from pilotmonitor.ingest.sources import SOURCES
from pilotmonitor.synth import truth_check
from tests.warehouse.dbt_helpers import DBT_PROJECT, read_table, run_dbt, run_results

HELD_BACK_PERIOD = "2026-10"  # the last monthly iJw delivery, added in a second run
INCREMENTAL_FACTS = {
    "marts.fct_pupil_month": "pupil_pseudonym, month",
    "marts.fct_school_month": "school_id, month",
    "marts.fct_youth_care_costs": "declared_line_id, month",
    # incremental by month too: the netted lines (by service month) and their months
    "intermediate.int_declaration_lines_netted": "declared_line_id",
    "intermediate.int_declaration_months": "declared_line_id, month",
}
LINEAGE = ["loaded_through", "built_at"]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    root = tmp_path_factory.mktemp("warehouse")
    data = root / "data"
    env = pytest.MonkeyPatch()
    env.setenv("PILOTMONITOR_DATA_DIR", str(data))
    env.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    for name in [
        "PILOTMONITOR_PSEUDONYM_KEY",
        "PILOTMONITOR_PSEUDONYM_KEY_FILE",
        "PILOTMONITOR_DEMO",
    ]:
        env.delenv(name, raising=False)
    runner = CliRunner()
    synth = runner.invoke(app, ["synth", "--scale", "0.05", "--seed", "11"])
    assert synth.exit_code == 0, synth.output

    # First state: everything except the last monthly iJw delivery.
    held_back = root / "held_back"
    held_back.mkdir()
    for archive in sorted((data / "landing" / "ijw").glob(f"*/*_ijw_{HELD_BACK_PERIOD}_*.zip")):
        target = held_back / archive.relative_to(data / "landing")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(archive, target)
    assert any(held_back.rglob("*.zip"))
    db = data / "warehouse" / "pilotmonitor.duckdb"
    # the warehouse only: these tests read no estimates or reports
    first = runner.invoke(app, ["run", "--demo", "--skip-analyses"])
    assert first.exit_code == 0, first.output
    flat = " ".join(first.output.split())
    assert "effect_estimates │ not run (--skip-analyses)" in flat, first.output
    assert "not run: upstream" not in flat and not (data / "reports").exists()
    before = {
        relation: read_table(db, relation, order) for relation, order in INCREMENTAL_FACTS.items()
    }
    # the first run's dbt build, on an empty warehouse: every node (dagster-dbt keeps its
    # target per warehouse)
    first_results = run_results(data / "warehouse" / "dbt_target", "")

    # Second state: the held-back month arrives; ingestion loads only it, dbt builds incrementally.
    for archive in held_back.rglob("*.zip"):
        destination = data / "landing" / archive.relative_to(held_back)
        shutil.move(archive, destination)
    second = runner.invoke(app, ["run", "--demo", "--skip-analyses"])
    assert second.exit_code == 0, second.output
    incremental = {
        relation: read_table(db, relation, order) for relation, order in INCREMENTAL_FACTS.items()
    }
    updated = every_mart(db)
    with duckdb.connect(str(db), read_only=True) as conn:
        recorded_outputs = reuse.recorded_state(conn).outputs
        hashed_outputs = reuse.outputs_fingerprint(conn, dbt_schemas())
    # the run's own dbt build (dagster-dbt keeps its target per warehouse)
    incremental_results = run_results(data / "warehouse" / "dbt_target", "")

    # Reference: every model rebuilt in full from the same raw tables (a model the update
    # kept but the new month reaches would differ here).
    # ... and the models' unit tests, in the same dbt invocation (one start and parse)
    run_dbt(
        ["build", "--full-refresh", "--resource-type", "model", "--resource-type", "unit_test"],
        db,
        root / "dbt_full",
    )
    full_results = run_results(root / "dbt_full")
    full = {
        relation: read_table(db, relation, order) for relation, order in INCREMENTAL_FACTS.items()
    }
    yield {
        "root": root,
        "data": data,
        "db": db,
        "before": before,
        "incremental": incremental,
        "full": full,
        "incremental_results": incremental_results,
        "first_results": first_results,
        "unit_test_results": [r for r in full_results if r["unique_id"].startswith("unit_test.")],
        "unit_tests": set(
            json.loads((root / "dbt_full" / "target" / "manifest.json").read_text())["unit_tests"]
        ),
        "second_output": second.output,
        "recorded_outputs": recorded_outputs,
        "hashed_outputs": hashed_outputs,
        "updated": updated,
        "rebuilt": every_mart(db),
    }
    env.undo()


def every_mart(db: Path) -> dict[str, pd.DataFrame]:
    """Every table of schema marts, rows sorted, without the lineage column."""
    with duckdb.connect(str(db), read_only=True) as conn:
        names = [
            name
            for (name,) in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' "
                "and table_type = 'BASE TABLE' order by 1"
            ).fetchall()
        ]
        frames = {}
        for name in names:
            frame = conn.execute(f"select * from marts.{name}").df()
            frame = frame.drop(columns=[c for c in LINEAGE if c in frame.columns])
            frames[name] = frame.sort_values(
                list(frame.columns), kind="stable", na_position="first"
            ).reset_index(drop=True)
    return frames


def marts(db: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(sql).df()


def test_every_dbt_test_passes(warehouse):
    """In the first build (every node) and in the incremental one after the new month."""
    for results in (warehouse["first_results"], warehouse["incremental_results"]):
        assert results, "dbt build ran nothing"
        failing = [
            (r["unique_id"], r["status"], r.get("message"))
            for r in results
            if r["status"] not in {"success", "pass"}
        ]
        assert failing == []
    kinds = {r["unique_id"].split(".")[0] for r in warehouse["first_results"]}
    assert {"model", "seed", "test"} <= kinds and "unit_test" not in kinds


def test_every_dbt_unit_test_passes(warehouse):
    """The models' unit tests (fixed inputs, not the data) run here, not in the pipeline."""
    results, unit_tests = warehouse["unit_test_results"], warehouse["unit_tests"]
    assert {r["unique_id"] for r in results} == unit_tests and len(unit_tests) >= 10
    assert [(r["unique_id"], r.get("message")) for r in results if r["status"] != "pass"] == []


def test_school_months_reproduce_the_ground_truth(warehouse):
    with duckdb.connect(str(warehouse["db"]), read_only=True) as conn:
        merged = truth_check.school_month_comparison(conn, warehouse["data"] / "ground_truth")
    assert truth_check.problems(merged) == []
    assert (
        len(merged) > 0
        and merged.referrals.sum() > 0
        and merged.net_declared_cost_cents.sum() > 0
        and merged.dropouts_truth.sum() > 0
    )
    summed = truth_check.totals(merged)
    assert (summed.truth - summed.mart).abs().max() < 1e-3, summed


def test_the_truth_comparison_notices_a_wrong_school_month(warehouse):
    """The check the national benchmark relies on can fail: one referral more in one
    school-month."""
    with duckdb.connect(str(warehouse["db"]), read_only=True) as conn:
        merged = truth_check.school_month_comparison(conn, warehouse["data"] / "ground_truth")
    merged.loc[merged.index[0], "new_referrals"] += 1
    merged.loc[merged.index[1], "_merge"] = "left_only"
    found = truth_check.problems(merged)
    assert len(found) == 2 and "new_referrals differs in 1 school-months" in found[1]


def test_pupils_and_yearly_costs_per_school_match_the_ground_truth(warehouse):
    pupils = (
        pd.read_csv(warehouse["data"] / "ground_truth" / "pupils.csv").groupby("school_id").size()
    )
    built = (
        marts(
            warehouse["db"],
            "select school_id, count(distinct pupil_pseudonym) as pupils from "
            "marts.fct_pupil_month group by 1",
        )
        .set_index("school_id")
        .pupils
    )
    pd.testing.assert_series_equal(
        built.sort_index(), pupils.sort_index(), check_names=False, check_dtype=False
    )

    truth = pd.read_csv(warehouse["data"] / "ground_truth" / "school_month.csv")
    truth_year = (
        truth.assign(year=truth.month.str[:4].astype(int))
        .groupby(["school_id", "year"])
        .net_declared_cost_cents.sum()
    )
    costs = (
        marts(
            warehouse["db"],
            "select school_id, cast(extract(year from month) as integer) as year, "
            "sum(amount_cents) as cents from marts.fct_youth_care_costs where school_id is not "
            "null group by 1, 2",
        )
        .set_index(["school_id", "year"])
        .cents
    )
    joined = pd.concat([truth_year.rename("truth"), costs.rename("mart")], axis=1).fillna(0)
    assert (joined.truth == joined.mart).all(), joined[joined.truth != joined.mart].head()


def test_incremental_update_equals_a_full_rebuild(warehouse):
    for relation, order in INCREMENTAL_FACTS.items():
        incremental = warehouse["incremental"][relation].drop(columns=LINEAGE, errors="ignore")
        full = warehouse["full"][relation].drop(columns=LINEAGE, errors="ignore")
        assert len(full) > 0
        pd.testing.assert_frame_equal(incremental, full, check_dtype=False, obj=relation)
        assert (
            not warehouse["before"][relation].drop(columns=LINEAGE, errors="ignore").equals(full)
        ), f"{relation}: the new month changed nothing"


def test_the_monthly_build_gives_every_mart_a_full_rebuild_gives(warehouse):
    updated, rebuilt = warehouse["updated"], warehouse["rebuilt"]
    assert sorted(updated) == sorted(rebuilt) and len(rebuilt) >= 10
    for name, frame in rebuilt.items():
        assert len(frame) > 0, name
        pd.testing.assert_frame_equal(updated[name], frame, check_dtype=False, obj=name)


def test_the_monthly_build_runs_what_the_new_month_reaches_and_keeps_the_rest(warehouse):
    """dbt itself selects what runs (the excluded nodes, cautious test selection); it must
    run exactly what affected.py says the new iJw month reaches, since every other test's
    result is carried over from the first build."""
    manifest = json.loads(
        (warehouse["data"] / "warehouse" / "dbt_target" / "manifest.json").read_text()
    )
    (ijw,) = [source for source in SOURCES if source.name == "ijw_messages"]
    reached = affected.reached_by(manifest, ijw.tables, register_changed=True)
    ran = {r["unique_id"] for r in warehouse["incremental_results"]}
    assert ran == {node for node in reached if not node.startswith("source.")}
    assert "model.pilotmonitor.fct_referrals" in ran
    assert "model.pilotmonitor.stg_school__absence" not in ran  # no new school export
    assert "model.pilotmonitor.dim_school" not in ran
    # a test between a rebuilt and a kept node ran (cautious, not eager, exclusion)
    assert [
        test
        for test in ran
        if test.startswith("test.") and {*manifest["nodes"][test]["depends_on"]["nodes"]} - reached
    ]
    # ... and Dagster saw every model and every test, the kept ones marked as reused
    flat = " ".join(warehouse["second_output"].split())
    models = re.search(r"warehouse \(dbt, (\d+) assets\) │ (\d+) of (\d+) materialized", flat)
    tests = re.search(r"dbt tests \(asset checks\) │ (\d+) of (\d+) passed", flat)
    assert models and len(set(models.groups())) == 1, flat
    assert tests and len(set(tests.groups())) == 1, flat
    assert int(tests.group(1)) > len([n for n in ran if n.startswith("test.")])


def test_the_monthly_build_records_the_digest_of_every_output_it_left(warehouse):
    """The update build hashes only what it rebuilt and takes the digests of the relations
    it kept from the check before it: the fingerprint it records must equal hashing every
    output afresh (or the next run would rebuild everything as damaged)."""
    assert warehouse["recorded_outputs"] == warehouse["hashed_outputs"]


def test_incremental_update_rebuilds_only_the_months_it_touches(warehouse):
    before = warehouse["before"]["marts.fct_pupil_month"]
    after = warehouse["incremental"]["marts.fct_pupil_month"]
    old_stamp = before.loaded_through.max()
    rebuilt = after[after.loaded_through > old_stamp]
    kept = after[after.loaded_through == old_stamp]
    assert len(rebuilt) > 0 and len(kept) > 0
    # the held-back deliveries start in the months before their period at the earliest
    # (declarations for earlier service, allocations of earlier requests): everything
    # from two years back must have been kept
    assert pd.to_datetime(rebuilt.month).min() > pd.Timestamp("2024-10-01")
    assert pd.to_datetime(kept.month).max() < pd.to_datetime(rebuilt.month).min()
    statuses = {
        r["unique_id"].split(".")[-1]: r["status"] for r in warehouse["incremental_results"]
    }
    assert statuses["fct_pupil_month"] == "success"
    # the netted declaration lines and their months: the recent service months only
    for relation in ("int_declaration_lines_netted", "int_declaration_months"):
        before = warehouse["before"][f"intermediate.{relation}"]
        after = warehouse["incremental"][f"intermediate.{relation}"]
        rebuilt = after[after.loaded_through > before.loaded_through.max()]
        kept = after[after.loaded_through == before.loaded_through.max()]
        assert len(rebuilt) > 0 and len(kept) > len(rebuilt), relation
        assert pd.to_datetime(kept.month).max() < pd.to_datetime(rebuilt.month).min(), relation
        assert statuses[relation] == "success"


def test_registry_changes_rebuild_the_whole_panel(warehouse, tmp_path):
    """Editing a pilot (its dates decide treatment) must not leave stale exposure columns:
    the registry fingerprint forces a full rebuild of the incremental facts."""
    db = tmp_path / "pilotmonitor.duckdb"  # same file name: dbt-duckdb views name their catalog
    shutil.copy(warehouse["db"], db)
    with duckdb.connect(str(db)) as conn:
        conn.execute(
            "update raw.pilots set start_date = start_date - interval 12 month where pilot_id = "
            "'winschoten-sbo'"
        )
    run_dbt(["build", "--select", "+fct_pupil_month"], db, tmp_path / "dbt")
    treated = marts(
        db,
        "select min(month) as first from marts.fct_pupil_month where pilot_id = 'winschoten-sbo' "
        "and is_treated",
    )
    assert pd.Timestamp(treated["first"][0]) == pd.Timestamp("2024-11-01")


def test_two_pupils_sharing_a_key_hash_fail_the_blocking_test(warehouse, tmp_path):
    """fct_pupil_month joins absence on a 64-bit hash of the pupil pseudonym (macro
    key_hash), guarded by a blocking test that no two pupils share one. A real collision
    cannot be planted (about 2^32 pseudonyms for an even chance), so a copy of the project
    makes the hash degenerate (seven values): the test must then fail with each shared
    value, and pass on the same warehouse with the project as it is."""
    db = tmp_path / "pilotmonitor.duckdb"  # same file name: dbt-duckdb views name their catalog
    shutil.copy(warehouse["db"], db)
    project = tmp_path / "project"
    shutil.copytree(DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "macros" / "degenerate_key_hash.sql").write_text(
        "{% macro duckdb__key_hash(expression) %}(hash({{ expression }}) % 7){% endmacro %}",
        encoding="utf-8",
    )
    test = ["test", "--select", "assert_pupil_key_hashes_are_unique"]
    degenerate = run_dbt(test, db, tmp_path / "degenerate", check=False, project_dir=project)
    assert degenerate.returncode != 0, degenerate.stdout
    [result] = run_results(tmp_path / "degenerate")
    assert result["status"] == "fail" and result["failures"] == 7, result
    as_is = run_dbt(test, db, tmp_path / "as_is")
    assert [r["status"] for r in run_results(tmp_path / "as_is")] == ["pass"], as_is.stdout


def test_a_repeated_pupil_month_fails_the_uniqueness_test_whatever_the_hashes(warehouse, tmp_path):
    """unique_combination_of_columns groups rows by a hash of the combination first and
    compares the columns only where a hash repeats. With the hash as it is and with a
    degenerate one (three values, so that nearly every row shares its hash with others),
    the test passes on the panel as built and reports exactly the one pupil-month planted
    twice."""
    db = tmp_path / "pilotmonitor.duckdb"  # same file name: dbt-duckdb views name their catalog
    shutil.copy(warehouse["db"], db)
    project = tmp_path / "project"
    shutil.copytree(DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "macros" / "degenerate_columns_hash.sql").write_text(
        "{% macro duckdb__columns_hash(columns) %}"
        "(hash({{ columns | join(', ') }}) % 3){% endmacro %}",
        encoding="utf-8",
    )
    test = [
        "test",
        "--select",
        "unique_combination_of_columns_int_pupil_months_pupil_pseudonym__month",
    ]

    def outcome(name: str, project_dir: Path = DBT_PROJECT) -> tuple[str, int]:
        run_dbt(test, db, tmp_path / name, check=False, project_dir=project_dir)
        [result] = run_results(tmp_path / name)
        return result["status"], result["failures"]

    assert outcome("as_is") == ("pass", 0)
    assert outcome("degenerate", project) == ("pass", 0)
    with duckdb.connect(str(db)) as conn:
        pupil, month = conn.execute(
            "select pupil_pseudonym, month from intermediate.int_pupil_months "
            "order by pupil_pseudonym, month limit 1 offset 100"
        ).fetchone()
        conn.execute(
            "insert into intermediate.int_pupil_months select * from "
            "intermediate.int_pupil_months where pupil_pseudonym = ? and month = ?",
            [pupil, month],
        )
    assert outcome("planted") == ("fail", 1)
    assert outcome("planted_degenerate", project) == ("fail", 1)


def test_the_panel_tests_check_the_rows_the_latest_build_wrote(warehouse, tmp_path):
    """fct_pupil_month's tests of rules that hold per row or per month read only the rows
    the latest build wrote (config where: __latest_build__, macro get_where_subquery; the
    pilot-period test likewise): a repeated pupil-month and a treated month at a school in
    no pilot fail them when the latest build wrote them, and are left alone with an older
    build's stamp (that build's tests checked its rows)."""
    db = tmp_path / "pilotmonitor.duckdb"  # same file name: dbt-duckdb views name their catalog
    shutil.copy(warehouse["db"], db)
    tests = [
        "unique_combination_of_columns_fct_pupil_month_pupil_pseudonym__month",
        "expression_is_true_fct_pupil_month_not_is_treated_or_is_pilot_school",
        "assert_treated_months_inside_pilot_period",
    ]

    def failures(name: str) -> dict[str, int]:
        run_dbt(["test", "--select", *tests], db, tmp_path / name, check=False)
        results = run_results(tmp_path / name)
        assert all(r["status"] in ("pass", "fail") for r in results), results
        return {r["unique_id"].split(".")[2]: r["failures"] for r in results}

    def plant(stamp: str) -> None:
        with duckdb.connect(str(db)) as conn:
            latest = conn.execute("select max(loaded_through) from marts.fct_pupil_month")
            latest = latest.fetchone()[0]
            conn.execute(
                f"""
                insert into marts.fct_pupil_month
                select * replace ({stamp} as loaded_through) from marts.fct_pupil_month
                where pilot_id is null order by pupil_pseudonym, month limit 1 offset 10
                """,
                [latest],
            )
            conn.execute(
                f"""
                insert into marts.fct_pupil_month
                select * replace (
                    true as is_treated, month - interval 100 year as month,
                    {stamp} as loaded_through
                )
                from marts.fct_pupil_month
                where pilot_id is null order by pupil_pseudonym, month limit 1 offset 20
                """,
                [latest],
            )

    assert set(failures("as_built").values()) == {0}
    plant("cast(? as timestamp) - interval 1 day")  # written by an earlier build
    assert set(failures("older").values()) == {0}
    plant("cast(? as timestamp)")  # written by the latest build
    assert failures("latest") == {
        tests[0]: 1,
        tests[1]: 1,
        tests[2]: 1,
    }


def test_a_pilot_school_unknown_to_duo_fails_the_build(warehouse, tmp_path):
    db = tmp_path / "pilotmonitor.duckdb"  # same file name: dbt-duckdb views name their catalog
    shutil.copy(warehouse["db"], db)
    with duckdb.connect(str(db)) as conn:
        conn.execute(
            "insert into raw.pilot_schools values ('winschoten-sbo', '99ZZ00', '99ZZ', '00', "
            "'Onbekende school')"
        )
    result = run_dbt(
        ["test", "--select", "stg_registry__pilot_schools"], db, tmp_path / "dbt", check=False
    )
    assert result.returncode != 0
    assert "relationships_stg_registry__pilot_schools_school_id" in result.stdout


def test_costs_that_leave_the_netted_lines_or_the_panel_fail_the_cost_test(warehouse, tmp_path):
    """assert_costs_equal_netted_declarations names what differs: a cost month moved off
    its declared line (the line's months no longer add up to debit minus credit) and a
    pupil-month of the panel whose cost no longer equals its pupils' cost rows (the month).
    The school relationship test names a missing school once, with its row count."""
    db = tmp_path / "pilotmonitor.duckdb"  # same file name: dbt-duckdb views name their catalog
    shutil.copy(warehouse["db"], db)
    tests = [
        "assert_costs_equal_netted_declarations",
        "relationships_fct_pupil_month_school_id__school_id__ref_dim_school_",
    ]

    def outcome(name: str) -> dict[str, tuple[str, int]]:
        run_dbt(["test", "--select", *tests], db, tmp_path / name, check=False)
        return {
            r["unique_id"].split(".")[2]: (r["status"], r["failures"])
            for r in run_results(tmp_path / name)
        }

    assert outcome("clean") == {name: ("pass", 0) for name in tests}
    with duckdb.connect(str(db)) as conn:
        line, month = conn.execute(
            "select declared_line_id, month from marts.fct_youth_care_costs "
            "where school_id is null order by declared_line_id, month limit 1"
        ).fetchone()
        conn.execute(
            "update marts.fct_youth_care_costs set amount_cents = amount_cents + 1 "
            "where declared_line_id = ? and month = ?",
            [line, month],
        )
        panel_month = conn.execute(
            "select month from marts.fct_pupil_month where declared_cost_cents > 0 "
            "order by month, pupil_pseudonym limit 1"
        ).fetchone()[0]
        conn.execute(
            "update marts.fct_pupil_month set declared_cost_cents = declared_cost_cents + 100 "
            "where pupil_pseudonym = (select min(pupil_pseudonym) from marts.fct_pupil_month "
            "where month = ? and declared_cost_cents > 0) and month = ?",
            [panel_month, panel_month],
        )
        school = conn.execute("select min(school_id) from marts.fct_pupil_month").fetchone()[0]
        rows = conn.execute(
            "select count(*) from marts.fct_pupil_month where school_id = ?", [school]
        ).fetchone()[0]
        conn.execute("delete from marts.dim_school where school_id = ?", [school])
    assert outcome("planted") == {name: ("fail", 1 if "relat" in name else 2) for name in tests}
    compiled = tmp_path / "planted" / "target" / "compiled"  # the tests' queries as written
    with duckdb.connect(str(db), read_only=True) as conn:
        found = conn.execute(
            next(compiled.rglob("assert_costs_equal_netted_declarations.sql")).read_text()
        ).fetchall()
        missing = conn.execute(
            next(compiled.rglob("relationships_fct_pupil_mont*.sql")).read_text()
        ).fetchall()
    assert sorted((level, key, str(m)[:10]) for level, key, m, *_ in found) == [
        ("line", line, "None"),
        ("month", None, str(panel_month)[:10]),
    ]
    assert missing == [(school, rows)]


def test_plausibility_checks_flag_a_missing_month_and_a_lost_referral_year(warehouse, tmp_path):
    """Planted gaps in a copy of the warehouse: the biggest school's absence export misses
    a month, the busiest municipality misses a month of declarations, the school with most
    referrals loses the youth-care requests of its largest school year, and a pilot logs a
    month of activity at another pilot's school. The plausibility tests
    (severity warn, so the build still succeeds) name each of them. The thresholds are lowered for
    this tiny scenario (about 10 pupils per school); on the clean warehouse the default
    thresholds pass (test_every_dbt_test_passes)."""
    db = tmp_path / "pilotmonitor.duckdb"
    shutil.copy(warehouse["db"], db)
    month = "2024-03-01"
    with duckdb.connect(str(db)) as conn:
        big_school = conn.execute(
            "select school_id from marts.fct_school_month where month = ? order by pupil_months "
            "desc, school_id limit 1",
            [month],
        ).fetchone()[0]
        school = conn.execute(
            "select school_id from marts.fct_school_month where school_year < 2026 group by 1 "
            "order by sum(new_referrals) desc, 1 limit 1"
        ).fetchone()[0]
        year = conn.execute(
            "select school_year from marts.fct_school_month where school_id = ? and school_year < "
            "2026 group by 1 order by sum(pupil_months) desc, 1 limit 1",
            [school],
        ).fetchone()[0]
        municipality = conn.execute(
            "select municipality_code from raw.ijw_declaration_lines group by 1 order by count(*) "
            "desc, 1 limit 1"
        ).fetchone()[0]
        conn.execute(
            "delete from raw.school_absence where school_id = ? and absence_date between date "
            "'2024-03-01' and date '2024-03-31'",
            [big_school],
        )
        conn.execute(
            "delete from raw.ijw_declaration_lines where municipality_code = ? and "
            "product_period_start <= date '2024-03-31' and product_period_end >= date "
            "'2024-03-01'",
            [municipality],
        )
        clients = [
            r[0]
            for r in conn.execute(
                "select distinct pupil_pseudonym from marts.fct_referrals where school_id = ? and "
                "month between make_date(?, 8, 1) and make_date(? + 1, 7, 31)",
                [school, year, year],
            ).fetchall()
        ]
        conn.execute(
            "delete from raw.ijw_requests where client_pseudonym in (select unnest(?)) and "
            "message_date between make_date(?, 8, 1) and make_date(? + 1, 7, 31)",
            [clients, year, year],
        )
        # one month of a pilot's activity logged at another pilot's school (not its own)
        elsewhere = conn.execute(
            "select a.pilot_id, s.school_id from raw.pilot_activity as a join raw.pilot_schools "
            "as s on s.school_id not in (select school_id from raw.pilot_schools where pilot_id "
            "= a.pilot_id) order by 1, 2 limit 1"
        ).fetchone()
        conn.execute(
            "insert into raw.pilot_activity select delivery_id, row_locator || '-planted', "
            "pilot_id, month, ?, contacts_pupils, contacts_parents, group_sessions, "
            "consultations_teachers, consultations_providers from raw.pilot_activity "
            "where pilot_id = ? order by month limit 1",
            [elsewhere[1], elsewhere[0]],
        )
    variables = (
        "{plausible_min_pupils: 5, plausible_min_expected: 1, plausible_min_lines_per_month: 1, "
        "plausible_z: 2}"
    )
    # raw rows were changed behind the delivery register's back, so rebuild in full
    result = run_dbt(
        ["build", "--full-refresh", "--store-failures", "--vars", variables],
        db,
        tmp_path / "dbt",
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]  # warnings do not fail the build
    statuses = {
        r["unique_id"].split(".")[2]: r["status"]
        for r in run_results(tmp_path / "dbt")
        if r["unique_id"].startswith("test.")
    }
    for name in [
        "assert_no_school_month_missing_absence",
        "assert_no_municipality_month_without_declarations",
        "assert_referral_rate_within_school_history",
        "assert_activity_at_the_pilots_own_schools",
    ]:
        assert statuses[name] == "warn", name
    with duckdb.connect(str(db), read_only=True) as conn:

        def failures(name: str) -> pd.DataFrame:
            schema = conn.execute(
                "select table_schema from information_schema.tables where table_name = ?", [name]
            ).fetchone()[0]
            frame = conn.execute(f'select * from "{schema}"."{name}"').df()
            assert frame.problem.str.len().gt(20).all()  # every flag says what is wrong
            return frame

        gaps = failures("assert_no_school_month_missing_absence")
        assert (
            (gaps.school_id == big_school) & (pd.to_datetime(gaps.month) == pd.Timestamp(month))
        ).any()
        declaration_gaps = failures("assert_no_municipality_month_without_declarations")
        assert (
            (declaration_gaps.municipality_code == f"GM{municipality[-4:]}")
            & (pd.to_datetime(declaration_gaps.month) == pd.Timestamp(month))
        ).any()
        rates = failures("assert_referral_rate_within_school_history")
        assert (
            (rates.school_id == school) & (rates.school_year == year) & (rates.referrals == 0)
        ).any()
        foreign = failures("assert_activity_at_the_pilots_own_schools")
        assert list(zip(foreign.pilot_id, foreign.school_id)) == [elsewhere]


KINDS = ("jeugdzorg", "youth_mental_health", "intensive_with_stay")


def test_referrals_and_costs_by_kind_of_care_reproduce_the_planted_effects_truth(warehouse):
    """The kind columns of fct_school_month equal the ground truth where the demo plants an
    effect on one kind (Hoogeveen: youth mental health referrals), school-month by
    school-month, before and during the pilot; and the kind dbt tests ran and passed."""
    truth = pd.read_csv(warehouse["data"] / "ground_truth" / "school_month.csv")
    truth["month"] = pd.to_datetime(truth.month + "-01")
    scenario = __import__("json").loads(
        (warehouse["data"] / "ground_truth" / "scenario.json").read_text(encoding="utf-8")
    )
    assert (
        scenario["planted_referral_ratio_by_kind"]["hoogeveen-positief-opgroeien"][
            "youth_mental_health"
        ]
        < 0.5
    )
    built = marts(
        warehouse["db"],
        "select * from marts.fct_school_month where pilot_id = 'hoogeveen-positief-opgroeien'",
    )
    built["month"] = pd.to_datetime(built.month)
    merged = truth[truth.pilot_id == "hoogeveen-positief-opgroeien"].merge(
        built, on=["school_id", "month"], how="outer", indicator=True
    )
    assert (merged._merge == "both").all()
    for kind in KINDS:
        assert (merged[f"referrals_{kind}"] == merged[f"new_referrals_{kind}"]).all(), kind
        assert (
            merged[f"net_declared_cost_cents_{kind}"] == merged[f"declared_cost_cents_{kind}"]
        ).all(), kind
    assert (
        merged.new_referrals_youth_mental_health.sum() > 0
        and merged.loc[merged.is_treated, "new_referrals"].sum() > 0
    )
    everywhere = marts(warehouse["db"], "select * from marts.fct_school_month")
    for kind in KINDS:
        assert (
            everywhere[f"new_referrals_{kind}"].sum() > 0
            and everywhere[f"declared_cost_cents_{kind}"].sum() > 0
        ), kind
    names = {r["unique_id"] for r in warehouse["incremental_results"] if r["status"] == "pass"}
    assert sum("kinds_sum_to_total" in n for n in names) == 4
    # on the seed, which a new iJw month does not reach: the first (full) build ran it
    assert any(
        "assert_kind_columns_match_seed" in r["unique_id"] and r["status"] == "pass"
        for r in warehouse["first_results"]
    )


def test_the_truth_comparison_notices_a_referral_of_the_wrong_kind(warehouse):
    """One youth mental health referral counted as general youth care: the totals agree,
    the kinds do not."""
    with duckdb.connect(str(warehouse["db"]), read_only=True) as conn:
        merged = truth_check.school_month_comparison(conn, warehouse["data"] / "ground_truth")
    row = merged.index[merged.new_referrals_youth_mental_health > 0][0]
    merged.loc[row, "new_referrals_youth_mental_health"] -= 1
    merged.loc[row, "new_referrals_jeugdzorg"] += 1
    found = truth_check.problems(merged)
    assert len(found) == 2 and all("differs in 1 school-months" in f for f in found)
    assert {f.split()[0] for f in found} == {
        "new_referrals_youth_mental_health",
        "new_referrals_jeugdzorg",
    }


def test_a_fact_built_by_an_older_project_version_is_rebuilt_in_full(warehouse, tmp_path):
    """Upgrading: a fact built before a column was declared (here: referrals without a
    kind of care) is found by its columns, dropped before the build and rebuilt in full,
    equal to a fresh build; dbt alone would stop on the schema change."""
    import json

    from orchestration.defs.warehouse.schema_upgrade import (
        drop_stale_incremental_tables,
        stale_incremental_tables,
    )

    db = tmp_path / "pilotmonitor.duckdb"
    shutil.copy(warehouse["db"], db)
    manifest = json.loads(
        (warehouse["root"] / "dbt_full" / "target" / "manifest.json").read_text(encoding="utf-8")
    )
    with duckdb.connect(str(db)) as conn:
        assert stale_incremental_tables(conn, manifest) == []
        conn.execute(
            "alter table marts.fct_school_month drop column new_referrals_kind_unspecified"
        )
        stale = stale_incremental_tables(conn, manifest)
        assert stale == [
            ("marts", "fct_school_month", "new columns new_referrals_kind_unspecified")
        ]
        said = drop_stale_incremental_tables(conn, manifest)
        assert len(said) == 1 and "marts.fct_school_month is rebuilt in full" in said[0]
    run_dbt(["build", "--select", "fct_school_month"], db, tmp_path / "dbt")
    rebuilt = read_table(db, "marts.fct_school_month", INCREMENTAL_FACTS["marts.fct_school_month"])
    full = warehouse["full"]["marts.fct_school_month"]
    pd.testing.assert_frame_equal(
        rebuilt.drop(columns=LINEAGE, errors="ignore"),
        full.drop(columns=LINEAGE, errors="ignore"),
        check_dtype=False,
    )


def test_thuiszitters_of_both_sources_are_the_spells_the_register_truth_registers(warehouse):
    """The school records hold every spell; the register the ones the truth says it
    registers (less those reported after the as-of date); none the school does not show."""
    truth = pd.read_csv(warehouse["data"] / "ground_truth" / "leerplicht_thuiszitters.csv")
    status = (
        marts(
            warehouse["db"],
            "select source_status, count(*) as n from "
            "intermediate.int_thuiszitter_sources_matched group by 1",
        )
        .set_index("source_status")
        .n
    )
    assert status.get("both", 0) + status.get("school_only", 0) == len(truth)
    assert status.get("register_only", 0) == 0
    assert truth.registered.sum() - 3 <= status.get("both", 0) <= truth.registered.sum()
    years = marts(
        warehouse["db"],
        "select sum(spells_both) as both_, sum(spells_school) as school from "
        "marts.fct_thuiszitter_sources_municipality_year",
    )
    assert int(years.both_.iloc[0]) == status.get("both", 0) and int(years.school.iloc[0]) == len(
        truth
    )
