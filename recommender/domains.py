"""A domain: a dataset summarised as class-mean features weighted by class size (Cui et al. 2018)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from .errors import RecommenderError
from .features import FeatureSet

log = logging.getLogger(__name__)


class DomainError(RecommenderError, ValueError):
    """A dataset has nothing left to compare after filtering."""


@dataclass(frozen=True)
class Domain:
    name: str
    class_names: list[str]
    means: np.ndarray  # (n_classes, dim)
    weights: np.ndarray  # class image count / dataset image count, over the kept classes
    counts: np.ndarray
    dropped: dict[str, int] = field(default_factory=dict)  # class -> images, below min_images_per_class
    n_skipped: int = 0  # unreadable images

    @property
    def n_images(self) -> int:
        return int(self.counts.sum())


def build_domain(features: FeatureSet, min_images_per_class: int = 1) -> Domain:
    """Class means and weights from the streamed class sums, dropping classes with too few images."""
    counts = np.asarray(features.class_counts)
    keep = counts >= max(int(min_images_per_class), 1)
    dropped = {c: int(n) for c, n, k in zip(features.class_names, counts, keep) if not k}
    if dropped:
        log.warning("Dataset %r: dropped classes with fewer than %d images: %s",
                    features.dataset, min_images_per_class, dropped)
    if not keep.any():
        raise DomainError(
            f"Dataset {features.dataset!r}: no class has at least {min_images_per_class} readable images "
            "(lower emd.min_images_per_class or add images)."
        )
    kept_counts = counts[keep]
    return Domain(
        name=features.dataset,
        class_names=[c for c, k in zip(features.class_names, keep) if k],
        means=features.class_sums[keep] / kept_counts[:, None],
        weights=kept_counts / kept_counts.sum(),
        counts=kept_counts,
        dropped=dropped,
        n_skipped=len(features.skipped),
    )
