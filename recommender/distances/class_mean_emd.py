"""Class-mean EMD (Cui et al., CVPR 2018, "Large Scale Fine-Grained Categorization and Domain-Specific Transfer
Learning", eq. 2): each dataset is its class means weighted by class size, and

    EMD(S, T) = min_F sum_ij F_ij d(s_i, t_j),  sum_j F_ij = w_s_i,  sum_i F_ij = w_t_j,

with d the euclidean (the paper) or cosine distance between class means."""
from __future__ import annotations

from functools import partial

from scipy.spatial.distance import cdist

from ..common.checks import Rule, choice
from ..domains import Domain
from . import DistanceResult, DistanceSpec, labelled, represent_args, represent_rules
from .transport import solve

GROUND_METRICS = ("euclidean", "cosine")


def ground_cost(means_a, means_b, metric: str = "euclidean"):
    """Class-to-class distances: rows are classes of `a`, columns classes of `b`."""
    if metric not in GROUND_METRICS:
        raise ValueError(f"distance.ground_metric={metric!r} is not supported; use one of {GROUND_METRICS}.")
    return cdist(means_a, means_b, metric=metric)


def class_mean_emd(source: Domain, target: Domain, ground_metric: str = "euclidean") -> DistanceResult:
    """The EMD between the datasets' class means weighted by class size (Cui et al., CVPR 2018)."""
    cost = ground_cost(source.means, target.means, ground_metric)
    value, plan = solve(source.weights, target.weights, cost)
    return DistanceResult(value, plan, cost)


RULES = (Rule("distance.ground_metric", choice(GROUND_METRICS), optional=True), *represent_rules())


def distance_spec(cfg) -> DistanceSpec:
    """conf/distance/class_mean_emd.yaml's factory."""
    metric = str(cfg.get("ground_metric", "euclidean"))
    return DistanceSpec(str(cfg.get("name", "class_mean_emd")), partial(class_mean_emd, ground_metric=metric),
                        represent_args(cfg), labelled(cfg, f"class-mean EMD ({metric} ground cost)"))
