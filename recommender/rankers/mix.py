"""The prior + distance mix, one owner (a score: higher is better), and its fit by nested leave-one-target-out:

    score(s, t) = prior(s) / sd_prior + c * (-d(s, t)) / sd_distance,

prior(s) = the mean gain of s's stage-1 network over the ImageNet network on the *other* catalog targets
(`recommender.rankers.prior`), sd_prior = the spread of the prior over sources, sd_distance = the mean over
targets of the distance's spread over sources; c in WEIGHTS (inf = the distance alone; 1e-6 = the prior, the
distance only breaking its ties). Both are chosen by nested leave-one-target-out: for every held-out target, first
the distance with the best mean weighted Kendall tau *alone* on the other targets (it is what orders a user's own
folders, which the prior has never measured), then the c with the best mean weighted tau of the mix on those
targets (whose priors leave out both the held-out and the scored target); that fit scores the held-out target. A
source the prior has never measured gets the mean prior of the others (`prior_values`), so the distance alone
places it. The benchmark (finetune/benchmark/mix.py) and `distance=prior_mix` call these functions.
"""
from __future__ import annotations

import math

import numpy as np

from recommender.distances import configure
from recommender.rankers.base import Candidate, Ranker, Scored
from recommender.rankers.prior import fold, loto_prior, prior_values
from recommender.rankers.statistics import weighted_tau


# The weights c tried (12 candidates), chosen by nested leave-one-target-out.
WEIGHTS = (1e-6, 1 / 64, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0, 2.0, 4.0, 8.0, 16.0, math.inf)


def mixed_score(prior_of: dict[str, float], sources: list[str], distance_score, c: float, sd_prior: float,
                sd_distance: float) -> np.ndarray:
    """The formula of the module docstring, for one target's sources (distance_score = -distance)."""
    d = np.asarray(distance_score, float) / (sd_distance or 1.0)
    if math.isinf(c):
        return d
    prior = prior_values(prior_of, sources)
    return (np.zeros(len(d)) if prior is None else prior / (sd_prior or 1.0)) + c * d


def _mean_tau(gain, per_target, targets, c, sd_prior, sd_distance, exclude) -> float:
    taus = []
    for u in targets:
        sources = list(gain[u])
        score = mixed_score(loto_prior(gain, {*exclude, u}), sources, [per_target[u][s] for s in sources], c,
                            sd_prior, sd_distance)
        taus.append(weighted_tau(score, np.array([gain[u][s] for s in sources])))
    return float(np.mean(taus))


def fit_mix(gain: dict[str, dict[str, float]], distances: dict[str, dict[str, dict[str, float]]],
            exclude=()) -> dict:
    """The distance with the best mean weighted tau alone over the targets not in `exclude`, then the c with the
    best mean weighted tau of the mix (see the module docstring).

    distances: name -> target -> source -> (-distance). Returns {"distance", "c", "sd_prior", "sd_distance",
    "distance_weighted_tau", "mean_weighted_tau"}; a tie keeps the first name, then the smaller c."""
    targets = [t for t in gain if t not in exclude]
    if len(targets) < 2:
        raise ValueError("fitting the prior mix needs at least two targets besides the held-out one.")
    full_prior = loto_prior(gain, exclude)
    sd_prior = float(np.std(list(full_prior.values()))) if full_prior else 1.0
    alone = {}
    for name in sorted(distances):
        alone[name] = float(np.mean([weighted_tau(np.array([distances[name][u][s] for s in gain[u]]),
                                                  np.array(list(gain[u].values()))) for u in targets]))
    name = max(sorted(alone), key=lambda n: (alone[n], -sorted(alone).index(n)))
    sd_distance = float(np.mean([np.std(list(distances[name][t].values())) for t in targets]))
    taus = [_mean_tau(gain, distances[name], targets, c, sd_prior, sd_distance, exclude) for c in WEIGHTS]
    best = int(np.argmax(np.round(taus, 12)))
    return {"distance": name, "c": WEIGHTS[best], "sd_prior": sd_prior, "sd_distance": sd_distance,
            "distance_weighted_tau": alone[name], "mean_weighted_tau": taus[best]}


def loto_scores(gain: dict[str, dict[str, float]], distances: dict[str, dict[str, dict[str, float]]]
                ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """For every target: the mixed score of its sources with the (distance, c) fitted without it, and that fit."""
    scores, folds = {}, {}
    for t in gain:
        chosen = fit_mix(gain, distances, {t})
        sources = list(gain[t])
        scores[t] = mixed_score(loto_prior(gain, {t}), sources,
                                np.array([distances[chosen["distance"]][t][s] for s in sources]),
                                chosen["c"], chosen["sd_prior"], chosen["sd_distance"])
        folds[t] = chosen
    return scores, folds


class PriorMix(Ranker):
    """`distance=prior_mix`: the mix of the module docstring as `recommend` runs it, with the distance and weight
    the evidence fitted. `fit` takes the fold that left `held_out` out (a catalog target is ranked as the
    benchmark validated it) or, for any other target, the fit on every catalog target."""

    name = "prior_mix"
    uses_evidence = True
    unmeasured = "the distance"
    unmeasured_caveat = (" On image folders nobody tuned for, that distance predicted transfer little better than "
                         "counting the sources' classes (docs/rankers.md); distance=gain (the default) places them "
                         "by each one's trained network instead.")

    def fit(self, evidence: dict | None = None, held_out: str | None = None) -> PriorMix:
        chosen, self.prior_ = fold(evidence, held_out)
        self.table = configure(evidence["distances"][chosen["distance"]])
        self.c_ = math.inf if chosen["c"] is None else float(chosen["c"])
        self.sd_ = (float(chosen["sd_prior"]), float(chosen["sd_distance"]))
        base = self.table.label
        if math.isinf(self.c_):
            self.kind, self.label = "distance", f"{base} (chosen leave-one-target-out by the catalog benchmark)"
        elif self.c_ <= 1e-6:
            self.kind, self.label = "prior", (
                f"each source's measured transfer on the other catalog targets (the catalog prior), with {base} for "
                "ties and for sources the catalog never measured")
        else:
            self.kind, self.label = "mix", (f"catalog prior + {base} (weight c = {self.c_:g} on the distance; "
                                            "fitted leave-one-target-out)")
        return self

    @classmethod
    def validated_as(cls, evidence: dict, options, any_prior: bool, image_size: int) -> str | None:
        """Its benchmark row, at the evidence's image size only; with no source the prior knows, its distance
        alone, validated as that."""
        if image_size != int(evidence.get("image_size", image_size)):
            return None
        return evidence["default"]["score"] if any_prior else evidence["default"]["all_targets"]["distance"]

    def score(self, target: Candidate, sources: list[Candidate]) -> list[Scored]:
        found = [self.table.function(s.domain, target.domain) for s in sources]
        values = mixed_score(self.prior_, [s.catalog for s in sources], [-f.value for f in found], self.c_, *self.sd_)
        return [Scored(float(v), f.value, f.plan, f.cost, {
            "distance": f.value,
            "prior_gain_points": None if s.catalog not in self.prior_ else 100 * self.prior_[s.catalog]})
                for v, f, s in zip(values, found, sources)]
