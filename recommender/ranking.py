"""Rank candidate sources by their distance to the target, closest first: domains -> distance -> ranking."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .distances import DistanceResult
from .distances.transport import similarity
from .domains import Domain

Distance = Callable[[Domain, Domain], DistanceResult]


@dataclass
class Flow:
    source_class: str
    target_class: str
    mass: float
    cost: float


@dataclass
class SourceResult:
    name: str
    distance: float
    similarity: float
    rank: int
    n_classes: int
    n_images: int
    n_skipped: int
    dropped: dict[str, int]
    plan: np.ndarray | None  # source classes x target classes (None for a distance without a plan)
    cost: np.ndarray | None
    class_names: list[str]
    ref: str = ""  # what opens the dataset again: its catalog name or folder path
    parts: dict = field(default_factory=dict)  # a combined distance's components

    def flows(self, target_classes: list[str], top: int | None = None) -> list[Flow]:
        """The transport plan's non-zero flows, largest mass first."""
        if self.plan is None:
            return []
        rows, cols = np.nonzero(self.plan > 1e-12)
        order = np.argsort(-self.plan[rows, cols], kind="stable")[:top]
        return [Flow(self.class_names[rows[k]], target_classes[cols[k]],
                     float(self.plan[rows[k], cols[k]]), float(self.cost[rows[k], cols[k]])) for k in order]


@dataclass
class Ranking:
    """What `recommend` returns: the target, its sources closest first, and the pairwise distance table."""

    target: Domain
    sources: list[SourceResult]
    distance_names: list[str]
    # Computes the pairwise table on first use: the report shows it, the benchmark never needs it.
    table: Callable[[], np.ndarray] | np.ndarray
    config: dict = field(default_factory=dict)
    distance_name: str = "class_mean_emd"
    distance_label: str = "class-mean EMD"
    evidence: dict = field(default_factory=dict)  # recommender.evidence.verdict: validation and plain verdicts
    notes: list[str] = field(default_factory=list)
    domains: dict[str, Domain] = field(default_factory=dict)
    feature_sets: dict = field(default_factory=dict)  # name -> train-split FeatureSet (per-image features)
    descriptor_quality: dict[str, dict] = field(default_factory=dict)  # name -> k-NN scores on the test split

    @property
    def distances(self) -> np.ndarray:
        """Symmetric (domains x domains) distances, in `distance_names` order (target first)."""
        if callable(self.table):
            self.table = self.table()
        return self.table

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
                {"name": s.name, "distance": s.distance, "similarity": s.similarity, "rank": s.rank,
                 "n_classes": s.n_classes, "n_images": s.n_images, "n_skipped": s.n_skipped,
                 "dropped_classes": s.dropped, "ref": s.ref, **({"parts": s.parts} if s.parts else {})}
                for s in self.sources
            ],
            "distance": {"name": self.distance_name, "description": self.distance_label,
                         "validated": self.evidence.get("validated")},
            "verdict": {k: v for k, v in self.evidence.items() if k != "validated"},
            "descriptor_quality": self.descriptor_quality,
            "notes": self.notes,
            "config": self.config,
        }


def rank_sources(target: Domain, sources: list[Domain], distance: Distance,
                 gamma: float = 0.01) -> list[SourceResult]:
    """Sources sorted by distance ascending (ties by name, so the order is deterministic)."""
    results = []
    for src in sources:
        found = distance(src, target)
        results.append(SourceResult(src.name, found.value, similarity(found.value, gamma), 0, len(src.class_names),
                                    src.n_images, src.n_skipped, src.dropped, found.plan, found.cost,
                                    src.class_names, parts=dict(found.parts)))
    results.sort(key=lambda r: (round(r.distance, 12), r.name))
    for rank, result in enumerate(results, start=1):
        result.rank = rank
    return results


def pairwise_distances(domains: list[Domain], distance: Distance,
                       known: dict[tuple[str, str], float] | None = None) -> np.ndarray:
    """Symmetric matrix of distances between every pair of domains; pairs in `known` ((name, name) -> value,
    e.g. the target's row from `rank_sources`) are not solved again."""
    known = known or {}
    n = len(domains)
    table = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            a, b = domains[i].name, domains[j].name
            value = known.get((a, b), known.get((b, a)))
            table[i, j] = table[j, i] = distance(domains[i], domains[j]).value if value is None else value
    return table
