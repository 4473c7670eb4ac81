"""A ranker, the one concept that orders candidate sources (scikit-learn's shape):

- `__init__(options, cfg)` only stores: the options of its conf/distance/ YAML and the run's configuration;
- `fit(evidence, held_out)` learns what it needs from the catalog evidence (a distance needs nothing), leaving
  out `held_out`, the catalog target being ranked, so a catalog target is ranked exactly as the benchmark
  validated it (leave-one-target-out);
- `score(target, sources)` answers: one `Scored` per source, **higher is better**.

Every ranking is one: a model-free distance (`DistanceRanker`, which scores -distance), the catalog prior and its
mix with a distance (`recommender.rankers.mix.PriorMix`), and the rankers that read each source's trained network
(model_score, prior_score, gain: finetune/transfer/model_distance.py). `build_ranker` finds the one an option
names, the same way for all: its `_target_` (a Ranker class, or a distance module's factory), else an installed
entry point of the group "recommender.rankers". A ranker of your own is one module and one YAML (docs/method.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from recommender.data.datasets import ImageList
from recommender.distances import DistanceResult, DistanceSpec, configure, factory_of, target_of
from recommender.domains import Domain

ENTRY_POINTS = "recommender.rankers"


@dataclass(frozen=True)
class Candidate:
    """A dataset a ranker sees: its images, its catalog name (None: not a catalog dataset) and its domain (the
    class statistics in the ranker's feature space, `Ranker.represent`)."""

    images: ImageList
    domain: Domain
    catalog: str | None = None

    @property
    def name(self) -> str:
        return self.images.name


@dataclass(frozen=True)
class Scored:
    """A ranker's answer for one source: `value`, higher is better; `distance`, the real distance between the
    datasets when the ranker computed one; the transport plan and cost where there is one; `parts`, what the value
    is made of (e.g. a network's score, the prior gain); `notes`, what the report must say about how it was got."""

    value: float
    distance: float | None = None
    plan: np.ndarray | None = None
    cost: np.ndarray | None = None
    parts: dict = field(default_factory=dict)
    notes: tuple = ()


class Ranker:
    """The base of every ranker (module docstring). Subclasses set `name`, `kind` (what decides the order:
    "distance", "prior", "mix", "model", "prior_model" or "gain"), `uses_evidence` (the evidence file is required)
    and, once fitted, `label` (how reports name it), `represent` (the keyword arguments of `domains.represent` its
    domains need) and `table` (the distance the dataset-to-dataset table shows)."""

    name = "ranker"
    kind = "distance"
    uses_evidence = False
    # What places a source the catalog prior never measured, in the words of the note that names such sources.
    unmeasured = "the trained network's score"
    unmeasured_caveat = ""

    def __init__(self, options: Mapping, cfg=None):
        self.options = dict(options)
        self.cfg = cfg

    def fit(self, evidence: dict | None = None, held_out: str | None = None) -> Ranker:
        """Learn from the catalog evidence, leaving out the catalog target `held_out`; returns self."""
        return self

    def check(self, target: ImageList, sources: list[ImageList], catalog_of: dict) -> None:
        """Refuse, before any feature is extracted, candidates this ranker cannot rank (DatasetError naming the
        fix). `catalog_of`: display name -> catalog name or None."""

    def score(self, target: Candidate, sources: list[Candidate]) -> list[Scored]:
        """One `Scored` per source, in the order given; higher is better."""
        raise NotImplementedError

    @classmethod
    def validated_as(cls, evidence: dict, options: Mapping, any_prior: bool, image_size: int) -> str | None:
        """The row of the committed benchmark that measured this ranker with these options at this image size
        (the report quotes its summary), or None. `any_prior`: some candidate is a source the catalog measured."""
        return None

    # What reports and the pairwise table read; a fitted ranker's `table` is a DistanceSpec.
    label = ""
    table: DistanceSpec | None = None

    @property
    def represent(self) -> dict:
        return self.table.represent

    @property
    def table_label(self) -> str:
        return self.table.label


def distance_scored(found: DistanceResult) -> Scored:
    """A distance's result as a ranker's answer: value -distance. A combined result that keeps the real distance in
    its parts (`parts["distance"]`) reports that one; a result with other parts and no distance reports none."""
    real = found.value if not found.parts else found.parts.get("distance")
    return Scored(-found.value, real, found.plan, found.cost, dict(found.parts), tuple(found.notes))


class DistanceRanker(Ranker):
    """A model-free distance (recommender/distances/) as a ranker: it scores -distance; nothing to fit."""

    @classmethod
    def validated_as(cls, evidence: dict, options: Mapping, any_prior: bool, image_size: int) -> str | None:
        return validated_distance(evidence, options, image_size)

    def fit(self, evidence: dict | None = None, held_out: str | None = None) -> DistanceRanker:
        self.table = configure(self.options)
        self.name, self.label = self.table.name, self.table.label
        return self

    def score(self, target: Candidate, sources: list[Candidate]) -> list[Scored]:
        return [distance_scored(self.table.function(s.domain, target.domain)) for s in sources]


def validated_distance(evidence: dict, options: Mapping, image_size: int | None = None) -> str | None:
    """The benchmark's name for a distance configuration (its options, matched) at this image size, or None."""
    ignored = ("gamma", "evidence", "image_size", "_target_")
    wanted = {k: v for k, v in options.items() if k not in ignored}
    size = int(evidence.get("image_size", 0)) if image_size is None else int(image_size)
    # Newer evidence lists every validated distance with its image size; older files, the mix's candidates only,
    # all at the evidence's own image size.
    measured_at = evidence.get("validated_distances") or {
        n: {**d, "image_size": int(evidence.get("image_size", size))} for n, d in evidence["distances"].items()}
    for name, measured in measured_at.items():
        if int(measured.get("image_size", size)) == size and \
                {k: v for k, v in measured.items() if k not in ignored} == wanted:
            return name
    return None


def validated_as(evidence: dict, options: Mapping, any_prior: bool, image_size: int) -> str | None:
    """The committed benchmark's row that validated the ranker `options` names (`Ranker.validated_as`)."""
    found = ranker_class(options)
    ranker = found if isinstance(found, type) and issubclass(found, Ranker) else DistanceRanker
    return ranker.validated_as(evidence, options, any_prior, image_size)


def _entry_point(name: str):
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINTS):
        if entry.name == name:
            return entry.load()
    return None


# Rankers registered in this process (a checkout that is not installed has no entry points): name -> class.
REGISTERED: dict[str, type] = {}


def register_ranker(name: str, ranker: type) -> None:
    """Make `ranker` (a Ranker class) the one named `name` in this process, as an installed entry point does."""
    REGISTERED[name] = ranker


def ranker_class(options: Mapping) -> type | None:
    """The Ranker class or distance factory an option names: its `_target_`, its conf/distance/<name>.yaml's
    `_target_`, a ranker registered in this process, or an entry point of the group "recommender.rankers" (loaded
    on first use). None if none; ValueError naming the fix when a `_target_` cannot be imported."""
    name = str(options.get("name"))
    target = options.get("_target_") or target_of(name)
    if target:
        return factory_of(str(target))
    if name not in REGISTERED:
        found = _entry_point(name)
        if found is not None:
            REGISTERED[name] = found
    return REGISTERED.get(name)


def build_ranker(options: Mapping, cfg=None) -> Ranker:
    """The ranker an option of conf/distance/ names, stored and not yet fitted. A Ranker class is built with
    (options, cfg); a distance module's factory is wrapped in `DistanceRanker`. ValueError naming the fix when
    the option names neither."""
    found = ranker_class(options)
    if isinstance(found, type) and issubclass(found, Ranker):
        return found(options, cfg)
    if found is not None:
        return DistanceRanker(options, cfg)
    name = options.get("name")
    if name in ("model_score", "prior_score", "gain"):
        raise ValueError(f"distance={name} needs each source's trained network, which the fine-tuning package "
                         "provides: call finetune.transfer.model_distance.register() first (scripts/recommend.py "
                         "does), or install the project (pip install -e .).")
    raise ValueError(f"distance={name!r} names no ranker: give its conf/distance/ YAML a _target_ "
                     "(package.module.Class or package.module.factory; docs/method.md).")
