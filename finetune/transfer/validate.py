"""Does the distance ranking predict which source transfers best? Fine-tune from every source and compare."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from omegaconf import DictConfig, OmegaConf

from recommender import Ranking, open_dataset, recommend
from recommender.data.datasets import refuse_shared

from finetune.evaluation import ranking_scores
from finetune.transfer.stages import TransferResult, check_splittable, train_source, train_target, transfer_config

log = logging.getLogger(__name__)
BASELINE = "imagenet"


@dataclass
class Validation:
    target: str
    ranking: Ranking
    results: dict[str, list[TransferResult]]  # source display name -> one result per seed
    baseline: list[TransferResult]  # the ImageNet network, one result per seed (its own field: no name clash)
    scores: dict
    seconds: float
    config: dict = field(default_factory=dict)

    def accuracy(self, source: str | None) -> np.ndarray:
        """Per-seed accuracies of a source, or of the ImageNet baseline for None."""
        return np.array([r.accuracy for r in (self.baseline if source is None else self.results[source])])

    def rows(self) -> list[dict]:
        """One row per source in rank order, then the ImageNet baseline."""
        rows = []
        for s in self.ranking.sources:
            acc = self.accuracy(s.name)
            rows.append({"source": s.name, "rank": s.rank, "score": s.score, "distance": s.distance,
                         "similarity": s.similarity,
                         "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std(ddof=1)) if acc.size > 1 else 0.0,
                         "accuracies": acc.tolist()})
        base = self.accuracy(None)
        rows.append({"source": BASELINE, "baseline": True, "rank": None, "score": None, "distance": None,
                     "similarity": None,
                     "accuracy_mean": float(base.mean()), "accuracy_std": float(base.std(ddof=1)) if base.size > 1 else 0.0,
                     "accuracies": base.tolist()})
        return rows

    def to_dict(self) -> dict:
        return {"target": self.target, "rows": self.rows(), "scores": self.scores, "seconds": self.seconds,
                "per_run": {k: [r.to_dict() for r in v] for k, v in self.results.items()},
                "baseline_runs": [r.to_dict() for r in self.baseline], "config": self.config}


def validate(cfg: DictConfig) -> Validation:
    """Rank the sources, fine-tune from each (and from ImageNet) over the configured seeds, score the ranking."""
    start = time.perf_counter()
    check_splittable(open_dataset(str(cfg.target), transfer_config(cfg)), transfer_config(cfg))
    ranking = recommend(cfg=OmegaConf.merge(cfg, {"report": {"explain": False}}))
    target = open_dataset(str(cfg.target), cfg)
    for source in ranking.sources:  # before any training: no source may hold the target's own images
        refuse_shared(target, open_dataset(source.ref, cfg), "validate")
    seeds = [int(s) for s in cfg.finetune.seeds]
    results: dict[str, list[TransferResult]] = {}
    for source in ranking.sources:
        for seed in seeds:
            checkpoint = train_source(source.ref, cfg, seed)
            result = train_target(str(cfg.target), cfg, seed, checkpoint, source_name=source.name)
            results.setdefault(source.name, []).append(result)
            log.info("%s -> %s seed %d: accuracy %.3f", source.name, cfg.target, seed, result.accuracy)
    baseline = []
    for seed in seeds:
        baseline.append(train_target(str(cfg.target), cfg, seed, None))
        log.info("imagenet -> %s seed %d: accuracy %.3f", cfg.target, seed, baseline[-1].accuracy)
    # The ranking's own score (higher ranks first): for a distance, -distance, which orders the sources as the
    # similarity does; for a combined ranking, what decided its order.
    score = [s.score for s in ranking.sources]
    accuracies = [[r.accuracy for r in results[s.name]] for s in ranking.sources]
    return Validation(target=ranking.target.name, ranking=ranking, results=results, baseline=baseline,
                      scores=ranking_scores(score, accuracies), seconds=time.perf_counter() - start,
                      config=OmegaConf.to_container(cfg, resolve=True))
