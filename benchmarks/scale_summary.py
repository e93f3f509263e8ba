"""The real-scale ratios of issue 16, measured side by side in one run (SYNTHETIC data).

1. a fresh demo (``pilotmonitor synth`` + ``pilotmonitor run --demo`` in a temporary data
   directory): wall time per stage from the run's progress, ingestion of all files;
2. the same run again with nothing new (a monthly run without deliveries): its share of
   the full run, per stage;
3. TWFE estimation against pyfixest at demo, provincial and national pool sizes
   (``benchmarks/estimation_scale.py``).

    .venv/bin/python benchmarks/scale_summary.py [--scale 1.0] [--sizes 41,500,5000]

Prints tables; nothing is asserted (targets live in benchmarks, not timed tests).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
_DONE = re.compile(r"done\s+(?P<stage>.+?)\s+(?P<seconds>[\d.]+) s$")


def run(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([str(BIN / "pilotmonitor"), *args], env=env, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"pilotmonitor {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, done.stdout


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
    ap.add_argument("--sizes", default="41,500,5000")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pilotmonitor-scale-") as tmp:
        env = {**os.environ, "PILOTMONITOR_DATA_DIR": str(Path(tmp) / "data"), "DAGSTER_HOME": str(Path(tmp) / "dagster"),
               "DO_NOT_TRACK": "1", "GX_ANALYTICS_ENABLED": "false", "OPENBLAS_NUM_THREADS": "1"}
        Path(env["DAGSTER_HOME"]).mkdir()
        synth_s, _ = run(["synth", "--scale", args.scale], env)
        full_s, full_out = run(["run", "--demo"], env)
        again_s, again_out = run(["run", "--demo"], env)
    full, again = stages(full_out), stages(again_out)
    ingest = sum(s for name, s in full.items() if name.startswith("raw_") or name == "landing_inventory")
    print(f"SYNTHETIC demo at scale {args.scale}: synth {synth_s:.1f} s (not counted below)")
    print(f"\n{'stage':<40} {'full run s':>11} {'rerun s':>9} {'share':>7}")
    for name in full:
        share = again.get(name, 0.0) / full[name] if full[name] else float("nan")
        print(f"{name:<40} {full[name]:>11.1f} {again.get(name, 0.0):>9.1f} {share:>7.0%}")
    print(f"{'ingestion (all raw_* assets)':<40} {ingest:>11.1f}")
    print(f"{'whole command (incl. start-up)':<40} {full_s:>11.1f} {again_s:>9.1f} {again_s / full_s:>7.0%}")
    print("\nEstimation (benchmarks/estimation_scale.py):", flush=True)
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "estimation_scale.py"), "--sizes", args.sizes], check=True)


if __name__ == "__main__":
    main()
