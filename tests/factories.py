"""Small objects for tests, with sensible defaults: name what the test is about, nothing else."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from finetune.transfer.stages import TransferResult
from recommender.domains import Domain
from recommender.features.extractor import FeatureSet
from recommender.ranking import SourceResult


def domain(name="d", means=((0.0, 0.0), (1.0, 0.0)), counts=None, dropped=None, n_skipped=0) -> Domain:
    means = np.asarray(means, float)
    counts = np.asarray(counts if counts is not None else [10] * len(means))
    return Domain(name, [f"{name}{i}" for i in range(len(means))], means, counts / counts.sum(), counts,
                  dict(dropped or {}), n_skipped)


def feature_set(counts, dim=4, name="d", skipped=("bad.jpg",)) -> FeatureSet:
    """Class sums whose class means are 0..dim-1, dim..2dim-1, ... (row-major)."""
    counts = np.asarray(counts)
    sums = np.arange(len(counts) * dim, dtype=float).reshape(len(counts), dim) * counts[:, None]
    # Every image of a class sits at its mean: sums of squares are count * mean**2.
    sq_sums = sums ** 2 / np.maximum(counts, 1)[:, None]
    return FeatureSet(name, [f"c{i}" for i in range(len(counts))], counts, sums, sq_sums, np.array([]), np.array([]),
                      np.array(list(skipped)), Path("unused.npz"))


def source_result(name="s", distance=1.0, similarity=None, rank=1, classes=("a", "b")) -> SourceResult:
    n = len(classes)
    return SourceResult(name=name, distance=distance, similarity=np.exp(-0.01 * distance) if similarity is None else similarity,
                        rank=rank, n_classes=n, n_images=10 * n, n_skipped=0, dropped={}, plan=np.eye(n) / n,
                        cost=np.ones((n, n)), class_names=list(classes), ref=name, score=-distance)


def transfer_result(source="s", target="tgt", seed=0, accuracy=0.8) -> TransferResult:
    return TransferResult(source, target, seed, accuracy, {"a": accuracy, "b": accuracy}, [[1, 0], [0, 1]],
                          ["a", "b"], 2)


def image_domain(name="d", rows=((0.0, 0.0), (2.0, 0.0)), labels=(0, 0)) -> Domain:
    """A domain built from per-image features (what `represent` and the sample-level distances read)."""
    rows = np.asarray(rows, float)
    labels = np.asarray(labels)
    classes = np.unique(labels)
    counts = np.array([np.sum(labels == c) for c in classes])
    means = np.stack([rows[labels == c].mean(axis=0) for c in classes])
    return Domain(name, [f"{name}{c}" for c in classes], means, counts / counts.sum(), counts,
                  features=rows.astype(np.float32), labels=labels)
