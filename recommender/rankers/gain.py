"""The gain model: each source's accuracy gain over the ImageNet network on *this* target, in points, with a
calibrated interval, from what exists for any source.

    gain(s, t) = b0 + sum_f b_f x_f(s, t) + e,       interval: prediction ± q

Features x_f (named in FEATURES):
    logme, h_score_shrinkage, knn_loo   a transferability score of s's stage-1 network on t's train+val images
                                        *minus the same score of the ImageNet network* on those images (You et al.,
                                        ICML 2021; Ibrahim et al., ICLR 2022; a leave-one-out 1-NN accuracy), so
                                        the feature says how much better s's features fit t than ImageNet's do;
    fewshot_probe                       the benchmark's own 20-shot logistic regression run on t's train+val
                                        images alone (support sets drawn from them, the other images scored),
                                        s's network minus ImageNet's on the same support sets: a direct estimate
                                        of the gain that never reads t's test split;
    prior                               s's mean measured gain on the catalog targets other than t (points); a
                                        source nobody measured (a user's folder) has none, and is predicted by the
                                        model fitted without it.

b is ordinary least squares. q is split-conformal over held-out targets (Vovk et al. 2005; Lei et al., JASA 2018,
"Distribution-free predictive inference for regression"): every training target u in turn is left out, the model
is fitted on the others, and u's absolute residuals are collected; q is their ceil((n + 1) c) / n empirical
quantile for coverage c. Targets, not rows, are what is exchangeable here, so targets are what is held out.

A verdict rule (`decide`) turns the predictions into an action: start from the source with the highest predicted
gain when that prediction clears `threshold` × q (1: its interval's lower bound is above 0; 0: its predicted gain
is above 0), else start from ImageNet.

Everything is arithmetic on the benchmark's numbers (`Catalog`): nothing here trains or loads a network.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from recommender.rankers.statistics import decision_regret

FEATURES = ("logme", "h_score_shrinkage", "knn_loo", "fewshot_probe", "prior")
PRIOR = "prior"


@dataclass(frozen=True)
class Catalog:
    """What the benchmark measured, in points: gains[t][s] (mean over paired episodes), halves[t][s] (the
    episodes' 95% half-width) and relative[t][s][score] (the source network's score minus ImageNet's, on t)."""

    gains: dict[str, dict[str, float]]
    relative: dict[str, dict[str, dict[str, float]]]
    halves: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def targets(self) -> list[str]:
        return list(self.gains)

    def prior(self, source: str, exclude) -> float | None:
        """The catalog prior of `source`: its mean gain (points) on the targets not in `exclude`."""
        values = [g[source] for t, g in self.gains.items() if t not in exclude and source in g]
        return float(np.mean(values)) if values else None


def row_features(relative: dict[str, float], prior: float | None, features: tuple[str, ...]) -> list[float]:
    """One row of the design matrix (without the intercept)."""
    row = []
    for name in features:
        value = prior if name == PRIOR else relative.get(name)
        if value is None or not math.isfinite(float(value)):
            raise ValueError(f"feature {name!r} is missing or not finite")
        row.append(float(value))
    return row


def design(catalog: Catalog, targets, features: tuple[str, ...], exclude=frozenset()):
    """(X, y, groups) over every (target, source) of `targets`; the prior of a row on target u leaves out u and
    every target in `exclude`, so no held-out target's gains enter any feature."""
    X, y, groups = [], [], []
    for u in targets:
        for s, gain in catalog.gains[u].items():
            prior = catalog.prior(s, {*exclude, u}) if PRIOR in features else None
            if PRIOR in features and prior is None:
                continue  # a source measured on no other target has no prior to learn from
            X.append(row_features(catalog.relative[u][s], prior, features))
            y.append(float(gain))
            groups.append(u)
    return np.asarray(X, float).reshape(len(y), len(features)), np.asarray(y, float), groups


def least_squares(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """[b0, b...] of y ≈ b0 + X b (numpy's lstsq: the minimum-norm solution when X is rank-deficient)."""
    A = np.column_stack([np.ones(len(y)), X])
    return np.linalg.lstsq(A, y, rcond=None)[0]


def conformal_quantile(residuals, coverage: float) -> float:
    """The split-conformal half-width: the ceil((n + 1) c)-th smallest |residual| (inf when n is too small)."""
    r = np.sort(np.abs(np.asarray(residuals, float)))
    rank = math.ceil((len(r) + 1) * coverage)
    return float(r[rank - 1]) if rank <= len(r) else math.inf


@dataclass
class GainModel:
    """Predicted gain over ImageNet (points) with a `coverage` interval. `__init__` stores; `fit` learns the
    coefficients and the conformal half-width from a Catalog; `predict` answers for rows of features."""

    features: tuple[str, ...] = ("logme", PRIOR)
    coverage: float = 0.9
    coef_: np.ndarray | None = None
    q_: float | None = None

    def fit(self, catalog: Catalog, targets=None, exclude=frozenset()) -> GainModel:
        """Fit on `targets` (default: every target of the catalog not in `exclude`), with priors that leave out
        `exclude`. The half-width comes from leaving each of those targets out in turn."""
        targets = [t for t in (catalog.targets if targets is None else targets) if t not in exclude]
        if len(targets) < 3:
            raise ValueError("the gain model needs at least three training targets")
        self.features = tuple(self.features)
        X, y, _ = design(catalog, targets, self.features, exclude)
        self.coef_ = least_squares(X, y)
        residuals = []
        for u in targets:
            rest = [t for t in targets if t != u]
            Xr, yr, _ = design(catalog, rest, self.features, {*exclude, u})
            Xu, yu, _ = design(catalog, [u], self.features, {*exclude, u})
            residuals.extend(yu - np.column_stack([np.ones(len(yu)), Xu]) @ least_squares(Xr, yr))
        self.q_ = conformal_quantile(residuals, self.coverage)
        return self

    def predict(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, low, high) in points for rows of features (in `features` order)."""
        if self.coef_ is None:
            raise ValueError("GainModel.predict before fit")
        X = np.asarray(X, float).reshape(-1, len(self.features))
        mean = self.coef_[0] + X @ self.coef_[1:]
        return mean, mean - self.q_, mean + self.q_

    def to_dict(self) -> dict:
        return {"features": list(self.features), "coverage": self.coverage,
                "intercept": float(self.coef_[0]), "coefficients": dict(zip(self.features, map(float, self.coef_[1:]))),
                "half_width": self.q_}

    @classmethod
    def from_dict(cls, data: dict) -> GainModel:
        """A fitted model from its `to_dict` form (numbers only: nothing in it names code)."""
        features = tuple(str(f) for f in data["features"])
        unknown = sorted(set(features) - set(FEATURES))
        if unknown:
            raise ValueError(f"unknown gain-model feature(s) {unknown}; known: {list(FEATURES)}")
        coef = np.array([float(data["intercept"]), *(float(data["coefficients"][f]) for f in features)])
        q = float(data["half_width"])
        if not np.all(np.isfinite(coef)) or not (q >= 0):
            raise ValueError("gain-model numbers must be finite, and its half-width at least 0")
        return cls(features, float(data["coverage"]), coef, q)


def decide(mean, threshold: float, q: float) -> int | None:
    """The index of the source to start from, or None for ImageNet: the highest predicted gain, when it clears
    `threshold` × q (threshold 1: the interval's lower bound is above 0; 0: the predicted gain is above 0)."""
    mean = np.asarray(mean, float)
    best = int(np.argmax(mean))
    return best if mean[best] > threshold * q else None


def shipped_predictions(section: dict, target: str | None, sources: list[str], relative: dict, prior_points: dict):
    """What the evidence's gain model predicts for `sources` on `target`, one owner for `recommend` and the
    benchmark: a catalog target gets the fold fitted without it, any other target the fit on every catalog target;
    a source with a prior (points, `prior_points`) the catalog model, one without it the model without the prior.
    relative: source -> score name -> (source network's score - ImageNet network's score) on the target.
    Returns ([(mean, low, high, "catalog" | "user", model)] in source order, the verdict's threshold); "user" marks
    a source without a prior."""
    fold = section["folds"].get(target) or section["all_targets"]
    models = {path: GainModel.from_dict(fold[path]) for path in ("catalog", "user")}
    out = []
    for s in sources:
        prior = prior_points.get(s)
        # "catalog": a source the catalog measured; "user": one it never did, predicted by the model without the
        # prior (the catalog model itself when that reads no prior).
        path = "catalog" if prior is not None else "user"
        model = models["catalog"] if prior is not None or PRIOR not in models["catalog"].features else models["user"]
        mean, low, high = (float(v[0]) for v in model.predict([row_features(relative[s], prior, model.features)]))
        out.append((mean, low, high, path, model))
    return out, float(fold["threshold"])


def model_scores(section: dict) -> list[str]:
    """The network scores the evidence's gain models read (every fold's), in a fixed order."""
    folds = [section["all_targets"], *section["folds"].values()]
    return sorted({f for fold in folds for path in ("catalog", "user") for f in fold[path]["features"]
                   if f != PRIOR})


# --- nested leave-one-target-out: how the model and its rule are chosen and judged -------------------------------
CANDIDATES = (("logme",), ("logme", PRIOR), ("logme", "knn_loo", PRIOR),
              ("logme", "h_score_shrinkage", "knn_loo", PRIOR), ("fewshot_probe",), ("fewshot_probe", PRIOR))
THRESHOLDS = (0.0, 0.5, 1.0)


def measured_candidates(catalog: Catalog, candidates=CANDIDATES) -> tuple[tuple[str, ...], ...]:
    """The candidate feature sets whose scores the catalog holds for every (target, source): a benchmark that did
    not measure a score (an older run) is judged on the others."""
    held = set.intersection(*(set(r) for per in catalog.relative.values() for r in per.values()))
    return tuple(c for c in candidates if all(f == PRIOR or f in held for f in c))


def without_prior(features: tuple[str, ...]) -> tuple[str, ...]:
    """The feature set a source with no catalog measurement (a user's folder) is predicted with."""
    return tuple(f for f in features if f != PRIOR) or ("logme",)


def predict_target(model: GainModel, catalog: Catalog, target: str, exclude) -> tuple[list[str], np.ndarray,
                                                                                      np.ndarray, np.ndarray]:
    """(sources, mean, low, high) for every source of `target`, priors leaving out `exclude` and the target."""
    X, _, _ = design(catalog, [target], model.features, {*exclude, target})
    sources = [s for s in catalog.gains[target]
               if PRIOR not in model.features or catalog.prior(s, {*exclude, target}) is not None]
    return (sources, *model.predict(X))


def inner_choice(catalog: Catalog, train: list[str], held_out: str | None, coverage: float, candidates=CANDIDATES):
    """(features, threshold) chosen on `train` alone: features by the smallest mean absolute error, then the
    threshold by the smallest mean decision regret, each target of `train` left out in turn. Ties keep the
    earlier (simpler) feature set and the larger (more cautious) threshold. `held_out` (None: none) is left out
    of every prior as well."""
    outer = set() if held_out is None else {held_out}
    candidates = measured_candidates(catalog, candidates)
    fits = {}
    errors = []
    for features in candidates:
        err = []
        for u in train:
            model = GainModel(features, coverage).fit(catalog, [t for t in train if t != u], {*outer, u})
            fits[features, u] = model
            sources, mean, _, _ = predict_target(model, catalog, u, outer)
            err.extend(np.abs(mean - np.array([catalog.gains[u][s] for s in sources])))
        errors.append(float(np.mean(err)))
    features = candidates[int(np.argmin(np.round(errors, 9)))]
    regrets = []
    for threshold in THRESHOLDS:
        r = []
        for u in train:
            model = fits[features, u]
            sources, mean, _, _ = predict_target(model, catalog, u, outer)
            chosen = decide(mean, threshold, model.q_)
            measured = [catalog.gains[u][s] for s in sources]
            r.append(decision_regret(measured, chosen))
        regrets.append(float(np.mean(r)))
    best = min(regrets)
    threshold = max(t for t, r in zip(THRESHOLDS, regrets) if r <= best + 1e-9)
    return features, threshold, dict(zip(map("+".join, candidates), errors)), dict(zip(map(str, THRESHOLDS), regrets))


def nested_loto(catalog: Catalog, coverage: float = 0.9, candidates=CANDIDATES) -> dict:
    """Each catalog target t predicted by a model whose features, rule, coefficients and interval were all chosen
    and fitted without any of t's measurements (the prior of every row leaves t out as well). Per target: the
    choices, each source's prediction and interval, the decision and its regret, and the same for the model
    without the prior (the path of a user's own source). `candidates`: the feature sets the inner loop chooses
    from (a study may offer others; their names are read from `catalog.relative`)."""
    from recommender.rankers.statistics import weighted_tau

    out = {}
    for t in catalog.targets:
        train = [u for u in catalog.targets if u != t]
        features, threshold, errors, regrets = inner_choice(catalog, train, t, coverage, candidates)
        result = {"features": list(features), "threshold": threshold, "inner_mae": errors,
                  "inner_regret": regrets}
        for path, feats in (("catalog", features), ("user", without_prior(features))):
            model = GainModel(feats, coverage).fit(catalog, train, {t})
            sources, mean, low, high = predict_target(model, catalog, t, set())
            measured = np.array([catalog.gains[t][s] for s in sources])
            chosen = decide(mean, threshold, model.q_)
            result[path] = {
                "model": model.to_dict(), "sources": sources, "predicted": mean.tolist(), "low": low.tolist(),
                "high": high.tolist(), "measured": measured.tolist(),
                "covered": ((measured >= low) & (measured <= high)).tolist(),
                "decision": None if chosen is None else sources[chosen], "regret": decision_regret(measured, chosen),
                "weighted_tau": weighted_tau(mean, measured)}
        out[t] = result
    return out
