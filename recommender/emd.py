"""Earth Mover's Distance between two weighted sets of class means.

The core follows POT's functional style: arrays in, a number out, inputs validated at the boundary.
The transport problem is solved exactly on the rectangular cost matrix with POT's network simplex.
"""
from __future__ import annotations

import numpy as np
import ot
from scipy.spatial.distance import cdist

GROUND_METRICS = ("euclidean", "cosine")


def ground_cost(means_a: np.ndarray, means_b: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """Class-to-class distances: rows are classes of `a`, columns classes of `b`."""
    if metric not in GROUND_METRICS:
        raise ValueError(f"emd.ground_metric={metric!r} is not supported; use one of {GROUND_METRICS}.")
    return cdist(np.asarray(means_a, np.float64), np.asarray(means_b, np.float64), metric=metric)


def _validated(a, b, cost) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1 or a.size == 0 or b.size == 0:
        raise ValueError(f"weights must be non-empty 1-D arrays, got shapes {a.shape} and {b.shape}.")
    if cost.shape != (a.size, b.size):
        raise ValueError(f"cost has shape {cost.shape}, expected {(a.size, b.size)} for these weights.")
    for label, arr in (("a", a), ("b", b), ("cost", cost)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{label} contains NaN or infinite values.")
        if np.any(arr < 0):
            raise ValueError(f"{label} contains negative values.")
    if a.sum() <= 0 or b.sum() <= 0:
        raise ValueError("weights must have a positive sum.")
    return a / a.sum(), b / b.sum(), cost


def transport_plan(a, b, cost) -> np.ndarray:
    """The optimal flow matrix (how much mass each class of `a` sends to each class of `b`)."""
    a, b, cost = _validated(a, b, cost)
    return ot.emd(a, b, cost, numItermax=10_000_000)


def emd_distance(a, b, cost) -> float:
    """EMD = min over flows F of sum(F * cost), with row sums `a` and column sums `b` (both normalised to 1)."""
    a, b, cost = _validated(a, b, cost)
    return float(ot.emd2(a, b, cost, numItermax=10_000_000))


def similarity(emd: float, gamma: float = 0.01) -> float:
    """Domain similarity exp(-gamma * EMD) of Cui et al. (2018)."""
    if gamma < 0:
        raise ValueError(f"emd.gamma must be non-negative, got {gamma}.")
    return float(np.exp(-gamma * emd))
