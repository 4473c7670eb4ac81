"""Paired few-shot episodes: the ground truth of the transfer benchmark.

An episode draws k labelled images per class from the target's train+val pool; a classifier is fitted on the
support images' features and scored on the target's test split. The same episodes (the same images) are used
for every network compared, so differences between sources are paired and the episode-to-episode noise
cancels out of them.
"""
from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from finetune.transferability.logistic import draw_supports, logistic_predict
from recommender import DatasetError


def pool_labels(images, cfg: DictConfig) -> np.ndarray:
    """The labels of the target's train+val pool, from the listing alone (no image is read)."""
    from recommender import split_indices_of

    cap = cfg.features.max_images_per_class
    return np.concatenate([images.labels[split_indices_of(images, cfg, split, cap)] for split in ("train", "val")])


def refuse_k_beyond_the_pool(pool_labels: np.ndarray, ks, class_names, option: str) -> None:
    """A k-shot episode needs more than k images in every class of the pool: with k or fewer, every episode of
    that class holds the same images, and its interval measures nothing. Refused before any work."""
    counts = np.bincount(np.asarray(pool_labels, int), minlength=len(class_names))
    present = counts[counts > 0]
    if len(present) == 0:
        raise DatasetError("the target's train+val pool is empty; add images.")
    smallest = int(present.min())
    too_big = [int(k) for k in ks if int(k) >= smallest]
    if too_big:
        name = class_names[int(np.flatnonzero(counts == smallest)[0])]
        raise DatasetError(f"{option}={too_big[0] if len(too_big) == 1 else too_big}: the pool's smallest class "
                           f"({name!r}) has {smallest} images, so a {too_big[0]}-shot episode would hold the same "
                           f"images every time; use k below {smallest}.")


def draw_episodes(pool_labels: np.ndarray, k: int, episodes: int, seed: int) -> list[np.ndarray]:
    """`episodes` support sets of the target's train+val pool (`draw_supports`): for every class, min(k, class
    size) pool indices, seeded by (seed, k, episode), the same for every network compared."""
    if int(k) < 1 or int(episodes) < 1:
        raise DatasetError(f"benchmark: k={k} and episodes={episodes} must be positive integers.")
    return draw_supports(pool_labels, k, episodes, seed)


EPISODE_CLASSIFIERS = ("logistic", "prototype")


def prototype_predict_batch(supports: np.ndarray, support_labels: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Nearest class mean by cosine similarity, for B networks at once: (B, n, d), (B, m, d) -> (B, m)."""
    classes = np.unique(support_labels)
    means = np.stack([supports[:, support_labels == c].mean(axis=1) for c in classes], axis=1)  # (B, C, d)
    means /= np.maximum(np.linalg.norm(means, axis=2, keepdims=True), 1e-12)
    unit = queries / np.maximum(np.linalg.norm(queries, axis=2, keepdims=True), 1e-12)
    return classes[np.argmax(unit @ np.swapaxes(means, 1, 2), axis=2)]


def episode_accuracies(pools: list[np.ndarray], pool_labels: np.ndarray, tests: list[np.ndarray],
                       test_labels: np.ndarray, episodes: list[np.ndarray], c: float = 1.0,
                       classifier: str = "logistic") -> np.ndarray:
    """(networks, episodes) test accuracies. pools[b] / tests[b] are network b's features of the same pool and
    test images (same rows); every network is fitted on the same support set in each episode."""
    if classifier not in EPISODE_CLASSIFIERS:
        raise DatasetError(f"benchmark.fewshot.classifier={classifier!r}; use one of {EPISODE_CLASSIFIERS}.")
    pools = [np.asarray(p, np.float32) for p in pools]
    tests = np.stack([np.asarray(t, np.float32) for t in tests])
    out = np.zeros((len(pools), len(episodes)))
    for e, support in enumerate(episodes):
        supports = np.stack([p[support] for p in pools])
        predicted = (logistic_predict(supports, pool_labels[support], tests, c) if classifier == "logistic"
                     else prototype_predict_batch(supports, pool_labels[support], tests))
        out[:, e] = np.mean(predicted == np.asarray(test_labels)[None], axis=1)
    return out
