"""Freshness of every sender at national size: 7,000 schools delivering an enrolment and an
absence export for each of ten school years (140,000 deliveries), as the freshness checks,
the health page and `pilotmonitor status` compute it each run.

    python benchmarks/freshness_scale.py [--schools 7000]
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import pandas as pd
from landing_walk import school_code  # run as a script: its folder is on the path

from pilotmonitor.health import freshness


def deliveries(schools: int) -> pd.DataFrame:
    rows = []
    for school in map(school_code, range(schools)):
        for year in range(2016, 2026):
            for source in ("school_enrolments", "school_absence"):
                rows.append(
                    {
                        "source": source,
                        "sender": school,
                        "period": f"{year}-{year + 1}",
                        "status": "loaded",
                        "delivered_on": date(year + 1, 8, 15),
                    }
                )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=7000)
    args = parser.parse_args()
    frame = deliveries(args.schools)
    start = time.perf_counter()
    result = freshness.all_freshness(
        frame, date(2026, 10, 31), ["school_enrolments", "school_absence"]
    )
    seconds = time.perf_counter() - start
    senders = sum(len(r.senders) for r in result.values())
    print(f"{len(frame):,} deliveries, {senders:,} sender freshness rows: {seconds:.1f} s")


if __name__ == "__main__":
    main()
