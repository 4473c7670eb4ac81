"""Exact and entropic optimal transport between two weighted point sets, given their cost matrix.

The core follows POT's functional style: arrays in, numbers out, inputs validated at the boundary. Each problem
is solved once: `solve` returns the value and the plan together (`ot.emd2(..., return_matrix=True)`).
"""
from __future__ import annotations

import warnings

import numpy as np

MAX_ITERATIONS = 10_000_000


def validated(a, b, cost) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, cost) as float arrays, checked at the boundary: 1-D non-empty weights, a matching cost, finite
    non-negative values; weights normalised to sum to 1."""
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


def solve(a, b, cost) -> tuple[float, np.ndarray]:
    """Exact EMD = min over flows F of sum(F * cost), row sums `a`, column sums `b` (each normalised to 1),
    by POT's network simplex; returns (value, optimal flow matrix)."""
    a, b, cost = validated(a, b, cost)
    import ot  # imported on first use: it loads scikit-learn's clustering, which `--help` should not wait for

    value, log = ot.emd2(a, b, cost, numItermax=MAX_ITERATIONS, return_matrix=True)
    return float(value), log["G"]


def emd_distance(a, b, cost) -> float:
    """The exact EMD between weights `a` and `b` under `cost` (ot.emd2 semantics: arrays in, a number out)."""
    return solve(a, b, cost)[0]


def transport_plan(a, b, cost) -> np.ndarray:
    """The optimal transport plan (len(a) x len(b)) of the exact EMD."""
    return solve(a, b, cost)[1]


def sinkhorn(a, b, cost, reg: float, scale: float | None = None) -> tuple[float, np.ndarray]:
    """Entropic OT (Cuturi 2013): the plan P minimising <P, cost> - eps H(P), with
    eps = reg * scale (default scale: max(cost)) so `reg` does not depend on the cost's units; returns
    (<P, cost>, P). Terms that are combined (a debiased divergence) must share one `scale`."""
    a, b, cost = validated(a, b, cost)
    if reg <= 0:
        raise ValueError(f"distance.sinkhorn_reg must be positive, got {reg}.")
    scale = float(cost.max() if scale is None else scale) or 1.0
    # The plain (non-log) iterations are exact enough for reg >= 0.01 of the largest cost and much faster.
    method = "sinkhorn" if reg >= 0.01 else "sinkhorn_log"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # POT warns on stderr; the marginal error below says it in the report
        import ot

        plan = ot.sinkhorn(a, b, cost / scale, reg, method=method, numItermax=5_000, stopThr=1e-7)
    error = marginal_error(plan, a, b)
    if not error <= SINKHORN_TOLERANCE:
        raise NotConverged(error)
    return float(np.sum(plan * cost)), plan


SINKHORN_TOLERANCE = 1e-4  # L1 distance of the plan's marginals from the weights (total mass 1)


class NotConverged(ArithmeticError):
    """Sinkhorn stopped with a plan whose marginals miss the weights: its value is not the distance."""

    def __init__(self, error: float):
        super().__init__(f"Sinkhorn did not converge (marginal error {error:.2g} > {SINKHORN_TOLERANCE:g})")
        self.error = error


def marginal_error(plan: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """sum |P 1 - a| + sum |P^T 1 - b|: 0 for a transport plan between a and b, nan for a plan with nan."""
    return float(np.abs(plan.sum(axis=1) - a).sum() + np.abs(plan.sum(axis=0) - b).sum())


def similarity(distance: float, gamma: float = 0.01) -> float:
    """Domain similarity exp(-gamma * distance) of Cui et al. (2018)."""
    if gamma < 0:
        raise ValueError(f"distance.gamma must be non-negative, got {gamma}.")
    return float(np.exp(-gamma * distance))
