"""k-NN leave-one-out accuracy of the target labels in the feature space."""
from __future__ import annotations

import numpy as np

from ._check import features_and_labels

K = 5


def knn_loo_accuracy(features, labels, k: int = K) -> float:
    """Leave-one-out k-nearest-neighbour accuracy (cosine distance, majority vote, ties to the nearer neighbour):
    each image is classified by its k nearest other images. Higher: classes are locally separated."""
    from sklearn.neighbors import NearestNeighbors

    f, codes, classes = features_and_labels(features, labels)
    k = min(int(k), len(f) - 1)
    if k < 1:
        raise ValueError("k-NN leave-one-out needs at least two images.")
    unit = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    _, neighbours = NearestNeighbors(n_neighbors=k + 1).fit(unit).kneighbors(unit)
    # Drop each image itself (not always column 0 when duplicates tie at distance 0).
    others = np.array([[j for j in row if j != i][:k] for i, row in enumerate(neighbours)])
    votes = np.zeros((len(f), len(classes)))
    for rank in range(k):
        # A tiny bonus for nearer neighbours breaks ties in their favour without outvoting a majority.
        np.add.at(votes, (np.arange(len(f)), codes[others[:, rank]]), 1.0 + (k - rank) * 1e-6)
    return float(np.mean(np.argmax(votes, axis=1) == codes))
