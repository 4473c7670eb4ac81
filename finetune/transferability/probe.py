"""Few-shot probe: the benchmark's own ground truth, run on the target's labelled train+val images alone.

    probe(F, y) = 1/E sum_e accuracy( logistic_k(F[S_e], y[S_e]) on F[Q_e] ),

S_e: k images of every class (fewer when a class has no more), drawn with a seed (`logistic.draw_supports`), Q_e:
every other image of the pool; logistic_k: the benchmark's classifier (standardised features, L2 multinomial
logistic regression, C = 1: `logistic.logistic_predict`). The benchmark measures the same classifier with support
sets from the train+val pool and the *test* split as queries; the probe never reads the test split. Its
difference between a source network and the ImageNet network, on the same support sets (the same seed and
labels), estimates the source's gain directly. k = 20 is the benchmark's headline k, lowered to one less than
the smallest class where a class is smaller, so every class keeps images to score; E = 20 episodes bounds the cost
(about 0.7 s per network on a 2-core CPU for the catalog's targets).
"""
from __future__ import annotations

import numpy as np

from ._check import features_and_labels
from .logistic import draw_supports, logistic_predict

K = 20
EPISODES = 20
SEED = 0
C = 1.0


def shots(labels, k: int = K) -> int:
    """The k the probe runs with on these labels: `k`, or one less than the smallest class when that is smaller."""
    return min(int(k), int(np.bincount(np.unique(np.asarray(labels), return_inverse=True)[1]).min()) - 1)


def fewshot_probe(features, labels, k: int = K, episodes: int = EPISODES, seed: int = SEED, c: float = C) -> float:
    """Mean accuracy of k-shot logistic regressions fitted on seeded support sets of (features, labels) and scored
    on the other images (module docstring). Higher: the features make few-shot classes easier to learn."""
    x, codes, _ = features_and_labels(features, labels)
    k = shots(codes, k)
    if k < 1:
        raise ValueError("a few-shot probe needs at least two images of every class (one to fit, one to score).")
    accuracies = []
    for support in draw_supports(codes, k, episodes, seed):
        query = np.setdiff1d(np.arange(len(codes)), support)
        predicted = logistic_predict(x[support].astype(np.float32), codes[support], x[query].astype(np.float32), c)
        accuracies.append(np.mean(predicted == codes[query]))
    return float(np.mean(accuracies))
