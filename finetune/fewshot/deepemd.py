"""Few-shot classifiers on frozen features: logistic regression, nearest prototype, and training-free DeepEMD.

DeepEMD (Zhang, Cai, Lin, Shen: "DeepEMD: Few-Shot Image Classification with Differentiable Earth Mover's
Distance", CVPR 2020) compares a query with a class by optimal transport between their *local* feature
vectors (the cells of the last convolutional map), with cross-reference node weights and a cosine ground cost.
Here it is the training-free variant: frozen ImageNet MobileNetV2 maps, POT's exact EMD; several supports of
a class are combined by averaging their maps cell by cell ("prototype"), or used whole as one point cloud.

Every classifier has one signature: (support features, support labels, query features) -> predicted labels.
"""
from __future__ import annotations

import numpy as np
import ot

from finetune.transferability.logistic import logistic_predict

CLASSIFIERS = ("logistic", "prototype", "deepemd", "deepemd_cloud")


def cross_reference_weights(local: np.ndarray, other: np.ndarray) -> np.ndarray:
    """DeepEMD's node weights (Zhang et al. 2020, eq. 8): s_i = max(0, u_i . mean_j(v_j)), normalised to sum to 1.

    A local vector that agrees with the other image's overall content carries more mass; one that does not
    (background) carries little. All-zero relevance falls back to uniform weights."""
    return _normalised(np.maximum(np.asarray(local, float) @ np.asarray(other, float).mean(axis=0), 0.0))


def cosine_cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - cos(a_i, b_j) between every local vector of `a` and of `b` (`a` may hold a batch: (m, n, d))."""
    an = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    bn = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    return np.clip(1.0 - an @ bn.T, 0.0, 2.0)


def emd_cost(query: np.ndarray, support: np.ndarray) -> float:
    """Optimal transport cost between two sets of local vectors (n_cells, channels), cross-reference weights,
    cosine ground cost. 0 when one set is a permutation of the other."""
    a = cross_reference_weights(query, support)
    b = cross_reference_weights(support, query)
    return float(ot.emd2(a, b, cosine_cost(query, support), numItermax=1_000_000))


def _class_means(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    classes = np.unique(labels)
    return classes, np.stack([features[labels == c].mean(axis=0) for c in classes])


def prototype_predict(support: np.ndarray, labels: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Nearest class mean by cosine similarity (pooled features)."""
    classes, means = _class_means(np.asarray(support, float), np.asarray(labels))
    return classes[np.argmin(cosine_cost(np.asarray(queries, float), means), axis=1)]


def deepemd_predict(support: np.ndarray, labels: np.ndarray, queries: np.ndarray, cells: int,
                    cloud: bool = False) -> np.ndarray:
    """DeepEMD on local features; support (n, cells*channels), queries (m, cells*channels), row-major maps.

    prototype (cloud=False): a class's supports averaged cell by cell, one map per class.
    cloud (cloud=True): all local vectors of all the class's supports, one point cloud per class."""
    support = np.asarray(support, np.float64).reshape(len(support), cells, -1)
    queries = np.asarray(queries, np.float64).reshape(len(queries), cells, -1)
    classes = np.unique(labels)
    if cloud:
        references = [support[np.asarray(labels) == c].reshape(-1, support.shape[2]) for c in classes]
    else:
        references = [support[np.asarray(labels) == c].mean(axis=0) for c in classes]
    # Everything but the transport problems themselves is computed for all queries at once.
    query_means = queries.mean(axis=1)
    costs = np.zeros((len(queries), len(classes)))
    for c, ref in enumerate(references):
        ground = cosine_cost(queries, ref)  # (m, cells, ref cells)
        query_weights = cross_reference_weights(queries, ref)  # (m, cells)
        ref_weights = _normalised(np.maximum(query_means @ ref.T, 0.0))  # (m, ref cells): ref against each query
        for i in range(len(queries)):
            costs[i, c] = ot.emd2(query_weights[i], ref_weights[i], ground[i], numItermax=1_000_000)
    return classes[np.argmin(costs, axis=1)]


def _normalised(relevance: np.ndarray) -> np.ndarray:
    """Rows scaled to sum 1 (cross_reference_weights, for many rows at once)."""
    total = relevance.sum(axis=-1, keepdims=True)
    uniform = np.full_like(relevance, 1.0 / relevance.shape[-1])
    return np.where(total > 0, relevance / np.where(total > 0, total, 1.0), uniform)


def classify(name: str, pooled: tuple, local: tuple | None, cells: int) -> np.ndarray:
    """Predicted labels of one episode. pooled/local: (support, support labels, queries) of pooled features and
    of flattened feature maps (local is needed by the DeepEMD classifiers only)."""
    if name == "logistic":
        return logistic_predict(*pooled)
    if name == "prototype":
        return prototype_predict(*pooled)
    if name in ("deepemd", "deepemd_cloud"):
        return deepemd_predict(*local, cells=cells, cloud=name == "deepemd_cloud")
    raise ValueError(f"fewshot.classifier={name!r}; use one of {', '.join(CLASSIFIERS)}.")
