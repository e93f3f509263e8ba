"""Planted problems with whole files: a file delivered twice, a corrected re-delivery of
an earlier period, and a file in an encoding no reader accepts (re-delivered correctly).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from pilotmonitor.synth.delivery_log import DeliveryLog
from pilotmonitor.synth.school_exports import ExportFile, render, write_export

CORRECTED_ROWS = 5


def write_duplicate_file(original: Path, log: DeliveryLog) -> Path:
    """The same export sent twice: a byte-identical copy under a copy's file name."""
    copy = original.with_name(f"{original.stem} (1){original.suffix}")
    shutil.copyfile(original, copy)
    entry = next(f for f in log.files if f.path == log.relative(original))
    log.files.append(replace(entry, path=log.relative(copy)))
    log.add_defect("duplicate_file", copy, f"same content as {entry.path}", 1, "deduplicate")
    return copy


def write_corrected_redelivery(
    file: ExportFile, landing_dir: Path, log: DeliveryLog, rng: np.random.Generator
) -> None:
    """First an export with exits missing for a few leavers, then the corrected export."""
    leavers = np.flatnonzero(
        file.rows.enrol_end.notna().to_numpy() & file.rows.planted.isna().to_numpy()
    )
    chosen = rng.choice(leavers, size=min(CORRECTED_ROWS, len(leavers)), replace=False)
    faulty_rows = file.rows.copy()
    faulty_rows.loc[chosen, "enrol_end"] = pd.NaT
    faulty_rows.loc[chosen, "destination"] = ""
    faulty = replace(file, rows=faulty_rows)
    faulty_path = write_export(faulty, landing_dir, log)
    corrected = replace(
        file, delivered_on=file.delivered_on + pd.Timedelta(days=int(rng.integers(30, 60)))
    )
    corrected_path = write_export(corrected, landing_dir, log)
    rows = ",".join(str(i + 1) for i in sorted(chosen))
    log.add_defect(
        "corrected_redelivery",
        faulty_path,
        f"rows {rows} corrected in {log.relative(corrected_path)}",
        len(chosen),
        "supersede",
    )


def write_wrongly_encoded_then_fixed(file: ExportFile, landing_dir: Path, log: DeliveryLog) -> None:
    """First the export saved as UTF-16 without a byte-order mark, then correctly."""
    first = replace(file, delivered_on=file.delivered_on - pd.Timedelta(days=3))
    path = landing_dir / first.relative_dir() / first.file_name()
    path.parent.mkdir(parents=True, exist_ok=True)
    sep = ";" if file.dialect.name == "semicolon_cp1252" else ","
    path.write_bytes(render(first).to_csv(sep=sep, index=False).encode("utf-16-le"))
    log.add_file(
        path,
        source=file.source,
        sender=file.school_id,
        period=file.period,
        delivered_on=f"{first.delivered_on:%Y-%m-%d}",
        file_format="csv",
        encoding="utf-16-le",
        rows=len(file.rows),
    )
    log.add_defect("wrongly_encoded_file", path, "file", 1, "reject_file")
    write_export(file, landing_dir, log)
