"""Runs Dagster starts itself (the landing sensor, the schedule, the UI) and `pilotmonitor
run` exclude each other through the data directory's run lock: a Dagster run takes it
for its whole length unless `pilotmonitor run` holds it already, the landing sensor waits
while a run holds it, and every run of the code location runs in one process."""

import dagster as dg
import pytest

from orchestration.definitions import defs
from orchestration.resources import PilotmonitorSettings, WarehouseResource
from pilotmonitor.health.interrupted import RUN_LOCK_TAG
from pilotmonitor.run_lock import RunLock, is_held, lock_path

landing_sensor = defs.resolve_sensor_def("landing_sensor")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PILOTMONITOR_DATA_DIR", str(tmp_path))
    return tmp_path


def _materialize(data_dir, seen: dict, tags=None, instance=None) -> dg.ExecuteInProcessResult:
    @dg.asset
    def writes(warehouse: WarehouseResource):
        seen["held"] = is_held(lock_path(data_dir))

    return dg.materialize(
        [writes],
        resources={"warehouse": WarehouseResource()},  # the data directory's warehouse
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        tags=tags,
    )


def test_a_dagster_run_holds_the_run_lock_while_it_runs(data_dir):
    seen, instance = {}, dg.DagsterInstance.ephemeral()
    result = _materialize(data_dir, seen, instance=instance)
    assert result.success
    assert seen["held"] and not is_held(lock_path(data_dir))
    # recorded on the run, so `status` can tell a killed run from one still going
    run = instance.get_run_by_id(result.dagster_run.run_id)
    assert run.tags[RUN_LOCK_TAG] == str(lock_path(data_dir))


def test_a_dagster_run_stops_before_writing_while_another_run_holds_the_lock(data_dir):
    seen = {}
    with RunLock(lock_path(data_dir)):
        result = _materialize(data_dir, seen)
    assert not result.success and "held" not in seen
    failure = result.get_run_failure_event() or result.get_step_failure_events()[0]
    assert "another pipeline run is using this data directory" in str(failure)


def test_a_run_of_pilotmonitor_run_uses_the_lock_it_holds(data_dir):
    seen = {}
    with RunLock(lock_path(data_dir)) as lock:
        result = _materialize(data_dir, seen, tags={RUN_LOCK_TAG: str(lock.path)})
    assert result.success and seen["held"]


def test_the_landing_sensor_waits_while_a_run_holds_the_lock(data_dir):
    (data_dir / "landing" / "public" / "cbs").mkdir(parents=True)
    (data_dir / "landing" / "public" / "cbs" / "cbs_85098NED_20250101.csv").write_text("x\n")

    def evaluate(cursor=None):
        context = dg.build_sensor_context(
            cursor=cursor, resources={"pilotmonitor": PilotmonitorSettings(data_dir=str(data_dir))}
        )
        return landing_sensor(context), context.cursor

    with RunLock(lock_path(data_dir)):
        waiting, cursor = evaluate()
    assert isinstance(waiting, dg.SkipReason) and "run is going on" in waiting.skip_message
    assert cursor is None  # the change is still new at the next tick
    request, _ = evaluate(cursor)
    assert isinstance(request, dg.RunRequest)


def test_a_warehouse_configured_elsewhere_is_locked_beside_its_file(data_dir, tmp_path):
    """Not the data directory's lock: a run on another warehouse file (a test's, say) does
    not wait for, or stop, the pipeline of the data directory."""
    other = tmp_path / "elsewhere" / "w.duckdb"
    other.parent.mkdir()
    seen = {}

    @dg.asset
    def writes(warehouse: WarehouseResource):
        seen["data dir"] = is_held(lock_path(data_dir))
        seen["beside"] = is_held(other.with_name("w.duckdb.run.lock"))

    with RunLock(lock_path(data_dir)):
        result = dg.materialize(
            [writes],
            resources={"warehouse": WarehouseResource(database=str(other))},
            instance=dg.DagsterInstance.ephemeral(),
        )
    assert result.success and seen == {"data dir": True, "beside": True}


def test_every_job_runs_in_one_process():
    for job in ("all_assets", "ingest_all", "warehouse_build"):
        assert defs.resolve_job_def(job).executor_def.name == "in_process"
