"""The real-scale ratios of issue 16, measured side by side in one run (SYNTHETIC data).

1. a fresh scenario (``pilotmonitor synth`` + ``pilotmonitor run --demo`` in a temporary
   data directory): wall time per stage from the run's progress, ingestion of all files,
   peak memory of the whole process tree (sampled), and whether the marts reproduce the
   scenario's ground truth in every school-month;
2. the same run again with nothing new (a monthly run without deliveries): its share of
   the full run, per stage;
3. a monthly run: the scenario's last month of iJw archives (every municipality's) is
   held back from the full run and delivered before this one, which loads, checks and
   builds what that month reaches and recomputes the estimates and reports its data
   changes; its share of the full run, per stage. The ground truth is compared after it,
   on the complete data;
4. TWFE estimation against pyfixest at demo, provincial and national pool sizes
   (``benchmarks/estimation_scale.py``).

    .venv/bin/python benchmarks/scale_summary.py [--scale 1.0] [--sizes 41,500,5000]
    .venv/bin/python benchmarks/scale_summary.py --scenario national --provinces GR --sizes 500
    .venv/bin/python benchmarks/scale_summary.py --generated POOL/data --sizes 500
        # a pool generated before (e.g. `synth --scenario national --provinces ZH,NH`)

Prints tables; nothing is asserted (targets live in benchmarks, not timed tests).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import psutil

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
_DONE = re.compile(r"done\s+(?P<stage>.+?)\s+(?P<seconds>[\d.]+) s$")
_IJW_PERIOD = re.compile(r"_ijw_(\d{4}-\d{2})_")


PEAK: dict[str, float] = {}


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run a pilotmonitor command; PEAK[command] is the largest summed RSS of its process
    tree (the run and its reading workers), sampled every 0.2 s."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [str(BIN / "pilotmonitor"), *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = [0]

    def sample() -> None:
        process = psutil.Process(child.pid)
        while child.poll() is None:
            peak[0] = max(peak[0], _tree_rss(process))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = child.communicate()
    sampler.join()
    seconds = time.perf_counter() - start
    PEAK[" ".join(args)] = peak[0] / 2**30
    if child.returncode != 0:
        raise SystemExit(
            f"pilotmonitor {' '.join(args)} failed:\n{stdout[-3000:]}\n{stderr[-3000:]}"
        )
    return seconds, stdout


def hold_back_last_ijw_month(landing: Path, aside: Path) -> tuple[str, int]:
    """Moves the last month's iJw archives of every municipality from ``landing`` to
    ``aside`` (same relative paths); returns the month and the number of files."""
    archives = sorted((landing / "ijw").glob("*/*.zip"))
    last = max(m[1] for a in archives if (m := _IJW_PERIOD.search(a.name)))
    moved = [a for a in archives if f"_ijw_{last}_" in a.name]
    for archive in moved:
        target = aside / archive.relative_to(landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        archive.rename(target)
    return last, len(moved)


def link_generated(generated: Path, data: Path) -> None:
    """The landing area and ground truth of an earlier `pilotmonitor synth` as hard links
    (a held-back archive is moved as a link: the generated directory stays whole)."""
    data.mkdir(parents=True, exist_ok=True)
    for part in ("landing", "ground_truth"):
        subprocess.run(["cp", "-al", str(generated / part), str(data / part)], check=True)


def deliver(aside: Path, landing: Path) -> None:
    for archive in sorted(aside.rglob("*.zip")):
        archive.rename(landing / archive.relative_to(aside))


def truth_problems(data_dir: Path) -> tuple[list[str], int]:
    """Every school-month of the marts against the ground truth (SYNTHETIC scenarios)."""
    from pilotmonitor.synth import truth_check

    with duckdb.connect(
        str(data_dir / "warehouse" / "pilotmonitor.duckdb"), read_only=True
    ) as conn:
        merged = truth_check.school_month_comparison(conn, data_dir / "ground_truth")
    return truth_check.problems(merged), len(merged)


def stages(output: str) -> dict[str, float]:
    out = {}
    for line in output.splitlines():
        m = _DONE.search(line.strip())
        if m:
            out[m["stage"].strip()] = float(m["seconds"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", default="1.0")
    ap.add_argument("--scenario", default="demo", help="demo or national")
    ap.add_argument(
        "--provinces", default=None, help="only these provinces of a regional scenario, e.g. GR,DR"
    )
    ap.add_argument("--sizes", default="41,500,5000")
    ap.add_argument(
        "--keep",
        default=None,
        help="an empty directory to run in and keep (default: a temporary one)",
    )
    ap.add_argument(
        "--generated",
        default=None,
        help="a data directory a `pilotmonitor synth` wrote (landing and ground_truth): "
        "measured instead of generating anew (its files hard-linked, never changed)",
    )
    args = ap.parse_args()
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=False)
    with (
        contextlib.nullcontext(args.keep)
        if args.keep
        else tempfile.TemporaryDirectory(prefix="pilotmonitor-scale-")
    ) as tmp:
        env = {
            **os.environ,
            "PILOTMONITOR_DATA_DIR": str(Path(tmp) / "data"),
            "DAGSTER_HOME": str(Path(tmp) / "dagster"),
            "DO_NOT_TRACK": "1",
            "GX_ANALYTICS_ENABLED": "false",
            "OPENBLAS_NUM_THREADS": "1",
        }
        Path(env["DAGSTER_HOME"]).mkdir()
        synth_args = ["synth", "--scale", args.scale, "--scenario", args.scenario] + (
            ["--provinces", args.provinces] if args.provinces else []
        )
        data = Path(env["PILOTMONITOR_DATA_DIR"])
        if args.generated:  # a pool generated before (its generation is reported apart)
            synth_args, synth_s, synth_out = ["synth"], float("nan"), ""
            PEAK["synth"] = float("nan")
            link_generated(Path(args.generated), data)
        else:
            synth_s, synth_out = run(synth_args, env)
        month, held_back = hold_back_last_ijw_month(data / "landing", Path(tmp) / "held_back")
        full_s, full_out = run(["run", "--demo"], env)
        full_peak = PEAK["run --demo"]
        again_s, again_out = run(["run", "--demo"], env)
        again_peak = PEAK["run --demo"]
        deliver(Path(tmp) / "held_back", data / "landing")
        monthly_s, monthly_out = run(["run", "--demo"], env)
        problems, school_months = truth_problems(data)
    full, again, monthly = stages(full_out), stages(again_out), stages(monthly_out)
    ingest = sum(
        s for name, s in full.items() if name.startswith("raw_") or name == "landing_inventory"
    )
    where = f" ({args.provinces})" if args.provinces else ""
    scenario = "pool generated before" if args.generated else args.scenario
    if args.generated:
        where = f" ({args.generated}; the scale is the generator's)"
    print(
        f"SYNTHETIC {scenario}{where} at scale {args.scale}: synth {synth_s:.1f} s, peak "
        f"{PEAK[' '.join(synth_args)]:.1f} GiB (not counted below)"
    )
    print("\n".join(line for line in synth_out.splitlines() if "│" in line))
    print(
        f"\nfull run without the last iJw month ({month}, {held_back} archives); rerun with "
        "nothing new; monthly run with that month delivered"
    )
    print(
        f"{'stage':<40} {'full run s':>11} {'rerun s':>9} {'share':>7} {'monthly s':>10} "
        f"{'share':>7}"
    )

    def row(name: str, whole: float, rerun: float, month_s: float) -> str:
        shares = [x / whole if whole else float("nan") for x in (rerun, month_s)]
        return (
            f"{name:<40} {whole:>11.1f} {rerun:>9.1f} {shares[0]:>7.0%} {month_s:>10.1f} "
            f"{shares[1]:>7.0%}"
        )

    for name in full:
        print(row(name, full[name], again.get(name, 0.0), monthly.get(name, 0.0)))
    print(f"{'ingestion (all raw_* assets)':<40} {ingest:>11.1f}")
    print(row("whole command (incl. start-up)", full_s, again_s, monthly_s))
    print(
        f"{'peak memory, process tree (GiB)':<40} {full_peak:>11.1f} {again_peak:>9.1f} "
        f"{'':>7} {PEAK['run --demo']:>10.1f}"
    )
    print(
        f"\nmarts against the ground truth: {school_months:,} school-months compared, "
        + (
            "every one identical"
            if not problems
            else f"{len(problems)} problem(s):\n  " + "\n  ".join(problems)
        )
    )
    print("\nEstimation (benchmarks/estimation_scale.py):", flush=True)
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "estimation_scale.py"), "--sizes", args.sizes],
        check=True,
    )


if __name__ == "__main__":
    main()
