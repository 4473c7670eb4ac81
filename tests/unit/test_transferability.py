"""Each transferability score against a value computed by hand on a tiny input, and against a property."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from finetune.transferability import REGISTRY, gbc, h_score, h_score_shrinkage, knn_loo_accuracy, leep, logme, nce, parc
from finetune.transferability.logme import _maximise, log_evidence


def test_log_evidence_by_hand():
    # n=2, D=1, F=[[1],[2]], y=[1,0], alpha=beta=1: A = 1 + 5 = 6, m = F'y / 6 = 1/6,
    # ||Fm - y||^2 = (1/6 - 1)^2 + (2/6)^2 = 29/36, m'm = 1/36,
    # L = 0 + 0 - log(2 pi) - 29/72 - 1/72 - 1/2 log 6 = -3.150424
    value = log_evidence(np.array([[1.0], [2.0]]), np.array([1.0, 0.0]), 1.0, 1.0)
    assert value == pytest.approx(-np.log(2 * np.pi) - 30 / 72 - 0.5 * np.log(6), abs=1e-12)
    assert value == pytest.approx(-3.150424, abs=1e-6)


def test_logme_maximises_the_evidence_found_by_a_generic_optimiser():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(30, 4))
    labels = (f[:, 0] + 0.5 * rng.normal(size=30) > 0).astype(int)
    expected = []
    for c in (0, 1):
        y = (labels == c).astype(float)
        best = minimize(lambda t: -log_evidence(f, y, np.exp(t[0]), np.exp(t[1])), [0.0, 0.0], method="Nelder-Mead",
                        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5000})
        expected.append(-best.fun / len(f))
    assert logme(f, labels) == pytest.approx(np.mean(expected), abs=1e-6)


def test_logme_fixed_point_matches_the_explicit_formula_with_more_dims_than_images():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(6, 10))
    y = np.array([1.0, 0, 1, 0, 0, 1])
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    z = u.T @ y
    per_image, alpha, beta = _maximise(s**2, z, float(y @ y - z @ z), 6, 10)
    assert per_image * 6 == pytest.approx(log_evidence(f, y, alpha, beta), rel=1e-9)


def test_logme_through_the_small_eigenproblem_equals_the_full_svd():
    from finetune.transferability.logme import _maximise, label_projections

    rng = np.random.default_rng(3)
    f = rng.normal(size=(300, 24)) @ rng.normal(size=(24, 24))
    y = (rng.random(300) > 0.5).astype(float)
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    projections, fast_s2 = label_projections(f, np.stack([y, 1 - y], axis=1))
    np.testing.assert_allclose(np.abs(projections[:, 0]), np.abs(u.T @ y)[np.argsort(s**2)], rtol=1e-9)
    via_svd = _maximise(s**2, u.T @ y, float(y @ y - (u.T @ y) @ (u.T @ y)), 300, 24)[0]
    z = projections[:, 0]
    via_eigh = _maximise(fast_s2, z, float(y @ y - z @ z), 300, 24)[0]
    assert via_eigh == pytest.approx(via_svd, rel=1e-9)


def test_logme_grows_as_features_explain_the_labels():
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1, 2], 40)
    noise = rng.normal(size=(120, 16))
    scores = [logme(noise + gap * np.eye(16)[labels], labels) for gap in (0.0, 1.0, 3.0)]
    assert scores[0] < scores[1] < scores[2]


def test_leep_by_hand():
    # P(y,z): y0 = [0.5, 0], y1 = [0.25, 0.25]; P(z) = [0.75, 0.25]; P(y|z0) = [2/3, 1/3], P(y|z1) = [0, 1].
    # LEEP = 1/2 [log(1 * 2/3) + log(0.5 * 1/3 + 0.5 * 1)] = log(2/3)
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert leep(p, [0, 1]) == pytest.approx(np.log(2 / 3), abs=1e-12)


def test_leep_and_nce_are_zero_when_the_source_predicts_the_target_labels_perfectly():
    labels = np.array([0, 1, 2, 1, 0, 2])
    p = np.eye(4)[[3, 0, 1, 0, 3, 1]]  # a relabelling of the target classes
    assert leep(p, labels) == pytest.approx(0.0, abs=1e-12)
    assert nce(p, labels) == pytest.approx(0.0, abs=1e-12)
    # ... and negative when they do not.
    blurred = 0.5 * p + 0.5 / 4
    assert leep(blurred, labels) < 0


def test_nce_by_hand():
    # z = argmax = [0, 0] (ties go to the first class): P(y0, z0) = P(y1, z0) = 1/2; NCE = log(1/2).
    assert nce(np.array([[1.0, 0.0], [0.5, 0.5]]), [0, 1]) == pytest.approx(np.log(0.5), abs=1e-12)


def test_h_score_by_hand():
    # f = [0, 2, 10, 12], labels [0, 0, 1, 1]: cov f = (36 + 16 + 16 + 36) / 4 = 26; class means 1 and 11,
    # centred -5 and 5: cov E[f|y] = 25. H = 25 / 26.
    f = np.array([[0.0], [2.0], [10.0], [12.0]])
    assert h_score(f, [0, 0, 1, 1]) == pytest.approx(25 / 26, abs=1e-12)


@pytest.mark.parametrize("n", [30, 200])  # fewer images than features (singular covariance), then more
def test_h_scores_equal_their_defining_traces(n):
    from sklearn.covariance import ledoit_wolf

    rng = np.random.default_rng(n)
    labels = rng.integers(0, 4, n)
    f = rng.normal(size=(n, 50)) + 0.7 * np.eye(50)[labels]
    centred = f - f.mean(axis=0)
    cov = centred.T @ centred / n
    by_class = np.stack([centred[labels == c].mean(axis=0) for c in range(4)])[labels]
    between = by_class.T @ by_class / n  # cov(E[f | y]) as written in the papers, every d x d matrix formed
    assert h_score(f, labels) == pytest.approx(np.trace(np.linalg.pinv(cov, rcond=1e-10, hermitian=True) @ between),
                                               rel=1e-9)
    shrunk, a = ledoit_wolf(f)
    assert h_score_shrinkage(f, labels) == pytest.approx(np.trace(np.linalg.solve(shrunk, (1 - a) * between)),
                                                         rel=1e-9)


def test_h_scores_grow_as_features_separate_the_labels():
    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1, 2, 3], 50)
    noise = rng.normal(size=(200, 8))
    for score in (h_score, h_score_shrinkage):
        values = [score(noise + gap * np.eye(8)[labels], labels) for gap in (0.0, 1.0, 4.0)]
        assert values[0] < values[1] < values[2], score.__name__


def test_gbc_by_hand():
    # class a: [0, 2] (mean 1, variance 1); class b: [4, 6] (mean 5, variance 1):
    # D_B = 1/8 * 16 / 1 + 1/2 ln(1 / 1) = 2, BC = e^-2, GBC = -(BC(a,b) + BC(b,a)) = -2 e^-2.
    f = np.array([[0.0], [2.0], [4.0], [6.0]])
    assert gbc(f, [0, 0, 1, 1]) == pytest.approx(-2 * np.exp(-2), rel=1e-5)


def test_gbc_grows_as_classes_separate():
    rng = np.random.default_rng(4)
    labels = np.repeat([0, 1, 2], 30)
    noise = rng.normal(size=(90, 5))
    values = [gbc(noise + gap * np.eye(5)[labels], labels) for gap in (0.0, 2.0, 6.0)]
    assert values[0] < values[1] < values[2] <= 0


def test_parc_is_100_when_feature_dissimilarity_equals_label_dissimilarity():
    labels = np.array([0, 1, 2, 0, 1, 2])
    # Features equal to the one-hot labels (no PCA: dims >= d): D_f = D_y exactly.
    assert parc(np.eye(3)[labels], labels, dims=3) == pytest.approx(100.0)


def test_parc_grows_as_features_separate_the_labels():
    rng = np.random.default_rng(5)
    labels = np.repeat([0, 1, 2], 20)
    noise = rng.normal(size=(60, 40))
    values = [parc(noise + gap * np.eye(40)[labels], labels) for gap in (0.0, 1.0, 4.0)]
    assert values[0] < values[1] < values[2]


def test_knn_loo_by_hand():
    # Angles (degrees): a 5.7 (y0), b 11.3 (y0), e 8.5 (y1, an outlier), c 84.3 (y1), d 78.7 (y1).
    # 1-NN by cosine, leaving each out: a -> e (wrong), b -> e (wrong), e -> b (wrong), c -> d, d -> c: 2/5.
    f = np.array([[1, 0.1], [1, 0.2], [0.1, 1], [0.2, 1], [1, 0.15]])
    assert knn_loo_accuracy(f, [0, 0, 1, 1, 1], k=1) == pytest.approx(0.4)


def test_fewshot_probe_by_hand():
    from finetune.transferability.probe import fewshot_probe

    labels = np.repeat([0, 1], 25)
    # Features that do not vary: the standardised support is all zero, both classes are equally likely, and the
    # tie goes to the first class, so each episode classifies its 5 + 5 queries as class 0: accuracy 1/2.
    assert fewshot_probe(np.ones((50, 3)), labels) == pytest.approx(0.5)
    # Two classes far apart: every query right.
    assert fewshot_probe(np.c_[labels * 10.0, -labels * 10.0], labels) == pytest.approx(1.0)
    # Classes of 6 images: k drops to 5, one query per class and episode, never a support image as a query.
    small = np.repeat([0, 1], 6)
    assert fewshot_probe(np.c_[small * 10.0, small * 3.0], small) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least two images of every class"):
        fewshot_probe(np.eye(3), [0, 1, 1])
    from finetune.transferability.probe import shots

    assert shots(np.repeat([0, 1], [30, 25])) == 20 and shots(np.repeat(["a", "b"], [30, 6])) == 5


def test_the_probe_runs_ten_way_episodes_on_many_classes_and_says_so():
    from finetune.transferability.probe import departures, episode_sets, fewshot_probe

    # Up to 10 classes: every class in every episode, every non-support image a query (the catalog's probe).
    codes = np.repeat(np.arange(10), 25)
    for support, query in episode_sets(codes, 20, 3, 0):
        assert np.array_equal(np.bincount(codes[support]), [20] * 10) and len(query) == 50
    # 40 classes of 25: 10 classes per episode, 20 support and 5 query images of each, drawn anew per episode.
    codes = np.repeat(np.arange(40), 25)
    episodes = list(episode_sets(codes, 20, 3, 0))
    for support, query in episodes:
        chosen = np.unique(codes[support])
        assert len(chosen) == 10 and np.array_equal(np.unique(codes[query]), chosen)
        assert len(support) == 200 and len(query) == 50 and not set(support) & set(query)
    assert len({tuple(np.unique(codes[s])) for s, _ in episodes}) == 3
    # Separable classes: every 10-way episode right.
    assert fewshot_probe(np.eye(40)[codes] * 10.0, codes) == pytest.approx(1.0)
    assert departures(np.repeat([0, 1, 2], 30)) == ()
    (note,) = departures(codes)
    assert "10-way episodes" in note and "40 classes" in note
    few_shots, many = departures(np.repeat(np.arange(40), 8))
    assert "k = 7" in few_shots and "10-way" in many


def test_with_more_support_images_than_features_the_classifier_is_fitted_on_the_features():
    # n >= d: the span of the support images is the whole feature space; the same classifier is fitted on the
    # standardised features (no n x n eigendecomposition). Two separable classes in 3 features, 8 images each.
    from finetune.transferability.logistic import _span_coordinates, logistic_predict

    rng = np.random.default_rng(5)
    labels = np.repeat([0, 1], 8)
    support = rng.normal(size=(16, 3)) + labels[:, None] * 4.0
    query = np.array([[0.0, 0.0, 0.0], [4.0, 4.0, 4.0]])
    coordinates, projected = _span_coordinates(support, query)
    standardised = (support - support.mean(axis=0)) / support.std(axis=0)
    assert np.allclose(coordinates, standardised)
    assert np.allclose(projected, (query - support.mean(axis=0)) / support.std(axis=0))
    assert logistic_predict(support, labels, query).tolist() == [0, 1]


def test_the_probe_regroups_the_benchmark_classifier_without_changing_it():
    # span_projector: ((Q - mean) / std) x^T U regrouped as Q P - o, the same coordinates up to rounding, both when
    # the support spans fewer dimensions than the features and when it has more images than features.
    from finetune.transferability.logistic import _span_coordinates, logistic_predict, span_projector
    from finetune.transferability.probe import episode_sets, probe_accuracies

    rng = np.random.default_rng(11)
    for n, d in ((30, 50), (40, 6)):
        support = rng.normal(size=(n, d)) * rng.uniform(0.1, 3.0, d) + rng.normal(size=d)
        query = rng.normal(size=(25, d))
        coordinates, projected = _span_coordinates(support, query)
        same, projector, offset = span_projector(support)
        assert np.array_equal(same, coordinates)
        assert np.allclose(query @ projector - offset, projected, atol=1e-10)
    # The probe's episodes, each classified by logistic_predict itself: the same accuracies, with every class in
    # every episode (4 classes) and with 10-way episodes (12 classes).
    for n_classes in (4, 12):
        labels = np.repeat(np.arange(n_classes), 15)
        features = rng.normal(size=(len(labels), 8)) + labels[:, None] * rng.normal(size=8) * 0.3
        expected = [np.mean(logistic_predict(features[s].astype(np.float32), labels[s],
                                             features[q].astype(np.float32)) == labels[q])
                    for s, q in episode_sets(labels, 5, 6, 0)]
        assert np.array_equal(probe_accuracies(features, labels, k=5, episodes=6), expected)


def test_a_longer_probe_run_starts_with_the_shorter_one():
    # What scripts/studies/study_probe_episodes.py relies on: the probe with E episodes is the mean of the first E.
    from finetune.transferability.probe import fewshot_probe, probe_accuracies

    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1, 2], 12)
    features = rng.normal(size=(36, 5)) + labels[:, None] * 0.7
    long = probe_accuracies(features, labels, k=4, episodes=9)
    assert np.array_equal(long[:4], probe_accuracies(features, labels, k=4, episodes=4))
    assert fewshot_probe(features, labels, k=4, episodes=4) == pytest.approx(long[:4].mean())
    # Each episode scores the 3 x 8 images outside its support: accuracies are multiples of 1/24.
    assert np.allclose(long * 24, np.round(long * 24))


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_score_has_one_signature_and_rejects_bad_input(name):
    score = REGISTRY[name]
    rng = np.random.default_rng(6)
    labels = np.repeat([0, 1, 2], 10)
    data = (np.eye(3)[labels] * 0.8 + 0.2 / 3) if score.needs == "predictions" else rng.normal(size=(30, 6))
    assert np.isfinite(score.function(data, labels))
    with pytest.raises(ValueError):
        score.function(data, np.zeros(30))  # one class only
    with pytest.raises(ValueError):
        score.function(data[:5], labels)  # rows and labels disagree
