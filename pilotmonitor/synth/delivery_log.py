"""Bookkeeping of what the generator wrote: every delivered file and every planted defect.

Both lists go to the ground truth beside the landing area (never inside it), so tests
and the ingestion layer can check that each delivery and each bad record is accounted
for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class DeliveredFile:
    path: str  # relative to the landing directory
    source: str  # school_enrolments, school_absence, ijw_messages, ...
    sender: str
    period: str  # e.g. 2024-2025 or 2025-10
    delivered_on: str  # ISO date
    file_format: str  # csv, xlsx, zip, json
    encoding: str
    rows: int  # data rows (or messages) in the file, planted defects included


@dataclass(frozen=True)
class PlantedDefect:
    kind: str
    path: str
    locator: str  # data-row numbers (1-based, header excluded), message names, or "file"
    count: int
    expected_handling: str  # quarantine, reject_file, deduplicate, supersede, accept_late


@dataclass
class DeliveryLog:
    landing_dir: Path
    files: list[DeliveredFile] = field(default_factory=list)
    defects: list[PlantedDefect] = field(default_factory=list)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.landing_dir).as_posix()

    def add_file(self, path: Path, **kwargs: object) -> None:
        self.files.append(DeliveredFile(path=self.relative(path), **kwargs))  # type: ignore[arg-type]

    def add_defect(
        self, kind: str, path: Path, locator: str, count: int, expected_handling: str
    ) -> None:
        self.defects.append(
            PlantedDefect(kind, self.relative(path), locator, count, expected_handling)
        )

    def files_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [asdict(f) for f in self.files], columns=list(DeliveredFile.__dataclass_fields__)
        )

    def defects_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [asdict(d) for d in self.defects], columns=list(PlantedDefect.__dataclass_fields__)
        )
