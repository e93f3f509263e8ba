"""Staggered adoption: Callaway & Sant'Anna (2021) group-time ATT(g,t).

Implemented for a balanced panel without covariates (R ``did::att_gt`` gives the same
point estimates), with never-treated or not-yet-treated controls, influence-function
(analytic or multiplier-bootstrap) standard errors, pointwise normal inference and the
``simple``, ``group``, ``dynamic`` and ``calendar`` aggregations of R ``did::aggte``.

Design notes: docs/design/analyses.md#analysesstaggeredpy.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._linalg import cluster_codes
from .results import EffectResult, StaggeredPretest

__all__ = ["callaway_santanna", "StaggeredResult", "AggregatedResult"]

_MAMMEN_P = (np.sqrt(5) + 1) / (2 * np.sqrt(5))


def _never(g: pd.Series) -> pd.Series:
    return g.isna() | (g == 0) | np.isinf(g.astype(float))


def _normal_result(est, se, alpha, n, G, method, sample, details) -> EffectResult:
    z = stats.norm.ppf(1 - alpha / 2)
    if se > 0 and np.isfinite(se):
        p = float(2 * stats.norm.sf(abs(est / se)))
    else:
        p = float("nan")
    return EffectResult(
        estimate=float(est),
        std_error=float(se),
        conf_int=(est - z * se, est + z * se),
        p_value=p,
        n_obs=n,
        n_clusters=G,
        method=method,
        alpha=alpha,
        sample=sample,
        details=dict(details, critical_value=z),
    )


@dataclass(frozen=True)
class AggregatedResult:
    """An aggregation of ATT(g,t): ``overall`` and one EffectResult per key
    (group, event time or calendar period; empty for ``simple``)."""

    kind: str
    overall: EffectResult
    by: Mapping[Any, EffectResult] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        rows = [{"key": k, **r.summary_row()} for k, r in self.by.items()]
        return pd.DataFrame(rows)


@dataclass(frozen=True)
class StaggeredResult:
    """Group-time ATTs. ``att_gt[(g, t)]`` is an EffectResult; ``pretest`` holds the
    Wald pre-test (``statistic``, ``df``, ``p_value``); ``aggregate(kind)`` gives
    simple / group / dynamic / calendar aggregations."""

    att_gt: Mapping[tuple, EffectResult]
    pretest: StaggeredPretest
    method: str
    n_units: int
    _psi: np.ndarray = field(repr=False)
    _cells: tuple = field(repr=False)
    _pg: Mapping[Any, float] = field(repr=False)
    _unit_group: np.ndarray = field(repr=False)
    _se: Any = field(repr=False)
    _alpha: float = 0.05

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"group": g, "time": t, **r.summary_row()} for (g, t), r in self.att_gt.items()]
        )

    # -- aggregation -------------------------------------------------------------
    def _combine(self, idx, weights_pg: bool):
        """Estimate and influence function of a (p_g-weighted or equal) mean of cells."""
        att = np.array([self.att_gt[self._cells[k]].estimate for k in idx])
        psi = self._psi[:, idx]
        if not weights_pg:
            w = np.full(len(idx), 1 / len(idx))
            return float(w @ att), psi @ w
        pg = np.array([self._pg[self._cells[k][0]] for k in idx])
        w = pg / pg.sum()
        # weight-estimation influence function (R did: wif)
        member = np.column_stack(
            [(self._unit_group == self._cells[k][0]).astype(float) for k in idx]
        )
        if1 = (member - pg) / pg.sum()
        if2 = np.outer((member - pg).sum(axis=1), pg / pg.sum() ** 2)
        return float(w @ att), psi @ w + (if1 - if2) @ att

    def _result(self, est, psi_agg, label):
        se = self._se(psi_agg[:, None])[0]
        return _normal_result(
            est,
            se,
            self._alpha,
            self.n_units,
            self._se.n_clusters,
            f"{self.method}; aggregation {label}",
            "",
            {},
        )

    def aggregate(self, kind: str = "group") -> AggregatedResult:
        """``kind`` in {"simple", "group", "dynamic", "calendar"} (see module doc)."""
        cells = self._cells
        post = [k for k, (g, t) in enumerate(cells) if t >= g]
        if kind == "simple":
            est, psi = self._combine(post, True)
            return AggregatedResult(kind, self._result(est, psi, "simple"), {})
        if kind == "group":
            groups = sorted({cells[k][0] for k in post})
            ests, psis, by = [], [], {}
            for g in groups:
                e, p = self._combine([k for k in post if cells[k][0] == g], False)
                ests.append(e)
                psis.append(p)
                by[g] = self._result(e, p, f"group {g}")
            pg = np.array([self._pg[g] for g in groups])
            w = pg / pg.sum()
            member = np.column_stack([(self._unit_group == g).astype(float) for g in groups])
            wif = (member - pg) / pg.sum() - np.outer((member - pg).sum(axis=1), pg / pg.sum() ** 2)
            att = np.array(ests)
            psi = np.column_stack(psis) @ w + wif @ att
            return AggregatedResult(kind, self._result(float(w @ att), psi, "group overall"), by)
        if kind == "dynamic":
            times = self._times
            pos = {t: i for i, t in enumerate(times)}
            rel = [pos[t] - pos[g] if g in pos else None for (g, t) in cells]
            es = sorted({e for e in rel if e is not None})
            by, post_e = {}, []
            for e in es:
                est, psi = self._combine([k for k in range(len(cells)) if rel[k] == e], True)
                by[e] = self._result(est, psi, f"event time {e}")
                if e >= 0:
                    post_e.append((est, psi))
            est = float(np.mean([a for a, _ in post_e]))
            psi = np.mean(np.column_stack([p for _, p in post_e]), axis=1)
            return AggregatedResult(kind, self._result(est, psi, "dynamic overall (e>=0)"), by)
        if kind == "calendar":
            ts = sorted({cells[k][1] for k in post})
            by, parts = {}, []
            for t in ts:
                est, psi = self._combine([k for k in post if cells[k][1] == t], True)
                by[t] = self._result(est, psi, f"calendar {t}")
                parts.append((est, psi))
            est = float(np.mean([a for a, _ in parts]))
            psi = np.mean(np.column_stack([p for _, p in parts]), axis=1)
            return AggregatedResult(kind, self._result(est, psi, "calendar overall"), by)
        raise ValueError('kind must be "simple", "group", "dynamic" or "calendar"')

    @property
    def _times(self):
        return self.pretest.periods


class _SE:
    """Standard errors of columns of an (n, k) influence-function matrix."""

    def __init__(self, codes, n_clusters, n, method, reps, weights, seed):
        self.codes, self.n_clusters, self.n = codes, n_clusters, n
        self.method = method
        if method == "bootstrap":
            rng = np.random.default_rng(seed)
            if weights == "mammen":
                s5 = np.sqrt(5)
                v = np.where(
                    rng.random((reps, n_clusters)) < _MAMMEN_P, -(s5 - 1) / 2, (s5 + 1) / 2
                )
            elif weights == "rademacher":
                v = rng.choice([-1.0, 1.0], size=(reps, n_clusters))
            else:
                raise ValueError('weights must be "mammen" or "rademacher"')
            self.v = v

    def __call__(self, psi: np.ndarray) -> np.ndarray:
        sums = np.zeros((self.n_clusters, psi.shape[1]))
        np.add.at(sums, self.codes, psi)
        if self.method == "analytic":
            return np.sqrt((sums**2).sum(axis=0)) / self.n
        draws = self.v @ sums / self.n
        q75, q25 = np.percentile(draws, [75, 25], axis=0)
        return (q75 - q25) / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))


def callaway_santanna(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    first_treated: str,
    control: str = "never",
    base_period: str = "varying",
    se_method: str = "analytic",
    cluster: str | None = None,
    reps: int = 999,
    weights: str = "mammen",
    seed: int | None = None,
    alpha: float = 0.05,
) -> StaggeredResult:
    """Callaway & Sant'Anna (2021) ATT(g,t) for a balanced panel, no covariates.

    Parameters
    ----------
    data : DataFrame
        Long balanced panel (one row per unit x period). Units with a missing
        outcome in any period are dropped (R ``did`` does the same).
    outcome, unit, time : str
    first_treated : str
        First treated period; NaN, 0 or inf for never-treated units. Units already
        treated in the first period are dropped (they identify nothing).
    control : {"never", "notyet"}
    base_period : {"varying", "universal"}
    se_method : {"analytic", "bootstrap"}
    cluster : str, optional
        Time-invariant cluster column (default: ``unit``).
    reps, weights, seed : bootstrap settings (``weights`` "mammen"/"rademacher").
    alpha : float

    Returns
    -------
    StaggeredResult
    """
    if control not in ("never", "notyet"):
        raise ValueError('control must be "never" or "notyet"')
    if base_period not in ("varying", "universal"):
        raise ValueError('base_period must be "varying" or "universal"')
    if se_method not in ("analytic", "bootstrap"):
        raise ValueError('se_method must be "analytic" or "bootstrap"')
    cl = cluster or unit
    cols = list(dict.fromkeys([outcome, unit, time, first_treated, cl]))
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise KeyError(f"columns not in data: {missing}")
    df = data[cols].copy()
    wide = df.pivot(index=unit, columns=time, values=outcome)
    wide = wide.dropna()
    times = sorted(wide.columns)
    first = df.groupby(unit)[first_treated].first().reindex(wide.index).astype(float)
    never = _never(first)
    gvals = first.where(~never, np.inf).astype(float)
    keep = gvals > times[0]  # drop always-treated
    wide, gvals = wide[keep], gvals[keep]
    n = len(wide)
    Y = wide.to_numpy(float)
    G_unit = gvals.to_numpy()
    groups = sorted(g for g in set(G_unit) if np.isfinite(g))
    groups = [g for g in groups if any(t >= g for t in times)]
    if not groups:
        raise ValueError("no treated groups inside the observed periods")
    if control == "never" and not np.isinf(G_unit).any():
        raise ValueError('no never-treated units; use control="notyet"')
    pos = {t: i for i, t in enumerate(times)}

    def prev_period(g):
        earlier = [t for t in times if t < g]
        return earlier[-1] if earlier else None

    cells, atts, psis = [], [], []
    for g in groups:
        gb = prev_period(g)
        if gb is None:
            continue
        for t in times:
            if base_period == "varying":
                if t == times[0]:
                    continue
                b = gb if t >= g else times[pos[t] - 1]
            else:
                b = gb
                if t == b:
                    continue
            D = G_unit == g
            if control == "never":
                C = np.isinf(G_unit)
            else:
                C = (G_unit > max(t, b)) & (G_unit != g)
            if C.sum() == 0:
                continue
            dy = Y[:, pos[t]] - Y[:, pos[b]]
            mg, mc = dy[D].mean(), dy[C].mean()
            psi = np.where(D, (dy - mg) * n / D.sum(), 0.0) - np.where(
                C, (dy - mc) * n / C.sum(), 0.0
            )
            cells.append((g, t))
            atts.append(mg - mc)
            psis.append(psi)
    Psi = np.column_stack(psis)
    cl_unit = df.groupby(unit)[cl].first().reindex(wide.index)
    codes, n_cl = cluster_codes(cl_unit)
    se_fun = _SE(codes, n_cl, n, se_method, reps, weights, seed)
    ses = se_fun(Psi)
    conv = (
        "analytic influence function"
        if se_method == "analytic"
        else f"multiplier bootstrap ({weights}, B={reps}, IQR-based)"
    )
    method = (
        f"Callaway-Sant'Anna (2021) ATT(g,t), unconditional DiD, "
        f"{'never-treated' if control == 'never' else 'not-yet-treated'} controls, "
        f"{base_period} base period; SE {conv}, clustered by {cl}, normal"
    )
    att_gt = {}
    for k, (g, t) in enumerate(cells):
        att_gt[(g, t)] = _normal_result(
            atts[k],
            ses[k],
            alpha,
            n,
            n_cl,
            method,
            f"group {g:g}, period {t}; {int((G_unit == g).sum())} treated units",
            {"group": g, "time": t, "post": t >= g},
        )
    pre = [k for k, (g, t) in enumerate(cells) if t < g]
    statistic, p_value, note = float("nan"), float("nan"), None
    if pre:
        a = np.array([atts[k] for k in pre])
        V = Psi[:, pre].T @ Psi[:, pre] / n
        if np.linalg.matrix_rank(V) < len(pre):
            # More pre-period cells than the units can identify (e.g. monthly data with
            # few schools): V is singular. Like R `did`, skip the statistic and say so.
            note = (
                f"pre-test not computed: the {len(pre)} pre-period cells have a singular "
                f"covariance (rank {np.linalg.matrix_rank(V)}, {n} units)"
            )
            warnings.warn(note, stacklevel=2)
        else:
            statistic = float(n * a @ np.linalg.solve(V, a))
            p_value = float(stats.chi2.sf(statistic, len(pre)))
    pretest = StaggeredPretest(
        statistic=statistic,
        df=len(pre),
        p_value=p_value,
        test="Wald chi2, analytic V = Psi'Psi/n",
        periods=tuple(times),
        note=note,
    )
    pg = {g: float(np.mean(G_unit == g)) for g in groups}
    return StaggeredResult(
        att_gt=att_gt,
        pretest=pretest,
        method=method,
        n_units=n,
        _psi=Psi,
        _cells=tuple(cells),
        _pg=pg,
        _unit_group=G_unit,
        _se=se_fun,
        _alpha=alpha,
    )
