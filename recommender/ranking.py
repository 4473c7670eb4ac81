"""Rank candidate sources by their EMD to the target, closest first."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .domains import Domain
from .emd import emd_distance, ground_cost, similarity, transport_plan


@dataclass
class Flow:
    source_class: str
    target_class: str
    mass: float
    cost: float


@dataclass
class SourceResult:
    name: str
    emd: float
    similarity: float
    rank: int
    n_classes: int
    n_images: int
    n_skipped: int
    dropped: dict[str, int]
    plan: np.ndarray  # source classes x target classes
    cost: np.ndarray
    class_names: list[str]
    ref: str = ""  # what opens the dataset again: its catalog name or folder path

    def flows(self, target_classes: list[str], top: int | None = None) -> list[Flow]:
        """The transport plan's non-zero flows, largest mass first."""
        rows, cols = np.nonzero(self.plan > 1e-12)
        order = np.argsort(-self.plan[rows, cols], kind="stable")[:top]
        return [Flow(self.class_names[rows[k]], target_classes[cols[k]],
                     float(self.plan[rows[k], cols[k]]), float(self.cost[rows[k], cols[k]])) for k in order]


@dataclass
class Ranking:
    """What `recommend` returns: the target, its sources closest first, and the pairwise EMD table."""

    target: Domain
    sources: list[SourceResult]
    distance_names: list[str]
    distances: np.ndarray
    config: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    domains: dict[str, Domain] = field(default_factory=dict)
    feature_sets: dict = field(default_factory=dict)  # name -> train-split FeatureSet (per-image features)
    descriptor_quality: dict[str, dict] = field(default_factory=dict)  # name -> k-NN scores on the test split

    @property
    def best(self) -> SourceResult:
        return self.sources[0]

    def to_dict(self) -> dict:
        return {
            "target": {
                "name": self.target.name,
                "n_classes": len(self.target.class_names),
                "n_images": self.target.n_images,
                "n_skipped": self.target.n_skipped,
                "dropped_classes": self.target.dropped,
            },
            "sources": [
                {"name": s.name, "emd": s.emd, "similarity": s.similarity, "rank": s.rank,
                 "n_classes": s.n_classes, "n_images": s.n_images, "n_skipped": s.n_skipped,
                 "dropped_classes": s.dropped, "ref": s.ref}
                for s in self.sources
            ],
            "descriptor_quality": self.descriptor_quality,
            "notes": self.notes,
            "config": self.config,
        }


def domain_emd(source: Domain, target: Domain, metric: str = "euclidean") -> tuple[float, np.ndarray, np.ndarray]:
    """EMD from `source` to `target`, with the transport plan and the ground cost it used."""
    cost = ground_cost(source.means, target.means, metric)
    plan = transport_plan(source.weights, target.weights, cost)
    return emd_distance(source.weights, target.weights, cost), plan, cost


def rank_sources(target: Domain, sources: list[Domain], metric: str = "euclidean",
                 gamma: float = 0.01) -> list[SourceResult]:
    """Sources sorted by EMD ascending (ties by name, so the order is deterministic)."""
    results = []
    for src in sources:
        emd, plan, cost = domain_emd(src, target, metric)
        results.append(SourceResult(src.name, emd, similarity(emd, gamma), 0, len(src.class_names),
                                    src.n_images, src.n_skipped, src.dropped, plan, cost, src.class_names))
    results.sort(key=lambda r: (round(r.emd, 12), r.name))
    for rank, result in enumerate(results, start=1):
        result.rank = rank
    return results


def pairwise_emd(domains: list[Domain], metric: str = "euclidean") -> np.ndarray:
    """Symmetric matrix of EMDs between every pair of domains (like the study's dataset-distance table)."""
    n = len(domains)
    table = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            table[i, j] = table[j, i] = domain_emd(domains[i], domains[j], metric)[0]
    return table
