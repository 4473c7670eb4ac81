"""What a benchmark run holds: one target's measurements (TargetRun) and the whole run (Benchmark).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from finetune.benchmark.ground_truth import Protocol


FORMAT = 1  # bump when what a cached target run holds changes
NAIVE = ("source_images", "source_classes", "random")
REFERENCE_DISTANCE = "class_mean_emd"  # the recommender's original ranking, what every score is compared with


@dataclass(frozen=True)
class Accuracies:
    """One protocol's accuracies on one target: the ImageNet network (`baseline`, one value per episode or seed)
    held apart from the sources (`sources`, one row per source in the run's order), on the same episodes
    (columns). Files store them as one array with the ImageNet row first; `from_rows` and `rows` are the only
    places that know it."""

    baseline: np.ndarray
    sources: np.ndarray

    @classmethod
    def from_rows(cls, rows) -> Accuracies:
        rows = np.asarray(rows, float)
        return cls(rows[0], rows[1:])

    def rows(self) -> np.ndarray:
        """The stored layout: (1 + sources, episodes), ImageNet first."""
        return np.vstack([self.baseline[None, :], self.sources])

    @property
    def n_episodes(self) -> int:
        return int(self.baseline.shape[0])

    def gains(self) -> np.ndarray:
        """Each source's mean accuracy minus the ImageNet network's, over the paired episodes (a fraction)."""
        mean = self.rows().mean(axis=1)
        return mean[1:] - mean[0]


@dataclass
class TargetRun:
    """Everything measured for one target: accuracies per protocol and scores per stage-1 protocol.

    accuracy[Protocol]: the ImageNet network and `sources` in order, on the same episodes (`Accuracies`).
    scores[top_blocks][score]: one value per source."""

    target: str
    sources: list[str]
    accuracy: dict[Protocol, Accuracies]
    scores: dict[int, dict[str, np.ndarray]]
    n_pool: int = 0
    n_test: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict:
        stored: dict[str, dict] = {}
        for protocol, measured in self.accuracy.items():
            stored.setdefault(str(protocol.top_blocks), {})[protocol.key] = measured.rows().tolist()
        return {"target": self.target, "sources": self.sources, "n_pool": self.n_pool, "n_test": self.n_test,
                "seconds": self.seconds, "accuracy": stored,
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
                   accuracy={Protocol.of(b, k): Accuracies.from_rows(a) for b, ks in d["accuracy"].items()
                             for k, a in ks.items()},
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




