"""H-score: how much of the features' variance is between-class variance."""
from __future__ import annotations

import numpy as np

from ._check import features_and_labels


def _class_mean_covariance(f: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """cov(E[f | y]): the covariance over samples after replacing each sample by its class mean."""
    centred = f - f.mean(axis=0)
    means = np.zeros((codes.max() + 1, f.shape[1]))
    np.add.at(means, codes, centred)
    means /= np.bincount(codes)[:, None]
    g = means[codes]
    return g.T @ g / len(f)


def h_score(features, labels) -> float:
    """H-score (Bao, Li, Huang, Wang, Zheng, Tong: "An Information-Theoretic Approach to Transferability in Task
    Transfer Learning", ICIP 2019):

        H(f) = tr( cov(f)^+ cov(E[f | y]) ),

    with the Moore-Penrose pseudo-inverse, as in the paper's reference code. When there are fewer images than
    feature dimensions cov(f) is singular and the score saturates near C - 1; `h_score_shrinkage` is the fix."""
    f, codes, _ = features_and_labels(features, labels)
    centred = f - f.mean(axis=0)
    cov = centred.T @ centred / len(f)
    return float(np.trace(np.linalg.pinv(cov, rcond=1e-10, hermitian=True) @ _class_mean_covariance(f, codes)))


def h_score_shrinkage(features, labels) -> float:
    """Shrinkage H-score (Ibrahim, Ponomareva, Mazumder: "Newer is not always better: Rethinking transferability
    metrics, their peculiarities, stability and performance", ECML-PKDD 2022): the H-score with cov(f) replaced
    by its Ledoit-Wolf shrinkage estimate (1 - a) cov(f) + a mu I, so it stays well-conditioned when n < d:

        H_a(f) = tr( ((1 - a) cov(f) + a mu I)^-1 (1 - a) cov(E[f | y]) )."""
    from sklearn.covariance import ledoit_wolf

    f, codes, _ = features_and_labels(features, labels)
    shrunk, a = ledoit_wolf(f, assume_centered=False)
    return float(np.trace(np.linalg.solve(shrunk, (1 - a) * _class_mean_covariance(f, codes))))
