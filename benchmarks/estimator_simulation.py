"""Monte Carlo benchmark of the few-treated-cluster estimators in ``analyses``.

    .venv/bin/python benchmarks/estimator_simulation.py [--reps 100] [--seed 20261123]
        [--schools 15] [--treated 3] [--pre 36] [--post 18] [--ratio 0.7]
        [--boot-reps 999] [--no-ci-inversion] [--no-staggered] [--only-null]
        [--out benchmarks/estimator_simulation_report.txt]

The setting is the project's: a pilot in 3 treated schools against a comparison pool
(default 12, i.e. G = 15 clusters), a school x month panel (36 pre + 18 post months),
monthly referral counts with exposure in pupil-months.

Data-generating process (one draw per replication, seeded ``numpy`` generator)::

    E_it   = pupils_i * (1 + 0.02 N(0,1))           pupils_i ~ U{200..900}
    log l0 = log(0.01) + a_i + s(m_t) + c_t + e_it  (rate per pupil-month, untreated)
    a_i ~ N(0, 0.3^2)                                school random effect
    s(m) = 0.2 sin(2 pi m / 12), August x 0.35       seasonality + summer holiday
    c_t  = log(0.8) in months 40-45                  common shock (all schools)
    e_it = 0.7 e_i,t-1 + sqrt(1-0.7^2) 0.1 N(0,1)    school-specific AR(1) deviation
    Y_it ~ Poisson(E_it l0_it r_it g_it),  g_it ~ Gamma(1/0.3, 0.3)  (NB2, phi=0.3)

r_it is the planted rate ratio (``--ratio``, default 0.7) for treated schools in the
pilot months, 1 otherwise; the "null" scenario sets it to 1. The treated schools are
the first ``--treated`` ids; since all school-level draws are i.i.d., the
assignment is as-if random across replications (randomization inference is exact).

Targets (per replication): the Poisson IRR targets the planted ratio; the linear
estimators (rate per 100 pupil-months) target the conditional ATT on that scale,
``mean over treated x post cells of 100 * l0_it * (r_it - 1)`` (0 under the null).

Scenario "staggered" (optional): the 3 treated schools start in months 30, 36 and
42, the effect ramps in over 6 months (r = 1 + (ratio-1) * min(1, (e+1)/6)), so
TWFE is expected to be biased while Callaway-Sant'Anna (never-treated controls,
"simple" aggregation) is not.

Estimators / inference (all from ``analyses``):

* ``twfe(..., family="poisson")``: IRR, cluster sandwich x G/(G-1), normal CI.
* ``twfe(..., family="linear")`` on the rate per 100 pupil-months: CR1, t(G-1).
* ``wild_cluster_bootstrap``: WCR bootstrap-t, Rademacher and Webb weights,
  ``--boot-reps`` draws (full enumeration when 2^G / 6^G <= boot-reps); CI by
  test inversion.
* ``randomization_inference``: all C(G, 3) reassignments of the pilot, statistic =
  linear TWFE coefficient (closed form: for a balanced panel with common timing it
  is the difference in mean post-minus-pre changes; checked against ``twfe`` on the
  first replication). No CI (rejection rate only).
* ``callaway_santanna`` (staggered scenario): analytic influence-function SE, normal.

Nothing is asserted; the report is printed and written to ``--out``.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analyses import callaway_santanna, randomization_inference, twfe, wild_cluster_bootstrap  # noqa: E402

ALPHA = 0.05


# --------------------------------------------------------------------------- DGP
def simulate(rng, G, n_treated, T, starts, ratio, ramp=0):
    """One school x month panel. ``starts``: first pilot month per treated school."""
    pupils = rng.integers(200, 901, G).astype(float)
    expo = np.round(pupils[:, None] * (1 + 0.02 * rng.standard_normal((G, T))))
    a = rng.normal(0, 0.3, G)
    month = np.arange(T)
    moy = month % 12
    season = 0.2 * np.sin(2 * np.pi * moy / 12) + np.where(moy == 7, np.log(0.35), 0.0)
    shock = np.where((month >= 40) & (month <= 45), np.log(0.8), 0.0)
    rho, sd = 0.7, 0.1
    e = np.empty((G, T))
    e[:, 0] = rng.normal(0, sd, G)
    innov = rng.normal(0, sd * math.sqrt(1 - rho**2), (G, T))
    for t in range(1, T):
        e[:, t] = rho * e[:, t - 1] + innov[:, t]
    log_l0 = np.log(0.01) + a[:, None] + season[None, :] + shock[None, :] + e
    l0 = np.exp(log_l0)
    r = np.ones((G, T))
    first = np.full(G, np.inf)
    for i in range(n_treated):
        first[i] = starts[i]
        ev = month - starts[i]
        post = ev >= 0
        if ramp:
            r[i, post] = 1 + (ratio - 1) * np.minimum(1.0, (ev[post] + 1) / ramp)
        else:
            r[i, post] = ratio
    phi = 0.3
    frailty = rng.gamma(1 / phi, phi, (G, T))
    y = rng.poisson(expo * l0 * r * frailty)
    treat = (month[None, :] >= first[:, None]).astype(int)
    df = pd.DataFrame(
        {
            "school": np.repeat(np.arange(G), T),
            "month": np.tile(month, G),
            "referrals": y.ravel(),
            "pupil_months": expo.ravel(),
            "pilot": treat.ravel(),
            "first": np.repeat(np.where(np.isfinite(first), first, 0), T),
        }
    )
    df["rate100"] = df["referrals"] / df["pupil_months"] * 100
    cells = treat.astype(bool)
    att_rate = float(np.mean((100 * l0 * (r - 1))[cells]))
    return df, att_rate, (y, expo, treat)


# ------------------------------------------------------------------ estimators
def ri_linear(y, expo, treat, n_treated, pre_mask):
    """Randomization inference with the closed-form linear TWFE coefficient."""
    rate = y / expo * 100
    d = rate[:, ~pre_mask].mean(axis=1) - rate[:, pre_mask].mean(axis=1)
    G = len(d)
    frame = pd.DataFrame({"school": np.arange(G)})

    def stat(_data, treated):
        m = np.zeros(G, bool)
        m[list(treated)] = True
        return float(d[m].mean() - d[~m].mean())

    return randomization_inference(frame, stat, "school", range(n_treated)), stat


def record(store, name, est, target, lo, hi, p, scale):
    store[name].append({"est": est, "target": target, "lo": lo, "hi": hi, "p": p, "scale": scale})


def run_scenario(label, rng, args, ratio, staggered, timings, checks):
    G, k = args.schools, args.treated
    T = args.pre + args.post
    if staggered:
        starts = [args.pre - 6, args.pre, args.pre + 6][:k] + [args.pre] * max(0, k - 3)
        ramp = 6
    else:
        starts = [args.pre] * k
        ramp = 0
    store = defaultdict(list)
    pre_mask = np.arange(T) < args.pre
    for rep in range(args.reps):
        df, att, (y, expo, treat) = simulate(rng, G, k, T, starts, ratio, ramp)
        seed_b = int(rng.integers(2**31))

        if not staggered:
            t0 = time.perf_counter()
            r = twfe(
                df,
                "referrals",
                "school",
                "month",
                "pilot",
                exposure="pupil_months",
                family="poisson",
            )
            timings["TWFE Poisson"] += time.perf_counter() - t0
            record(
                store,
                "TWFE Poisson IRR, cluster sandwich, normal",
                r.estimate,
                ratio,
                *r.conf_int,
                r.p_value,
                "ratio",
            )

        t0 = time.perf_counter()
        lin = twfe(df, "rate100", "school", "month", "pilot")
        timings["TWFE linear CR1"] += time.perf_counter() - t0
        record(
            store,
            "TWFE linear rate/100, CR1 t(G-1)",
            lin.estimate,
            att,
            *lin.conf_int,
            lin.p_value,
            "difference",
        )

        for w in ("rademacher", "webb"):
            t0 = time.perf_counter()
            b = wild_cluster_bootstrap(
                df,
                outcome="rate100",
                unit="school",
                time="month",
                treatment="pilot",
                weights=w,
                reps=args.boot_reps,
                seed=seed_b,
                conf_int=not args.no_ci_inversion,
            )
            timings[f"WCR {w}"] += time.perf_counter() - t0
            lo, hi = b.conf_int if b.conf_int is not None else (np.nan, np.nan)
            if rep == 0:
                checks.append(f"[{label}] WCR {w}: {b.method}")
            record(
                store,
                f"TWFE linear rate/100, WCR bootstrap ({w})",
                b.estimate,
                att,
                lo,
                hi,
                b.p_value,
                "difference",
            )

        if not staggered:
            t0 = time.perf_counter()
            ri, stat = ri_linear(y, expo, treat, k, pre_mask)
            timings["randomization inference"] += time.perf_counter() - t0
            if rep == 0:
                checks.append(
                    f"[{label}] RI closed-form stat {ri.estimate:.10f} vs twfe "
                    f"{lin.estimate:.10f} (diff {abs(ri.estimate - lin.estimate):.1e});"
                    f" {ri.method}"
                )
            record(
                store,
                "TWFE linear rate/100, randomization inference",
                ri.estimate,
                att,
                np.nan,
                np.nan,
                ri.p_value,
                "difference",
            )
        else:
            t0 = time.perf_counter()
            cs = (
                callaway_santanna(df, "rate100", "school", "month", "first", control="never")
                .aggregate("simple")
                .overall
            )
            timings["Callaway-Sant'Anna"] += time.perf_counter() - t0
            record(
                store,
                "Callaway-Sant'Anna simple ATT, analytic SE, normal",
                cs.estimate,
                att,
                *cs.conf_int,
                cs.p_value,
                "difference",
            )
    return store


# ------------------------------------------------------------------- summaries
def summarise(store, effect_present):
    rows = []
    for name, recs in store.items():
        d = pd.DataFrame(recs)
        R = len(d)
        if d["scale"].iloc[0] == "ratio":
            est = np.log(d["est"])
            tgt = np.log(d["target"])
        else:
            est, tgt = d["est"], d["target"]
        err = est - tgt
        has_ci = d["lo"].notna().all()
        if has_ci:
            cover = ((d["lo"] <= d["target"]) & (d["target"] <= d["hi"])).mean()
            inf_share = (~np.isfinite(d["lo"]) | ~np.isfinite(d["hi"])).mean()
            width = (d["hi"] - d["lo"])[np.isfinite(d["hi"] - d["lo"])]
            med_width = (
                float(
                    np.median(np.log(d["hi"] / d["lo"]) if d["scale"].iloc[0] == "ratio" else width)
                )
                if len(width)
                else np.nan
            )
        else:
            cover = inf_share = med_width = np.nan
        rej = (d["p"] <= ALPHA).mean()
        rows.append(
            {
                "estimator": name,
                "scale": "log IRR" if d["scale"].iloc[0] == "ratio" else "rate/100",
                "mean_target": float(tgt.mean()),
                "mean_est": float(est.mean()),
                "bias": float(err.mean()),
                "rmse": float(np.sqrt((err**2).mean())),
                "coverage": cover,
                "inf_ci": inf_share,
                "med_ci_width": med_width,
                "reject": rej,
                "R": R,
            }
        )
    return pd.DataFrame(rows)


def fmt_table(tab, effect_present):
    rej_label = "power" if effect_present else "size"
    head = (
        f"{'estimator / inference':<52} {'scale':>8} {'target':>8} {'mean est':>9} "
        f"{'bias':>8} {'RMSE':>8} {'cover95':>8} {'CI inf':>7} {'CI width':>9} "
        f"{rej_label + '@5%':>9}"
    )
    lines = [head, "-" * len(head)]
    for _, r in tab.iterrows():

        def pct(x):
            return "     -" if not np.isfinite(x) else f"{100 * x:6.1f}%"

        lines.append(
            f"{r.estimator:<52} {r.scale:>8} {r.mean_target:8.3f} {r.mean_est:9.3f} "
            f"{r.bias:8.3f} {r.rmse:8.3f} {pct(r.coverage):>8} {pct(r.inf_ci):>7} "
            f"{r.med_ci_width:9.3f} {pct(r.reject):>9}"
        )
    return "\n".join(lines)


def mc_se(p, R):
    return math.sqrt(max(p * (1 - p), 1e-12) / R)


def _verdict(rate, nominal, R):
    band = 2 * mc_se(nominal, R)
    if rate > nominal + band:
        return "over-rejects"
    if rate < nominal - band:
        return "under-rejects"
    return "within 2 MC SE of nominal"


def _cover_verdict(coverage, R):
    """Verdict for a 95% CI: non-coverage compared with 5% (+-2 MC SE)."""
    return {"over-rejects": "under-covers", "under-rejects": "over-covers"}.get(
        _verdict(1 - coverage, ALPHA, R), "within 2 MC SE of nominal"
    )


def interpret(tables, R):
    """Short data-driven interpretation (verdicts use +-2 Monte Carlo SE bands)."""
    lines = ["Interpretation (generated from the tables above; bands = +-2 Monte Carlo SE):"]
    short = {
        "TWFE Poisson IRR, cluster sandwich, normal": "Poisson IRR, cluster sandwich + normal",
        "TWFE linear rate/100, CR1 t(G-1)": "linear CR1 + t(G-1)",
        "TWFE linear rate/100, WCR bootstrap (rademacher)": "WCR Rademacher",
        "TWFE linear rate/100, WCR bootstrap (webb)": "WCR Webb",
        "TWFE linear rate/100, randomization inference": "randomization inference",
        (
            "Callaway-Sant'Anna simple ATT, analytic SE, normal"
        ): "Callaway-Sant'Anna (analytic, normal)",
    }
    for label, (tab, effect) in tables.items():
        if not effect:
            parts = [
                f"{short.get(r.estimator, r.estimator)} {100 * r.reject:.1f}% "
                f"({_verdict(r.reject, ALPHA, R)})"
                for _, r in tab.iterrows()
            ]
            lines.append(f"- {label}: rejection rate at 5% (size): " + "; ".join(parts) + ".")
        else:
            parts = []
            for _, r in tab.iterrows():
                cov = (
                    ""
                    if not np.isfinite(r.coverage)
                    else f"coverage {100 * r.coverage:.1f}% ({_cover_verdict(r.coverage, R)}), "
                )
                parts.append(
                    f"{short.get(r.estimator, r.estimator)}: bias {r.bias:+.3f}, "
                    f"{cov}power {100 * r.reject:.0f}%"
                )
            lines.append(f"- {label}: " + "; ".join(parts) + ".")
    lines += [
        "- Why (the verdicts above are the evidence, this is the mechanism): the variance",
        "  of the treatment coefficient is driven by the 3 treated clusters, whose",
        "  residual sums the sandwich (CR1; Poisson sandwich with normal critical",
        "  values even more) underestimates, so those intervals are too narrow. WCR",
        "  bootstrap and randomization inference do not rely on that variance estimate;",
        "  the literature (MacKinnon & Webb 2017, 2018) expects WCR to turn conservative",
        "  with very few treated clusters. RI is exact here because schools are",
        "  exchangeable by design (i.i.d. school draws); with systematically different",
        "  pilot schools it is not.",
        "- Power is comparable across scales (log IRR vs rate difference) only as a",
        "  ranking; the linear rows share one point estimate (same bias/RMSE) and differ",
        "  only in inference.",
        "- Staggered scenario: TWFE uses already-treated schools as comparisons while",
        "  effects ramp in, which can bias it (see its bias column for the size here).",
        "  Callaway-Sant'Anna compares each cohort with never-treated schools over one",
        "  base month (g-1): unbiased in expectation but noisy. With one school per",
        "  cohort, the treated side of its influence function is identically zero",
        "  (dY_i - mean_g dY = 0), so the analytic SE contains no treated-school",
        "  outcome noise (only comparison schools + the cohort-weight term) and its",
        "  normal CI is too narrow by construction (R did behaves the same way).",
        "- callaway_santanna's pre-test is skipped with a warning on these monthly",
        "  panels (singular V: more pre cells than units), as R did does; ATT and SEs",
        "  are unaffected.",
    ]
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--reps",
        type=int,
        default=100,
        help="replications per scenario (about 5-7 min on a shared 2-core box)",
    )
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--schools", type=int, default=15, help="total schools G")
    ap.add_argument("--treated", type=int, default=3)
    ap.add_argument("--pre", type=int, default=36)
    ap.add_argument("--post", type=int, default=18)
    ap.add_argument("--ratio", type=float, default=0.7, help="planted rate ratio")
    ap.add_argument(
        "--boot-reps",
        type=int,
        default=999,
        help="wild bootstrap draws (full enumeration if 2^G <= this)",
    )
    ap.add_argument(
        "--no-ci-inversion",
        action="store_true",
        help="skip the bootstrap CI by test inversion (faster)",
    )
    ap.add_argument("--no-staggered", action="store_true")
    ap.add_argument(
        "--only-null",
        action="store_true",
        help="run only the null scenario (e.g. a larger size run)",
    )
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "estimator_simulation_report.txt"))
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    scenarios = [
        ("null (ratio 1.0)", 1.0, False),
        (f"effect (ratio {args.ratio})", args.ratio, False),
    ]
    if args.only_null:
        scenarios = scenarios[:1]
    elif not args.no_staggered:
        scenarios.append((f"staggered + ramp-in (ratio {args.ratio})", args.ratio, True))
    t_start = time.perf_counter()
    out = []
    p = out.append
    p("Estimator simulation benchmark: few treated clusters (analyses/*)")
    p("=" * 78)
    p(
        "command: "
        f"{' '.join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:]))}"
    )
    p(
        f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"{platform.machine()}"
    )
    p(
        f"settings: reps={args.reps} per scenario, seed={args.seed}, G={args.schools} schools "
        f"({args.treated} treated, {args.schools - args.treated} comparison), "
        f"{args.pre} pre + {args.post} post months, planted ratio={args.ratio}, "
        f"bootstrap draws={args.boot_reps}, CI inversion={'no' if args.no_ci_inversion else 'yes'}"
    )
    p(
        "DGP: NB2 counts (gamma frailty phi=0.3) with exposure pupil-months, base rate "
        "0.01/pupil-month, school RE sd 0.3,"
    )
    p(
        "     seasonality + August dip, common shock months 40-45 (x0.8), school AR(1) "
        "log-deviation (rho 0.7, sd 0.1)"
    )
    p(
        "targets: log IRR = log(planted ratio); linear = conditional ATT on rate per 100 "
        "pupil-months (treated x post cells)"
    )
    p(
        "columns: cover95 = share of 95% CIs containing the target; CI inf = share of "
        "unbounded (test-inversion) CIs;"
    )
    p(
        "         CI width = median finite width (log scale for IRR); size/power = share "
        "with p <= 0.05"
    )
    checks: list[str] = []
    all_timings = {}
    printed = 0
    tables = {}
    for label, ratio, stag in scenarios:
        timings = defaultdict(float)
        t0 = time.perf_counter()
        store = run_scenario(label, rng, args, ratio, stag, timings, checks)
        elapsed = time.perf_counter() - t0
        tab = summarise(store, ratio != 1.0)
        tables[label] = (tab, ratio != 1.0)
        p("")
        p(f"Scenario: {label}   [{args.reps} reps, {elapsed:.0f} s]")
        if stag:
            p(
                f"  starts: months {args.pre - 6}, {args.pre}, {args.pre + 6}; effect ramps in "
                "over 6 months; CS uses never-treated controls"
            )
        p(fmt_table(tab, ratio != 1.0))
        R = args.reps
        p(
            f"  Monte Carlo SE: rejection at 5% +-{100 * mc_se(0.05, R):.1f} pp, coverage at "
            f"95% +-{100 * mc_se(0.05, R):.1f} pp; at 50% +-{100 * mc_se(0.5, R):.1f} pp"
        )
        all_timings[label] = (elapsed, dict(timings))
        print("\n".join(out[printed:]), flush=True)
        printed = len(out)
    total = time.perf_counter() - t_start
    p("")
    p("Timings (seconds per replication, single process):")
    for label, (elapsed, tm) in all_timings.items():
        parts = ", ".join(f"{k} {v / args.reps:.3f}" for k, v in tm.items())
        p(f"  {label}: total {elapsed / args.reps:.2f} s/rep ({parts})")
    p(f"  wall time total: {total:.0f} s")
    p("")
    out.extend(interpret(tables, args.reps))
    p("")
    p("Checks:")
    for c in checks:
        p(f"  {c}")
    text = "\n".join(out)
    print("\n".join(out[printed:]))
    if args.out:
        Path(args.out).write_text(text + "\n")
        print(f"\nwritten to {args.out}")
    return text


if __name__ == "__main__":
    main()
