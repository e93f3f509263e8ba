"""Absorbed fixed effects: demeaning instead of dummy columns.

Absorbing the fixed effects (Frisch-Waugh-Lovell) gives the same coefficients, residuals
and cluster-robust variances as the dummy-variable design (linear, and Poisson by IRLS),
using pyfixest's compiled demeaning core (tolerance 1e-13).

Design notes: docs/design/analyses.md#analysesabsorbpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["FixedEffects", "PoissonFit", "poisson_irls", "within_unit_gram"]

DEMEAN_TOL = 1e-13
DEMEAN_MAXITER = 100_000


@dataclass(frozen=True)
class FixedEffects:
    """Integer codes of one or two fixed-effect factors for the rows of a data set."""

    codes: np.ndarray  # (n, n_factors) uint64, each column coded 0..L-1
    n_levels: tuple[int, ...]

    @classmethod
    def from_columns(cls, *columns) -> FixedEffects:
        if not 1 <= len(columns) <= 2:
            raise ValueError("one or two fixed-effect factors are supported")
        codes, levels = [], []
        for col in columns:
            c, uniq = pd.factorize(pd.Series(np.asarray(col)), sort=True)
            if (c < 0).any():
                raise ValueError("fixed-effect factor contains missing values")
            codes.append(c)
            levels.append(len(uniq))
        return cls(np.column_stack(codes).astype(np.uint64), tuple(levels))

    @property
    def n_obs(self) -> int:
        return self.codes.shape[0]

    def subset(self, keep: np.ndarray) -> FixedEffects:
        """The rows ``keep`` (boolean mask), with codes renumbered to the levels left."""
        return FixedEffects.from_columns(*(self.codes[keep, j] for j in range(self.codes.shape[1])))

    def rank(self) -> int:
        """Number of linearly independent dummy columns (all levels, the constant included):
        L for one factor; L1 + L2 - (connected components of the bipartite level graph)
        for two, which is what the dummy design's rank is."""
        if len(self.n_levels) == 1:
            return self.n_levels[0]
        l1, l2 = self.n_levels
        a, b = self.codes[:, 0].astype(np.int64), self.codes[:, 1].astype(np.int64) + l1
        graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(l1 + l2, l1 + l2))
        n_comp, _ = connected_components(graph, directed=False)
        return l1 + l2 - n_comp

    def unit_period_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(C, n_u): rows per unit (first factor) and period (second factor), U x T, and rows
        per unit: the cluster-level sums the bootstrap and randomization algebra need
        instead of the n x T dummy matrix."""
        u, t = self.codes[:, 0].astype(np.int64), self.codes[:, 1].astype(np.int64)
        counts = np.zeros(self.n_levels)
        np.add.at(counts, (u, t), 1.0)
        return counts, counts.sum(axis=1)

    def demean(self, values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """``values`` (n,) or (n, k) minus their (weighted) projection on the fixed effects."""
        from pyfixest.core.demean import demean  # compiled core; import only when absorbing

        arr = np.asarray(values, dtype=np.float64)
        flat = arr.ndim == 1
        x = np.ascontiguousarray(arr.reshape(len(arr), -1)).copy()
        w = np.ones(len(x)) if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
        out, ok = demean(x, self.codes, w, tol=DEMEAN_TOL, maxiter=DEMEAN_MAXITER)
        if not ok:
            raise RuntimeError("fixed-effect demeaning did not converge")
        return out[:, 0] if flat else out


def within_unit_gram(counts: np.ndarray, n_u: np.ndarray) -> np.ndarray:
    """D_t' M_Du D_t (T x T): the period dummies' cross-product after demeaning within
    units, from the unit-by-period counts (see :meth:`FixedEffects.unit_period_counts`)."""
    return np.diag(counts.sum(axis=0)) - counts.T @ (counts / n_u[:, None])


@dataclass
class PoissonFit:
    beta: np.ndarray  # (k,) coefficients of X
    mu: np.ndarray  # (n,) fitted means
    X_tilde: np.ndarray  # (n, k) X demeaned with the final weights mu
    iterations: int
    converged: bool
    deviance: float


def _poisson_deviance(y: np.ndarray, mu: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0)
    return float(2 * np.sum(term - (y - mu)))


@dataclass
class IrlsResult:
    beta: np.ndarray
    mu: np.ndarray
    iterations: int
    converged: bool
    deviance: float


def irls_absorbed(
    y: np.ndarray,
    X: np.ndarray,
    demean,
    off: np.ndarray,
    mu: np.ndarray,
    *,
    weight,
    deviance,
    tol: float = 1e-13,
    maxiter: int = 200,
    first_step_free: bool = False,
) -> IrlsResult:
    """IRLS for a log-link GLM with absorbed fixed effects, shared by Poisson and NB2.

    ``weight(mu)`` is the working weight (Poisson: mu; NB2: mu / (1 + alpha mu)) and
    ``deviance(mu)`` the family's deviance; ``demean(values, weights)`` projects out the
    fixed effects. Each step is halved until the deviance is finite and not larger than
    before (``first_step_free``: the first step only needs a finite deviance, for starting
    values that are not a fit). Converged when the relative change of the deviance and
    the largest change of the linear predictor are both below ``tol`` / 1e-10 (the second
    matters: the deviance is flat near the optimum).
    """
    eta = np.log(mu)
    dev_old = deviance(mu)
    beta = np.zeros(X.shape[1])
    converged = False
    it = 0
    for it in range(1, maxiter + 1):
        w = weight(mu)
        z = eta - off + (y - mu) / mu
        both = demean(np.column_stack([z, X]), w)
        zt, Xt = both[:, 0], both[:, 1:]
        Xw = Xt * w[:, None]
        beta = np.linalg.solve(Xw.T @ Xt, Xw.T @ zt)
        eta_new = z - (zt - Xt @ beta) + off
        for _ in range(30):
            mu_new = np.exp(eta_new)
            dev = deviance(mu_new)
            if np.isfinite(dev) and (
                (first_step_free and it == 1) or dev <= dev_old * (1 + 1e-12) + 1e-12
            ):
                break
            eta_new = (eta_new + eta) / 2
        step = float(np.max(np.abs(eta_new - eta)))
        eta, mu = eta_new, mu_new
        change = abs(dev - dev_old) / (0.1 + abs(dev))
        dev_old = dev
        if change < tol and step < 1e-10:
            converged = True
            break
    return IrlsResult(beta=beta, mu=mu, iterations=it, converged=converged, deviance=dev_old)


def poisson_irls(
    y: np.ndarray,
    X: np.ndarray,
    fe: FixedEffects,
    offset: np.ndarray | None = None,
    tol: float = 1e-13,
    maxiter: int = 200,
    start_mu: np.ndarray | None = None,
) -> PoissonFit:
    """Poisson pseudo-ML with absorbed fixed effects by IRLS (ppmlhdfe / fixest ``fepois``).

    Units or periods whose outcome is zero throughout must be removed beforehand (their
    fixed effect is minus infinity). ``start_mu`` warm-starts the iterations (e.g. from
    the fit of a neighbouring model in randomization inference). Converged when the
    relative change of the deviance and the largest change of the linear predictor are
    both below ``tol`` (the second matters: the deviance is flat near the optimum).
    """
    y = np.asarray(y, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64).reshape(len(y), -1)
    off = np.zeros(len(y)) if offset is None else np.asarray(offset, dtype=np.float64)
    mu = (y + y.mean()) / 2 if start_mu is None else np.asarray(start_mu, dtype=np.float64).copy()
    # The starting values are not a fit: the first step may raise the deviance (as fixest).
    fit = irls_absorbed(
        y,
        X,
        fe.demean,
        off,
        mu,
        weight=lambda m: m,
        deviance=lambda m: _poisson_deviance(y, m),
        tol=tol,
        maxiter=maxiter,
        first_step_free=True,
    )
    beta, mu, it, converged, dev_old = fit.beta, fit.mu, fit.iterations, fit.converged, fit.deviance
    # The sandwich needs X demeaned with the weights of the final mu.
    Xt = fe.demean(X, mu).reshape(len(y), -1)
    return PoissonFit(
        beta=beta, mu=mu, X_tilde=Xt, iterations=it, converged=converged, deviance=dev_old
    )
