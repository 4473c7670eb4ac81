"""GBC: Gaussian Bhattacharyya coefficient, the overlap between target classes in the feature space."""
from __future__ import annotations

import numpy as np

from ._check import features_and_labels

PCA_DIMS = 64


def bhattacharyya_coefficient(mean_a, var_a, mean_b, var_b) -> float:
    """BC = exp(-D_B) of two Gaussians with diagonal covariances (variances `var_a`, `var_b`):

        D_B = 1/8 (mu_a - mu_b)' S^-1 (mu_a - mu_b) + 1/2 ln( det S / sqrt(det S_a det S_b) ),  S = (S_a + S_b) / 2.
    """
    var = (np.asarray(var_a) + np.asarray(var_b)) / 2
    diff = np.asarray(mean_a) - np.asarray(mean_b)
    distance = (np.sum(diff**2 / var) / 8
                + 0.5 * (np.sum(np.log(var)) - 0.5 * (np.sum(np.log(var_a)) + np.sum(np.log(var_b)))))
    return float(np.exp(-distance))


def gbc(features, labels, dims: int = PCA_DIMS) -> float:
    """GBC (Pandy, Agostinelli, Uijlings, Ferrari, Mensink: "Transferability Estimation using Bhattacharyya Class
    Separability", CVPR 2022).

    Features are reduced to `dims` principal components (fitted on the target features, as in the paper); each
    class c becomes a Gaussian with its mean and diagonal covariance; then

        GBC = - sum_i sum_{j != i} BC(c_i, c_j).

    At most 0; nearer 0 when the classes overlap less."""
    from sklearn.decomposition import PCA

    f, codes, classes = features_and_labels(features, labels)
    k = min(int(dims), f.shape[1], len(f) - 1)
    if k < f.shape[1]:
        f = PCA(n_components=k, random_state=0).fit_transform(f)
    stats = []
    for c in range(len(classes)):
        members = f[codes == c]
        stats.append((members.mean(axis=0), members.var(axis=0) + 1e-6))  # floor: a one-image class has 0 variance
    total = 0.0
    for i in range(len(stats)):
        for j in range(len(stats)):
            if i != j:
                total += bhattacharyya_coefficient(*stats[i], *stats[j])
    return -float(total)
