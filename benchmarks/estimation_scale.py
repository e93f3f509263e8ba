"""Benchmark: TWFE estimation at demo, provincial and national pool sizes, side by side
with pyfixest (the fastest peer in Python), in one run.

For each pool size (schools x 120 months, three pilot schools, about 5% of school-months
missing) it fits, on SYNTHETIC data with a planted IRR of 0.8:

* linear TWFE (rate per 100 pupil-months) and Poisson TWFE (counts, log exposure offset),
  with the project's ``analyses.twfe`` (fixed effects absorbed) and pyfixest ``feols`` /
  ``fepois`` (tolerances tightened to 1e-12 so both solve to the same precision);
* the relative difference of coefficients and cluster-robust SEs (pyfixest's SE brought to
  the project's documented small-sample convention);
* at the demo size also the dense dummy reference (``fe_method="dummies"``);
* the few-cluster inference that reuses the absorbed design: the wild cluster restricted
  bootstrap (9,999 Rademacher draws) and randomization inference (499 reassignments) of
  the linear TWFE.

Prints a table; run with ``python benchmarks/estimation_scale.py [--sizes 41,500,5000]``.
Timings are wall-clock seconds, best of ``--repeat`` runs, single-threaded BLAS.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analyses import twfe, twfe_randomization_inference, wild_cluster_bootstrap  # noqa: E402

MONTHS = 120


def synthetic_pool(n_schools: int, seed: int = 1) -> pd.DataFrame:
    """SYNTHETIC school-month panel: three pilot schools from month 72, IRR 0.8."""
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(n_schools), MONTHS)
    month = np.tile(np.arange(MONTHS), n_schools)
    keep = rng.random(len(school)) > 0.05
    school, month = school[keep], month[keep]
    pupils = rng.integers(80, 600, n_schools)[school].astype(float)
    treated = ((school < 3) & (month >= 72)).astype(int)
    mu = (
        pupils
        * 0.005
        * np.exp(
            rng.normal(0, 0.3, n_schools)[school]
            + rng.normal(0, 0.1, MONTHS)[month]
            + np.log(0.8) * treated
        )
    )
    y = rng.poisson(mu)
    return pd.DataFrame(
        {
            "school_id": school,
            "month": month,
            "d": treated,
            "post": (month >= 72).astype(int),
            "referrals": y,
            "pupil_months": pupils,
            "rate": 100 * y / pupils,
        }
    )


def best_of(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def poisson_twfe(df: pd.DataFrame, **options):
    """The referral-count model the benchmark times: Poisson TWFE with pupil-month exposure."""
    return twfe(
        df,
        "referrals",
        "school_id",
        "month",
        "d",
        exposure="pupil_months",
        family="poisson",
        **options,
    )


def pyfixest_fits(df: pd.DataFrame):
    import pyfixest as pf

    # fixef_tol: still the documented knob
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    ssc = pf.ssc(k_adj=False, G_adj=True)  # G/(G-1) only; the (N-1)/(N-K) factor applied below
    lin = pf.feols(
        "rate ~ d | school_id + month", df, vcov={"CRV1": "school_id"}, ssc=ssc, fixef_tol=1e-12
    )
    df = df.assign(log_e=np.log(df["pupil_months"]))
    poi = pf.fepois(
        "referrals ~ d | school_id + month",
        df,
        vcov={"CRV1": "school_id"},
        ssc=ssc,
        offset="log_e",
        iwls_tol=1e-12,
        fixef_tol=1e-12,
        iwls_maxiter=100,
    )
    return lin, poi


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="41,500,5000")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        df = synthetic_pool(n)
        rep = args.repeat if n <= 500 else 1
        t_lin, lin = best_of(lambda: twfe(df, "rate", "school_id", "month", "d"), rep)
        t_poi, poi = best_of(lambda: poisson_twfe(df), rep)
        best_of(lambda: pyfixest_fits(df.head(2000)), 1)  # warm-up (first call compiles/loads)
        t_pf_lin, _ = best_of(lambda: pyfixest_fits(df)[0], rep)
        t_pf_poi, _ = best_of(lambda: pyfixest_fits(df)[1], rep)
        pf_lin, pf_poi = pyfixest_fits(df)
        N, k = lin.n_obs, lin.details["k"]
        se_pf_lin = float(pf_lin.se()["d"]) * np.sqrt((N - 1) / (N - k))
        diff = {
            "linear coef": abs(lin.estimate / float(pf_lin.coef()["d"]) - 1),
            "linear SE": abs(lin.std_error / se_pf_lin - 1),
            "poisson coef": abs(poi.coefficient / float(pf_poi.coef()["d"]) - 1),
            "poisson SE": abs(poi.std_error / float(pf_poi.se()["d"]) - 1),
        }
        row = {
            "schools": n,
            "rows": len(df),
            "linear s": t_lin,
            "pyfixest linear s": t_pf_lin,
            "ratio linear": t_lin / t_pf_lin,
            "poisson s": t_poi,
            "pyfixest poisson s": t_pf_poi,
            "ratio poisson": t_poi / t_pf_poi,
            **{f"rel diff {k}": v for k, v in diff.items()},
        }
        if n <= 100:
            t_dum, dum = best_of(lambda: poisson_twfe(df, fe_method="dummies"), rep)
            row["dummies poisson s"] = t_dum
            row["max rel diff vs dummies"] = max(
                abs(poi.coefficient / dum.coefficient - 1), abs(poi.std_error / dum.std_error - 1)
            )
        t_wb, wb = best_of(
            lambda: wild_cluster_bootstrap(
                df, outcome="rate", unit="school_id", time="month", treatment="d", reps=9999, seed=1
            ),
            1,
        )
        t_ri, ri = best_of(
            lambda: twfe_randomization_inference(
                df, "rate", "school_id", "month", "post", [0, 1, 2], n_permutations=499, seed=1
            ),
            1,
        )
        row.update({"wild bootstrap 9999 s": t_wb, "randomization 499 s": t_ri})
        rows.append(row)
        print(
            f"{n} schools done: "
            + ", ".join(f"{k}={v:.3g}" for k, v in row.items() if isinstance(v, float)),
            flush=True,
        )
    table = pd.DataFrame(rows).set_index("schools").T
    with pd.option_context("display.float_format", "{:.4g}".format, "display.width", 200):
        print(
            "\n"
            "TWFE estimation, project vs pyfixest (SYNTHETIC panels, 120 months; seconds, best "
            "of runs)"
        )
        print(table.to_string())


if __name__ == "__main__":
    main()
