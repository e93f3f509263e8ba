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
