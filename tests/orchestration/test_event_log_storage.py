"""The run's Dagster event log with its connections kept open stores what Dagster's own
SQLite event log stores, where that storage reads it (the UI and older homes)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from orchestration.event_log_storage import DAGSTER_YAML, PooledSqliteEventLogStorage
from pilotmonitor.cli import _dagster_home
from pilotmonitor.publication.check_results import open_instance
from pilotmonitor.settings import Settings


def _assets(count: int) -> list[dg.AssetsDefinition]:
    out = []
    for i in range(count):

        @dg.asset(name=f"a{i}", check_specs=[dg.AssetCheckSpec("ok", asset=f"a{i}")])
        def _asset():
            yield dg.MaterializeResult(
                check_results=[dg.AssetCheckResult(check_name="ok", passed=True)]
            )

        out.append(_asset)
    return out


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML, encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def test_events_are_stored_as_dagsters_own_sqlite_storage_reads_them(home: Path):
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        runs = [dg.materialize(_assets(5), instance=instance) for _ in range(2)]
        assert all(r.success for r in runs)
        ours = {r.run_id: [e.dagster_event_type for e in instance.all_logs(r.run_id)] for r in runs}
        # the index and the runs' databases: WAL, without a disk sync per commit
        engines = instance.event_log_storage._engines
        assert "index" in engines and runs[-1].run_id in engines
        for engine in engines.values():
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL

    plain = SqliteEventLogStorage(str(home / "history" / "runs"))
    try:
        for run_id, types in ours.items():
            assert [e.dagster_event_type for e in plain.get_logs_for_run(run_id)] == types
        kinds = [e.dagster_event_type for e in plain.get_logs_for_run(runs[-1].run_id)]
        assert kinds.count(dg.DagsterEventType.ASSET_MATERIALIZATION) == 5
        assert kinds.count(dg.DagsterEventType.ASSET_CHECK_EVALUATION) == 5
    finally:
        plain.dispose()
    # the cross-run index: the latest materialization of each asset is the second run's
    with open_instance(home) as instance:
        latest = instance.get_latest_materialization_event(dg.AssetKey("a3"))
        assert latest is not None and latest.run_id == runs[-1].run_id


def test_the_cli_writes_the_dagster_home_config_and_leaves_a_hand_written_one(
    tmp_path: Path, monkeypatch
):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    settings = replace(Settings.from_env(), data_dir=tmp_path)
    home = _dagster_home(settings)
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == DAGSTER_YAML

    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    _dagster_home(settings)  # the earlier default is upgraded
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == DAGSTER_YAML

    own = "telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: 1\n"
    (home / "dagster.yaml").write_text(own, encoding="utf-8")
    _dagster_home(settings)
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == own
