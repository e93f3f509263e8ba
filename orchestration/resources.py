"""Resources shared by every asset group: the settings and the warehouse connection.

Both resolve their locations when a run starts (not when the code location is imported),
so the same definitions serve the demo, tests with a temporary data directory and
production paths set by environment variables.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from pilotmonitor.health.interrupted import RUN_LOCK_TAG
from pilotmonitor.run_lock import RunLock, lock_path
from pilotmonitor.settings import Settings
from pilotmonitor.warehouse_access import warehouse


class PilotmonitorSettings(dg.ConfigurableResource):
    """Locations (see pilotmonitor.settings); empty means: from the environment."""

    data_dir: str = ""
    pilots_dir: str = ""
    ijw_xsd_dir: str = ""

    def settings(self) -> Settings:
        base = Settings.from_env()
        return Settings(
            data_dir=Path(self.data_dir) if self.data_dir else base.data_dir,
            pilots_dir=Path(self.pilots_dir) if self.pilots_dir else base.pilots_dir,
            scenarios_dir=base.scenarios_dir,
            ijw_xsd_dir=Path(self.ijw_xsd_dir) if self.ijw_xsd_dir else base.ijw_xsd_dir,
            read_workers=base.read_workers,
        )


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse (a DuckDB file, or PostgreSQL when PILOTMONITOR_WAREHOUSE_URL is set:
    pilotmonitor/warehouse_access.py). DuckDB allows one writer process: assets write through
    this resource inside a run; readers elsewhere open it read-only."""

    database: str = ""
    _run_lock: RunLock | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """A run Dagster starts itself (a sensor, the schedule, the UI) takes the run lock
        `pilotmonitor run` takes, so the two never write at once: the one that comes second
        stops with RunInProgress before writing. `pilotmonitor run` holds the lock already
        and tags its run with it. Once per run: the code location's executor is in-process."""
        run = context.run
        if run is None or RUN_LOCK_TAG in run.tags:
            return
        self._run_lock = RunLock(self._lock_path()).__enter__()
        if context.instance is not None:  # `status` then tells a killed run from a running one
            context.instance.add_run_tags(run.run_id, {RUN_LOCK_TAG: str(self._run_lock.path)})

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._run_lock is not None:
            self._run_lock.__exit__(None, None, None)
            self._run_lock = None

    def _lock_path(self) -> Path:
        """The data directory's run lock for the pipeline's warehouse; beside the file for a
        warehouse configured explicitly (another file, which `pilotmonitor run` never uses)."""
        if not self.database:
            return lock_path(Settings.from_env().data_dir)
        return Path(self.database).with_name(Path(self.database).name + ".run.lock")

    def path(self) -> Path:
        return Path(self.database) if self.database else Settings.from_env().warehouse_path

    @contextmanager
    def get_connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = self.path()
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = warehouse(path).connect(read_only=read_only)
        try:
            yield conn
        finally:
            conn.close()


def build_resources() -> dict[str, dg.ConfigurableResource]:
    return {"warehouse": WarehouseResource(), "pilotmonitor": PilotmonitorSettings()}
