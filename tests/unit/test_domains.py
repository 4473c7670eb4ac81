"""Class means and weights from streamed class sums; small classes are dropped and reported."""
import numpy as np
import pytest

from recommender.domains import DomainError, build_domain
from factories import domain, feature_set


def test_means_and_size_weights():
    dom = build_domain(feature_set([10, 30]), min_images_per_class=1)
    np.testing.assert_allclose(dom.means, np.arange(8.0).reshape(2, 4))
    np.testing.assert_allclose(dom.weights, [0.25, 0.75])
    assert dom.n_images == 40 and dom.n_skipped == 1 and dom.dropped == {}


def test_small_classes_are_dropped_reported_and_weights_renormalised(caplog):
    dom = build_domain(feature_set([10, 2, 30]), min_images_per_class=5)
    assert dom.class_names == ["c0", "c2"] and dom.dropped == {"c1": 2}
    np.testing.assert_allclose(dom.weights, [0.25, 0.75])
    assert "dropped classes" in caplog.text


def test_nothing_left_is_a_clear_error():
    with pytest.raises(DomainError, match="min_images_per_class"):
        build_domain(feature_set([1, 2]), min_images_per_class=5)


def test_rank_sources_orders_by_distance_and_breaks_ties_by_name():
    from recommender.distances.class_mean_emd import class_mean_emd
    from recommender.rankers.base import distance_scored
    from recommender.ranking import rank_sources

    target = domain("t", means=[[0.0, 0.0], [1.0, 0.0]])
    far = domain("far", means=[[0.0, 3.0], [1.0, 3.0]])  # every class 3 away: EMD 3
    near = domain("near", means=[[0.0, 1.0], [1.0, 1.0]])  # EMD 1
    twin = domain("a_twin", means=[[0.0, 1.0], [1.0, 1.0]])  # the same EMD as `near`: name decides
    scored = [distance_scored(class_mean_emd(source, target)) for source in (far, near, twin)]
    results = rank_sources(target, [far, near, twin], scored, gamma=0.5)
    assert [(r.name, r.rank) for r in results] == [("a_twin", 1), ("near", 2), ("far", 3)]
    assert results[2].distance == pytest.approx(3.0) and results[2].similarity == pytest.approx(np.exp(-1.5))
    np.testing.assert_allclose(results[0].plan, [[0.5, 0.0], [0.0, 0.5]])  # each class to its own twin


def test_pairwise_distances_are_symmetric_with_a_zero_diagonal_and_hand_values():
    from recommender.distances.class_mean_emd import class_mean_emd
    from recommender.ranking import pairwise_distances

    domains = [domain("a", means=[[0.0, 0.0]], counts=[1]), domain("b", means=[[3.0, 4.0]], counts=[1]),
               domain("c", means=[[0.0, 1.0]], counts=[1])]
    table = pairwise_distances(domains, class_mean_emd)
    np.testing.assert_allclose(table, [[0, 5, 1], [5, 0, np.hypot(3, 3)], [1, np.hypot(3, 3), 0]])
    calls = []

    def counting(a, b):
        calls.append((a.name, b.name))
        return class_mean_emd(a, b)
    known = pairwise_distances(domains, counting, {("b", "a"): 5.0, ("a", "c"): 1.0})
    np.testing.assert_allclose(known, table)
    assert calls == [("b", "c")]  # the known pairs are not solved again


def test_flows_list_the_plan_largest_mass_first():
    from factories import source_result

    s = source_result("s", classes=("x", "y"))
    s.plan = np.array([[0.1, 0.4], [0.0, 0.5]])
    s.cost = np.array([[1.0, 2.0], [3.0, 4.0]])
    flows = s.flows(["p", "q"])
    assert [(f.source_class, f.target_class, f.mass, f.cost) for f in flows] == [
        ("y", "q", 0.5, 4.0), ("x", "q", 0.4, 2.0), ("x", "p", 0.1, 1.0)]
    assert len(s.flows(["p", "q"], top=1)) == 1
