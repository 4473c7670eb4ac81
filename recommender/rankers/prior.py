"""The catalog prior, one owner: each source's mean measured gain over the ImageNet network on the catalog
targets other than the one being scored, the rule for a source it never measured, and the prior + network score
ranking (`prior_score`) with its weight fitted by nested leave-one-target-out. The benchmark, the studies and
`recommend` all call these functions.

Gains here are what the evidence file stores: fractions of accuracy (0.01 = one point); figures quoted to a person
(`top1_regret`, the report) are converted to points where they are made.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from recommender.rankers.statistics import standardise, weighted_tau


def loto_prior(gains: dict[str, dict[str, float]], exclude=()) -> dict[str, float]:
    """The catalog prior: each source's mean measured gain over the ImageNet network on the targets not in
    `exclude` (target -> source -> gain). Leaving out the target being scored makes it leave-one-target-out."""
    collected: dict[str, list[float]] = {}
    for target, per_source in gains.items():
        if target in exclude:
            continue
        for source, g in per_source.items():
            collected.setdefault(source, []).append(float(g))
    return {s: float(np.mean(v)) for s, v in collected.items()}


def prior_values(prior_of: dict[str, float], sources: list[str]) -> np.ndarray | None:
    """Each source's prior, in the order of `sources`. The one rule for a source the prior never measured: it gets
    the mean prior of the measured ones, so whatever the prior is combined with (a distance, a network's score)
    alone places it among them. None when no source was measured (the prior says nothing)."""
    known = [prior_of[s] for s in sources if s in prior_of]
    if not known:
        return None
    neutral = float(np.mean(known))
    return np.array([float(prior_of.get(s, neutral)) for s in sources])


def fold(evidence: dict, target: str | None) -> tuple[dict, dict[str, float]]:
    """(the fitted mix, the prior) for `target`: a catalog target gets the fit and prior that leave it out,
    exactly as the benchmark validated them; any other target gets the fit on every catalog target."""
    chosen = evidence["default"]["folds"].get(target) if target else None
    chosen = chosen or evidence["default"]["all_targets"]
    return chosen, loto_prior(evidence["gains"], {target})


# The weights tried for prior_score (8 candidates), chosen by nested leave-one-target-out.
# --- prior_score: the catalog prior plus a score of each source's trained network on the target -------------------
PRIOR_SCORE_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def prior_score(prior_of: dict[str, float], sources: list[str], score, w: float) -> np.ndarray:
    """The prior + trained-network score ranking, higher first:

        value(s, t) = z_t(prior(s)) + w * z_t(score(s, t)),

    z_t standardising over target t's candidate sources; prior(s) is s's mean measured gain on the catalog
    targets other than t (`loto_prior`), score(s, t) a transferability score (LogME, You et al., ICML 2021) of
    s's stage-1 network on t's own images. A source the prior never measured gets the mean prior of the others
    (`prior_values`), so the score alone places it; when no source has a prior, the value is the score's z alone."""
    z_score = standardise(score)
    prior = prior_values(prior_of, sources)
    return z_score if prior is None else standardise(prior) + float(w) * z_score


def fit_prior_score(gains: dict[str, dict[str, float]], scores: dict[str, dict[str, float]], exclude=()) -> float:
    """The weight w of `prior_score` (from PRIOR_SCORE_WEIGHTS) with the best mean weighted tau over the targets
    not in `exclude`, each target u scored with the prior that leaves out `exclude` and u itself, so no target's own
    accuracies enter its score. gains, scores: target -> source -> value. A tie keeps the smaller w."""
    targets = [t for t in gains if t not in exclude]
    if not targets:
        raise ValueError("fitting prior_score needs at least one target besides the held-out ones.")
    means = []
    for w in PRIOR_SCORE_WEIGHTS:
        taus = []
        for u in targets:
            sources = list(gains[u])
            value = prior_score(loto_prior(gains, {*exclude, u}), sources, [scores[u][s] for s in sources], w)
            taus.append(weighted_tau(value, [gains[u][s] for s in sources]))
        means.append(float(np.mean(taus)))
    return PRIOR_SCORE_WEIGHTS[int(np.argmax(np.round(means, 12)))]


def prior_score_evidence(gains: dict[str, dict[str, float]], scores: dict[str, dict[str, float]],
                         score_name: str, top_blocks: int) -> dict:
    """The `prior_score` section of the evidence file, by nested leave-one-target-out: for each catalog target t,
    w fitted on the other targets (`fit_prior_score` excluding t), and t's sources scored with the prior that
    leaves t out; the ranking's weighted tau and top-1 regret (points) on each t; w fitted on every target, for
    targets outside the catalog. Pure arithmetic on the benchmark's numbers: no network is trained here."""
    folds, per_target = {}, {}
    for t in gains:
        w = fit_prior_score(gains, scores, {t})
        sources = list(gains[t])
        value = prior_score(loto_prior(gains, {t}), sources, [scores[t][s] for s in sources], w)
        measured = np.array([gains[t][s] for s in sources])
        folds[t] = w
        per_target[t] = {"weighted_tau": weighted_tau(value, measured),
                         "top1_regret": float(100 * (measured.max() - measured[int(np.argmax(value))]))}
    taus = np.array([r["weighted_tau"] for r in per_target.values()])
    half = float(stats.t.ppf(0.975, len(taus) - 1) * taus.std(ddof=1) / np.sqrt(len(taus))) if len(taus) > 1 \
        else float("nan")
    return {"score": score_name, "top_blocks": int(top_blocks), "weights": list(PRIOR_SCORE_WEIGHTS),
            "folds": folds, "all_targets": fit_prior_score(gains, scores) if len(gains) > 1 else None,
            "per_target": per_target,
            "summary": {"mean_weighted_tau": float(taus.mean()), "ci95": [float(taus.mean() - half),
                                                                           float(taus.mean() + half)],
                        "interval": "95% Student-t over targets",
                        "mean_top1_regret": float(np.mean([r["top1_regret"] for r in per_target.values()])),
                        "n_targets": int(len(taus))}}
