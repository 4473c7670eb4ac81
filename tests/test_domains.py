"""Class means and weights from streamed class sums; small classes are dropped and reported."""
from pathlib import Path

import numpy as np
import pytest

from recommender.domains import DomainError, build_domain
from recommender.features import FeatureSet


def feature_set(counts, dim=4):
    counts = np.asarray(counts)
    sums = np.arange(len(counts) * dim, dtype=float).reshape(len(counts), dim) * counts[:, None]
    return FeatureSet("d", [f"c{i}" for i in range(len(counts))], counts, sums, np.array([]), np.array([]),
                      np.array(["bad.jpg"]), Path("unused.npz"))


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
