"""Gaussian EMD: class-mean EMD whose ground cost between classes is the 2-Wasserstein distance between their
Gaussians N(mean, covariance) instead of the distance between their means, so a class's spread counts:

    EMD(S, T) = min_F sum_ij F_ij W2(N(m_i, S_i), N(m_j, S_j)),
    W2^2 = |m_i - m_j|^2 + tr S_i + tr S_j - 2 tr (S_i^1/2 S_j S_i^1/2)^1/2   (Bures; see gaussian.py).

Covariances are diagonal, or Ledoit-Wolf shrunk (Ledoit & Wolf 2004) in the union's top principal directions
(`domain.represent`). With zero covariances it equals euclidean class-mean EMD."""
from __future__ import annotations

import numpy as np

from ..common.checks import Rule, choice
from ..domains import COVARIANCES, Domain
from . import DistanceResult, DistanceSpec, labelled, represent_args, represent_rules
from .gaussian import wasserstein_squared
from .transport import solve


def gaussian_emd(source: Domain, target: Domain) -> DistanceResult:
    """The EMD between the two datasets' class Gaussians, with the 2-Wasserstein (Bures) distance between
    classes as ground cost."""
    if source.covariances is None or target.covariances is None:
        raise ValueError("gaussian_emd needs class covariances: build the domains with represent(covariance=...).")
    cost = np.sqrt(wasserstein_squared(source.means, source.covariances, target.means, target.covariances))
    value, plan = solve(source.weights, target.weights, cost)
    return DistanceResult(value, plan, cost)


RULES = (Rule("distance.covariance", choice(COVARIANCES), optional=True), *represent_rules())


def distance_spec(cfg) -> DistanceSpec:
    """conf/distance/gaussian_emd.yaml's factory."""
    cov = str(cfg.get("covariance", "diagonal"))
    return DistanceSpec(str(cfg.get("name", "gaussian_emd")), gaussian_emd, represent_args(cfg, covariance=cov),
                        labelled(cfg, f"Gaussian EMD (2-Wasserstein ground cost, {cov} covariances)"))
