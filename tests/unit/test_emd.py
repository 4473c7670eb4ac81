"""EMD: the published golden figure, properties on random instances, and input validation."""
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.spatial.distance import cdist
from scipy.stats import wasserstein_distance

from recommender.distances.class_mean_emd import ground_cost
from recommender.distances.transport import emd_distance, similarity, transport_plan

PAPER = Path(__file__).resolve().parents[2].parent / "shared" / "paper_tables.md"


def lp_emd(a, b, cost):
    """The transportation problem solved as a plain LP with SciPy's HiGHS: an independent reference."""
    a, b = np.asarray(a, float) / np.sum(a), np.asarray(b, float) / np.sum(b)
    n, m = cost.shape
    rows = np.kron(np.eye(n), np.ones((1, m)))
    cols = np.kron(np.ones((1, n)), np.eye(m))
    res = linprog(cost.ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.concatenate([a, b]), bounds=(0, None),
                  method="highs")
    assert res.status == 0
    return res.fun


def parse_paper_tables(text):
    """Weights and cost matrix of the Flowers/Animals example, read from ../shared/paper_tables.md."""
    def weights(prefix):
        line = next(row for row in text.splitlines() if row.startswith(prefix))
        return np.array([float(v) for v in re.findall(r"\s([0-9.]+)(?:,|$)", line)])

    rows = [row for row in text.splitlines() if row.startswith("| ") and re.search(r"\d\.\d\d", row)]
    cost = np.array([[float(v) for v in re.findall(r"\d+\.\d+", r)] for r in rows])
    published = float(re.search(r"EMD\(Flowers, Animals\) = ([0-9.]+)", text).group(1))
    return weights("Class weights, Flowers"), weights("Class weights, Animals"), cost, published


@pytest.mark.skipif(not PAPER.is_file(), reason="../shared/paper_tables.md is not present")
def test_golden_flowers_animals_matches_published_figure():
    a, b, cost, published = parse_paper_tables(PAPER.read_text())
    assert a.shape == (5,) and b.shape == (4,) and cost.shape == (5, 4)
    assert published == 5.59
    assert emd_distance(a, b, cost) == pytest.approx(5.59, abs=0.005)


def random_instance(rng, n, m, dim=8):
    x, y = rng.normal(size=(n, dim)), rng.normal(size=(m, dim))
    return rng.random(n) + 0.01, rng.random(m) + 0.01, x, y


@pytest.mark.parametrize("seed", range(5))
def test_zero_for_identical_sets(seed):
    rng = np.random.default_rng(seed)
    a, _, x, _ = random_instance(rng, 7, 1)
    assert emd_distance(a, a, ground_cost(x, x)) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_symmetric_when_cost_is_transposed(seed):
    rng = np.random.default_rng(seed)
    a, b, x, y = random_instance(rng, 6, 9)
    cost = ground_cost(x, y)
    assert emd_distance(a, b, cost) == pytest.approx(emd_distance(b, a, cost.T), rel=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_triangle_inequality_with_metric_cost(seed):
    rng = np.random.default_rng(seed)
    sets = [(rng.random(k) + 0.01, rng.normal(size=(k, 5))) for k in (4, 7, 5)]
    (a, x), (b, y), (c, z) = sets
    ab = emd_distance(a, b, cdist(x, y))
    bc = emd_distance(b, c, cdist(y, z))
    ac = emd_distance(a, c, cdist(x, z))
    assert ac <= ab + bc + 1e-9


@pytest.mark.parametrize("seed", range(8))
def test_equals_scipy_highs_lp_optimum(seed):
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 12, size=2)
    a, b, x, y = random_instance(rng, n, m)
    cost = ground_cost(x, y)
    assert emd_distance(a, b, cost) == pytest.approx(lp_emd(a, b, cost), rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_equals_scipy_wasserstein_for_1d_points(seed):
    rng = np.random.default_rng(seed)
    u, v = rng.normal(size=6), rng.normal(1.0, 2.0, size=9)
    wu, wv = rng.random(6) + 0.1, rng.random(9) + 0.1
    cost = np.abs(u[:, None] - v[None, :])
    assert emd_distance(wu, wv, cost) == pytest.approx(wasserstein_distance(u, v, wu, wv), rel=1e-7)


def test_weights_are_normalised():
    rng = np.random.default_rng(0)
    a, b, x, y = random_instance(rng, 4, 5)
    cost = ground_cost(x, y)
    assert emd_distance(10 * a, 0.5 * b, cost) == pytest.approx(emd_distance(a, b, cost), rel=1e-9)


def test_transport_plan_has_the_marginals_and_the_cost():
    rng = np.random.default_rng(1)
    a, b, x, y = random_instance(rng, 5, 3)
    cost = ground_cost(x, y)
    plan = transport_plan(a, b, cost)
    np.testing.assert_allclose(plan.sum(1), a / a.sum(), atol=1e-9)
    np.testing.assert_allclose(plan.sum(0), b / b.sum(), atol=1e-9)
    assert (plan * cost).sum() == pytest.approx(emd_distance(a, b, cost), rel=1e-9)


@pytest.mark.parametrize(
    "a, b, cost, message",
    [
        ([0.5, -0.1], [1.0], [[1.0], [2.0]], "negative"),
        ([0.5, np.nan], [1.0], [[1.0], [2.0]], "NaN"),
        ([], [1.0], np.zeros((0, 1)), "non-empty"),
        ([0.5, 0.5], [1.0], [[1.0, 2.0]], "shape"),
        ([0.5, 0.5], [1.0], [[1.0], [np.inf]], "NaN or infinite"),
        ([0.0, 0.0], [1.0], [[1.0], [2.0]], "positive sum"),
        ([0.5, 0.5], [1.0], [[1.0], [-2.0]], "negative"),
    ],
)
def test_bad_inputs_raise_value_error(a, b, cost, message):
    with pytest.raises(ValueError, match=message):
        emd_distance(a, b, cost)


def test_cosine_ground_metric_and_unknown_metric():
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(ground_cost(x, x, "cosine"), [[0, 1], [1, 0]], atol=1e-12)
    with pytest.raises(ValueError, match="ground_metric"):
        ground_cost(x, x, "manhattan")


def test_similarity_is_exp_minus_gamma_emd():
    assert similarity(5.59, 0.01) == pytest.approx(np.exp(-0.0559))
    assert similarity(0.0) == 1.0
    with pytest.raises(ValueError):
        similarity(1.0, -1.0)
