"""Transferability scores: how well a source network's features (or predictions) on the target's labelled
images predict transfer, before any fine-tuning.

Every score has one signature, ``score(features_or_predictions, labels) -> float``, and higher always means
better predicted transfer. Scores that read the source network's class probabilities instead of its features
are marked ``needs="predictions"`` in the registry; the rest read ``features``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .gbc import gbc
from .hscore import h_score, h_score_shrinkage
from .knn import knn_loo_accuracy
from .leep import leep
from .logme import logme
from .nce import nce
from .parc import parc
from .probe import fewshot_probe


@dataclass(frozen=True)
class Score:
    name: str
    function: Callable[[np.ndarray, np.ndarray], float]
    needs: str  # "features" or "predictions"
    reference: str


REGISTRY: dict[str, Score] = {s.name: s for s in (
    Score("logme", logme, "features", "You et al., ICML 2021"),
    Score("leep", leep, "predictions", "Nguyen et al., ICML 2020"),
    Score("nce", nce, "predictions", "Tran et al., ICCV 2019"),
    Score("h_score", h_score, "features", "Bao et al., ICIP 2019"),
    Score("h_score_shrinkage", h_score_shrinkage, "features", "Ibrahim et al., ICLR 2022 (shrinkage H-score)"),
    Score("gbc", gbc, "features", "Pandy et al., CVPR 2022"),
    Score("parc", parc, "features", "Bolya et al., NeurIPS 2021"),
    Score("knn_loo", knn_loo_accuracy, "features", "k-NN leave-one-out accuracy"),
    Score("fewshot_probe", fewshot_probe, "features", "the benchmark's 20-shot logistic regression on train+val"),
)}

__all__ = ["REGISTRY", "Score", "logme", "leep", "nce", "h_score", "h_score_shrinkage", "gbc", "parc",
           "knn_loo_accuracy", "fewshot_probe"]
