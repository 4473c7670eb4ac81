"""Distances between a target and a candidate source dataset: one module per distance, one registry.

Every distance reads two `Domain`s built by the representation step (`domains.represent`), which the distance
declares through `needs`, and returns a `DistanceResult`: the value (smaller = closer) and, where there is
one, the class-level transport plan and ground cost. `configure(cfg.distance)` turns the Hydra group
`conf/distance/` into (what to represent, the bound distance function): each option's YAML names its module's
factory (`_target_: recommender.distances.class_mean_emd.distance_spec`), and the module declares the rules of
its own options next to it (`RULES`), which `recommender.checks` reads. A distance of your own is the same: one
module and one YAML (docs/method.md). A distance ranks sources as a `recommender.rankers.base.DistanceRanker`
(score = -distance)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np


@dataclass(frozen=True)
class DistanceResult:
    value: float
    plan: np.ndarray | None = None  # source classes x target classes: mass moved between them
    cost: np.ndarray | None = None  # the matching ground cost
    parts: dict = field(default_factory=dict)  # what a combined value is made of (e.g. distance, prior gain)
    notes: tuple = ()  # what the report must say about how this value was obtained (e.g. a solver's fallback)


@dataclass(frozen=True)
class DistanceSpec:
    """A distance with its options bound: what rankers (recommender.rankers.base.DistanceRanker) and the
    dataset-to-dataset table call."""

    name: str
    function: Callable  # (source Domain, target Domain) -> DistanceResult, smaller = closer
    represent: dict  # keyword arguments of domains.represent
    label: str  # how reports name it
    table_key: dict = field(default_factory=dict)  # the options the dataset-to-dataset table depends on


def represent_args(cfg: Mapping, covariance: str | None = None, samples: int | None = None) -> dict:
    """The keyword arguments of `domains.represent` a distance's options ask for."""
    return {"normalise": str(cfg.get("normalise", "none")), "whiten_dim": int(cfg.get("whiten_dim", 128)),
            "covariance": covariance, "covariance_dim": int(cfg.get("covariance_dim", 64)),
            "samples": samples, "seed": int(cfg.get("seed", 0))}


def labelled(cfg: Mapping, core: str) -> str:
    """A report's name of a distance: its core name and the feature space it runs in."""
    norm = str(cfg.get("normalise", "none"))
    return core + ("" if norm == "none" else f", {norm}d features" if norm == "standardise"
                   else f", PCA-whitened features ({int(cfg.get('whiten_dim', 128))} dims)")


def configure(cfg: Mapping) -> DistanceSpec:
    """The distance named by `cfg["name"]` with its options bound; raises ValueError naming a bad option."""
    spec = _configure(cfg)
    return DistanceSpec(spec.name, spec.function, spec.represent, spec.label,
                        table_key={k: v for k, v in dict(cfg).items() if k not in ("gamma", "_target_")})


def _configure(cfg: Mapping) -> DistanceSpec:
    name = str(cfg.get("name"))
    # Every model-free distance, built in or your own, is its module's factory: named by the option's YAML, or,
    # for a configuration without one (the evidence file names distances by their options), by conf/distance/<name>.yaml.
    target = cfg.get("_target_") or target_of(name)
    if target:
        return _from_target(str(target), cfg)
    raise ValueError(f"distance={name!r} names no factory: give its conf/distance/ YAML a _target_ "
                     "(package.module.factory; docs/method.md).")


def target_of(name: str) -> str | None:
    """The `_target_` of conf/distance/<name>.yaml (None: no such option, or it names none)."""
    from omegaconf import OmegaConf

    from recommender.common.paths import CONF_DIR

    import re

    if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", name or ""):  # a name, never a path
        return None
    path = CONF_DIR / "distance" / f"{name}.yaml"
    return OmegaConf.load(path).get("_target_") if path.is_file() else None


def factory_of(target: str) -> Callable:
    """The function a `_target_: package.module.factory` names; ValueError naming the fix if it cannot be imported."""
    from importlib import import_module

    module, _, attribute = target.rpartition(".")
    try:
        return getattr(import_module(module), attribute)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(f"distance._target_={target!r} cannot be imported ({err}); name a function "
                         "package.module.factory that Python can import (docs/method.md).") from None


def _from_target(target: str, cfg: Mapping) -> DistanceSpec:
    """`_target_: package.module.factory` in a conf/distance/ YAML: factory(distance options) -> DistanceSpec."""
    spec = factory_of(target)(dict(cfg))
    if not isinstance(spec, DistanceSpec):
        raise ValueError(f"distance._target_={target!r} returned {type(spec).__name__}, not a DistanceSpec.")
    return spec


def represent_rules() -> tuple:
    """The feature-space options every model-free distance shares (domains.represent's)."""
    from recommender.common.checks import Rule, choice, integer
    from recommender.domains import NORMALISATIONS

    return (Rule("distance.normalise", choice(NORMALISATIONS), optional=True),
            Rule("distance.whiten_dim", integer(1), optional=True),
            Rule("distance.covariance_dim", integer(1), optional=True))

def needs_features(spec: DistanceSpec) -> bool:
    """Whether the distance reads per-image features (whitening, covariances, samples), not class sums alone."""
    r = spec.represent
    # Standardising reads the class sums of squares; only whitening needs every image's features.
    return r["normalise"] == "whiten" or r["covariance"] is not None or r["samples"] is not None
