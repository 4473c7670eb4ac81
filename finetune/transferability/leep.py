"""LEEP: log expected empirical prediction of a source classifier on the target."""
from __future__ import annotations

import numpy as np

from ._check import predictions_and_labels


def leep(predictions, labels) -> float:
    """LEEP (Nguyen, Hassner, Seeger, Archambeau: "LEEP: A New Measure to Evaluate Transferability of Learned
    Representations", ICML 2020).

    theta(x_i) are the source model's class probabilities (source classes z) on target image x_i:

        P(y, z) = 1/n sum_{i: y_i = y} theta_z(x_i),   P(y | z) = P(y, z) / sum_y' P(y', z),
        LEEP    = 1/n sum_i log( sum_z P(y_i | z) theta_z(x_i) ).

    At most 0; 0 when the source classifier's outputs determine the target label exactly."""
    p, codes = predictions_and_labels(predictions, labels)
    n = len(codes)
    joint = np.zeros((codes.max() + 1, p.shape[1]))
    np.add.at(joint, codes, p / n)
    conditional = joint / np.maximum(joint.sum(axis=0, keepdims=True), 1e-300)  # P(y | z)
    expected = np.einsum("iz,iz->i", p, conditional[codes])
    return float(np.mean(np.log(np.maximum(expected, 1e-300))))
