"""How long the ingestion assets take to find their files in a national-sized landing area
(about 180,000 files: 7,000 schools x 10 school years x 2 exports, 350 municipalities x
120 monthly iJw archives), each source walking only its own folder against every source
walking the whole area (before 2026-12-05). Empty files; names only matter here.

    python benchmarks/landing_walk.py [--schools 7000] [--municipalities 350] [--dir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pilotmonitor.ingest.deliveries import PATTERNS, UnrecognisedDelivery, landing_files, recognise
from pilotmonitor.ingest.loader import files_of_source


def school_code(number: int) -> str:
    """A distinct made-up BRIN + vestiging (99AA00 shape) for each number below 67,600."""
    return f"{number // 100:02d}{chr(65 + number % 26)}{chr(65 + number // 26 % 26)}00"


def build(landing: Path, schools: int, municipalities: int) -> int:
    count = 0
    for number in range(schools):
        school = school_code(number)
        folder = landing / "schools" / school
        folder.mkdir(parents=True, exist_ok=True)
        for year in range(2016, 2026):
            for kind in ("inschrijvingen", "verzuim"):
                (folder / f"{school}_{kind}_{year}-{year + 1}_{year + 1}0815.csv").touch()
                count += 1
    for number in range(municipalities):
        code = f"GM{number:04d}"
        folder = landing / "ijw" / code
        folder.mkdir(parents=True, exist_ok=True)
        for month in range(120):
            year, m = 2016 + month // 12, month % 12 + 1
            (folder / f"{code}_ijw_{year}-{m:02d}_{year}{m:02d}28.zip").touch()
            count += 1
    return count


def whole_walk(landing: Path, source: str) -> list[Path]:
    """The earlier way: every source walked every file of the landing area."""
    out = []
    for path in landing_files(landing):
        try:
            if recognise(path.relative_to(landing).as_posix())[0] == source:
                out.append(path)
        except UnrecognisedDelivery:
            continue
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=7000)
    parser.add_argument("--municipalities", type=int, default=350)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        landing = Path(tmp) / "landing"
        files = build(landing, args.schools, args.municipalities)
        timings = {}
        for name, find in (("own folder", files_of_source), ("whole area", whole_walk)):
            start = time.perf_counter()
            found = sum(len(find(landing, source)) for source, _ in PATTERNS)
            timings[name] = (time.perf_counter() - start, found)
        print(f"landing area: {files:,} files (empty), {len(PATTERNS)} sources")
        for name, (seconds, found) in timings.items():
            print(f"{name:>12}: {seconds:6.1f} s for all sources, {found:,} files found")
        ratio = timings["whole area"][0] / timings["own folder"][0]
        print(f"whole area / own folder = {ratio:.1f}")


if __name__ == "__main__":
    main()
