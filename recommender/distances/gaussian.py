"""The 2-Wasserstein (Bures) distance between Gaussian class summaries.

W2^2(N(m1, S1), N(m2, S2)) = |m1 - m2|^2 + tr S1 + tr S2 - 2 tr (S1^1/2 S2 S1^1/2)^1/2
(Dowson & Landau 1982; Gelbrich 1990; the class-to-class cost of Alvarez-Melis & Fusi, NeurIPS 2020).
For diagonal covariances the trace term is |sqrt(v1) - sqrt(v2)|^2.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def bures_squared(cov_a: np.ndarray, cov_b: np.ndarray) -> np.ndarray:
    """(len(cov_a), len(cov_b)) squared Bures distances; each input (n, d) variances or (n, p, p) covariances."""
    cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
    if cov_a.ndim == 2:
        return cdist(np.sqrt(np.clip(cov_a, 0, None)), np.sqrt(np.clip(cov_b, 0, None)), "sqeuclidean")
    traces_a, traces_b = np.trace(cov_a, axis1=1, axis2=2), np.trace(cov_b, axis1=1, axis2=2)
    out = np.empty((len(cov_a), len(cov_b)))
    for i, s in enumerate(cov_a):
        root = _sqrt_psd(s)
        middle = root @ cov_b @ root  # (n_b, p, p), symmetric PSD
        cross = np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0, None)).sum(axis=1)
        out[i] = traces_a[i] + traces_b - 2 * cross
    return np.clip(out, 0, None)


def wasserstein_squared(means_a, cov_a, means_b, cov_b) -> np.ndarray:
    """Squared W2 between every class Gaussian of `a` and of `b` (means (n, d); covariances as above)."""
    return cdist(np.asarray(means_a, np.float64), np.asarray(means_b, np.float64), "sqeuclidean") \
        + bures_squared(cov_a, cov_b)
