"""Active learning: the strategies, the measures, and the campaign's setting, on small synthetic data."""
from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from finetune.active.loop import binary_entropy, campaign, choose, make_task, r_precision
from recommender import DatasetError


def settings(**overrides):
    base = {"rare_fraction": 0.1, "test_fraction": 0.3, "initial_positives": 5, "initial_negatives": 20,
            "initial_from_first_kind": False, "batch": 20, "rounds": 3, "proportional_random_share": 0.2, "c": 1.0}
    return OmegaConf.create({**base, **overrides})


def test_binary_entropy_by_hand():
    assert binary_entropy(0.5) == pytest.approx(np.log(2))
    assert binary_entropy(0.25) == pytest.approx(-(0.25 * np.log(0.25) + 0.75 * np.log(0.75)))
    assert binary_entropy([0.0, 1.0]) == pytest.approx([0.0, 0.0], abs=1e-9)


def test_each_strategy_picks_what_it_says():
    p = np.array([0.05, 0.5, 0.9, 0.45, 0.99, 0.2])
    rng = np.random.default_rng(0)
    assert choose("uncertainty", p, 2, rng).tolist() == [1, 3]
    assert choose("margin", p, 2, rng).tolist() == [1, 3]  # binary: the same order as entropy
    assert choose("top_score", p, 2, rng).tolist() == [4, 2]
    picked = choose("random", p, 4, rng)
    assert len(set(picked.tolist())) == 4
    mixed = choose("proportional", p, 5, rng, random_share=0.4)
    assert len(set(mixed.tolist())) == 5  # no image asked twice
    with pytest.raises(DatasetError, match="strategy"):
        choose("psychic", p, 1, rng)


def test_proportional_sampling_favours_uncertain_images():
    p = np.concatenate([np.full(50, 0.5), np.full(950, 0.001)])
    counts = sum(np.isin(choose("proportional", p, 20, np.random.default_rng(s), random_share=0.0),
                         np.arange(50)).sum() for s in range(20))
    assert counts / (20 * 20) > 0.5  # 5% of the images hold most of the entropy


def test_r_precision_by_hand():
    # 2 rare images: R = 2; the top 2 scores are a rare one and an other one: 1/2.
    assert r_precision([0.9, 0.8, 0.1, 0.7], [True, False, True, False]) == pytest.approx(0.5)
    assert r_precision([0.9, 0.1, 0.8], [True, False, True]) == pytest.approx(1.0)


def test_task_has_the_base_rate_a_stratified_test_set_and_first_labels_from_the_pool():
    labels = np.repeat([0, 1, 2, 3], 300)
    task = make_task(labels, [2], ["a", "b", "c", "d"], settings(), seed=0)
    rare_share = task.is_rare.mean()
    assert rare_share == pytest.approx(0.1, abs=0.002)
    assert task.is_rare[task.test].mean() == pytest.approx(rare_share, abs=0.01)
    assert set(task.initial) <= set(task.pool) and not set(task.pool) & set(task.test)
    assert task.is_rare[task.initial].sum() == 5 and (~task.is_rare[task.initial]).sum() == 20
    again = make_task(labels, [2], ["a", "b", "c", "d"], settings(), seed=0)
    assert np.array_equal(task.images, again.images) and np.array_equal(task.initial, again.initial)


def test_too_few_rare_images_is_a_clear_error_saying_how_many_are_needed():
    labels = np.repeat([0, 1], [40, 400])
    with pytest.raises(DatasetError, match=r"needs at least \d+"):
        make_task(labels, [0], ["tiny", "big"], settings(rare_fraction=0.05), seed=0)


def test_a_campaign_is_deterministic_and_top_score_finds_separable_positives_fast():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2], 300)
    features = rng.normal(size=(900, 16)) + 2.5 * np.eye(16)[labels]
    task = make_task(labels, [1], ["a", "b", "c"], settings(), seed=0)
    rounds, view = campaign(features, task, "top_score", settings(), seed=0)
    again, _ = campaign(features, task, "top_score", settings(), seed=0)
    assert rounds == again
    assert [r["labels"] for r in rounds] == [25, 45, 65, 85]
    assert rounds[-1]["found"] > rounds[0]["found"]
    assert rounds[-1]["lift"] > 4
    random_rounds, _ = campaign(features, task, "random", settings(), seed=0)
    assert rounds[-1]["found"] > random_rounds[-1]["found"]
    assert len(view["unlabelled"]) == len(task.pool) - rounds[-1]["labels"]


def test_a_small_pool_caps_the_rounds_and_every_strategy_finishes_with_an_image_left():
    from finetune.active.loop import STRATEGIES, rounds_the_pool_allows

    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1], [60, 100])
    features = rng.normal(size=(160, 8)) + 2.0 * np.eye(8)[labels]
    cfg = settings(rare_fraction=0.3, initial_positives=2, initial_negatives=2, batch=50, rounds=5)
    tasks = [make_task(labels, [0], ["rare", "other"], cfg, seed=s) for s in (0, 1)]
    unlabelled = min(len(t.pool) - len(t.initial) for t in tasks)
    allowed = rounds_the_pool_allows(tasks, 50, 5)
    # worked by hand: the rounds of 50 that leave at least one of the pool's unlabelled images unasked
    assert allowed == (unlabelled - 1) // 50 < 5
    for strategy in STRATEGIES:
        rounds, view = campaign(features, tasks[0], strategy, cfg, seed=0, rounds=allowed)
        assert len(rounds) == allowed + 1 and len(view["unlabelled"]) >= 1
    assert rounds_the_pool_allows(tasks, 50, 1) == 1  # a campaign the pool allows is left as asked
