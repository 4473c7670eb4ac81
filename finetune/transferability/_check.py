"""Input validation shared by the scores: arrays in, clear ValueError out."""
from __future__ import annotations

import numpy as np


def features_and_labels(features, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features float64 (n, d), labels as 0..C-1, class values); at least two classes and one row each."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"need features (n, d) and labels (n,), got {x.shape} and {y.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN or infinite values.")
    classes, codes = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError("a transferability score needs labels of at least two classes.")
    return x, codes, classes


def predictions_and_labels(predictions, labels) -> tuple[np.ndarray, np.ndarray]:
    """(source class probabilities (n, z), rows summing to 1; target labels as 0..C-1)."""
    p, codes, _ = features_and_labels(predictions, labels)
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("predictions must be probabilities: non-negative rows that sum to 1.")
    return p, codes
