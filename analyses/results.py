"""Common result type returned by every estimator in :mod:`analyses`.

``estimate`` is on the reporting scale given by ``scale`` (``"difference"`` or ``"ratio"``;
for a ratio ``std_error`` is the SE of the log ratio), ``p_value`` is two-sided, ``method``
names the estimator and the variance convention, ``details`` holds read-only extras.

Design notes: docs/design/analyses.md#analysesresultspy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = ["EffectResult"]

_SCALES = ("difference", "ratio")


@dataclass(frozen=True)
class EffectResult:
    """One estimated treatment effect with its uncertainty.

    Attributes
    ----------
    estimate : float
        Point estimate on ``scale`` (difference, or ratio such as an IRR).
    std_error : float
        Standard error of the coefficient (log scale when ``scale == "ratio"``).
    conf_int : tuple[float, float]
        ``(lower, upper)`` confidence interval at level ``1 - alpha`` on ``scale``.
    p_value : float
        Two-sided p-value for "no effect".
    n_obs : int
        Number of observations (rows) used.
    n_clusters : int | None
        Number of clusters used for the variance (``None`` when not clustered).
    method : str
        Estimator and variance convention.
    scale : str
        ``"difference"`` or ``"ratio"``.
    alpha : float
        Significance level of ``conf_int`` (0.05 gives a 95% interval).
    sample : str
        Short human-readable description of the sample.
    details : Mapping
        Estimator-specific extras (read-only).
    """

    estimate: float
    std_error: float
    conf_int: tuple[float, float]
    p_value: float
    n_obs: int
    n_clusters: int | None
    method: str
    scale: str = "difference"
    alpha: float = 0.05
    sample: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scale not in _SCALES:
            raise ValueError(f"scale must be one of {_SCALES}, got {self.scale!r}")
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must be in (0, 1)")
        lo, hi = self.conf_int
        object.__setattr__(self, "conf_int", (float(lo), float(hi)))
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    @property
    def null_value(self) -> float:
        """Value of ``estimate`` under no effect (0 for differences, 1 for ratios)."""
        return 1.0 if self.scale == "ratio" else 0.0

    @property
    def coefficient(self) -> float:
        """The model coefficient: ``log(estimate)`` for ratios, else ``estimate``."""
        return math.log(self.estimate) if self.scale == "ratio" else self.estimate

    def summary_row(self) -> dict[str, float]:
        """Estimate, standard error, confidence bounds and p-value: the columns of a table
        with one effect a row."""
        return {
            "estimate": self.estimate,
            "std_error": self.std_error,
            "conf_int_lower": self.conf_int[0],
            "conf_int_upper": self.conf_int[1],
            "p_value": self.p_value,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict`` (JSON-friendly apart from values stored in ``details``)."""
        return {
            **self.summary_row(),
            "n_obs": self.n_obs,
            "n_clusters": self.n_clusters,
            "method": self.method,
            "scale": self.scale,
            "alpha": self.alpha,
            "sample": self.sample,
            "details": dict(self.details),
        }

    def summary(self) -> str:
        """Multi-line text summary in the spirit of statsmodels' ``summary()``."""
        level = f"{100 * (1 - self.alpha):g}%"
        label = "ratio (IRR)" if self.scale == "ratio" else "difference"
        se_note = " (log scale)" if self.scale == "ratio" else ""
        lines = [
            "Effect estimate",
            "=" * 60,
            f"Method:        {self.method}",
            f"Sample:        {self.sample or '-'}",
            f"Observations:  {self.n_obs}",
            f"Clusters:      {self.n_clusters if self.n_clusters is not None else '-'}",
            "-" * 60,
            f"Estimate ({label}): {self.estimate:.6g}",
            f"Std. error{se_note}:      {self.std_error:.6g}",
            f"{level} CI:          [{self.conf_int[0]:.6g}, {self.conf_int[1]:.6g}]",
            f"p-value:          {self.p_value:.4g}",
            "=" * 60,
        ]
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.summary()


# ---------------------------------------------------------------------------------------
# Few-cluster tests: wild cluster bootstrap, randomization inference, pre-trend tests.
# Frozen like EffectResult; the draws are kept for inspection but excluded from equality,
# repr and to_dict() (``to_dict(draws=True)`` includes them as lists).
# ---------------------------------------------------------------------------------------


def _draws_field():
    return field(default_factory=lambda: np.empty(0), repr=False, compare=False)


class _TestResult:
    _DRAWS: tuple[str, ...] = ()

    def to_dict(self, draws: bool = False) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in self._DRAWS:
                if not draws:
                    continue
                v = np.asarray(v).tolist()
            out[f.name] = v
        return out


@dataclass(frozen=True)
class BootstrapResult(_TestResult):
    """Wild cluster bootstrap-t test of one coefficient (:func:`analyses.wild_cluster_bootstrap`).

    ``std_error`` is the CR1 cluster-robust SE (so ``t_stat = (estimate - beta0) / std_error``);
    ``conf_int`` is the test-inversion interval or ``None``; ``draws`` the B bootstrap t
    statistics at ``beta0`` (all 2^G / 6^G sign vectors when ``full_enumeration``)."""

    p_value: float
    conf_int: tuple[float, float] | None
    estimate: float
    std_error: float
    t_stat: float
    n_boot: int
    full_enumeration: bool
    weights: str
    impose_null: bool
    n_clusters: int
    n_obs: int
    beta0: float
    alpha: float
    method: str
    model: str
    draws: np.ndarray = _draws_field()
    _DRAWS = ("draws",)


@dataclass(frozen=True)
class WaldBootstrapResult(_TestResult):
    """Joint WCR bootstrap Wald test (:func:`analyses.inference.wild_cluster_bootstrap_wald`);
    ``draws``: the B bootstrap Wald statistics."""

    p_value: float
    statistic: float
    f_stat: float
    q: int
    n_boot: int
    full_enumeration: bool
    weights: str
    impose_null: bool
    n_clusters: int
    n_obs: int
    method: str
    draws: np.ndarray = _draws_field()
    _DRAWS = ("draws",)


@dataclass(frozen=True)
class RandomizationResult(_TestResult):
    """Randomization inference (:func:`analyses.randomization_inference`,
    :func:`analyses.twfe_randomization_inference`). ``statistic`` = |observed - null|,
    ``statistics`` the same for every assignment (the permutation draws); ``p_value`` =
    rank / total (all assignments) or (1 + rank) / (1 + draws). No standard error: the
    test conditions on the data."""

    p_value: float
    estimate: float
    statistic: float
    n_assignments: int
    rank: int
    total_combinations: int
    full_enumeration: bool
    method: str
    statistics: np.ndarray = _draws_field()
    _DRAWS = ("statistics",)

    @property
    def draws(self) -> np.ndarray:
        return self.statistics


@dataclass(frozen=True)
class PretrendTest(_TestResult):
    """Joint test that all event-study leads are zero (:func:`analyses.event_study`).

    ``test`` is "F" (linear, F(q, G-1)) or "chi2" (Poisson, chi2(q)); ``df`` the degrees of
    freedom; the ``bootstrap_*`` fields are set when ``pretrend_bootstrap`` was requested
    (WCR wild bootstrap of the same Wald statistic; ``bootstrap_draws`` its B statistics)."""

    statistic: float
    df: tuple
    p_value: float
    test: str
    leads: tuple
    bootstrap_p_value: float | None = None
    bootstrap_n_boot: int | None = None
    bootstrap_full_enumeration: bool | None = None
    bootstrap_statistic: float | None = None
    bootstrap_method: str | None = None
    bootstrap_draws: np.ndarray = _draws_field()
    _DRAWS = ("bootstrap_draws",)


@dataclass(frozen=True)
class StaggeredPretest(_TestResult):
    """Callaway & Sant'Anna's analytic Wald pre-test of all pre-period ATT(g, t) = 0
    (:func:`analyses.callaway_santanna`; R ``did``'s ``Wpval``). ``statistic`` and
    ``p_value`` are NaN, with the reason in ``note``, when the pre-period cells' covariance
    is singular; ``periods`` are the panel's periods."""

    statistic: float
    df: int
    p_value: float
    test: str
    periods: tuple
    note: str | None = None


__all__ += [
    "BootstrapResult",
    "WaldBootstrapResult",
    "RandomizationResult",
    "PretrendTest",
    "StaggeredPretest",
]
