"""Size and power of the pre-registered pre-trend test vs the analytic F(q, G-1).

The analysis plan's ``pretrend_test`` (pilotmonitor/evaluation/plan.py): linear TWFE
event study on half-year event-time bins, joint Wald test of the leads, p-value from the
wild cluster restricted bootstrap (Rademacher, full enumeration for G <= 13). This
simulates the plan's own sample construction (``build_sample`` + ``event_panel``) on the
test warehouse generator (tests/evaluation/conftest.py ``simulate``) and reports the
rejection rate at 5% of the bootstrap p-value and of the analytic F(q, G-1) p-value.
Designs: Alkmaar-like (3 + 4 primary schools, ~135 pupil-months, 0.5 referrals per 100
pupil-months, 34 pre + 34 pilot months), Groningen-like (2 + 5 SO schools, ended pilot),
and the unit-test default (3 + 5, rate 3 per 100).

    .venv/bin/python benchmarks/estimator_simulation_pretrend.py [n_seeds=200]

Results (200 seeds each) are in estimator_simulation_pretrend_report.txt.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyses import event_study  # noqa: E402
from pilotmonitor.evaluation.estimator_runs import event_panel  # noqa: E402
from pilotmonitor.evaluation.sample import PublishedInputs, build_sample  # noqa: E402
from pilotmonitor.pilots import EventStudyPlan  # noqa: E402
from tests.evaluation.conftest import pilot_months, simulate  # noqa: E402

EVENT = EventStudyPlan()  # the plan's defaults


def _inputs(frames) -> PublishedInputs:
    sm, asg, pil, sv = [f.copy() for f in frames]
    sm["month"] = pd.to_datetime(sm["month"])
    for c in ("start_date", "planned_end_date", "first_treated_month", "last_pilot_month"):
        pil[c] = pd.to_datetime(pil[c])
    sv["response_date"] = pd.to_datetime(sv["response_date"])
    return PublishedInputs(sm, asg, pil, sv, pilot_months(sm, pil))


def rejection_rates(n: int, **kw) -> tuple[float, float]:
    p_boot, p_f = [], []
    for seed in range(n):
        s = build_sample(_inputs(simulate(seed=seed, **kw)), "test-pilot")
        ev = event_panel(s, EVENT.bin_months)
        leads, lags = int(min(EVENT.leads, -ev["bin"].min())), int(min(EVENT.lags, ev["bin"].max()))
        es = event_study(
            ev,
            "referrals_per_100",
            "school_id",
            "period",
            "first_treated",
            leads=leads,
            lags=lags,
            pretrend_bootstrap=9999,
            seed=20261123,
        )
        p_boot.append(es.pretrend.bootstrap_p_value)
        p_f.append(es.pretrend.p_value)
    return float(np.mean(np.array(p_boot) < 0.05)), float(np.mean(np.array(p_f) < 0.05))


ALKMAAR = dict(
    n_treated=3,
    n_comparison=4,
    first="2021-03-01",
    last="2026-10-01",
    start="2024-01-01",
    irr=0.9,
    base_rate=0.005,
    size=(120, 150),
)
DESIGNS = [
    ("alkmaar-like, no pre-trend", dict(ALKMAAR, pretrend_per_year=0.0)),
    ("alkmaar-like, 8%/year pre-trend", dict(ALKMAAR, pretrend_per_year=0.08)),
    ("alkmaar-like, 30%/year pre-trend", dict(ALKMAAR, pretrend_per_year=0.30)),
    (
        "groningen-like (2+5, rate 2/100), no pre-trend",
        dict(
            n_treated=2,
            n_comparison=5,
            first="2016-08-01",
            last="2020-07-01",
            start="2018-08-01",
            planned_end="2020-07-31",
            irr=0.75,
            base_rate=0.02,
            size=(70, 90),
        ),
    ),
    ("test default (3+5, rate 3/100), no pre-trend", {}),
    ("test default, 50%/year pre-trend", dict(pretrend_per_year=0.5)),
    ("test default, 100%/year pre-trend", dict(pretrend_per_year=1.0)),
]

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    warnings.simplefilter("ignore")
    print(
        f"rejection rate at 5% over {n} seeds: (wild bootstrap [pre-registered], analytic F(q, "
        "G-1))"
    )
    for label, kw in DESIGNS:
        b, f = rejection_rates(n, **kw)
        print(f"{label:52s} bootstrap {b:.3f}   F {f:.3f}", flush=True)
