"""Coverage of the NB2 and Poisson TWFE intervals with a planted IRR and over-dispersion.

    .venv/bin/python benchmarks/count_model_simulation.py [--reps 500] [--units 40] [--periods 12]
        [--alpha 0.5] [--irr 0.75] [--seed 1000]

DGP (one seeded draw per replication): units x periods, the first fifth of the units
treated in the second half, exposure ~ U{100..499} per unit, ``mu = exposure * 0.01 *
exp(a_i + c_t + log(irr) d_it + 0.1 x_it)`` with a_i ~ N(0, 0.3^2), c_t ~ N(0, 0.1^2),
x_it ~ N(0, 1) (not adjusted for: it only adds noise), and y ~ NB2(mu, alpha). Prints
the share of 95% intervals that cover the planted IRR per estimator / variance, and the
mean ML alpha (biased down by the incidental fixed effects in short panels). Nothing is
asserted; tests/analyses/test_count.py holds a smaller seeded version that can fail.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analyses import twfe  # noqa: E402
from tests.analyses.test_count import _nb_panel  # noqa: E402

VARIANTS = (
    ("negative_binomial", "model"),
    ("negative_binomial", "cluster"),
    ("negative_binomial", "hc1"),
    ("poisson", "cluster"),
    ("poisson", "model"),
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--units", type=int, default=40)
    ap.add_argument("--periods", type=int, default=12)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--irr", type=float, default=0.75)
    ap.add_argument("--seed", type=int, default=1000)
    a = ap.parse_args()
    cover = {v: 0 for v in VARIANTS}
    width = {v: [] for v in VARIANTS}
    alphas, t0 = [], time.perf_counter()
    for rep in range(a.reps):
        df = _nb_panel(
            a.seed + rep,
            n_units=a.units,
            n_periods=a.periods,
            alpha=a.alpha,
            irr=a.irr,
            missing=0.0,
        )
        for fam, ct in VARIANTS:
            r = twfe(df, "y", "school", "month", "d", exposure="exposure", family=fam, cov_type=ct)
            cover[(fam, ct)] += r.conf_int[0] <= a.irr <= r.conf_int[1]
            width[(fam, ct)].append(np.log(r.conf_int[1] / r.conf_int[0]))
            if (fam, ct) == VARIANTS[0]:
                alphas.append(r.details["dispersion_alpha"])
    secs = time.perf_counter() - t0
    print(
        f"{a.reps} panels of {a.units} units x {a.periods} periods, planted IRR {a.irr}, "
        f"alpha {a.alpha}; {secs:.1f} s"
    )
    mc = np.sqrt(0.95 * 0.05 / a.reps)
    for v in VARIANTS:
        print(
            f"  {v[0]:>17} {v[1]:>7}: coverage {cover[v] / a.reps:.3f} (MC s.e. {mc:.3f}), "
            f"mean log-CI width {np.mean(width[v]):.3f}"
        )
    print(f"  mean ML alpha {np.mean(alphas):.3f} (sd {np.std(alphas):.3f})")


if __name__ == "__main__":
    main()
