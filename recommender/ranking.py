"""Rank candidate sources by their distance to the target, closest first: domains -> distance -> ranking."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from recommender.distances import DistanceResult
from recommender.distances.transport import similarity
from recommender.domains import Domain

Distance = Callable[[Domain, Domain], DistanceResult]  # a distance function, as the pairwise table reads it
IMAGENET = "imagenet"  # the row of the ImageNet network itself, at gain 0


@dataclass
class Flow:
    source_class: str
    target_class: str
    mass: float
    cost: float


@dataclass
class SourceResult:
    """One ranked source. `score` is what the ranking sorts by, higher first: -distance for a distance, the
    combined score for a mix, the model score for a trained network's score. `distance` and `similarity` are
    those of a real distance between the datasets (None when the ranking computed none)."""

    name: str
    distance: float | None
    similarity: float | None
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
    score: float = 0.0
    # Measured gain of this source's network over the ImageNet network on the other catalog targets, in accuracy
    # points: {"mean", "half" (95% t-interval half-width), "n" (targets)}; None when never measured.
    gain: dict | None = None
    notes: tuple = ()  # how this source's value was obtained, when the report must say it (a solver's fallback)
    shared_images: int = 0  # the target's images found byte for byte in this source (flagged in the table)

    def __repr__(self) -> str:
        shown = f"score={self.score:.4g}" + ("" if self.distance is None else f", distance={self.distance:.4g}")
        return f"SourceResult(rank={self.rank}, name={self.name!r}, {shown})"

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
    """What `recommend` returns: the target, its sources best first, the verdict and the pairwise table.

    Examples
    --------
    >>> ranking = recommend("plants")            # doctest: +SKIP
    >>> ranking.headline                         # the verdict, one sentence  # doctest: +SKIP
    >>> [s.name for s in ranking.sources][:3]    # doctest: +SKIP
    ['trash', 'textures', 'butterflies']
    >>> ranking.to_records()[0]["predicted_gain_points"]  # doctest: +SKIP
    0.08...
    >>> ranking.write_report("out")              # ranking.json, report.html, ... as the command writes  # doctest: +SKIP
    """

    target: Domain
    sources: list[SourceResult]
    distance_names: list[str]
    # Computes the pairwise table on first use: the report shows it, the benchmark never needs it.
    table: Callable[[], np.ndarray] | np.ndarray
    config: dict = field(default_factory=dict)
    distance_name: str = "class_mean_emd"
    distance_label: str = "class-mean EMD"
    # What decided the order: "distance", "prior" (the catalog's measured transfer), "mix" (prior + distance),
    # "model" (a score of each source's trained network on the target) or "prior_model" (prior + that score).
    kind: str = "distance"
    table_label: str = ""  # what the pairwise table (`distances`) holds: the distance under a combined ranking
    evidence: dict = field(default_factory=dict)  # recommender.explain.verdict: validation and plain verdicts
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
    def first(self) -> SourceResult:
        """The first-ranked source."""
        return self.sources[0]

    @property
    def best(self) -> SourceResult | None:
        """What to start from: the source the verdict names, or None when it says ImageNet (a ranking without a
        verdict of its own names its first source)."""
        if self.evidence.get("start_from_imagenet"):
            return None
        return self.sources[0]

    @property
    def decision(self) -> str:
        """"source", "build" (a source built from a pool), "interchangeable", "imagenet" or "unmeasured"
        (recommender.explain.verdict.decide)."""
        return self.evidence.get("decision", "unmeasured")

    @property
    def headline(self) -> str:
        """The one sentence a person acts on, e.g. "Start from ImageNet: ..."."""
        return self.evidence.get("headline", "")

    def __repr__(self) -> str:
        order = ", ".join(s.name for s in self.sources[:5]) + (", ..." if len(self.sources) > 5 else "")
        return (f"Ranking(target={self.target.name!r}, decision={self.decision!r}, by={self.distance_name!r}, "
                f"sources=[{order}])")

    def to_records(self) -> list[dict]:
        """One plain dict per row of the report's table, ImageNet included at gain 0 (points everywhere): every
        column the table shows (the predicted gain and its interval, the network score, the measured gain on
        other targets, ...), and no column that this ranking leaves empty for every source."""
        rows = []
        for s in self.sources:
            row = {"rank": s.rank, "source": s.name, "score": s.score, "distance": s.distance,
                   "similarity": s.similarity}
            row.update({k: v for k, v in s.parts.items() if isinstance(v, (int, float, str)) or v is None})
            row.update({"gain_points": None if s.gain is None else s.gain["mean"],
                        "gain_ci95_points": None if s.gain is None else s.gain["half"],
                        "n_classes": s.n_classes, "n_images": s.n_images, "n_skipped": s.n_skipped,
                        "shared_images_with_target": s.shared_images})
            rows.append(row)
        rows.append({"rank": None, "source": IMAGENET, "gain_points": 0.0, "gain_ci95_points": 0.0,
                     **({"predicted_gain_points": 0.0} if self.kind == "gain" else {})})
        columns = list(dict.fromkeys(k for row in rows for k in row))
        kept = [c for c in columns if any(row.get(c) is not None for row in rows[:-1]) or c in ("rank", "source")]
        return [{c: row.get(c) for c in kept} for row in rows]

    def write_report(self, folder) -> dict:
        """Write the files the command writes (ranking.json, ranking.csv, report.md, report.html, the figures)
        into `folder`, with the report options of this ranking's configuration; returns name -> path."""
        from recommender.explain.report import write_reports

        return write_reports(self, folder, self.config.get("report"))

    def to_frame(self):
        """`to_records()` as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError("Ranking.to_frame needs pandas (pip install pandas); to_records() needs nothing."
                              ) from err
        return pd.DataFrame.from_records(self.to_records())

    def _repr_html_(self) -> str:
        import html

        from recommender.explain.report import table_rows

        header, body = table_rows(self)
        cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
        return (f"<p><b>{html.escape(self.headline)}</b></p><table><thead><tr>{cells}</tr></thead>"
                f"<tbody>{rows}</tbody></table>")

    def to_dict(self) -> dict:
        return {
            "target": {
                "name": self.target.name,
                "n_classes": len(self.target.class_names),
                "n_images": self.target.n_images,
                "n_skipped": self.target.n_skipped,
                "dropped_classes": self.target.dropped,
            },
            "decision": self.decision,
            "headline": self.headline,
            "sources": [
                {"name": s.name, "rank": s.rank, "score": s.score, "distance": s.distance,
                 "similarity": s.similarity,
                 "gain_points": None if s.gain is None else s.gain["mean"],
                 "gain_ci95_points": None if s.gain is None else s.gain["half"],
                 "n_classes": s.n_classes, "n_images": s.n_images, "n_skipped": s.n_skipped,
                 "shared_images_with_target": s.shared_images,
                 "dropped_classes": s.dropped, "ref": s.ref, **({"parts": s.parts} if s.parts else {})}
                for s in self.sources
            ],
            "imagenet": {"gain_points": 0.0, "note": "the ImageNet network itself: every gain is measured against it"},
            "distance": {"name": self.distance_name, "description": self.distance_label, "decided_by": self.kind,
                         "validated": self.evidence.get("validated")},
            "verdict": {k: v for k, v in self.evidence.items() if k not in ("validated", "gains")},
            "descriptor_quality": self.descriptor_quality,
            "notes": self.notes,
            "config": self.config,
        }


def rank_sources(target: Domain, sources: list[Domain], scored: list, gamma: float = 0.01) -> list[SourceResult]:
    """Sources sorted by a ranker's values (`recommender.rankers.base.Scored`, one per source, higher first; ties
    by name, so the order is deterministic). A result keeps the real distance the ranker computed, if any."""
    results = []
    for src, found in zip(sources, scored, strict=True):
        real = found.distance
        results.append(SourceResult(src.name, real, None if real is None else similarity(real, gamma), 0,
                                    len(src.class_names), src.n_images, src.n_skipped, src.dropped, found.plan,
                                    found.cost, src.class_names, parts=dict(found.parts), score=float(found.value),
                                    notes=tuple(found.notes)))
    results.sort(key=lambda r: (round(-r.score, 12), r.name))
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
