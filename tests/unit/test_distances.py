"""Distances on tiny datasets whose answer is known by hand or from a closed form."""
import numpy as np
import pytest
from scipy.linalg import sqrtm

from factories import domain, image_domain
from recommender.distances import configure
from recommender.distances.class_mean_emd import class_mean_emd
from recommender.distances.gaussian import bures_squared
from recommender.distances.gaussian_emd import gaussian_emd
from recommender.distances.otdd import otdd
from recommender.distances.transport import sinkhorn, solve
from recommender.domains import represent, stratified_sample


def random_spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_bures_matches_a_direct_matrix_square_root():
    rng = np.random.default_rng(0)
    a, b = random_spd(rng, 5), random_spd(rng, 5)
    root = sqrtm(a)
    direct = np.trace(a) + np.trace(b) - 2 * np.trace(sqrtm(root @ b @ root)).real
    assert bures_squared(a[None], b[None])[0, 0] == pytest.approx(direct, rel=1e-8)
    assert bures_squared(a[None], a[None])[0, 0] == pytest.approx(0.0, abs=1e-8)


def test_diagonal_bures_is_the_distance_between_standard_deviations():
    # N(0, diag(4, 9)) to N(0, diag(1, 1)): (2 - 1)^2 + (3 - 1)^2 = 5, by hand.
    assert bures_squared(np.array([[4.0, 9.0]]), np.array([[1.0, 1.0]]))[0, 0] == pytest.approx(5.0)
    # ... and the full form agrees on diagonal matrices.
    assert bures_squared(np.diag([4.0, 9.0])[None], np.eye(2)[None])[0, 0] == pytest.approx(5.0)


def test_shifting_a_class_moves_gaussian_emd_by_the_shift():
    covariance = np.array([[[1.0, 0.0], [0.0, 2.0]]])
    a = domain("a", means=[[0.0, 0.0]], counts=[1])
    b = domain("b", means=[[3.0, 4.0]], counts=[1])
    from dataclasses import replace
    a, b = replace(a, covariances=covariance), replace(b, covariances=covariance)
    assert gaussian_emd(a, b).value == pytest.approx(5.0)  # equal covariances: W2 = |shift|
    assert gaussian_emd(a, a).value == pytest.approx(0.0, abs=1e-9)


def test_gaussian_emd_with_zero_covariances_is_class_mean_emd():
    from dataclasses import replace
    a = domain("a", means=[[0.0, 0.0], [1.0, 2.0]], counts=[3, 1])
    b = domain("b", means=[[2.0, 0.0], [0.0, 5.0], [1.0, 1.0]], counts=[1, 1, 2])
    zeros_a, zeros_b = replace(a, covariances=np.zeros((2, 2))), replace(b, covariances=np.zeros((3, 2)))
    assert gaussian_emd(zeros_a, zeros_b).value == pytest.approx(class_mean_emd(a, b).value, rel=1e-9)


def test_otdd_by_hand_on_two_points_per_dataset():
    # One class each, points at x = 0 and 2 (variance 1 per axis... only along x), and at x = 0 and 2 shifted by
    # (0, 3): class Gaussians N((1, 0), diag(1, 0)) and N((1, 3), diag(1, 0)), so W2^2(class, class') = 9.
    # Matching each point to its shifted twin costs 9 + 9 = 18 per point: OTDD = sqrt(18).
    a = image_domain("a", rows=[[0.0, 0.0], [2.0, 0.0]], labels=[0, 0])
    b = image_domain("b", rows=[[0.0, 3.0], [2.0, 3.0]], labels=[0, 0])
    a, b = represent([a, b], covariance="diagonal", samples=10)
    assert otdd(a, b).value == pytest.approx(np.sqrt(18.0))
    assert otdd(a, a).value == pytest.approx(0.0, abs=1e-9)
    assert otdd(a, b, solver="sinkhorn", sinkhorn_reg=0.01).value == pytest.approx(np.sqrt(18.0), rel=1e-3)


def test_debiased_sinkhorn_otdd_shares_one_epsilon_across_its_three_terms():
    # Reference from POT directly: S = OT_eps(s, t) - (OT_eps(s, s) + OT_eps(t, t)) / 2, one absolute eps taken
    # from the target's own largest cost. Different spreads make each term's own max(cost) differ.
    import ot
    from recommender.distances.otdd import pair_cost

    rng = np.random.default_rng(7)
    s_rows, t_rows = rng.normal(size=(12, 2)) * 3.0, rng.normal(size=(10, 2)) * 0.5 + 1.0
    source, target = (represent([image_domain("s", rows=s_rows, labels=np.repeat([0, 1], 6))],
                                covariance="diagonal", samples=100)[0],
                      represent([image_domain("t", rows=t_rows, labels=np.repeat([0, 1], 5))],
                                covariance="diagonal", samples=100)[0])
    reg = 0.05
    eps = reg * pair_cost(target, target).max()

    def term(a, b):
        cost = pair_cost(a, b)
        u, v = np.full(cost.shape[0], 1 / cost.shape[0]), np.full(cost.shape[1], 1 / cost.shape[1])
        return float(np.sum(ot.sinkhorn(u, v, cost / eps, 1.0, stopThr=1e-9, numItermax=100_000) * cost))

    expected = term(source, target) - 0.5 * (term(source, source) + term(target, target))
    got = otdd(source, target, solver="sinkhorn", sinkhorn_reg=reg).value
    assert got == pytest.approx(np.sqrt(max(expected, 0.0)), rel=1e-3)
    assert otdd(target, target, solver="sinkhorn", sinkhorn_reg=reg).value == pytest.approx(0.0, abs=1e-6)


def test_sinkhorn_approaches_exact_as_regularisation_shrinks():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(40, 3)) + 1.0
    cost = ((x[:, None] - y[None]) ** 2).sum(-1)
    a, b = np.full(30, 1 / 30), np.full(40, 1 / 40)
    exact = solve(a, b, cost)[0]
    errors = [abs(sinkhorn(a, b, cost, reg)[0] - exact) / exact for reg in (0.1, 0.01, 0.001)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.02


def test_normalisations_are_fitted_on_the_union_and_move_means_with_features():
    rng = np.random.default_rng(2)
    a = image_domain("a", rows=rng.normal(size=(40, 3)) * [1, 5, 10], labels=np.repeat([0, 1], 20))
    b = image_domain("b", rows=rng.normal(size=(30, 3)) + 4, labels=np.repeat([0, 1, 2], 10))
    for method in ("standardise", "whiten"):
        na, nb = represent([a, b], normalise=method, whiten_dim=3)
        pooled = np.concatenate([na.features, nb.features]).astype(float)
        np.testing.assert_allclose(pooled.mean(axis=0), 0, atol=1e-5)
        if method == "standardise":
            np.testing.assert_allclose(pooled.std(axis=0), 1, atol=1e-5)
        else:
            np.testing.assert_allclose(np.cov(pooled.T), np.eye(3), atol=1e-4)
        for d in (na, nb):  # the transformed means are the means of the transformed features
            np.testing.assert_allclose(d.means, [d.features[d.labels == c].mean(axis=0)
                                                 for c in range(len(d.class_names))], atol=1e-4)


def test_standardising_from_class_sums_of_squares_matches_the_per_image_rows():
    # At scale the cache keeps only a sample of rows, but the streamed sums of squares cover every image.
    from dataclasses import replace

    rng = np.random.default_rng(5)
    a = image_domain("a", rows=rng.normal(size=(40, 3)) * [1, 5, 10] + 3, labels=np.repeat([0, 1], 20))
    b = image_domain("b", rows=rng.normal(size=(30, 3)) - 2, labels=np.repeat([0, 1, 2], 10))
    from_rows = represent([a, b], normalise="standardise")

    def moments_only(d):
        squares = np.stack([(d.features[d.labels == c].astype(float) ** 2).mean(axis=0)
                            for c in range(len(d.class_names))])
        return replace(d, features=None, labels=None, second_moments=squares)

    from_moments = represent([moments_only(a), moments_only(b)], normalise="standardise")
    for r, m in zip(from_rows, from_moments):
        np.testing.assert_allclose(m.means, r.means, atol=1e-5)
    pooled = np.concatenate([a.features, b.features]).astype(float)
    np.testing.assert_allclose(from_moments[0].means[0], (a.means[0] - pooled.mean(0)) / pooled.std(0), atol=1e-5)


def test_stratified_sample_keeps_every_class_and_is_seeded():
    labels = np.repeat([0, 1, 2], [100, 10, 1])
    rows = stratified_sample(labels, 20, seed=0)
    assert len(rows) <= 21 and set(labels[rows]) == {0, 1, 2}
    np.testing.assert_array_equal(rows, stratified_sample(labels, 20, seed=0))
    assert not np.array_equal(rows, stratified_sample(labels, 20, seed=1))


@pytest.mark.parametrize("option", ["class_mean_emd", "gaussian_emd", "otdd"])
def test_every_distance_option_configures_and_ranks_a_twin_first(option):
    from omegaconf import OmegaConf

    from recommender.config import CONF_DIR
    from recommender.ranking import rank_sources
    from recommender.rankers.base import distance_scored

    spec = configure(OmegaConf.to_container(OmegaConf.merge(OmegaConf.load(CONF_DIR / "distance" / f"{option}.yaml"),
                                                            {"seed": 0, "covariance_dim": 2}), resolve=True))
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(20, 3))
    target = image_domain("t", rows=rows, labels=np.repeat([0, 1], 10))
    twin = image_domain("twin", rows=rows + 0.01, labels=np.repeat([0, 1], 10))
    far = image_domain("far", rows=rows + 5, labels=np.repeat([0, 1], 10))
    domains = represent([target, twin, far], **spec.represent)
    scored = [distance_scored(spec.function(d, domains[0])) for d in domains[1:]]
    ranked = rank_sources(domains[0], domains[1:], scored)
    assert [r.name for r in ranked] == ["twin", "far"] and ranked[0].plan is not None


def test_squared_distances_match_scipys_cdist():
    from scipy.spatial.distance import cdist

    from recommender.distances.otdd import squared_distances

    rng = np.random.default_rng(11)
    a, b = rng.normal(size=(7, 5)) * 3 + 10, rng.normal(size=(4, 5))
    np.testing.assert_allclose(squared_distances(a, b), cdist(a, b, "sqeuclidean"), rtol=1e-10, atol=1e-9)
    same = squared_distances(a, a)
    assert np.all(np.diag(same) == 0) and np.all(same >= 0)


def test_a_sinkhorn_that_does_not_converge_is_no_distance_and_otdd_solves_exactly_instead(monkeypatch):
    from recommender.distances.transport import NotConverged, marginal_error

    rng = np.random.default_rng(0)
    a, b = np.full(6, 1 / 6), np.full(5, 1 / 5)
    cost = rng.uniform(1, 50, (6, 5))
    with pytest.raises(NotConverged, match="marginal error"):
        sinkhorn(a, b, cost, 1e-12)
    exact_value, exact_plan = solve(a, b, cost)
    assert marginal_error(exact_plan, a, b) == pytest.approx(0.0, abs=1e-12)  # a transport plan, by hand
    assert marginal_error(np.zeros((6, 5)), a, b) == pytest.approx(2.0)  # nothing moved: both marginals missed
    source = image_domain("s", rows=[[0.0, 0.0], [3.0, 1.0], [1.0, 4.0], [5.0, 5.0]], labels=[0, 0, 1, 1])
    target = image_domain("t", rows=[[1.0, 0.0], [2.0, 2.0], [4.0, 1.0], [6.0, 3.0]], labels=[0, 1, 0, 1])
    source, target = represent([source, target], covariance="diagonal", samples=10)
    import recommender.distances.otdd as otdd_module

    def stalls(*args, **kwargs):
        raise NotConverged(0.3)

    monkeypatch.setattr(otdd_module, "sinkhorn", stalls)  # whichever of the three terms stalls
    found = otdd(source, target, solver="sinkhorn", sinkhorn_reg=1e-12)
    assert found.value == pytest.approx(otdd(source, target, solver="exact").value, rel=1e-12)
    assert found.notes and "did not converge" in found.notes[0] and "exact solver was used" in found.notes[0]


def test_rankers_another_package_provides_are_found_by_name_without_importing_it_first():
    """The default, gain, lives in finetune; the recommender finds it through the entry points that
    pyproject.toml declares, so `from recommender import recommend; recommend("plants")` works as it is."""
    import subprocess
    import sys

    code = ("import sys; from recommender.rankers.base import REGISTERED, Ranker, ranker_class; assert not REGISTERED; "
            "assert 'finetune' not in sys.modules; f = ranker_class({'name': 'gain'}); "
            "print(f.__module__, f.__name__, issubclass(f, Ranker)); print(ranker_class({'name': 'no_such_ranker'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["finetune.transfer.model_distance", "Gain", "True", "None"]
