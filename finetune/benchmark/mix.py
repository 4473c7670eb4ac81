"""The rankings the benchmark adds to each target's scores from the catalog's own measurements: the catalog prior
(PRIOR), the prior + distance mix fitted by nested leave-one-target-out (MIX), and the shipped rankings exactly as
`recommend` computes them from the evidence (DEFAULT, SHIPPED_PRIOR_SCORE, SHIPPED_GAIN). The formulas and fits
are recommender.rankers' (prior, mix, gain): this module only arranges the benchmark's runs around them.
"""
from __future__ import annotations

import math

import numpy as np

from finetune.benchmark.ground_truth import Protocol
from finetune.benchmark.results import NAIVE, Accuracies, TargetRun
from finetune.transferability import REGISTRY
from recommender.rankers.mix import WEIGHTS, fit_mix, loto_scores, mixed_score
from recommender.rankers.prior import fold, loto_prior, prior_score, prior_values

MIX = "prior_mix_loto"


def gains(measured: dict[str, tuple[list[str], Accuracies]]) -> dict[str, dict[str, float]]:
    """target -> source -> mean accuracy gain over the ImageNet network, from (sources, their Accuracies)."""
    return {target: dict(zip(sources, map(float, m.gains()))) for target, (sources, m) in measured.items()}


def run_gains(runs: list[TargetRun], protocol: Protocol) -> dict[str, dict[str, float]]:
    """target -> source -> mean accuracy gain over the ImageNet network under `protocol`."""
    return gains({r.target: (r.sources, r.accuracy[protocol]) for r in runs})


PRIOR = "source_prior_loto"


def source_prior(runs: list[TargetRun], protocol: Protocol, held_out: str) -> dict[str, float]:
    """Each source's mean gain over the ImageNet network on the *other* targets (leave-one-target-out): the
    per-source main effect of transfer, learned without looking at the target being scored. The prior itself is
    `recommender.rankers.prior.loto_prior`'s, which the recommender reads from the evidence: one owner."""
    return loto_prior(run_gains(runs, protocol), {held_out})


def with_prior(runs: list[TargetRun], protocol: Protocol) -> list[TargetRun]:
    """The runs with the leave-one-target-out source prior added to each target's scores (`prior_values`: a source
    no other target has measured gets the others' mean; all 0 when none was measured)."""
    out = []
    for run in runs:
        values = prior_values(source_prior(runs, protocol, run.target), run.sources)
        out.append(run.with_scores(protocol.top_blocks,
                                   {PRIOR: np.zeros(len(run.sources)) if values is None else values}))
    return out


SHIPPED_PRIOR_SCORE = "prior_score"  # conf/distance/prior_score.yaml, from the evidence
SHIPPED_GAIN = "gain"  # recommend's default (conf/distance/gain.yaml): the predicted gain, from the evidence
DEFAULT = "prior_mix"  # the shipped default ranking (conf/distance/prior_mix.yaml), scored from the shipped evidence


def model_free_names(run: TargetRun, top_blocks: int) -> list[str]:
    """The model-free distances among a run's scores (what the prior + distance mix may use)."""
    return [n for n in run.scores[top_blocks] if n not in REGISTRY and n not in NAIVE
            and n not in (PRIOR, MIX, DEFAULT, SHIPPED_PRIOR_SCORE, SHIPPED_GAIN)]


def with_mix(runs: list[TargetRun], protocol: Protocol, candidates=None) -> tuple[list[TargetRun], dict]:
    """The runs with the nested leave-one-target-out prior + distance mix (finetune/benchmark/mix.py) added to each
    target's scores, and the fits: one per held-out target, and one on every target (for new targets).
    `candidates`: the distances the mix may use (None: every model-free distance scored)."""
    top_blocks = protocol.top_blocks
    gain = run_gains(runs, protocol)
    names = sorted(set.intersection(*(set(model_free_names(r, top_blocks)) for r in runs)))
    names = [n for n in names if candidates is None or n in candidates]
    distances = {n: {r.target: dict(zip(r.sources, map(float, r.scores[top_blocks][n]))) for r in runs}
                 for n in names}
    scores, folds = loto_scores(gain, distances)
    out = []
    for run in runs:
        out.append(run.with_scores(top_blocks, {MIX: scores[run.target]}))
    everything = fit_mix(gain, distances)
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
