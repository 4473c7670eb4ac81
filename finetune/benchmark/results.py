"""What a benchmark run holds: one target's measurements (TargetRun) and the whole run (Benchmark).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from finetune.benchmark.ground_truth import FINETUNE, is_finetune


FORMAT = 1  # bump when what a cached target run holds changes
NAIVE = ("source_images", "source_classes", "random")
REFERENCE_DISTANCE = "class_mean_emd"  # the recommender's original ranking, what every score is compared with


def protocol_label(top_blocks: int, k) -> str:
    """The name of a protocol: top<blocks>/k<k>, or top<blocks>/finetune."""
    return f"top{int(top_blocks)}/{FINETUNE if is_finetune(k) else f'k{k}'}"


@dataclass
class TargetRun:
    """Everything measured for one target: accuracies per protocol and scores per stage-1 protocol.

    accuracy[top_blocks][k]: (1 + n_sources, n_episodes), row 0 the ImageNet network, then `sources` in order;
    the same episodes (columns) for every row. scores[top_blocks][score]: one value per source."""

    target: str
    sources: list[str]
    accuracy: dict[int, dict[str, np.ndarray]]
    scores: dict[int, dict[str, np.ndarray]]
    n_pool: int = 0
    n_test: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"target": self.target, "sources": self.sources, "n_pool": self.n_pool, "n_test": self.n_test,
                "seconds": self.seconds,
                "accuracy": {str(b): {str(k): a.tolist() for k, a in ks.items()} for b, ks in self.accuracy.items()},
                "scores": {str(b): {s: v.tolist() for s, v in sc.items()} for b, sc in self.scores.items()}}

    def with_scores(self, top_blocks: int, added: dict[str, np.ndarray]) -> "TargetRun":
        """A copy with `added` scores (name -> one value per source) at `top_blocks`; the measurements shared."""
        scores = {b: dict(sc) for b, sc in self.scores.items()}
        scores[top_blocks].update(added)
        return dataclasses.replace(self, scores=scores)

    @classmethod
    def from_json(cls, d: dict) -> "TargetRun":
        return cls(target=d["target"], sources=list(d["sources"]), n_pool=d["n_pool"], n_test=d["n_test"],
                   seconds=d["seconds"],
                   accuracy={int(b): {str(k): np.asarray(a, float) for k, a in ks.items()}
                             for b, ks in d["accuracy"].items()},
                   scores={int(b): {s: np.asarray(v, float) for s, v in sc.items()} for b, sc in d["scores"].items()})


@dataclass
class Benchmark:
    runs: list[TargetRun]
    config: dict
    protocols: dict = field(default_factory=dict)  # label -> evaluate() result
    headline: str = ""
    sensitivity: dict = field(default_factory=dict)
    feature_change: dict = field(default_factory=dict)  # target -> source -> CKA with the ImageNet features
    stage1_accuracy: dict = field(default_factory=dict)  # source -> its stage-1 network on its own test split
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)




