"""DeepEMD few-shot classification and the triplet loss, against hand computations."""
from __future__ import annotations

import numpy as np
import pytest

from finetune.fewshot.deepemd import cosine_cost, cross_reference_weights, deepemd_predict, emd_cost, prototype_predict
from finetune.metric.learn import pairwise_distances, semi_hard_negatives, triplet_loss_reference, triplet_semi_hard_loss


def test_emd_cost_is_zero_for_a_permutation_of_the_local_features():
    rng = np.random.default_rng(0)
    query = np.abs(rng.normal(size=(9, 16)))
    support = query[rng.permutation(9)]
    assert emd_cost(query, support) == pytest.approx(0.0, abs=1e-9)
    assert emd_cost(query, np.abs(rng.normal(size=(9, 16)))) > 0.01


def test_cross_reference_weights_are_non_negative_and_sum_to_one():
    rng = np.random.default_rng(1)
    local, other = rng.normal(size=(25, 8)), rng.normal(size=(25, 8))
    w = cross_reference_weights(local, other)
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0)
    # By hand: relevance max(0, u_i . mean(v)).
    u = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    v = np.array([[2.0, 0.0], [0.0, 2.0]])  # mean (1, 1)
    np.testing.assert_allclose(cross_reference_weights(u, v), [0.5, 0.5, 0.0])


def test_cosine_cost_by_hand():
    np.testing.assert_allclose(cosine_cost(np.array([[1.0, 0.0]]), np.array([[0.0, 2.0], [3.0, 0.0], [-1.0, 0.0]])),
                               [[1.0, 0.0, 2.0]])


def test_deepemd_and_prototype_classify_clearly_separated_classes():
    rng = np.random.default_rng(2)
    cells, channels = 4, 6
    centres = np.abs(rng.normal(size=(3, cells, channels))) * 3
    labels = np.repeat([0, 1, 2], 2)
    support = (centres[labels] + np.abs(rng.normal(size=(6, cells, channels))) * 0.2).reshape(6, -1)
    truth = np.array([2, 0, 1, 1])
    queries = (centres[truth] + np.abs(rng.normal(size=(4, cells, channels))) * 0.2).reshape(4, -1)
    for cloud in (False, True):
        assert deepemd_predict(support, labels, queries, cells, cloud=cloud).tolist() == truth.tolist()
    pooled = lambda x: x.reshape(len(x), cells, channels).mean(axis=1)  # noqa: E731
    assert prototype_predict(pooled(support), labels, pooled(queries)).tolist() == truth.tolist()


# Four embeddings on a line: class A at 0 and 1, class B at 2 and 3. Distances: d01 = d12 = d23 = 1,
# d02 = d13 = 2, d03 = 3.
LINE = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
LINE_LABELS = np.array([0, 0, 1, 1])


def test_semi_hard_mining_picks_the_closest_negative_farther_than_the_positive():
    chosen = semi_hard_negatives(pairwise_distances(LINE), LINE_LABELS)
    # (0,1): d_ap 1; negatives 2 (d 2), 3 (d 3): both farther, closest 2.
    # (1,0): d_ap 1; negatives 2 (d 1, not farther), 3 (d 2): 3.
    # (2,3): d_ap 1; negatives 0 (d 2), 1 (d 1, not farther): 0.   (3,2): negatives 0 (3), 1 (2): 1.
    assert chosen == {(0, 1): 2, (1, 0): 3, (2, 3): 0, (3, 2): 1}


def test_semi_hard_mining_falls_back_to_the_farthest_negative():
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 0.0], [3.0, 0.0]])  # B at 0.5 and 3
    chosen = semi_hard_negatives(pairwise_distances(points), np.array([0, 0, 1, 1]))
    # (2,3): d_ap 2.5; negatives 0 (d 0.5) and 1 (d 0.5): none farther, so the farthest (the first of a tie).
    assert chosen[(2, 3)] == 0


def test_triplet_loss_by_hand_and_in_keras():
    # margin 1.5: every pair has d_ap 1 and its chosen negative at 2: max(1 - 2 + 1.5, 0) = 0.5 each.
    assert triplet_loss_reference(LINE, LINE_LABELS, 1.5) == pytest.approx(0.5)
    assert triplet_loss_reference(LINE, LINE_LABELS, 0.5) == pytest.approx(0.0)
    keras_loss = triplet_semi_hard_loss(1.5)
    assert float(keras_loss(LINE_LABELS, LINE.astype("float32"))) == pytest.approx(0.5, abs=1e-5)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(12, 5)).astype("float32"), rng.integers(0, 3, 12)
    assert float(triplet_semi_hard_loss(0.3)(y, x)) == pytest.approx(triplet_loss_reference(x, y, 0.3), abs=1e-4)
