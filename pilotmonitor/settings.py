"""Where things live. Every location is a setting (environment variable) with a default.

| variable                    | default                                   |
|-----------------------------|-------------------------------------------|
| PILOTMONITOR_DATA_DIR       | <repo>/data (git-ignored)                 |
| PILOTMONITOR_PILOTS_DIR     | <repo>/pilots                             |
| PILOTMONITOR_SCENARIOS_DIR  | <repo>/scenarios                          |
| PILOTMONITOR_IJW_XSD_DIR    | <repo>/../shared/reference/ijw-3.2/xsd    |
| PILOTMONITOR_READ_WORKERS   | processes reading deliveries, running plans: min(2, CPUs) |
| PILOTMONITOR_WAREHOUSE_URL  | empty: the DuckDB file below; set, a PostgreSQL warehouse (pilotmonitor/warehouse_access.py) |
| PILOTMONITOR_DUCKDB_MEMORY_LIMIT | 4GB: DuckDB's memory in the run and in dbt (DuckDB's own default is 80% of RAM); beyond it DuckDB spills to disk |

Inside the data directory: ``landing/`` (deliveries exactly as senders deliver them),
``ground_truth/`` (only for synthetic scenarios; never inside the landing area) and
``warehouse/pilotmonitor.duckdb``.
"""  # noqa: E501 (a table row or CSV header line cannot be wrapped)

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _path_from_env(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


DUCKDB_MEMORY_LIMIT = "4GB"  # dbt_project/profiles.yml repeats it for dbt run by hand (tested)
_MEMORY = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)")


def _memory_from_env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not _MEMORY.fullmatch(value):
        raise ValueError(f"{name} must be an amount of memory such as 4GB or 512MiB, not {value!r}")
    return value


def limit_duckdb_memory(conn) -> None:
    """DuckDB's memory for this process's instance of the database (every connection of
    the process to the file shares it), from PILOTMONITOR_DUCKDB_MEMORY_LIMIT."""
    conn.execute(f"set memory_limit = '{Settings.from_env().duckdb_memory_limit}'")


def _workers_from_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")
    return int(value)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    pilots_dir: Path
    scenarios_dir: Path
    ijw_xsd_dir: Path
    read_workers: int = 1
    duckdb_memory_limit: str = DUCKDB_MEMORY_LIMIT

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    def missing_landing_area(self) -> str | None:
        """Why no run can ingest anything here, or None: the landing area is missing."""
        if self.landing_dir.is_dir():
            return None
        return (
            f"landing area {self.landing_dir} does not exist: run `pilotmonitor synth` or point "
            "PILOTMONITOR_DATA_DIR at a data directory"
        )

    @property
    def ground_truth_dir(self) -> Path:
        return self.data_dir / "ground_truth"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse" / "pilotmonitor.duckdb"

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            data_dir=_path_from_env("PILOTMONITOR_DATA_DIR", REPO_ROOT / "data"),
            pilots_dir=_path_from_env("PILOTMONITOR_PILOTS_DIR", REPO_ROOT / "pilots"),
            scenarios_dir=_path_from_env("PILOTMONITOR_SCENARIOS_DIR", REPO_ROOT / "scenarios"),
            ijw_xsd_dir=_path_from_env(
                "PILOTMONITOR_IJW_XSD_DIR",
                REPO_ROOT.parent / "shared" / "reference" / "ijw-3.2" / "xsd",
            ),
            read_workers=_workers_from_env(
                "PILOTMONITOR_READ_WORKERS", min(2, os.cpu_count() or 1)
            ),
            duckdb_memory_limit=_memory_from_env(
                "PILOTMONITOR_DUCKDB_MEMORY_LIMIT", DUCKDB_MEMORY_LIMIT
            ),
        )
