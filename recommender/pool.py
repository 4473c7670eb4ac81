"""A pretraining source built from a pool of classes, not picked whole (Cui et al., CVPR 2018, section 4.2).

Cui et al. treat each class of a large source as a domain of its own, measure its similarity to the target
domain by EMD (section 4.1, eq. 2-3), and pretrain on the most similar classes. The rule used here, exactly:

    pool class i is the one-point domain {mu_i} (its class mean of ImageNet features, mass 1);
    the target is its class means t_j with weights w_j (class image share), as everywhere in the project;
    d_i = EMD({mu_i}, T) = sum_j w_j * ||mu_i - t_j||    (with one source point the only transport plan moves
                                                          all of its mass, so the EMD has this closed form);
    similarity_i = exp(-gamma * d_i), gamma = 0.01 (eq. 3); the kept classes are the n with the smallest d_i
    (ties by pool order).

A built source is written as a *source spec* (JSON): the pool datasets, the kept classes, each class's
distance and similarity, and a content identity. Every command reads it wherever it reads a dataset
(`sources=[spec.json]`, `source=spec.json`), through the dataset kind `subset` of `recommender.data.datasets`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from recommender.common.checks import Rule, choice, integer
from recommender.data.datasets import DatasetError
from recommender.data.subset import evidence_name, make_spec, write_spec  # noqa: F401 (evidence_name: re-exported)
from recommender.describe import canonical_ref, dataset_domain, open_dataset

GAMMA = 0.01  # Cui et al. eq. 3
RULES = ("emd", "emd_relative", "random")


def class_distances(pool_means: np.ndarray, target_means: np.ndarray, target_weights: np.ndarray) -> np.ndarray:
    """d_i = EMD({mu_i}, T) = sum_j w_j ||mu_i - t_j||: each pool class (a row of `pool_means`) against the target
    domain (class means `target_means`, weights `target_weights` summing to 1). Arrays in, one value per class."""
    pool_means = np.asarray(pool_means, float)
    target_means = np.asarray(target_means, float)
    w = np.asarray(target_weights, float)
    if pool_means.ndim != 2 or target_means.ndim != 2 or pool_means.shape[1] != target_means.shape[1]:
        raise ValueError(f"class_distances: means must be 2-D with one feature size, got {pool_means.shape} "
                         f"and {target_means.shape}.")
    if w.shape != (len(target_means),) or np.any(w < 0) or not np.isclose(w.sum(), 1.0):
        raise ValueError("class_distances: target_weights must be non-negative, one per target class, sum 1.")
    gaps = np.linalg.norm(pool_means[:, None, :] - target_means[None, :, :], axis=2)
    return gaps @ w


def relative_distances(distances: np.ndarray, reference_distances: np.ndarray) -> np.ndarray:
    """d_i minus pool class i's mean distance to the reference domains (rows: pool classes, columns: reference
    datasets): how much closer the class is to this target than to a typical dataset. A hub class, close to every
    domain (the hubness of Radovanovic et al., JMLR 2010), gains nothing from being close to this one; the
    correction is the domain-level analogue of CSLS (Conneau et al., ICLR 2018, eq. 6), without its k-NN."""
    reference_distances = np.asarray(reference_distances, float)
    if reference_distances.ndim != 2 or reference_distances.shape[0] != len(distances) or \
            reference_distances.shape[1] == 0:
        raise ValueError("relative_distances: one row of reference distances per pool class, at least one column.")
    return np.asarray(distances, float) - reference_distances.mean(axis=1)


def similarity(distances: np.ndarray, gamma: float = GAMMA) -> np.ndarray:
    """Cui et al. eq. 3: exp(-gamma * d)."""
    return np.exp(-float(gamma) * np.asarray(distances, float))


def closest(distances: np.ndarray, n: int) -> np.ndarray:
    """Indices of the `n` smallest distances, closest first; ties keep pool order (a stable sort)."""
    n = int(n)
    if not 1 <= n <= len(distances):
        raise ValueError(f"cannot keep {n} of {len(distances)} pool classes.")
    return np.argsort(np.asarray(distances, float), kind="stable")[:n]


def drawn(n_pool: int, n: int, seed: int) -> np.ndarray:
    """`n` pool classes drawn uniformly without replacement with `seed`, in pool order: the control that tells
    the domain from the size. The same seed gives the same draw for every target."""
    if not 1 <= int(n) <= int(n_pool):
        raise ValueError(f"cannot draw {n} of {n_pool} pool classes.")
    return np.sort(np.random.default_rng([int(seed), int(n_pool), int(n)]).choice(int(n_pool), int(n), replace=False))


# ----------------------------------------------------------------------------------------------- the spec


# ----------------------------------------------------------------------------------------------- building one


def build_source(cfg, target, pool: list[str], classes: int, rule: str = "emd", seed: int = 0,
                 name: str | None = None) -> dict:
    """The source spec of the `classes` pool classes closest to `target` (rule `emd`, the module's rule), closest
    relative to the other catalog datasets (rule `emd_relative`: `relative_distances`, the catalog's non-pool
    datasets other than the target as the reference), or drawn at random with `seed` (rule `random`, the
    control). Pool datasets identical to the target are left out. Reads the recommender's cached ImageNet features
    (train split) of the target, the pool and the reference."""
    from recommender.data.datasets import catalog_sources, refuse_shared, same_dataset

    if rule not in RULES:
        raise DatasetError(f"rule={rule!r} is not a rule; use one of {RULES}.")
    target_images = open_dataset(target, cfg)
    target_domain = dataset_domain(target_images, cfg) if rule != "random" else None
    opened = {}
    for p in pool:  # each pool dataset listed once, however it was spelled: a pool may hold many files
        images = open_dataset(str(p), cfg)
        if not any(same_dataset(images, other) for other in opened.values()):
            opened[str(p)] = images
    references = []
    if rule == "emd_relative":
        for ref in catalog_sources(cfg.catalog):
            images = open_dataset(ref, cfg)
            if not any(same_dataset(images, other) for other in (target_images, *opened.values())):
                references.append(dataset_domain(images, cfg))
        if not references:
            raise DatasetError("rule=emd_relative needs at least one catalog dataset besides the target and the pool.")
    rows, members = [], []
    for ref, images in opened.items():
        if same_dataset(images, target_images):
            continue  # the target's own images are no pretraining source for it
        refuse_shared(target_images, images, f"pool={list(pool)}")
        ref = canonical_ref(ref, images, cfg)
        if rule != "random":
            domain = dataset_domain(images, cfg)
            d = class_distances(domain.means, target_domain.means, target_domain.weights)
            if rule == "emd_relative":
                d = relative_distances(d, np.stack([class_distances(domain.means, r.means, r.weights)
                                                    for r in references], axis=1))
            rows += [(ref, images, c, float(v), int(n)) for c, v, n in zip(domain.class_names, d, domain.counts)]
        else:
            counts = np.bincount(images.labels, minlength=len(images.class_names))
            rows += [(ref, images, c, float("nan"), int(n)) for c, n in zip(images.class_names, counts)]
        members.append((ref, images))
    if not rows:
        raise DatasetError(f"pool={list(pool)}: no pool dataset other than the target; name one, e.g. "
                           "pool=[tinyimagenet].")
    if not 1 <= int(classes) <= len(rows):
        raise DatasetError(f"classes={classes}: the pool has {len(rows)} classes; keep between 2 and {len(rows)}.")
    kept = drawn(len(rows), classes, seed) if rule == "random" else closest([r[3] for r in rows], classes)
    chosen = [{"dataset": rows[i][0], "class": rows[i][2], "images": rows[i][4],
               "distance": rows[i][3] if rule != "random" else None,
               "similarity": float(similarity(rows[i][3])) if rule == "emd" else None} for i in kept]
    member_rows = [{"dataset": ref, "fingerprint": images.fingerprint,
                    "classes": [c["class"] for c in chosen if c["dataset"] == ref]} for ref, images in members]
    member_rows = [m for m in member_rows if m["classes"]]
    pool_label = "+".join(Path(ref).name for ref, _ in members)
    label = f"{rule}{int(classes)}" + (f"-seed{int(seed)}" if rule == "random" else f"-{target_images.name}")
    about = {"target": canonical_ref(target_images.name if not isinstance(target, str) else target, target_images, cfg), "target_fingerprint": target_images.fingerprint,
             "pool": [ref for ref, _ in members], "pool_classes": len(rows), "rule": rule, "classes": int(classes),
             "seed": int(seed), "gamma": GAMMA, "reference": [r.name for r in references], "features": "ImageNet backbone, train split (the recommender's cache)"}
    return make_spec(name or f"{pool_label}-{label}", member_rows, chosen, about)


def _pool_names(nullable: bool):
    def check(value):
        from omegaconf import ListConfig

        if value is None and nullable:
            return None
        if isinstance(value, (list, tuple, ListConfig)) and len(value) > 0 and all(isinstance(v, str) and v
                                                                                  for v in value):
            return None
        return ("must be null or " if nullable else "must be ") + \
            "a non-empty list of catalog names or image folders, e.g. [tinyimagenet]"
    return check


def rules():
    """The pool options of every command (`pool`, `pool_classes`), read by `recommender.checks.check_config`."""

    return (Rule("pool", _pool_names(nullable=True), optional=True), Rule("pool_classes", integer(2), optional=True))


def build_rules():
    """scripts/build_source.py's own options."""

    return (Rule("pool", _pool_names(nullable=False)), Rule("rule", choice(RULES)), Rule("build_seed", integer(0)),
            Rule("name", lambda v: None if v is None or (isinstance(v, str) and v and "/" not in v)
                 else "must be null or a name without '/'"))


def built_for(cfg, target_images) -> Path | None:
    """The source built from `cfg.pool` for the target (`cfg.pool_classes` closest classes), as a spec file kept
    in the feature cache under its content identity; None when no pool is configured."""
    pool = cfg.get("pool")
    if not pool:
        return None
    spec = build_source(cfg, target_images, list(pool), int(cfg.pool_classes))
    path = Path(cfg.features.cache_dir).expanduser() / "sources" / f"{spec['name']}-{spec['identity']}.json"
    if not path.is_file():
        write_spec(spec, path)
    return path
