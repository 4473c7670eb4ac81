"""NCE: negative conditional entropy of the target labels given the source's predicted labels."""
from __future__ import annotations

import numpy as np

from ._check import predictions_and_labels


def nce(predictions, labels) -> float:
    """NCE (Tran, Nguyen, Hassner: "Transferability and Hardness of Supervised Classification Tasks", ICCV 2019).

    z_i = argmax of the source model's probabilities on target image i (the "source label"); with the empirical
    joint P(y, z) = #{i: y_i = y, z_i = z} / n,

        NCE = -H(Y | Z) = sum_{y,z} P(y, z) log( P(y, z) / P(z) ).

    At most 0; 0 when the source label determines the target label."""
    p, codes = predictions_and_labels(predictions, labels)
    z = np.argmax(p, axis=1)
    joint = np.zeros((codes.max() + 1, p.shape[1]))
    np.add.at(joint, (codes, z), 1.0 / len(codes))
    marginal = joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log((joint / np.maximum(marginal, 1e-300))[nz])))
