"""Automated source selection before training: ask the recommender, transfer from its choice, save the model."""
from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from recommender import DatasetError, atomic_output, open_dataset, recommend, same_dataset
from recommender.data.datasets import refuse_shared

from finetune.transfer.stages import check_splittable, train_source, train_target, transfer_config


def choose_source(cfg: DictConfig) -> tuple[str | None, dict]:
    """The source to transfer from (catalog name or folder path; None = the ImageNet network) and why:
    `source=auto` follows the recommendation, which is ImageNet itself when the catalog benchmark shows the top
    source did not beat it on the other catalog targets; `source=imagenet` or a name is forced."""
    target = str(cfg.target)
    requested = str(cfg.source)
    cfg = OmegaConf.merge(cfg, {"report": {"explain": False}})  # the choice needs the ranking, not its figures
    if requested == "imagenet":
        return None, {"source": "imagenet", "source_ref": None, "how": "forced by source=imagenet",
                      "distance": None, "similarity": None, "rank": None, "candidates": []}
    if requested == "auto":
        ranking = recommend(cfg=cfg)
        chosen = ranking.first
        how = f"recommended: first of {len(ranking.sources)} candidate sources by {ranking.distance_label}"
        if ranking.evidence.get("start_from_imagenet"):
            return None, {"source": "imagenet", "source_ref": None,
                          "how": f"recommended: {ranking.evidence['headline']}",
                          "distance": None, "similarity": None, "rank": None,
                          "candidates": [(s.name, s.distance) for s in ranking.sources]}
    else:
        if same_dataset(open_dataset(requested, cfg), open_dataset(target, cfg)):
            raise DatasetError(f"source={requested!r} is the target itself; choose another source or source=auto.")
        # One forced source needs no ranking: the quick one names it and its distance, without training it twice.
        quick = OmegaConf.merge(cfg, {"distance": {"name": "prior_mix"}}) if cfg.distance.name in ("prior_score", "gain") else cfg
        quick = OmegaConf.merge(quick, {"pool": None})  # a forced source is the only candidate: build nothing
        ranking = recommend(cfg=quick, sources=[requested])
        chosen = ranking.first
        how = "forced by source=<name>"
    reason = {"source": chosen.name, "source_ref": chosen.ref, "how": how, "distance": chosen.distance,
              "similarity": chosen.similarity, "rank": chosen.rank, "candidates": [(s.name, s.distance) for s in ranking.sources]}
    return chosen.ref, reason


def train_from_source(cfg: DictConfig, out_dir: str | Path) -> dict:
    """Choose the source, run stage 1 and stage 2, and save `model.keras` and `metrics.json` in `out_dir`."""
    # The target must split into train/val/test before anything trains, not after stage 1 has run.
    check_splittable(open_dataset(str(cfg.target), transfer_config(cfg)), transfer_config(cfg))
    source, reason = choose_source(cfg)
    if source is not None:  # the target's own images in the source would be in pretraining
        refuse_shared(open_dataset(str(cfg.target), cfg), open_dataset(source, cfg), "train")
    seed = int(cfg.finetune.seeds[0])
    checkpoint = None if source is None else train_source(source, cfg, seed)
    result = train_target(str(cfg.target), cfg, seed, checkpoint, source_name=source or "imagenet")
    out = Path(out_dir)
    with atomic_output(out / "model.keras", ".keras") as tmp:
        result.model.save(tmp)
    metrics = {**result.to_dict(), "seed": seed, "reason": reason, "model": str(out / "model.keras"),
               "stage1_checkpoint": None if checkpoint is None else str(checkpoint)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
