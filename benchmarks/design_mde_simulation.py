"""Does the plan's design-stage MDE (``design_mde`` row) deliver the power it promises?

For each design the MDE is computed the way the plan does, from the pre-period of one
simulated panel without an effect (``pilotmonitor.evaluation.estimator_runs.design_mde``);
then panels with that rate ratio planted are simulated (tests/evaluation/conftest.py
``simulate``: Poisson referrals, school effects, common seasonality) and the share of
panels in which the pilot's effect is detected at 5% is printed for the plan's tests:
the Poisson TWFE with the cluster sandwich (normal; what the MDE's Wald formula assumes,
known to over-reject with few clusters) and the wild cluster bootstrap of the linear rate
(the few-cluster p-value the report uses). Promised power: 0.80.

    .venv/bin/python benchmarks/design_mde_simulation.py [n_seeds=100]
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.estimator_simulation_pretrend import _inputs  # noqa: E402
from pilotmonitor.evaluation.estimator_runs import PlanContext, _bootstrap, _poisson, design_mde  # noqa: E402
from pilotmonitor.evaluation.outcomes import OUTCOMES, PRIMARY  # noqa: E402
from pilotmonitor.evaluation.sample import build_sample  # noqa: E402
from tests.evaluation.conftest import make_pilot, simulate  # noqa: E402

DESIGNS = {  # name: simulate() arguments
    "unit-test default (3 + 5 schools, 3 per 100)": {},
    "Alkmaar-like (3 + 4 schools, 0.5 per 100, ~135 pupils)": {
        "n_comparison": 4,
        "base_rate": 0.005,
        "size": (100, 170),
    },
    "Winschoten-like (3 + 14 schools, 1 per 100)": {
        "n_comparison": 14,
        "base_rate": 0.01,
        "size": (100, 250),
    },
}


def _context(frames, pilot):
    inputs = _inputs(frames)
    return PlanContext(pilot, pilot.analysis_plan, build_sample(inputs, pilot.id), inputs)


def main(n_seeds: int = 100) -> None:
    pilot = make_pilot(
        estimators=["twfe_poisson"], secondary_outcomes=[], inference={"bootstrap_reps": 999}
    )
    o = OUTCOMES[PRIMARY]
    print(f"design-stage MDE vs simulated power, {n_seeds} seeds per design (SYNTHETIC panels)")
    for name, kw in DESIGNS.items():
        t0 = time.time()
        mde = design_mde(_context(simulate(seed=0, irr=1.0, **kw), pilot), o, "design")[0][
            "estimate"
        ]
        hits_cr1 = hits_boot = 0
        for seed in range(1, n_seeds + 1):
            ctx = _context(simulate(seed=seed, irr=mde, **kw), pilot)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    hits_cr1 += _poisson(ctx.sample.panel, o.count, 0.05).p_value < 0.05
                except ValueError:
                    pass
                hits_boot += _bootstrap(ctx, ctx.sample.panel, o.rate).p_value < 0.05
        print(
            f"- {name}: MDE rate ratio {mde:.3f}; power at the MDE: Poisson CR1 "
            f"{hits_cr1 / n_seeds:.2f}, wild bootstrap {hits_boot / n_seeds:.2f} "
            f"({time.time() - t0:.0f} s)"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
