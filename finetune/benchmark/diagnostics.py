"""Why a source transfers or not: stage-1 accuracy on the source, and how far fine-tuning moved the target's
features (linear CKA, Kornblith et al. 2019).
"""
from __future__ import annotations


import numpy as np
from omegaconf import DictConfig

from finetune.benchmark.measure import protocol_config
from finetune.transfer.adapted import adapted_split, imagenet_split
from recommender import open_dataset


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear centred kernel alignment (Kornblith et al., ICML 2019, eq. 5) of two representations of the same
    images: CKA = |Yc^T Xc|_F^2 / (|Xc^T Xc|_F |Yc^T Yc|_F), columns centred; 1 = the same up to rotation and
    scale, lower = stage 1 moved the features further."""
    xc = np.asarray(x, np.float64) - np.mean(x, axis=0)
    yc = np.asarray(y, np.float64) - np.mean(y, axis=0)
    # n x n Gram matrices: cheaper than d x d when the probe has fewer images than features.
    gx, gy = xc @ xc.T, yc @ yc.T
    denominator = np.sqrt(np.sum(gx * gx) * np.sum(gy * gy))
    return float(np.sum(gx * gy) / denominator) if denominator > 0 else 0.0


def stage1_accuracy(source_refs: list[str], cfg: DictConfig, checkpoints: dict, top_blocks: int) -> dict[str, float]:
    """Each source's stage-1 network scored on the source's own test split (top-1 accuracy of its source head)."""
    cfg_b = protocol_config(cfg, top_blocks)
    out = {}
    for ref in source_refs:
        source = open_dataset(ref, cfg)
        test = adapted_split(checkpoints[(top_blocks, source.fingerprint)], source, cfg_b, ("test",))
        out[source.name] = float(np.mean(np.argmax(test.predictions, axis=1) == test.labels)) if len(test.labels) \
            else float("nan")
    return out


def feature_change(pairs: list[tuple[str, list[str]]], cfg: DictConfig, checkpoints: dict, top_blocks: int,
                   probe: int = 400) -> dict[str, dict[str, float]]:
    """target -> source -> linear CKA between the ImageNet network's and the source's stage-1 network's pooled
    features on a fixed, seeded probe of the target's train+val images (both read from the benchmark's caches)."""
    cfg_b = protocol_config(cfg, top_blocks)
    out = {}
    for target_ref, source_refs in pairs:
        target = open_dataset(target_ref, cfg)
        base = imagenet_split(target, cfg, ("train", "val"))
        rows = np.sort(np.random.default_rng(int(cfg.benchmark.seed)).permutation(len(base.labels))[:probe])
        out[target.name] = {}
        for ref in source_refs:
            source = open_dataset(ref, cfg)
            adapted = adapted_split(checkpoints[(top_blocks, source.fingerprint)], target, cfg_b, ("train", "val"))
            out[target.name][source.name] = linear_cka(base.features[rows], adapted.features[rows])
    return out
