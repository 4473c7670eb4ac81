"""OTDD, the optimal transport dataset distance (Alvarez-Melis & Fusi, NeurIPS 2020, "Geometric Dataset
Distances via Optimal Transport", eq. 4-5), on seeded, class-stratified subsamples of each dataset:

    d((x, y), (x', y'))^2 = |x - x'|^2 + W2(a_y, a_y')^2,
    OTDD(S, T) = ( min_P sum_kl P_kl d(z_k, z'_l)^2 )^1/2,   P with uniform marginals over the samples,

where a_y is the distribution of class y's features, taken in the Gaussian closed form (gaussian.py).
`solver=exact` uses POT's network simplex; `solver=sinkhorn` the debiased Sinkhorn divergence (Genevay et al. 2018; Feydy et al. 2019)
S = OT_eps(S, T) - (OT_eps(S, S) + OT_eps(T, T)) / 2 with one eps = sinkhorn_reg * (largest cost between the target's
samples) for all three terms, which tends to the exact value as `sinkhorn_reg` shrinks (its error is measured in
docs/benchmarks.md).
The plan is returned summed per (source class, target class), so the report can show class flows."""
from __future__ import annotations

from functools import partial

import numpy as np

from ..common.checks import Rule, choice, integer, number
from ..domains import COVARIANCES, Domain
from . import DistanceResult, DistanceSpec, labelled, represent_args, represent_rules
from .gaussian import wasserstein_squared
from .transport import NotConverged, sinkhorn, solve

SOLVERS = ("exact", "sinkhorn")


def _sampled(domain: Domain) -> tuple[np.ndarray, np.ndarray]:
    if domain.sample_rows is None or domain.covariances is None:
        raise ValueError("otdd needs samples and class covariances: build the domains with represent(samples=..., "
                         "covariance=...).")
    return domain.features[domain.sample_rows].astype(np.float64), domain.labels[domain.sample_rows]


def squared_distances(xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """|x - x'|^2 for every pair of rows, as |x|^2 + |x'|^2 - 2 x.x': one matrix product (BLAS), several times
    faster than scipy's cdist on 1280-d features; rounding (about 1e-12 of the squared norms) is clipped at 0."""
    squares = np.clip((xa * xa).sum(axis=1)[:, None] + (xb * xb).sum(axis=1)[None, :] - 2.0 * xa @ xb.T, 0, None)
    if xa is xb:
        np.fill_diagonal(squares, 0.0)
    return squares


def pair_cost(a: Domain, b: Domain) -> np.ndarray:
    """Squared label-aware ground cost between the samples of `a` (rows) and `b` (columns)."""
    xa, ya = _sampled(a)
    xb, yb = (xa, ya) if b is a else _sampled(b)
    label_cost = wasserstein_squared(a.means, a.covariances, b.means, b.covariances)
    return squared_distances(xa, xb) + label_cost[np.ix_(ya, yb)]


_SELF_TERMS: dict = {}  # (id(domain), reg, scale) -> (domain, scale, value); the domain pins its id


def _self_term(domain: Domain, reg: float, scale: float | None) -> tuple[float, float]:
    """(scale, OT_eps(domain, domain)) with eps = reg * scale; scale None: the domain's own largest cost."""
    key = (id(domain), float(reg), scale)
    hit = _SELF_TERMS.get(key)
    if hit is not None and hit[0] is domain:
        return hit[1], hit[2]
    if len(_SELF_TERMS) > 256:
        _SELF_TERMS.clear()
    cost = pair_cost(domain, domain)
    scale = float(cost.max()) if scale is None else scale
    n = len(cost)
    value = sinkhorn(np.full(n, 1 / n), np.full(n, 1 / n), cost, reg, scale)[0]
    _SELF_TERMS[key] = (domain, scale, value)
    return scale, value


def otdd(source: Domain, target: Domain, solver: str = "exact", sinkhorn_reg: float = 0.01) -> DistanceResult:
    """The optimal transport dataset distance (Alvarez-Melis & Fusi, NeurIPS 2020) on the domains' samples:
    cost |x - x'|^2 + W2(class, class')^2, solved exactly or by debiased Sinkhorn."""
    if solver not in SOLVERS:
        raise ValueError(f"distance.solver={solver!r} is not supported; use one of {SOLVERS}.")
    cost = pair_cost(source, target)
    n_s, n_t = cost.shape
    uniform_s, uniform_t = np.full(n_s, 1 / n_s), np.full(n_t, 1 / n_t)
    notes = ()
    if solver == "sinkhorn":
        try:
            # One epsilon for all three terms (the divergence is only debiased, and >= 0, if they share it): the
            # target's, so a ranking solves the target's self-term once and each source's once.
            scale, target_term = _self_term(target, sinkhorn_reg, None)
            value, plan = sinkhorn(uniform_s, uniform_t, cost, sinkhorn_reg, scale)
            value -= 0.5 * (_self_term(source, sinkhorn_reg, scale)[1] + target_term)
        except NotConverged as err:
            # A value from a plan that is not a transport plan is no distance: solve exactly, and say so.
            solver = "exact"
            notes = (f"OTDD {source.name} → {target.name}: {err} at distance.sinkhorn_reg={sinkhorn_reg:g}; "
                     "the exact solver was used instead (raise distance.sinkhorn_reg, or use distance.solver=exact).",)
    if solver == "exact":
        value, plan = solve(uniform_s, uniform_t, cost)
    ys, yt = source.labels[source.sample_rows], target.labels[target.sample_rows]
    k_s, k_t = len(source.class_names), len(target.class_names)
    class_plan = np.zeros((k_s, k_t))
    np.add.at(class_plan, (ys[:, None], yt[None, :]), plan)
    weighted = np.zeros((k_s, k_t))
    np.add.at(weighted, (ys[:, None], yt[None, :]), plan * np.sqrt(cost))
    class_cost = np.divide(weighted, class_plan, out=np.zeros_like(weighted), where=class_plan > 0)
    return DistanceResult(float(np.sqrt(max(value, 0.0))), class_plan, class_cost, notes=notes)


RULES = (Rule("distance.solver", choice(SOLVERS), optional=True),
         Rule("distance.sinkhorn_reg", number(above=0), optional=True),
         Rule("distance.samples", integer(2), optional=True),
         Rule("distance.covariance", choice(COVARIANCES), optional=True), *represent_rules())


def distance_spec(cfg) -> DistanceSpec:
    """conf/distance/otdd.yaml's factory."""
    solver = str(cfg.get("solver", "exact"))
    return DistanceSpec(str(cfg.get("name", "otdd")),
                        partial(otdd, solver=solver, sinkhorn_reg=float(cfg.get("sinkhorn_reg", 0.01))),
                        represent_args(cfg, covariance=str(cfg.get("covariance", "diagonal")),
                                       samples=int(cfg.get("samples", 1000))),
                        labelled(cfg, f"OTDD ({solver}, {int(cfg.get('samples', 1000))} images per dataset)"))
