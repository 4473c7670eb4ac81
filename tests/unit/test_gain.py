"""The gain model (recommender.rankers.gain) on hand-made catalogs: planted coefficients are recovered, the
conformal interval covers planted noise at its nominal rate, and nested leave-one-target-out never reads a
held-out target's own measurements."""
import math
from types import SimpleNamespace

import numpy as np
import pytest

from recommender.explain.verdict import predicted_verdict
from recommender.rankers.gain import (Catalog, GainModel, conformal_quantile, decide, least_squares, nested_loto)
from recommender.rankers.statistics import decision_regret, weighted_tau


def planted(n_targets=10, n_sources=9, noise=0.5, seed=0, b=(1.0, 40.0), effect_sd=2.0):
    """gain = b0 + b1 * logme + a source's own effect + N(0, noise), every target against every source."""
    rng = np.random.default_rng(seed)
    sources = [f"s{i}" for i in range(n_sources)]
    effect = rng.normal(0, effect_sd, n_sources)  # a source's own tendency, what the prior learns
    gains, relative = {}, {}
    for t in range(n_targets):
        name = f"t{t}"
        logme = rng.normal(0, 0.03, n_sources)
        g = b[0] + b[1] * logme + effect + rng.normal(0, noise, n_sources)
        gains[name] = dict(zip(sources, map(float, g)))
        relative[name] = {s: {"logme": float(v), "knn_loo": 0.0, "h_score_shrinkage": 0.0}
                          for s, v in zip(sources, logme)}
    return Catalog(gains, relative)


def test_least_squares_and_the_conformal_quantile_by_hand():
    # y = 1 + 2x exactly: the coefficients come back.
    assert np.allclose(least_squares(np.array([[0.0], [1.0], [2.0]]), np.array([1.0, 3.0, 5.0])), [1.0, 2.0])
    # 9 residuals at coverage 0.9: rank ceil(10 * 0.9) = 9, the largest |r|; with 5, rank 6 > 5: no finite bound.
    assert conformal_quantile([-1, 2, -3, 4, 5, -6, 7, 8, -9], 0.9) == 9
    assert conformal_quantile([1, 2, 3, 4, 5, 6, 7, 8, 9], 0.5) == 5  # ceil(10 * 0.5) = 5
    assert math.isinf(conformal_quantile([1, 2, 3, 4, 5], 0.9))


def test_a_planted_linear_gain_is_recovered():
    model = GainModel(("logme",), 0.9).fit(planted(n_targets=30, noise=0.2, effect_sd=0.0))
    assert model.coef_ == pytest.approx([1.0, 40.0], rel=0.1)
    # A source's own effect is what the prior carries: with it, the interval shrinks towards the planted noise.
    catalog = planted(n_targets=30, noise=0.2)
    alone, with_prior = (GainModel(f, 0.9).fit(catalog) for f in (("logme",), ("logme", "prior")))
    assert with_prior.q_ < 0.5 * alone.q_
    assert with_prior.coef_[1] == pytest.approx(40.0, rel=0.1)


def test_the_interval_covers_planted_noise_at_its_nominal_rate():
    covered = []
    for seed in range(8):
        catalog = planted(n_targets=12, noise=1.0, seed=seed)
        train = catalog.targets[:10]
        model = GainModel(("logme",), 0.9).fit(catalog, train)
        for t in catalog.targets[10:]:
            sources = list(catalog.gains[t])
            mean, low, high = model.predict([[catalog.relative[t][s]["logme"]] for s in sources])
            g = np.array([catalog.gains[t][s] for s in sources])
            covered.extend((g >= low) & (g <= high))
    assert 0.80 <= np.mean(covered) <= 0.98, np.mean(covered)


def test_nested_loto_never_reads_the_held_out_target():
    catalog = planted(n_targets=6, n_sources=5, noise=0.5, seed=3)
    before = nested_loto(catalog)
    # A planted signal only t0's own measurements carry: if any of them leaked into t0's prediction (its fit, its
    # prior, its rule), the prediction would move.
    leaked = {**catalog.gains, "t0": {s: g + 50.0 for s, g in catalog.gains["t0"].items()}}
    after = nested_loto(Catalog(leaked, catalog.relative))
    for path in ("catalog", "user"):
        assert after["t0"][path]["predicted"] == pytest.approx(before["t0"][path]["predicted"], abs=1e-12)
        assert after["t0"][path]["low"] == pytest.approx(before["t0"][path]["low"], abs=1e-12)
    assert after["t0"]["features"] == before["t0"]["features"]
    # ...while every other target's prediction does see it (t0 is in their training data).
    assert after["t1"]["catalog"]["predicted"] != pytest.approx(before["t1"]["catalog"]["predicted"], abs=1e-6)


def test_decide_and_regret():
    assert decide([3.0, 0.5, -1.0], threshold=1.0, q=2.0) == 0  # 3 > 1 x 2: a clear winner
    assert decide([1.5, 0.5], threshold=1.0, q=2.0) is None  # inside the interval: ImageNet
    assert decide([0.1, -0.5], threshold=0.0, q=2.0) == 0  # the expected-gain rule
    assert decision_regret([1.0, -2.0], None) == 1.0  # ImageNet when a source gained 1 point
    assert decision_regret([-1.0, -2.0], None) == 0.0
    assert decision_regret([-1.0, -2.0], 1) == 2.0
    assert weighted_tau([3, 2, 1], [30, 20, 10]) == pytest.approx(1.0)


def test_a_fitted_model_is_numbers_only():
    model = GainModel(("logme", "prior"), 0.9).fit(planted())
    again = GainModel.from_dict(model.to_dict())
    assert np.allclose(again.predict([[0.01, 1.0]])[0], model.predict([[0.01, 1.0]])[0])
    with pytest.raises(ValueError, match="unknown gain-model feature"):
        GainModel.from_dict({**model.to_dict(), "features": ["subprocess.Popen"]})
    with pytest.raises(ValueError, match="finite"):
        GainModel.from_dict({**model.to_dict(), "intercept": float("nan")})


def _source(name, mean, half, model="catalog", threshold=1.0):
    parts = {"predicted_gain_points": mean, "low_points": mean - half, "high_points": mean + half,
             "interval": "90%", "model": model, "half_width": half, "threshold_half_widths": threshold}
    return SimpleNamespace(name=name, ref=name, parts=parts)


def test_the_verdict_from_predictions():
    clear = predicted_verdict({"gains": {}}, [_source("trash", 4.0, 2.0), _source("flowers", 0.0, 2.0)],
                              "plants", "plants", None)
    assert clear["decision"] == "source" and clear["headline"].startswith("Start from trash: predicted +4.0 points")
    assert "on plants" in clear["headline"] and "train.py target=plants source=trash" in clear["next"][0]
    noise = predicted_verdict({"gains": {}}, [_source("trash", 0.6, 2.0), _source("flowers", -0.5, 2.0)],
                              "plants", "plants", None)
    assert noise["decision"] == "imagenet" and noise["headline"].startswith("Start from ImageNet")
    assert "+0.6 points [-1.4, +2.6]" in noise["headline"] and "source=imagenet" in noise["next"][0]
    # A user's folder has no prior: it still gets a number, and the sentence says how it was predicted.
    user = predicted_verdict({"gains": {}}, [_source("/data/mine", 3.5, 3.0, "user", threshold=0.0)],
                             "plants", "plants", None)
    assert user["decision"] == "source" and "+3.5 points" in user["headline"]
    assert "never measured" in user["headline"] and len(user["next"]) == 2  # wide interval: validate first


def test_scores_equal_within_their_precision_are_ties():
    from recommender.rankers.prior import prior_score
    from recommender.rankers.statistics import standardise

    logme = [-0.3323 + 3e-14 * i for i in range(4)]  # identical images: LogME agrees to 13 digits
    assert not standardise(logme).any()
    # The prior decides, whatever the weight on the score.
    value = prior_score({"a": 0.01, "b": -0.05, "c": 0.003, "d": -0.01}, ["a", "b", "c", "d"], logme, 4.0)
    assert list(value.argsort()[::-1]) == [0, 2, 3, 1]
    assert standardise([1.0, 1.0 + 1e-6]) == pytest.approx([-1.0, 1.0])  # a real spread still counts


def test_a_candidate_a_study_offers_is_chosen_when_it_carries_the_signal():
    # The gain is planted on "logme"; a study offers a feature set with a second score of pure noise and one with
    # the planted score itself renamed. nested_loto reads the names from the catalog and chooses, fold by fold.
    catalog = planted(n_targets=8, n_sources=6, noise=0.1, effect_sd=0.0, seed=4)
    rng = np.random.default_rng(9)
    for per in catalog.relative.values():
        for scores in per.values():
            scores["planted"], scores["noise"] = scores["logme"], float(rng.normal())
    result = nested_loto(catalog, candidates=(("noise",), ("planted",)))
    assert all(r["features"] == ["planted"] for r in result.values())
    assert all(set(r["inner_mae"]) == {"noise", "planted"} for r in result.values())
