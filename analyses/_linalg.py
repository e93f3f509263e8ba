"""Internal helpers: cluster-robust sandwich and small-sample factors."""

from __future__ import annotations

import numpy as np
import pandas as pd


def cluster_codes(groups) -> tuple[np.ndarray, int]:
    """Integer codes 0..G-1 for a cluster variable and the number of clusters G."""
    codes, uniques = pd.factorize(pd.Series(np.asarray(groups)), sort=True)
    if (codes < 0).any():
        raise ValueError("cluster variable contains missing values")
    return codes, len(uniques)


def cluster_meat(scores: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum over clusters of (sum_i s_i)(sum_i s_i)' for an (N, K) score matrix."""
    sums = np.zeros((n_groups, scores.shape[1]))
    np.add.at(sums, codes, scores)
    return sums.T @ sums


def sandwich(bread: np.ndarray, meat: np.ndarray) -> np.ndarray:
    v = bread @ meat @ bread
    return (v + v.T) / 2
