"""The default ranking, earned leave-one-target-out: the catalog's measured per-source transfer (a prior that
ships with the catalog) mixed with a model-free distance to the target.

    score(s, t) = prior(s) / sd_prior + c * (-d(s, t)) / sd_distance,

prior(s) = the mean gain of s's stage-1 network over the ImageNet network on the *other* catalog targets,
sd_prior = the spread of the prior over sources, sd_distance = the mean over targets of the distance's spread
over sources; c in WEIGHTS (inf = the distance alone; 1e-6 = the prior, the distance only breaking its ties).
Both are chosen by nested leave-one-target-out: for every held-out target, first the distance with the best
mean weighted Kendall tau *alone* on the other targets (it is what orders a user's own folders, which the prior
has never measured), then the c with the best mean weighted tau of the mix on those targets (whose priors leave
out both the held-out and the scored target); that fit scores the held-out target. A source the prior has
never measured gets the mean prior of the others, so the distance alone places it.
"""
from __future__ import annotations

import math

import numpy as np

from finetune.benchmark.results import NAIVE, TargetRun
from finetune.transferability import REGISTRY
from recommender.evidence import fold, loto_prior, prior_score

# The catalog prior and the weighted tau have one owner, shared with the recommender.
from recommender.evidence import loto_prior as prior  # noqa: F401
from recommender.evidence import weighted_tau as _weighted_tau

MIX = "prior_mix_loto"
WEIGHTS = (1e-6, 1 / 64, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0, 2.0, 4.0, 8.0, 16.0, math.inf)


def gains(accuracy: dict[str, tuple[list[str], np.ndarray]]) -> dict[str, dict[str, float]]:
    """target -> source -> mean accuracy gain over the ImageNet network, from (sources, (1 + S, E) episodes)."""
    out = {}
    for target, (sources, acc) in accuracy.items():
        mean = np.asarray(acc, float).mean(axis=1)
        out[target] = {s: float(m - mean[0]) for s, m in zip(sources, mean[1:])}
    return out


def mixed_score(prior_of: dict[str, float], sources: list[str], distance_score: np.ndarray, c: float,
                sd_prior: float, sd_distance: float) -> np.ndarray:
    """The formula of the module docstring, for one target's sources (distance_score = -distance)."""
    d = np.asarray(distance_score, float) / (sd_distance or 1.0)
    if math.isinf(c):
        return d
    known = [prior_of[s] for s in sources if s in prior_of]
    neutral = float(np.mean(known)) if known else 0.0
    p = np.array([prior_of.get(s, neutral) for s in sources]) / (sd_prior or 1.0)
    return p + c * d


def _mean_tau(gain, per_target, targets, c, sd_prior, sd_distance, exclude) -> float:
    taus = []
    for u in targets:
        sources = list(gain[u])
        score = mixed_score(prior(gain, {*exclude, u}), sources, np.array([per_target[u][s] for s in sources]), c,
                            sd_prior, sd_distance)
        taus.append(_weighted_tau(score, np.array([gain[u][s] for s in sources])))
    return float(np.mean(taus))


def fit(gain: dict[str, dict[str, float]], distances: dict[str, dict[str, dict[str, float]]],
        exclude=()) -> dict:
    """The distance with the best mean weighted tau alone over the targets not in `exclude`, then the c with the
    best mean weighted tau of the mix (see the module docstring).

    distances: name -> target -> source -> (-distance). Returns {"distance", "c", "sd_prior", "sd_distance",
    "distance_weighted_tau", "mean_weighted_tau"}; a tie keeps the first name, then the smaller c."""
    targets = [t for t in gain if t not in exclude]
    if len(targets) < 2:
        raise ValueError("fitting the prior mix needs at least two targets besides the held-out one.")
    full_prior = prior(gain, exclude)
    sd_prior = float(np.std(list(full_prior.values()))) if full_prior else 1.0
    alone = {}
    for name in sorted(distances):
        alone[name] = float(np.mean([_weighted_tau(np.array([distances[name][u][s] for s in gain[u]]),
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
        chosen = fit(gain, distances, {t})
        sources = list(gain[t])
        scores[t] = mixed_score(prior(gain, {t}), sources,
                                np.array([distances[chosen["distance"]][t][s] for s in sources]),
                                chosen["c"], chosen["sd_prior"], chosen["sd_distance"])
        folds[t] = chosen
    return scores, folds


PRIOR = "source_prior_loto"


def source_prior(runs: list[TargetRun], top_blocks: int, k: str, held_out: str) -> dict[str, float]:
    """Each source's mean gain over the ImageNet network on the *other* targets (leave-one-target-out): the
    per-source main effect of transfer, learned without looking at the target being scored. The prior itself is
    `recommender.evidence.loto_prior`'s, which the recommender reads from the evidence: one owner."""
    gains = {}
    for run in runs:
        mean = run.accuracy[top_blocks][str(k)].mean(axis=1)
        gains[run.target] = {source: float(m - mean[0]) for source, m in zip(run.sources, mean[1:])}
    return loto_prior(gains, {held_out})


def with_prior(runs: list[TargetRun], top_blocks: int, k: str) -> list[TargetRun]:
    """The runs with the leave-one-target-out source prior added to each target's scores (0 for a source no
    other target has measured: the prior knows nothing about it)."""
    out = []
    for run in runs:
        prior = source_prior(runs, top_blocks, k, run.target)
        out.append(run.with_scores(top_blocks, {PRIOR: np.array([prior.get(s, 0.0) for s in run.sources])}))
    return out


SHIPPED_PRIOR_SCORE = "prior_score"  # conf/distance/prior_score.yaml, from the evidence
SHIPPED_GAIN = "gain"  # recommend's default (conf/distance/gain.yaml): the predicted gain, from the evidence
DEFAULT = "prior_mix"  # the shipped default ranking (conf/distance/prior_mix.yaml), scored from the shipped evidence


def model_free_names(run: TargetRun, top_blocks: int) -> list[str]:
    """The model-free distances among a run's scores (what the prior + distance mix may use)."""
    return [n for n in run.scores[top_blocks] if n not in REGISTRY and n not in NAIVE
            and n not in (PRIOR, MIX, DEFAULT, SHIPPED_PRIOR_SCORE, SHIPPED_GAIN)]


def with_mix(runs: list[TargetRun], top_blocks: int, k: str, candidates=None) -> tuple[list[TargetRun], dict]:
    """The runs with the nested leave-one-target-out prior + distance mix (finetune/benchmark/mix.py) added to each
    target's scores, and the fits: one per held-out target, and one on every target (for new targets).
    `candidates`: the distances the mix may use (None: every model-free distance scored)."""
    gain = gains({r.target: (r.sources, r.accuracy[top_blocks][k]) for r in runs})
    names = sorted(set.intersection(*(set(model_free_names(r, top_blocks)) for r in runs)))
    names = [n for n in names if candidates is None or n in candidates]
    distances = {n: {r.target: dict(zip(r.sources, map(float, r.scores[top_blocks][n]))) for r in runs}
                 for n in names}
    scores, folds = loto_scores(gain, distances)
    out = []
    for run in runs:
        out.append(run.with_scores(top_blocks, {MIX: scores[run.target]}))
    everything = fit(gain, distances)
    # The prior alone (PRIOR) as a runnable ranking: the same LOTO-chosen distance only breaks its ties and
    # places sources the prior never measured.
    prior_first = {t: {**f, "c": WEIGHTS[0], "mean_weighted_tau": float("nan")} for t, f in folds.items()}
    return out, {"folds": folds, "all_targets": everything, "gains": gain,
                 "prior_folds": prior_first, "prior_all_targets": {**everything, "c": WEIGHTS[0], "mean_weighted_tau": float("nan")},
                 "distances": {n: distances[n] for n in names}}


def with_shipped_default(runs: list[TargetRun], top_blocks: int, evidence: dict | None,
                         references: dict | None = None) -> list[TargetRun]:
    """The runs with the shipped rankings as scores, each computed as `recommend` computes it (a catalog target
    gets the fold that left it out): DEFAULT (prior_mix), SHIPPED_PRIOR_SCORE (prior_score) and, given the
    ImageNet network's own scores on each target (`references`: target -> score -> value), SHIPPED_GAIN (the
    default, distance=gain: the predicted gain in points, through recommender.rankers.gain)."""
    if not evidence:
        return runs
    out = []
    for run in runs:
        chosen, prior_of = fold(evidence, run.target if run.target in evidence["gains"] else None)
        measured, added = run.scores[top_blocks], {}
        if chosen["distance"] in measured:
            c = math.inf if chosen["c"] is None else float(chosen["c"])
            added[DEFAULT] = mixed_score(prior_of, run.sources, measured[chosen["distance"]], c,
                                         chosen["sd_prior"], chosen["sd_distance"])
        section = evidence.get("prior_score")
        if section and section["score"] in measured and int(section["top_blocks"]) == top_blocks:
            # recommend's default, exactly as it computes it: the fold's weight, the prior that leaves t out
            w = section["folds"].get(run.target, section["all_targets"])
            added[SHIPPED_PRIOR_SCORE] = prior_score(prior_of, run.sources, measured[section["score"]], float(w))
        gain = evidence.get("gain")
        if gain and references and run.target in references and \
                str(gain["protocol"]).startswith(f"top{top_blocks}/"):
            from recommender.rankers.gain import model_scores, shipped_predictions

            names = model_scores(gain)
            if all(n in measured for n in names):
                target = run.target if run.target in evidence["gains"] else None
                relative = {s: {n: float(measured[n][i]) - references[run.target][n] for n in names}
                            for i, s in enumerate(run.sources)}
                points = {s: 100 * prior_of[s] for s in run.sources if s in prior_of}
                predicted, _ = shipped_predictions(gain, target, run.sources, relative, points)
                added[SHIPPED_GAIN] = np.array([p[0] for p in predicted])
        out.append(run.with_scores(top_blocks, added))
    return out


def shipped_prior_score_of(benchmark: dict, evidence: dict) -> dict[str, dict[str, float]]:
    """target -> source -> recommend's default (prior_score) for every target of a benchmark.json, computed by
    `with_shipped_default` from the LogME values that benchmark measured (no network needed)."""
    section = evidence["prior_score"]
    blocks, name = int(section["top_blocks"]), str(section["score"])
    runs = [TargetRun(t, list(benchmark["sources"][t]), {}, {blocks: {name: np.array(
        [benchmark["targets"][t]["scores"][name][s] for s in benchmark["sources"][t]])}})
        for t in benchmark["targets"]]
    return {r.target: dict(zip(r.sources, map(float, r.scores[blocks][SHIPPED_PRIOR_SCORE])))
            for r in with_shipped_default(runs, blocks, evidence)}
