"""Few-shot probe: the benchmark's own ground truth, run on the target's labelled train+val images alone.

    probe(F, y) = 1/E sum_e accuracy( logistic_k(F[S_e], y[S_e]) on F[Q_e] ),

S_e: k images of every class (fewer when a class has no more), drawn with a seed (`logistic.draw_supports`), Q_e:
every other image of the pool; logistic_k: the benchmark's classifier (standardised features, L2 multinomial
logistic regression, C = 1: `logistic.logistic_predict`). The benchmark measures the same classifier with support
sets from the train+val pool and the *test* split as queries; the probe never reads the test split. Its
difference between a source network and the ImageNet network, on the same support sets (the same seed and
labels), estimates the source's gain directly. k = 20 is the benchmark's headline k, lowered to one less than
the smallest class where a class is smaller, so every class keeps images to score; E = 20 episodes bounds the cost
(0.2 to 1.1 s per network on a 2-core CPU for the catalog's targets, docs/benchmarks.md "gain_scores"). A target of
more than WAYS = 10 classes (the catalog's largest) runs 10-way episodes (`episode_sets`): an episode's cost grows
faster than the square of its classes (its support set and its weights; 6 s for one 100-class episode), and the
report says so (`departures`).
"""
from __future__ import annotations

import numpy as np

from ._check import features_and_labels
from .logistic import draw_supports, fit_in_span, span_projector

K = 20
EPISODES = 20
WAYS = 10
CHUNK_BYTES = 128 * 2**20
SEED = 0
C = 1.0


def shots(labels, k: int = K) -> int:
    """The k the probe runs with on these labels: `k`, or one less than the smallest class when that is smaller."""
    return min(int(k), int(np.bincount(np.unique(np.asarray(labels), return_inverse=True)[1]).min()) - 1)


def episode_sets(codes: np.ndarray, k: int, episodes: int, seed: int, ways: int = WAYS):
    """(support, query) index arrays of each episode. With at most `ways` classes: the benchmark's own seeded
    support sets (`logistic.draw_supports`), every other image a query. With more: an N-way episode (Vinyals et
    al., NeurIPS 2016, "Matching networks for one shot learning"): `ways` classes drawn with a seed (seed, k, e,
    ways), k support images of each, the other images of those classes the queries."""
    n_classes = int(codes.max()) + 1
    if n_classes <= ways:
        for support in draw_supports(codes, k, episodes, seed):
            yield support, np.setdiff1d(np.arange(len(codes)), support)
        return
    for e in range(int(episodes)):
        rng = np.random.default_rng([int(seed), int(k), e, int(ways)])
        chosen = np.sort(rng.choice(n_classes, int(ways), replace=False))
        members = [np.flatnonzero(codes == c) for c in chosen]
        support = np.sort(np.concatenate([rng.choice(m, int(k), replace=False) for m in members]))
        yield support, np.setdiff1d(np.concatenate(members), support)


def probe_accuracies(features, labels, k: int = K, episodes: int = EPISODES, seed: int = SEED,
                     c: float = C) -> np.ndarray:
    """Each episode's accuracy (module docstring), in episode order: episode e's sets depend only on
    (labels, k, seed, e), so the first E of a longer run are the E episodes of a shorter one."""
    x, codes, _ = features_and_labels(features, labels)
    k = shots(codes, k)
    if k < 1:
        raise ValueError("a few-shot probe needs at least two images of every class (one to fit, one to score).")
    pool = x.astype(np.float32).astype(np.float64)  # the benchmark's classifier sees float32 features
    sets = list(episode_sets(codes, k, episodes, seed))
    # Where every episode scores the whole pool but its support (at most WAYS classes), many episodes' bases
    # project the pool in one matrix product (`span_projector`: the arithmetic of `logistic_predict`, regrouped),
    # in chunks whose product stays under CHUNK_BYTES; a 10-way episode of a larger target projects its own images.
    width = min(len(sets[0][0]), x.shape[1])
    whole_pool = codes.max() + 1 <= WAYS  # as episode_sets decides: every class in every episode
    per_chunk = max(1, int(CHUNK_BYTES // (8 * len(codes) * width))) if whole_pool else 1
    accuracies = []
    for lo in range(0, len(sets), per_chunk):
        chunk = sets[lo:lo + per_chunk]
        rows = np.arange(len(codes)) if whole_pool else chunk[0][1]
        bases = [span_projector(pool[support]) for support, _ in chunk]
        projected = pool[rows] @ np.concatenate([projector for _, projector, _ in bases], axis=1)
        for i, ((support, query), (coordinates, _, offset)) in enumerate(zip(chunk, bases)):
            classes, y = np.unique(codes[support], return_inverse=True)
            at = query if whole_pool else np.arange(len(query))
            probabilities = fit_in_span(coordinates[None], y, (projected[at, i * width:(i + 1) * width]
                                                               - offset)[None], len(classes), c)[0]
            accuracies.append(np.mean(classes[np.argmax(probabilities, axis=1)] == codes[query]))
    return np.asarray(accuracies, float)


def fewshot_probe(features, labels, k: int = K, episodes: int = EPISODES, seed: int = SEED, c: float = C) -> float:
    """Mean accuracy of k-shot logistic regressions fitted on seeded support sets of (features, labels) and scored
    on the other images (module docstring). Higher: the features make few-shot classes easier to learn."""
    return float(np.mean(probe_accuracies(features, labels, k, episodes, seed, c)))


def departures(labels) -> tuple[str, ...]:
    """Sentences for a report where the probe on these train+val labels runs otherwise than on the catalog targets
    the gain model was fitted on (k = 20, every class in every episode, at most 10 classes)."""
    classes = len(np.unique(np.asarray(labels)))
    k = shots(labels)
    notes = () if k >= K else (
        f"The few-shot probe ran with k = {k} (the target's smallest class has {k + 1} train+val images), "
        f"below the k = {K} of the catalog targets the model was fitted on: read the interval as less sure.",)
    if classes > WAYS:
        notes += (f"The few-shot probe ran {WAYS}-way episodes ({WAYS} of the target's {classes} classes drawn in "
                  f"each) to bound its cost; the model was fitted on targets of at most {WAYS} classes, and a gain "
                  f"in {classes}-way accuracy can be larger, either way, than the {WAYS}-way one it reads: read the "
                  "prediction as less sure, and validate it (validate.py).",)
    return notes
