"""Ingestion throughput and memory: rows/s for school CSV/XLSX and iJw XML, peak memory
as files grow.

    .venv/bin/python benchmarks/ingest_throughput.py [--rows 100000 300000 1000000]

Each measurement runs in a fresh subprocess so its peak resident memory (VmHWM) is its
own. Prints a table; nothing is asserted (targets live here, not in timed tests).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pilotmonitor.synth import identities  # noqa: E402
from pilotmonitor.synth.dialects import Dialect  # noqa: E402
from pilotmonitor.synth.ijw_messages import render_jw323  # noqa: E402

MEASURE = r"""
import json, sys, time
from pathlib import Path
from pilotmonitor.ingest.deliveries import describe
from pilotmonitor.ingest.pseudonymise import PseudonymKey, Pseudonymiser
kind, landing, path, schemas = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
delivery = describe(landing, path)
p = Pseudonymiser(PseudonymKey("bench", bytes(range(32))))
start = time.perf_counter()
# Consumed part by part, as the loader does; only the counts are kept.
if kind == "ijw":
    from pilotmonitor.ingest.readers.ijw import iter_ijw_archive
    parts = iter_ijw_archive(path, delivery, p, Path(schemas) if schemas != "-" else None, None)
else:
    from pilotmonitor.ingest.readers.school_exports import iter_school_absence
    parts = iter_school_absence(path, delivery, p)
rows_read = sum(part.rows_read for part in parts)
seconds = time.perf_counter() - start
# VmHWM belongs to this process image; ru_maxrss would include the parent's peak at fork.
hwm_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"rows": rows_read, "seconds": seconds, "peak_mib": hwm_kib / 1024}))
"""  # noqa: E501


def absence_file(landing: Path, rows: int, dialect: Dialect, rng: np.random.Generator) -> Path:
    bsn = identities.format_number(identities.generate_bsns(min(rows, 9000), rng))
    frame = pd.DataFrame(
        {
            "BSN": bsn[rng.integers(0, len(bsn), rows)],
            "Onderwijsnummer": "",
            "Datum": pd.to_datetime("2024-09-02")
            + pd.to_timedelta(rng.integers(0, 280, rows), unit="D"),
            "Uren": rng.choice([1.0, 2.0, 5.5], rows),
            "Soort verzuim": rng.choice(["Geoorloofd", "Ongeoorloofd"], rows),
            "Reden": "Ziek",
            "Opmerking": "",
        }
    )
    frame["Datum"] = frame.Datum.map(dialect.format_date)
    frame["Uren"] = frame.Uren.map(dialect.format_decimal)
    path = landing / "schools" / "99XA00" / f"99XA00_verzuim_2024-2025_20250815.{dialect.extension}"
    path.parent.mkdir(parents=True, exist_ok=True)
    dialect.write(frame, path)
    return path


def jw323_archive(landing: Path, lines: int, rng: np.random.Generator) -> Path:
    bsn = identities.format_number(identities.generate_bsns(min(lines, 9000), rng))
    month = pd.Timestamp("2025-09-01")
    frame = pd.DataFrame(
        {
            "declaration_number": "1895250901",
            "provider_agb": "99000011",
            "municipality_code": "1895",
            "period_start": month,
            "period_end": month + pd.offsets.MonthEnd(0),
            "declaration_date": pd.Timestamp("2025-10-10"),
            "bsn": np.sort(bsn[rng.integers(0, len(bsn), lines)]),
            "product_reference": [f"P{i:011d}" for i in range(lines)],
            "allocation_number": "000000001",
            "product_category": "45",
            "product_code": "45A01",
            "product_period_start": month,
            "product_period_end": month + pd.offsets.MonthEnd(0),
            "volume": 4,
            "unit": "04",
            "tariff_cents": 10500,
            "amount_cents": 42000,
            "debit_credit": "D",
        }
    )
    path = landing / "ijw" / "GM1895" / "GM1895_ijw_2025-10_20251105.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in render_jw323(frame):
            archive.writestr(name, payload)
    return path


def measure(kind: str, landing: Path, path: Path, schemas: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, kind, str(landing), str(path), schemas],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument(
        "--schemas", default=str(REPO.parent / "shared" / "reference" / "ijw-3.2" / "xsd")
    )
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    print(f"{'input':<34}{'rows':>10}{'seconds':>9}{'rows/s':>11}{'file MiB':>10}{'peak MiB':>10}")
    for rows in args.rows:
        cases = [
            (
                "school absence CSV (cp1252)",
                "csv",
                lambda landing: absence_file(landing, rows, Dialect("semicolon_cp1252"), rng),
                "-",
            ),
            (
                "school absence XLSX",
                "csv",
                # at most 200,000 rows: a sheet of 300,000 is over the parsing limit of
                # 4,000,000 XML elements per workbook member (limits.py) and is refused
                lambda landing: absence_file(landing, min(rows, 200_000), Dialect("xlsx"), rng),
                "-",
            ),
            (
                "iJw JW323 in ZIP, no XSD",
                "ijw",
                lambda landing: jw323_archive(landing, rows, rng),
                "-",
            ),
            (
                "iJw JW323 in ZIP, XSD (streamed)",
                "ijw",
                lambda landing: jw323_archive(landing, rows, rng),
                args.schemas,
            ),
        ]
        for label, kind, build, schemas in cases:
            with tempfile.TemporaryDirectory() as tmp:
                landing = Path(tmp)
                path = build(landing)
                result = measure(kind, landing, path, schemas)
                size = path.stat().st_size / 2**20
                print(
                    f"{label:<34}{result['rows']:>10,}{result['seconds']:>9.2f}"
                    f"{result['rows'] / result['seconds']:>11,.0f}{size:>10.1f}"
                    f"{result['peak_mib']:>10.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - started:.0f} s")
