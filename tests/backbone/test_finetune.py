"""Fine-tuning: a tiny real transfer end to end, scores against SciPy and hand calculations, bad input."""
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from finetune import check_splittable, ranking_scores, train_source, train_target
from finetune.transfer.model import build_network, trainable_tail, with_new_classifier
from finetune.transfer.select import choose_source, train_from_source
from finetune.transfer.stages import load_checkpoint
from recommender import backbone_spec, load_config, open_dataset, recommend
from recommender.features.backbone import resolve_weights
from recommender.data.datasets import DatasetError

from conftest import SHARED_DATASETS, make_folder_dataset, needs_shared

SOURCE_COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 30, 220)}
TARGET_COLOURS = {"yellow": (230, 220, 30), "purple": (140, 30, 160)}


@pytest.fixture
def tiny(tmp_path, test_overrides):
    """A source and a target folder, and a fast validate config (1 epoch per phase)."""
    source = make_folder_dataset(tmp_path / "src", SOURCE_COLOURS, per_class=12)
    target = make_folder_dataset(tmp_path / "tgt", TARGET_COLOURS, per_class=12, seed=5)
    overrides = [*test_overrides, f"target={target}", f"sources=[{source}]", "finetune.epochs.head=1",
                 "finetune.epochs.finetune=1", "finetune.hidden_units=8", "finetune.batch_size=8",
                 f"finetune.checkpoint_dir={tmp_path / 'ckpt'}", "finetune.seeds=[0]"]
    return source, target, overrides


def top_weights(net):
    return [w.copy() for w in net.get_layer("top").get_weights()]


def test_tiny_transfer_end_to_end(tiny):
    source, target, overrides = tiny
    # Stage-2 learning rates of 0 keep the transferred weights as they were loaded, so we can check their origin.
    cfg = load_config([*overrides, "finetune.learning_rate.target_finetune=0.0"], "validate")
    checkpoint = train_source(str(source), cfg, seed=0)
    assert checkpoint.suffix == ".keras" and checkpoint.is_file()
    assert train_source(str(source), cfg, seed=0) == checkpoint  # cached per (source, config, seed)

    stage1 = load_checkpoint(checkpoint)
    assert stage1.output.shape[-1] == 3 and tuple(stage1.input.shape[1:]) == (64, 64, 3)
    spec = backbone_spec(cfg)
    imagenet = build_network(spec, resolve_weights(spec), cfg.finetune, 2)
    assert any(not np.allclose(a, b) for a, b in zip(top_weights(stage1), top_weights(imagenet)))

    result = train_target(str(target), cfg, seed=0, start=checkpoint, source_name="src")
    net = result.model
    assert net.output.shape[-1] == 2
    # Stage 2 started from the stage-1 weights, not from ImageNet.
    for loaded, trained in zip(top_weights(stage1), top_weights(net)):
        np.testing.assert_allclose(loaded, trained, rtol=1e-6, atol=1e-7)
    assert result.n_test == 4 and np.array(result.confusion).sum() == 4
    assert set(result.per_class_accuracy) == set(TARGET_COLOURS)
    assert 0.0 <= result.accuracy <= 1.0


def test_checkpoint_round_trip_predicts_the_same(tiny, tmp_path):
    source, _, overrides = tiny
    cfg = load_config(overrides, "validate")
    checkpoint = train_source(str(source), cfg, seed=1)
    a, b = load_checkpoint(checkpoint), load_checkpoint(checkpoint)
    images = np.random.default_rng(0).integers(0, 255, (4, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(a.predict(images, verbose=0), b.predict(images, verbose=0), rtol=1e-5)
    swapped = with_new_classifier(a, 5)
    assert swapped.output.shape[-1] == 5
    tail, cut = trainable_tail(swapped)
    assert cut.startswith("block_14") and tail.output.shape[-1] == 5


def test_benchmark_tail_outputs_equal_keras_predict_bit_for_bit(tiny):
    from finetune.transfer.adapted import TAIL_BATCH, _run_tail, tail_of

    source, _, overrides = tiny
    checkpoint = train_source(str(source), load_config(overrides, "validate"), seed=0)
    stat = checkpoint.stat()
    both = tail_of(str(checkpoint), (stat.st_size, stat.st_mtime_ns))
    rows = 2 * TAIL_BATCH + 37  # two full batches and a partial one
    activations = np.random.default_rng(0).normal(size=(rows, int(np.prod(both.input.shape[1:])))).astype("float32")
    pooled, probabilities = _run_tail(checkpoint, activations)
    expected_pooled, expected_probabilities = both.predict(activations.reshape((rows, *both.input.shape[1:])),
                                                           batch_size=TAIL_BATCH, verbose=0)
    assert pooled.shape == (rows, expected_pooled.shape[1]) and probabilities.shape == (rows, 3)
    np.testing.assert_array_equal(pooled, expected_pooled)
    np.testing.assert_array_equal(probabilities, expected_probabilities)


def test_interrupted_stage1_leaves_no_checkpoint(tiny, monkeypatch):
    import keras

    source, _, overrides = tiny
    cfg = load_config(overrides, "validate")

    def crash(self, path, *args, **kwargs):
        Path(path).write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        train_source(str(source), cfg, seed=0)
    assert list(Path(cfg.finetune.checkpoint_dir).glob("*")) == []
    monkeypatch.undo()
    assert train_source(str(source), cfg, seed=0).is_file()


def test_source_auto_picks_the_top_ranked_source(tiny):
    source, target, overrides = tiny
    other = make_folder_dataset(Path(source).parent / "far", {"a": (128, 128, 128), "b": (0, 0, 0)}, per_class=12)
    cfg = load_config([*overrides, f"sources=[{source},{other}]"], "validate")
    ref, reason = choose_source(cfg)
    assert ref == recommend(cfg=cfg).first.ref and reason["source"] == recommend(cfg=cfg).first.name
    assert reason["rank"] == 1 and reason["distance"] == min(e for _, e in reason["candidates"])


def test_train_script_logic_saves_model_and_reason(tiny, tmp_path):
    source, _, overrides = tiny
    cfg = load_config([*overrides, f"source={source}"], "validate")
    metrics = train_from_source(cfg, tmp_path / "run")
    assert (tmp_path / "run" / "model.keras").is_file()
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["reason"]["source"] == "src" and saved["reason"]["how"].startswith("forced")
    assert saved["accuracy"] == metrics["accuracy"]


def test_source_equal_to_target_is_refused(tiny):
    _, target, overrides = tiny
    cfg = load_config([*overrides, f"source={target}"], "validate")
    with pytest.raises(DatasetError, match="is the target itself"):
        choose_source(cfg)


def test_unknown_source_lists_the_known_ones(tiny):
    _, _, overrides = tiny
    cfg = load_config([*overrides, "source=planets"], "validate")
    with pytest.raises(DatasetError, match="Known datasets: aerial, animals"):
        choose_source(cfg)


def test_a_class_too_small_to_split_is_named(tmp_path, cfg_factory):
    folder = make_folder_dataset(tmp_path / "small", {"big": (200, 0, 0), "tiny": (0, 0, 200)}, per_class=12)
    for extra in sorted((folder / "tiny").iterdir())[3:]:
        extra.unlink()
    cfg = load_config([f"target={folder}", "finetune.min_images_per_class=10"], "validate")
    with pytest.raises(DatasetError, match=r"class 'tiny' has 3 images; fine-tuning needs at least 10"):
        check_splittable(open_dataset(str(folder), cfg), cfg)


@needs_shared
def test_clearly_above_chance_on_an_easy_real_pair(tmp_path, test_overrides):
    """Pandas (animals) vs sunflowers (flowers): ImageNet transfer must be far above the 0.5 of chance."""
    import shutil

    pair = tmp_path / "pair"  # copied: links out of a dataset's folder are not followed
    shutil.copytree(SHARED_DATASETS / "animals" / "panda", pair / "panda")
    shutil.copytree(SHARED_DATASETS / "flowers" / "sunflowers", pair / "sunflowers")
    cfg = load_config([*test_overrides, f"target={pair}", "features.max_images_per_class=30",
                       "finetune.epochs.head=5", "finetune.epochs.finetune=1", f"finetune.checkpoint_dir={tmp_path}"],
                      "validate")
    result = train_target(str(pair), cfg, seed=0)
    assert result.n_test == 60
    assert result.accuracy >= 0.85


# --- scores against SciPy and hand calculations ----------------------------------------------------------

def test_scores_match_scipy_and_hand_calculation():
    similarity = [0.9, 0.8, 0.7, 0.6]
    accuracies = [[0.80, 0.82, 0.81], [0.85, 0.86, 0.84], [0.70, 0.71, 0.69], [0.60, 0.61, 0.59]]
    s = ranking_scores(similarity, accuracies)
    means = np.mean(accuracies, axis=1)  # 0.81, 0.85, 0.70, 0.60
    # By hand: similarity ranks 4,3,2,1 vs accuracy ranks 3,4,2,1 -> d^2 = 1+1 = 2, rho = 1 - 6*2/(4*15) = 0.8
    assert s["spearman_rho"] == pytest.approx(0.8)
    # Concordant pairs 5 of 6, discordant 1 -> tau = (5 - 1) / 6
    assert s["kendall_tau"] == pytest.approx(4 / 6)
    assert s["spearman_p"] == pytest.approx(stats.spearmanr(similarity, means).pvalue)
    assert s["weighted_tau"] == pytest.approx(stats.weightedtau(similarity, means).statistic)
    # The recommended source (0.9) got 0.81; the best got 0.85.
    assert s["top1_regret"] == pytest.approx(4.0)  # points
    assert s["recommended_index"] == 0 and s["best_index"] == 1
    assert s["discriminates"] and s["anova_p"] < 1e-6
    assert s["seed_noise_std"] == pytest.approx(0.01)


def test_noise_only_sources_are_reported_as_not_discriminating():
    rng = np.random.default_rng(0)
    accuracies = 0.8 + rng.normal(0, 0.05, size=(5, 3))
    s = ranking_scores(np.linspace(0.9, 0.5, 5), accuracies)
    assert not s["discriminates"] and s["anova_p"] > 0.05


def test_scores_reject_bad_shapes():
    with pytest.raises(ValueError):
        ranking_scores([0.9], [[0.5]])
    with pytest.raises(ValueError):
        ranking_scores([0.9, 0.8], [0.5, 0.6])


def test_augmentation_trains_on_images_and_image_size_is_an_option(tiny):
    source, target, overrides = tiny
    cfg = load_config([*overrides, "finetune.augmentation.flip=true", "finetune.augmentation.shift=true",
                       "finetune.image_size=48"], "validate")
    checkpoint = train_source(str(source), cfg, seed=0)
    net = load_checkpoint(checkpoint)
    names = [layer.name for layer in net.layers]
    assert "aug_flip" in names and "aug_shift" in names and "aug_zoom" not in names
    assert tuple(net.input.shape[1:]) == (48, 48, 3)
    result = train_target(str(target), cfg, seed=0, start=checkpoint, source_name="src")
    assert result.n_test == 4


def test_linear_probe_trains_only_the_head_on_pooled_features(tiny):
    source, target, overrides = tiny
    cfg = load_config([*overrides, "finetune.strategy=linear_probe"], "validate")
    net = load_checkpoint(train_source(str(source), cfg, seed=0))
    tail, cut = trainable_tail(net)
    assert cut is None and tuple(tail.input.shape[1:]) == (1280,)
    assert "top" not in [layer.name for layer in net.layers]
