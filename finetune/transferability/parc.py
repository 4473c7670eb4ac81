"""PARC: do images the features call alike also share labels? (pairwise correlation of two dissimilarities)."""
from __future__ import annotations

import numpy as np

from ._check import features_and_labels

PCA_DIMS = 32
MAX_SAMPLES = 1000  # the score is O(n^2): a seeded subsample keeps it cheap and deterministic


def parc(features, labels, dims: int = PCA_DIMS, max_samples: int = MAX_SAMPLES, seed: int = 0) -> float:
    """PARC (Bolya, Mittapalli, Hoffman: "Scalable Diverse Model Selection for Accessible Transfer Learning",
    NeurIPS 2021).

    With features reduced to `dims` principal components and Y the one-hot labels,

        D_f = 1 - corr(F),  D_y = 1 - corr(Y)   (n x n Pearson correlations between images),
        PARC = 100 * Spearman( upper triangle of D_f, upper triangle of D_y ).

    Higher: images that the features find similar tend to share a label."""
    from scipy.stats import spearmanr
    from sklearn.decomposition import PCA

    f, codes, classes = features_and_labels(features, labels)
    if len(f) > max_samples:
        keep = np.sort(np.random.default_rng(seed).choice(len(f), int(max_samples), replace=False))
        f, codes = f[keep], codes[keep]
    k = min(int(dims), f.shape[1], len(f) - 1)
    if k < f.shape[1]:
        f = PCA(n_components=k, random_state=0).fit_transform(f)
    one_hot = np.eye(len(classes))[codes]
    upper = np.triu_indices(len(f), k=1)
    distance_f = 1 - np.corrcoef(f)[upper]
    distance_y = 1 - np.corrcoef(one_hot)[upper]
    return float(100 * spearmanr(distance_f, distance_y).statistic)
