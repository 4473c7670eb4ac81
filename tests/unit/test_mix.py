"""The catalog prior + distance mix (finetune/benchmark/mix.py) and its use at recommend time (recommender/evidence.py)."""
import math

import numpy as np
import pytest

from finetune.benchmark.mix import gains
from finetune.benchmark.results import Accuracies
from recommender.rankers.mix import fit_mix as fit, loto_scores, mixed_score
from recommender.rankers.prior import loto_prior as prior


def test_gains_and_the_leave_one_target_out_prior_by_hand():
    acc = {"t1": (["a", "b"], np.array([[0.5, 0.7], [0.7, 0.9], [0.4, 0.6]])),  # imagenet 0.6, a 0.8, b 0.5
           "t2": (["a", "b"], np.array([[0.8, 0.8], [0.7, 0.7], [0.9, 0.9]]))}  # imagenet 0.8, a 0.7, b 0.9
    g = gains({t: (sources, Accuracies.from_rows(rows)) for t, (sources, rows) in acc.items()})
    assert g["t1"] == pytest.approx({"a": 0.2, "b": -0.1}) and g["t2"] == pytest.approx({"a": -0.1, "b": 0.1})
    assert prior(g) == pytest.approx({"a": 0.05, "b": 0.0})
    assert prior(g, {"t1"}) == pytest.approx({"a": -0.1, "b": 0.1})  # t1's own measurements are left out


def test_mixed_score_by_hand_and_an_unknown_source_gets_the_mean_prior():
    score = mixed_score({"a": 0.2, "b": -0.2}, ["a", "b", "new"], np.array([-1.0, -3.0, -2.0]), c=2.0,
                        sd_prior=0.1, sd_distance=2.0)
    # a: 0.2/0.1 + 2*(-1/2) = 1; b: -2 + 2*(-1.5) = -5; new: mean prior 0 + 2*(-1) = -2
    np.testing.assert_allclose(score, [1.0, -5.0, -2.0])
    np.testing.assert_allclose(mixed_score({}, ["x"], np.array([-4.0]), math.inf, 1.0, 2.0), [-2.0])


def synthetic(n_targets=6, n_sources=5, seed=0):
    """Transfer gain = a per-source effect + closeness to the target (what the `good` distance measures)."""
    rng = np.random.default_rng(seed)
    effect = rng.normal(scale=0.02, size=n_sources)
    sources = [f"s{i}" for i in range(n_sources)]
    gain, good, noise = {}, {}, {}
    for t in range(n_targets):
        distance = rng.uniform(1, 3, size=n_sources)
        g = effect - 0.01 * distance
        gain[f"t{t}"] = dict(zip(sources, g))
        good[f"t{t}"] = dict(zip(sources, -distance))
        noise[f"t{t}"] = dict(zip(sources, -rng.uniform(1, 3, size=n_sources)))
    return gain, {"good": good, "noise": noise}


def test_the_fit_picks_the_informative_distance_and_mixes_it_with_the_prior():
    from scipy.stats import weightedtau

    gain, distances = synthetic(n_targets=10)
    chosen = fit(gain, distances)
    assert chosen["distance"] == "good" and math.isfinite(chosen["c"])
    scores, folds = loto_scores(gain, distances)
    assert set(folds) == set(gain)
    def mean_tau(score_of):
        return np.mean([weightedtau(score_of(t), np.array(list(gain[t].values()))).statistic for t in gain])
    mixed = mean_tau(lambda t: scores[t])
    alone = mean_tau(lambda t: np.array(list(distances["good"][t].values())))
    assert mixed > 0.7 and mixed > alone + 0.1  # on held-out targets the mix beats the distance alone


def test_a_catalog_target_gets_the_fold_that_left_it_out():
    from recommender.rankers.prior import fold

    evidence = {"gains": {"t1": {"a": 0.2}, "t2": {"a": -0.1}, "t3": {"a": 0.0}},
                "default": {"folds": {"t1": {"distance": "x"}}, "all_targets": {"distance": "y"}}}
    chosen, p = fold(evidence, "t1")
    assert chosen == {"distance": "x"} and p == pytest.approx({"a": -0.05})
    chosen, p = fold(evidence, None)  # a new target: the fit and the prior on every catalog target
    assert chosen == {"distance": "y"} and p == pytest.approx({"a": 1 / 30})


def test_source_imagenet_trains_from_imagenet_without_asking_the_recommender():
    from omegaconf import OmegaConf

    from finetune.transfer.select import choose_source

    source, reason = choose_source(OmegaConf.create({"target": "anything", "source": "imagenet", "report": {}}))
    assert source is None and reason["source"] == "imagenet" and reason["how"] == "forced by source=imagenet"


def test_the_evidence_schema_has_one_owner(tmp_path):
    """What the benchmark writes (through recommender.evidence.evidence_document) is what load_evidence reads; a
    file missing one of the keys every reader needs is refused with the fix."""
    import json

    import pytest

    from recommender.evidence import REQUIRED, EvidenceError, evidence_document, load_evidence

    document = evidence_document(protocol="top4/k20", image_size=160, targets=["a", "b"],
                                 gains={"a": {"b": 0.01}, "b": {"a": -0.02}}, summary={}, distances={},
                                 default={"score": "prior_mix"}, benchmark={"episodes": 100, "stage1_seed": 0},
                                 backbone={"name": "mobilenet_v2"}, validated_distances={})
    assert "prior_score" not in document and document["format"] == 1
    path = tmp_path / "catalog_evidence.json"
    path.write_text(json.dumps(document))
    assert load_evidence(path)["gains"] == {"a": {"b": 0.01}, "b": {"a": -0.02}}
    for key in REQUIRED:
        path.write_text(json.dumps({k: v for k, v in document.items() if k != key}))
        with pytest.raises(EvidenceError, match="run scripts/benchmark.py again"):
            load_evidence(path)
