"""`distance=logme` (or any score of finetune/transferability) for `recommend`: rank sources by a model-based
transferability score, for users who accept training every source first.

Each source's stage-1 network (the benchmark's protocol: `distance.top_blocks` top blocks trained on the source,
`finetune.*` for the rest) is trained on first use and reused from `finetune.checkpoint_dir` afterwards; the
target's train+val images go through it (its frozen bottom once, cached), and the score reads the adapted pooled
features (or the source-class probabilities, for LEEP and NCE) with the target's labels. The distance is
-score, so the ranking's "lower is better" holds; the score itself is kept in the result's parts.

The recommender does not import this package: `register()` adds the distance to its registry, which
scripts/recommend.py does when `distance.name=model_score`.
"""
from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from recommender import open_dataset
from recommender.datasets import DatasetError
from recommender.distances import DistanceResult, DistanceSpec, configure, register_distance

from .transferability import REGISTRY

log = logging.getLogger(__name__)
NAME = "model_score"
FINETUNE_DEFAULTS = Path(__file__).resolve().parents[1] / "conf" / "finetune" / "default.yaml"


def stage1_config(cfg: DictConfig, top_blocks: int) -> DictConfig:
    """The recommender's configuration with the stage-1 protocol the benchmark validated (finetune defaults,
    `top_blocks` top blocks trained); finetune options the configuration carries (a whole group, or single keys
    such as +finetune.checkpoint_dir=...) override those defaults."""
    c = cfg.copy()
    OmegaConf.set_struct(c, False)
    c.finetune = OmegaConf.merge(OmegaConf.load(FINETUNE_DEFAULTS), c.get("finetune") or {})
    c.finetune.strategy = "top_blocks"
    c.finetune.top_blocks = int(top_blocks)
    return c


def model_score_distance(distance_cfg: dict, cfg: DictConfig, target_images, source_images) -> DistanceSpec:
    from .benchmark import adapted_split
    from .transfer import train_source

    score_name = str(distance_cfg.get("score", "logme"))
    if score_name not in REGISTRY:
        raise DatasetError(f"distance.score={score_name!r} is not a transferability score; use one of "
                           f"{sorted(REGISTRY)}.")
    score = REGISTRY[score_name]
    top_blocks, seed = int(distance_cfg.get("top_blocks", 4)), int(distance_cfg.get("stage1_seed", 0))
    stage1 = stage1_config(cfg, top_blocks)
    refs = {images.name: images for images in source_images}
    target = open_dataset(target_images, stage1)

    def function(source, target_domain) -> DistanceResult:
        images = refs[source.name]
        checkpoint = train_source(images, stage1, seed)
        pool = adapted_split(checkpoint, target, stage1, ("train", "val"))
        data = pool.predictions if score.needs == "predictions" else pool.features
        value = float(score.function(data, pool.labels))
        log.info("%s of %s's stage-1 network on %s: %.4f", score_name, source.name, target.name, value)
        return DistanceResult(value=-value, parts={score_name: value})

    # The dataset-to-dataset table (figures) would need every dataset's network on every other: it uses the
    # model-free class-mean EMD instead, and the report names it.
    table = configure({"name": "class_mean_emd", "ground_metric": "euclidean"})
    return DistanceSpec(NAME, function, table.represent,
                        f"-{score_name} ({score.reference}) of each source's stage-1 network (top {top_blocks} "
                        "blocks trained on the source) on the target's train+val images",
                        pairwise=table.function, table_key={"pairwise": "class_mean_emd"}, kind="model",
                        table_label=table.label)


def register() -> None:
    register_distance(NAME, model_score_distance)
