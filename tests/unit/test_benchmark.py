"""The transfer benchmark: paired episodes, the few-shot classifier, ranking metrics."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from finetune.benchmark.ground_truth import Protocol
from finetune.benchmark.results import Accuracies, TargetRun
from finetune.evaluation import distinguishable, mean_ci, ranking_metrics
from finetune.benchmark.evaluate import evaluate
from finetune.fewshot.episodes import draw_episodes, episode_accuracies
from finetune.transferability.logistic import logistic_predict


def test_episodes_depend_on_labels_and_seed_only_and_hold_k_per_class():
    labels = np.array([0] * 30 + [1] * 8 + [2] * 50)
    a = draw_episodes(labels, 10, 20, seed=3)
    b = draw_episodes(labels.copy(), 10, 20, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    for e in a:
        counts = np.bincount(labels[e], minlength=3)
        assert counts.tolist() == [10, 8, 10]  # a class smaller than k contributes all its images
        assert len(np.unique(e)) == len(e)
    assert len({tuple(e) for e in a}) == 20  # episodes differ from each other
    assert not np.array_equal(a[0], draw_episodes(labels, 10, 1, seed=4)[0])


def test_logistic_regression_matches_scikit_learn():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 300)) * 0.3
    y = np.repeat(np.arange(5), 8)
    x = centres[y] + rng.normal(size=(40, 300))
    yq = rng.integers(0, 5, 300)
    q = centres[yq] + rng.normal(size=(300, 300))
    scaler = StandardScaler().fit(x)
    reference = LogisticRegression(C=1.0, max_iter=10000, tol=1e-10).fit(scaler.transform(x), y)
    ours = logistic_predict(x, y, q)
    assert np.mean(ours == reference.predict(scaler.transform(q))) >= 0.99
    assert 0.5 < np.mean(ours == yq)  # and it has learnt something


def test_a_network_fitted_in_a_batch_gets_exactly_its_lone_fit():
    # The batched L-BFGS stops evaluating problems that have converged; a problem's result must not depend on
    # which others share its batch (or on when they stop), so that accuracies are those of separate fits.
    from finetune.transferability.logistic import logistic_probabilities

    rng = np.random.default_rng(4)
    labels = np.repeat([0, 1, 2], 6)
    supports = [rng.normal(size=(18, 40)) + scale * np.eye(40)[labels] for scale in (0.2, 1.0, 4.0)]
    queries = [rng.normal(size=(25, 40)) for _ in supports]
    _, together = logistic_probabilities(np.stack(supports), labels, np.stack(queries))
    for b, (support, query) in enumerate(zip(supports, queries)):
        np.testing.assert_array_equal(together[b], logistic_probabilities(support, labels, query)[1])


def test_networks_with_the_same_features_get_the_same_accuracies():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2], 20)
    pool = rng.normal(size=(60, 16)) + np.eye(16)[labels]
    test = rng.normal(size=(30, 16)) + np.eye(16)[np.repeat([0, 1, 2], 10)]
    episodes = draw_episodes(labels, 5, 6, seed=0)
    other = rng.normal(size=(60, 16))
    acc = episode_accuracies([pool, other, pool], labels, [test, test, test], np.repeat([0, 1, 2], 10), episodes)
    assert acc.shape == (3, 6)
    assert np.array_equal(acc[0], acc[2])  # paired: the same support images, the same fit
    assert acc[0].mean() > acc[1].mean()


def test_ranking_metrics_by_hand():
    best = ranking_metrics([3, 2, 1], [0.9, 0.8, 0.7])
    assert best["kendall_tau"] == pytest.approx(1.0) and best["weighted_tau"] == pytest.approx(1.0)
    assert best["top1_regret"] == 0.0 and best["top1_relative_accuracy"] == 1.0
    worst = ranking_metrics([1, 2, 3], [0.9, 0.8, 0.7])
    assert worst["kendall_tau"] == pytest.approx(-1.0)
    assert worst["top1_regret"] == pytest.approx(20.0)  # points
    assert worst["top1_relative_accuracy"] == pytest.approx(0.7 / 0.9)
    assert ranking_metrics([1, 1, 1], [0.9, 0.8, 0.7])["kendall_tau"] == 0.0  # a constant score ranks nothing


def test_distinguishable_uses_a_paired_test():
    rng = np.random.default_rng(2)
    episode_effect = rng.normal(0, 0.1, 50)  # large, shared by all sources: cancels in a paired test
    rows = [0.7 + episode_effect + 0.01 + rng.normal(0, 0.002, 50),
            0.7 + episode_effect + 0.02 + rng.normal(0, 0.002, 50), 0.7 + episode_effect + rng.normal(0, 0.002, 50)]
    ok, p, test = distinguishable(np.array(rows))  # the sources' rows only
    assert ok and p < 1e-6 and test.startswith("Friedman")
    same = np.array([0.7 + episode_effect] * 3)
    assert distinguishable(same)[0] is False


def test_mean_ci_is_the_student_t_interval():
    values = np.array([[0.1, 0.2, 0.3, 0.4]])
    mean, half = mean_ci(values)
    assert mean[0] == pytest.approx(0.25)
    assert half[0] == pytest.approx(stats.t.ppf(0.975, 3) * np.std([0.1, 0.2, 0.3, 0.4], ddof=1) / 2)


P = Protocol(2, 20)  # the toy runs' protocol: top 2 blocks, 20 shots


def _toy_run(name, gains, score):
    rng = np.random.default_rng(len(name))
    base = 0.6 + rng.normal(0, 0.05, 40)
    acc = np.vstack([base, *[base + g + rng.normal(0, 0.003, 40) for g in gains]])
    sources = [f"s{i}" for i in range(len(gains))]
    return TargetRun(name, sources, {P: Accuracies.from_rows(acc)}, {2: {"good": np.array(score, float),
                                                                      "bad": -np.array(score, float)}})


def test_evaluate_recomputes_from_its_own_numbers_and_leaves_out_indistinct_targets():
    runs = [_toy_run("a", [0.01, 0.03, 0.02], [1, 3, 2]), _toy_run("bb", [0.0, 0.0, 0.0], [1, 2, 3]),
            _toy_run("ccc", [0.05, 0.01, 0.03], [3, 1, 2])]
    runs[1].accuracy[P].sources[:] = runs[1].accuracy[P].baseline  # sources identical: not distinguishable
    result = evaluate(runs, P, bootstrap=50, seed=0)
    assert result["excluded_targets"] == ["bb"]
    assert result["summary"]["good"]["n_targets"] == 2
    assert result["summary"]["good"]["mean_kendall_tau"] == pytest.approx(1.0)
    assert result["summary"]["bad"]["mean_kendall_tau"] == pytest.approx(-1.0)
    for name, t in result["targets"].items():
        sources = [s for s in t["accuracy"] if s != "imagenet"]
        for score, values in t["scores"].items():
            recomputed = stats.weightedtau([values[s] for s in sources], [t["accuracy"][s] for s in sources])
            if t["discriminates"]:
                assert t["weighted_tau"][score] == pytest.approx(recomputed.statistic)
    lo, hi = result["summary"]["good"]["ci95"]
    assert lo <= result["summary"]["good"]["mean_weighted_tau"] <= hi


def test_vectorised_kendall_and_pearson_match_scipy():
    from finetune.evaluation import kendall_tau_b, pearson

    rng = np.random.default_rng(3)
    score = np.round(rng.normal(size=9), 1)  # some ties
    accuracies = np.round(rng.uniform(0.5, 0.9, (20, 9)), 2)
    for row, tau, r in zip(accuracies, kendall_tau_b(score, accuracies), pearson(score, accuracies)):
        assert tau == pytest.approx(stats.kendalltau(score, row).statistic)
        assert r == pytest.approx(stats.pearsonr(score, row).statistic)


def test_the_source_prior_never_looks_at_the_target_it_scores():
    from finetune.benchmark.mix import PRIOR, source_prior, with_prior

    runs = [_toy_run("a", [0.01, 0.03, 0.02], [1, 3, 2]), _toy_run("bb", [0.02, 0.04, 0.00], [1, 2, 3]),
            _toy_run("ccc", [0.05, 0.01, 0.03], [3, 1, 2])]
    prior = source_prior(runs, P, held_out="a")
    for i, source in enumerate(["s0", "s1", "s2"]):
        expected = np.mean([r.accuracy[P].sources[i].mean() - r.accuracy[P].baseline.mean() for r in runs[1:]])
        assert prior[source] == pytest.approx(expected)
    before = with_prior(runs, P)[0].scores[2][PRIOR].copy()
    runs[0].accuracy[P].sources[:] += 0.5  # the held-out target's own numbers do not move its prior ...
    assert with_prior(runs, P)[0].scores[2][PRIOR] == pytest.approx(before)
    runs[1].accuracy[P].sources[1] += 0.5  # ... another target's numbers do
    assert with_prior(runs, P)[0].scores[2][PRIOR][1] == pytest.approx(before[1] + 0.5 / 2)


def test_the_prototype_episode_classifier_matches_the_single_network_one():
    from finetune.fewshot.deepemd import prototype_predict

    rng = np.random.default_rng(4)
    labels = np.repeat([0, 1, 2], 10)
    pools = [rng.normal(size=(30, 8)) + np.eye(8)[labels] * 2 for _ in range(2)]
    tests = [rng.normal(size=(12, 8)) + np.eye(8)[np.repeat([0, 1, 2], 4)] * 2 for _ in range(2)]
    episodes = draw_episodes(labels, 3, 4, seed=1)
    acc = episode_accuracies(pools, labels, tests, np.repeat([0, 1, 2], 4), episodes, classifier="prototype")
    for b in range(2):
        for e, support in enumerate(episodes):
            expected = np.mean(prototype_predict(pools[b][support], labels[support], tests[b]) == np.repeat([0, 1, 2], 4))
            assert acc[b, e] == pytest.approx(expected)


def test_scores_are_compared_with_emd_paired_over_targets():
    from finetune.benchmark.report import against_emd

    taus = {"class_mean_emd": [0.1, 0.2, 0.3, 0.4], "better": [0.3, 0.5, 0.4, 0.6]}
    head = {"summary": {n: {"mean_weighted_tau": float(np.mean(v))} for n, v in taus.items()},
            "targets": {f"t{i}": {"discriminates": True, "weighted_tau": {n: v[i] for n, v in taus.items()}}
                        for i in range(4)}}
    row = [line for line in against_emd(head) if line.startswith("| better")][0]
    diff = np.array([0.2, 0.3, 0.1, 0.2])  # by hand
    half = stats.t.ppf(0.975, 3) * diff.std(ddof=1) / 2
    assert row.startswith(f"| better | +{diff.mean():.2f} ± {half:.2f} |") and row.endswith("| 4/4 |")


def test_the_prior_mix_never_looks_at_the_target_it_scores():
    from finetune.benchmark.mix import MIX, with_mix

    runs = [_toy_run("a", [0.01, 0.03, 0.02], [1, 3, 2]), _toy_run("bb", [0.02, 0.04, 0.00], [1, 2, 3]),
            _toy_run("ccc", [0.05, 0.01, 0.03], [3, 1, 2]), _toy_run("dddd", [0.0, 0.02, 0.01], [1, 3, 2])]
    mixed, fits = with_mix(runs, P)
    assert set(fits["folds"]) == {"a", "bb", "ccc", "dddd"} and fits["all_targets"]["distance"] in ("good", "bad")
    before = mixed[0].scores[2][MIX].copy()
    runs[0].accuracy[P].sources[:] = runs[0].accuracy[P].sources[::-1].copy()  # reorder a's own sources
    assert with_mix(runs, P)[0][0].scores[2][MIX] == pytest.approx(before)
    result = evaluate(runs, P, bootstrap=20, seed=0)
    assert MIX in result["summary"] and result["mix"]["folds"]["a"] == fits["folds"]["a"]


def test_linear_cka_by_hand_and_its_invariances():
    from finetune.benchmark.diagnostics import linear_cka

    # One feature: CKA is the squared Pearson correlation. x = 1, 2, 3 and y = 1, 4, 9, centred: (-1, 0, 1) and
    # (-11, -2, 13) / 3, so (sum xy)^2 / (sum x^2 sum y^2) = 64 / (2 * 294 / 9) = 576 / 588.
    assert linear_cka(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [4.0], [9.0]])) == pytest.approx(576 / 588)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 5))
    rotation = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    assert linear_cka(x, 2.5 * x @ rotation + 7) == pytest.approx(1.0)  # rotation, scale and shift leave it at 1


def test_weighted_tau_rows_is_scipys_weighted_tau_for_every_row():
    import warnings

    from scipy import stats

    from finetune.evaluation import weighted_tau_rows

    # By hand: x = (3, 2, 1), y = (3, 1, 2). Ranks by (x, y) give weights (1, 1/2, 1/3): pair weights 3/2, 4/3
    # (concordant) and 5/6 (discordant), so tau = (3/2 + 4/3 - 5/6) / (3/2 + 4/3 + 5/6) = 6/11; ranks by
    # (y, x) permute the same weights, so the mean of the two is 6/11 as well.
    assert weighted_tau_rows([3.0, 2.0, 1.0], [[3.0, 1.0, 2.0]])[0] == pytest.approx(6 / 11, abs=1e-12)
    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(2, 11))
        x = rng.integers(0, 3, n).astype(float) if trial % 2 else rng.normal(size=n)
        rows = rng.integers(0, 3, (4, n)).astype(float) if trial % 3 else rng.normal(size=(4, n))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = [stats.weightedtau(x, row).statistic for row in rows]
        np.testing.assert_allclose(weighted_tau_rows(x, rows), expected, atol=1e-12, equal_nan=True)
