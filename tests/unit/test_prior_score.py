"""distance=prior_score: the catalog prior plus a trained network's score (recommender/evidence.py), and its fit by
nested leave-one-target-out."""
import numpy as np
import pytest

from recommender.rankers.prior import (PRIOR_SCORE_WEIGHTS, fit_prior_score, loto_prior, prior_score,
                                       prior_score_evidence)
from recommender.rankers.statistics import weighted_tau


def test_the_formula_by_hand():
    # prior a 0.3, b 0.1, c 0.2: mean 0.2, population sd sqrt(2/3 * 0.01) = 0.0816497 -> z = 1.2247, -1.2247, 0
    # score 2, 0, 1: mean 1, sd 0.8164966 -> z = 1.2247, -1.2247, 0; w = 2 -> value = 3 z
    value = prior_score({"a": 0.3, "b": 0.1, "c": 0.2}, ["a", "b", "c"], [2.0, 0.0, 1.0], 2.0)
    np.testing.assert_allclose(value, [3 * 1.2247449, -3 * 1.2247449, 0.0], rtol=1e-6, atol=1e-12)
    # Opposite signs: prior z (1.2247, -1.2247, 0) + 0.5 * score z (-1.2247, 1.2247, 0)
    value = prior_score({"a": 0.3, "b": 0.1, "c": 0.2}, ["a", "b", "c"], [0.0, 2.0, 1.0], 0.5)
    np.testing.assert_allclose(value, [0.6123724, -0.6123724, 0.0], rtol=1e-6, atol=1e-12)


def test_a_source_without_a_prior_is_placed_by_the_score_and_none_known_means_the_score_alone():
    # "new" gets the mean prior of a and b (0.2): prior z of (0.3, 0.1, 0.2) = 1.2247, -1.2247, 0;
    # score z of (1, 1, 4) = -0.7071, -0.7071, 1.4142
    value = prior_score({"a": 0.3, "b": 0.1}, ["a", "b", "new"], [1.0, 1.0, 4.0], 1.0)
    np.testing.assert_allclose(value, [1.2247449 - 0.7071068, -1.2247449 - 0.7071068, 1.4142136], rtol=1e-6)
    alone = prior_score({}, ["x", "y", "z"], [3.0, 1.0, 2.0], 0.0)  # w = 0 would otherwise leave nothing
    np.testing.assert_allclose(alone, [1.2247449, -1.2247449, 0.0], rtol=1e-6)


def _catalog(n_targets=8, n_sources=8, seed=0):
    """Gain = a per-source effect (what the prior learns) + a target-specific part the score sees."""
    rng = np.random.default_rng(seed)
    effect = rng.normal(scale=0.03, size=n_sources)
    sources = [f"s{i}" for i in range(n_sources)]
    gains, scores = {}, {}
    for t in range(n_targets):
        specific = rng.normal(scale=0.02, size=n_sources)
        gains[f"t{t}"] = dict(zip(sources, effect + specific))
        scores[f"t{t}"] = dict(zip(sources, specific + rng.normal(scale=0.01, size=n_sources)))
    return gains, scores


def test_the_mix_beats_both_parts_on_targets_it_never_saw():
    gains, scores = _catalog(n_targets=10)
    section = prior_score_evidence(gains, scores, "logme", 4)
    mixed = section["summary"]["mean_weighted_tau"]
    prior_alone = np.mean([weighted_tau([loto_prior(gains, {t})[s] for s in gains[t]], list(gains[t].values()))
                           for t in gains])
    score_alone = np.mean([weighted_tau(list(scores[t].values()), list(gains[t].values())) for t in gains])
    assert mixed > prior_alone + 0.05 and mixed > score_alone + 0.05
    assert set(section["folds"]) == set(gains) and set(section["folds"].values()) <= set(PRIOR_SCORE_WEIGHTS)


def test_nested_leave_one_target_out_never_uses_the_held_out_targets_accuracies():
    """Plant a signal in one target's gains that only its own accuracies could reveal: the held-out target's
    weight and prior must not move, whatever its gains are."""
    gains, scores = _catalog()
    planted = {t: dict(g) for t, g in gains.items()}
    planted["t0"] = {s: 10.0 * i for i, s in enumerate(gains["t0"])}  # a huge, perfectly ordered signal
    for name, data in (("original", gains), ("planted", planted)):
        assert fit_prior_score(data, scores, {"t0"}) == fit_prior_score(gains, scores, {"t0"}), name
        assert loto_prior(data, {"t0"}) == loto_prior(gains, {"t0"}), name
    a = prior_score_evidence(gains, scores, "logme", 4)
    b = prior_score_evidence(planted, scores, "logme", 4)
    assert a["folds"]["t0"] == b["folds"]["t0"]
    # The held-out target's ranking is the same; only its measured truth (and so its tau) changed.
    def value(data):
        return prior_score(loto_prior(data, {"t0"}), list(gains["t0"]), list(scores["t0"].values()), a["folds"]["t0"])
    np.testing.assert_array_equal(value(gains), value(planted))


def test_the_nested_fit_and_the_regret_by_hand():
    """Scores always put a first. t1: b is best (5 against 2 points); t2 and t3: a is best.
    Fold t1: inner targets t2 (prior from t3: a) and t3 (prior from t2: a) are ordered right at every w, so the
    tie keeps w = 0; t1's prior (from t2, t3: a 2.0, b 0.5 points) puts a first: regret 5 - 2 = 3 points.
    Fold t2: inner t1 is wrong at every w (tau -1); inner t3's prior (from t1) puts b first, against the score:
    w < 1 keeps b (tau -1), w = 1 ties (tau 0), w > 1 puts a first (tau 1), so w = 2, the smallest best;
    t2's prior (a 1.0, b 2.5 points) gives z -1, 1, the score z 1, -1: a first with w = 2, regret 0."""
    gains = {"t1": {"a": 0.02, "b": 0.05}, "t2": {"a": 0.03, "b": 0.01}, "t3": {"a": 0.01, "b": 0.00}}
    scores = {t: {"a": 1.0, "b": 0.0} for t in gains}
    section = prior_score_evidence(gains, scores, "logme", 4)
    assert section["folds"] == {"t1": 0.0, "t2": 2.0, "t3": 2.0}
    assert section["per_target"]["t1"]["top1_regret"] == pytest.approx(3.0)
    assert section["per_target"]["t2"]["top1_regret"] == pytest.approx(0.0)
    assert section["per_target"]["t3"]["top1_regret"] == pytest.approx(0.0)
    assert section["summary"]["mean_top1_regret"] == pytest.approx(1.0)
    assert [section["per_target"][t]["weighted_tau"] for t in gains] == [-1.0, 1.0, 1.0]
