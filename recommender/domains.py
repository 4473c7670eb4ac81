"""A domain: a dataset summarised per class (Cui et al. 2018), and the representation step of the distances.

`build_domain` gives class means weighted by class size, which is all class-mean EMD reads. Distances that need
more (per-image features, class covariances, seeded samples) get it from `represent`, which also puts every
domain compared into one normalised feature space fitted on their union (the attack on hubness of issue 10).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from recommender.common.errors import RecommenderError
from recommender.features.extractor import FeatureSet

log = logging.getLogger(__name__)
NORMALISATIONS = ("none", "standardise", "whiten")
COVARIANCES = ("diagonal", "ledoit_wolf")


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
    # Filled by `represent` for the distances that read more than class means:
    features: np.ndarray | None = field(default=None, repr=False)  # (n_images, dim) rows of the kept classes
    labels: np.ndarray | None = field(default=None, repr=False)  # class index of each row
    # (n_classes, dim) variances, or (n_classes, p, p) covariances in the union's top-p principal subspace
    covariances: np.ndarray | None = field(default=None, repr=False)
    basis: np.ndarray | None = field(default=None, repr=False)  # (dim, p) that subspace, for full covariances
    sample_rows: np.ndarray | None = field(default=None, repr=False)  # a seeded, class-stratified subsample
    # (n_classes, dim) per-class mean of the squared features, from the streamed sums (None: unknown)
    second_moments: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_images(self) -> int:
        return int(self.counts.sum())


def build_domain(features: FeatureSet, min_images_per_class: int = 1, keep_features: bool = False) -> Domain:
    """Class means and weights from the streamed class sums, dropping classes with too few images.

    `keep_features` also loads the per-image features of the kept classes (for `represent`)."""
    counts = np.asarray(features.class_counts)
    keep = counts >= max(int(min_images_per_class), 1)
    dropped = {c: int(n) for c, n, k in zip(features.class_names, counts, keep) if not k}
    if dropped:
        log.warning("Dataset %r: dropped classes with fewer than %d images: %s",
                    features.dataset, min_images_per_class, dropped)
    if not keep.any():
        raise DomainError(
            f"Dataset {features.dataset!r}: no class has at least {min_images_per_class} readable images "
            "(lower domain.min_images_per_class or add images)."
        )
    kept_counts = counts[keep]
    rows = labels = None
    if keep_features:
        new_index = np.cumsum(keep) - 1  # old class index -> index among the kept classes
        in_kept = keep[features.labels]
        rows = features.features()[in_kept]
        labels = new_index[features.labels[in_kept]]
    return Domain(
        name=features.dataset,
        class_names=[c for c, k in zip(features.class_names, keep) if k],
        means=features.class_sums[keep] / kept_counts[:, None],
        weights=kept_counts / kept_counts.sum(),
        counts=kept_counts,
        dropped=dropped,
        n_skipped=len(features.skipped),
        features=rows,
        labels=labels,
        second_moments=features.class_sq_sums[keep] / kept_counts[:, None],
    )


def _require_features(domains: list[Domain]) -> None:
    missing = [d.name for d in domains if d.features is None]
    if missing:
        raise ValueError(f"represent() needs per-image features; build these domains with keep_features=True: "
                         f"{missing}")


def normaliser(domains: list[Domain], method: str, whiten_dim: int = 128):
    """An affine map x -> (x - centre) @ matrix fitted on the union of every image of `domains`.

    standardise: per-feature z-scores. whiten: PCA whitening onto the union's top `whiten_dim` components
    (the matrix's columns are eigenvectors of the pooled covariance divided by the square roots of their
    eigenvalues), so no direction of large shared variance dominates the distances."""
    if method not in NORMALISATIONS:
        raise ValueError(f"distance.normalise={method!r} is not supported; use one of {NORMALISATIONS}.")
    dim = domains[0].means.shape[1]
    if method == "none":
        return np.zeros(dim), None
    if method == "standardise" and all(d.second_moments is not None for d in domains):
        return _standardiser_from_moments(domains)
    _require_features(domains)
    pooled = np.concatenate([d.features for d in domains]).astype(np.float64)
    centre = pooled.mean(axis=0)
    if method == "standardise":
        scale = pooled.std(axis=0)
        return centre, np.diag(1.0 / np.where(scale > 1e-12, scale, 1.0))
    pooled -= centre
    values, vectors = np.linalg.eigh(pooled.T @ pooled / max(len(pooled) - 1, 1))
    top = np.argsort(values)[::-1][:int(whiten_dim)]
    values = np.maximum(values[top], 1e-12)
    return centre, vectors[:, top] / np.sqrt(values)


def _standardiser_from_moments(domains: list[Domain]):
    """The union's per-feature mean and standard deviation from the class statistics alone:
    var = E[x^2] - E[x]^2 over every image, exact however few per-image rows the cache keeps."""
    counts = np.concatenate([d.counts for d in domains]).astype(np.float64)
    means = np.concatenate([d.means for d in domains])
    moments = np.concatenate([d.second_moments for d in domains])
    centre = counts @ means / counts.sum()
    scale = np.sqrt(np.maximum(counts @ moments / counts.sum() - centre ** 2, 0.0))
    return centre, np.diag(1.0 / np.where(scale > 1e-12, scale, 1.0))


def _transformed(domain: Domain, centre: np.ndarray, matrix: np.ndarray | None) -> Domain:
    if matrix is None:
        return domain
    features = None if domain.features is None else \
        ((domain.features.astype(np.float64) - centre) @ matrix).astype(np.float32)
    # second_moments stay None here: they describe the raw feature space, and only the normaliser reads them.
    return replace(domain, means=(domain.means - centre) @ matrix, features=features, second_moments=None)


def principal_basis(domains: list[Domain], dim: int) -> np.ndarray:
    """(features, dim) orthonormal top principal directions of the pooled images of `domains`."""
    _require_features(domains)
    pooled = np.concatenate([d.features for d in domains]).astype(np.float64)
    pooled -= pooled.mean(axis=0)
    values, vectors = np.linalg.eigh(pooled.T @ pooled)
    return vectors[:, np.argsort(values)[::-1][:int(dim)]]


def class_covariances(domain: Domain, kind: str, basis: np.ndarray | None = None) -> np.ndarray:
    """Per class: the variance of every feature (`diagonal`), or the Ledoit-Wolf shrunk covariance of the
    features projected on `basis` (`ledoit_wolf`; Ledoit & Wolf 2004, via scikit-learn)."""
    from sklearn.covariance import ledoit_wolf

    if kind not in COVARIANCES:
        raise ValueError(f"distance.covariance={kind!r} is not supported; use one of {COVARIANCES}.")
    out = []
    for c in range(len(domain.class_names)):
        rows = domain.features[domain.labels == c].astype(np.float64)
        if kind == "diagonal":
            out.append(rows.var(axis=0))
        elif len(rows) < 2:
            out.append(np.zeros((basis.shape[1], basis.shape[1])))
        else:
            out.append(ledoit_wolf(rows @ basis)[0])
    return np.stack(out)


def stratified_sample(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """At most `n` row indices, each class keeping its share (at least one row), chosen with `seed`."""
    labels = np.asarray(labels)
    if len(labels) <= n:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.maximum(1, np.floor(counts * n / len(labels)).astype(int))
    picked = [np.sort(rng.choice(np.flatnonzero(labels == c), size=min(q, k), replace=False))
              for c, q, k in zip(classes, quota, counts)]
    return np.sort(np.concatenate(picked))


def represent(domains: list[Domain], normalise: str = "none", whiten_dim: int = 128,
              covariance: str | None = None, covariance_dim: int = 64, samples: int | None = None,
              seed: int = 0) -> list[Domain]:
    """Every domain in one feature space, normalised on their union, with the statistics a distance reads.

    covariance: None, `diagonal` or `ledoit_wolf` (in the union's top `covariance_dim` principal directions);
    samples: keep a seeded, class-stratified subsample of at most this many images per domain."""
    centre, matrix = normaliser(domains, normalise, whiten_dim)
    domains = [_transformed(d, centre, matrix) for d in domains]
    if covariance is not None:
        _require_features(domains)
        basis = principal_basis(domains, covariance_dim) if covariance == "ledoit_wolf" else None
        domains = [replace(d, covariances=class_covariances(d, covariance, basis), basis=basis) for d in domains]
    if samples is not None:
        _require_features(domains)
        domains = [replace(d, sample_rows=stratified_sample(d.labels, int(samples), seed)) for d in domains]
    return domains
