"""Feature extraction with the real (small) ImageNet backbone: cache, invalidation, bad files, TFDS, weights."""
from pathlib import Path

import numpy as np
import pytest

from recommender import dataset_features, dataset_features_together, make_extractor, open_dataset
from recommender.features.backbone import BackboneError, BackboneSpec, resolve_weights, weights_filename
from recommender.data.images import UnreadableImageError

from conftest import SHARED_WEIGHTS, make_folder_dataset, write_image

pytestmark = pytest.mark.skipif(not SHARED_WEIGHTS.is_dir(), reason="../shared/weights is not present")


def cache_files(cfg):
    return sorted(p for p in Path(cfg.features.cache_dir).glob("*") if p.is_file())  # digests/ is a folder


def test_second_run_extracts_nothing_and_matches(colour_dataset, cfg_factory):
    cfg = cfg_factory("target=plants", "split.train=1.0", "split.val=0.0", "split.test=0.0")
    first = dataset_features(str(colour_dataset), cfg)
    second = dataset_features(str(colour_dataset), cfg)
    assert first.extracted and not second.extracted
    assert first.class_counts.tolist() == [6, 6, 6]
    np.testing.assert_array_equal(first.class_sums, second.class_sums)
    feats = first.features()
    assert feats.shape == (18, 1280) and feats.dtype == np.float32
    # Class sums are the streamed sums of the per-image rows.
    np.testing.assert_allclose(first.class_sums[0], feats[first.labels == 0].sum(0), rtol=1e-5)
    assert len(cache_files(cfg)) == 1 and cache_files(cfg)[0].suffix == ".npz"


def test_one_folder_reached_by_a_catalog_name_a_path_or_as_a_renamed_copy_is_extracted_once(colour_dataset,
                                                                                           tmp_path, cfg_factory):
    import shutil

    cfg = cfg_factory("target=plants", "split.train=1.0", "split.val=0.0", "split.test=0.0",
                      f"+catalog.mine={{name: mine, kind: folder, path: {colour_dataset}}}")
    by_name = dataset_features("mine", cfg)
    renamed = shutil.copytree(colour_dataset, tmp_path / "another_name")
    by_path = dataset_features(str(renamed), cfg)
    assert by_name.extracted and not by_path.extracted
    assert by_name.path == by_path.path and len(cache_files(cfg)) == 1
    assert (by_name.dataset, by_path.dataset) == ("mine", "another_name")  # display names stay the user's


@pytest.mark.parametrize("damage", ["bit flip in the per-image rows", "truncated", "foreign bytes"])
def test_a_damaged_feature_entry_is_removed_and_extracted_again_with_the_same_numbers(damage, colour_dataset,
                                                                                    cfg_factory, caplog):
    cfg = cfg_factory("target=plants", "split.train=1.0", "split.val=0.0", "split.test=0.0")
    first = dataset_features(str(colour_dataset), cfg)
    raw = bytearray(first.path.read_bytes())
    if damage.startswith("bit flip"):
        raw[-200] ^= 0x01  # features.npy is the entry's last member: its data, not a header
    elif damage == "truncated":
        raw = raw[: len(raw) // 2]
    else:
        raw = bytearray(b"not a zip at all" * 10)
    first.path.write_bytes(bytes(raw))
    again = dataset_features(str(colour_dataset), cfg)
    assert again.extracted and "unreadable" in caplog.text
    np.testing.assert_array_equal(again.class_sums, first.class_sums)
    np.testing.assert_array_equal(again.features(), first.features())
    assert not dataset_features(str(colour_dataset), cfg).extracted  # healed: the next run reads it


def test_changing_one_file_invalidates_only_that_dataset(tmp_path, cfg_factory):
    a = make_folder_dataset(tmp_path / "a", {"x": (200, 0, 0), "y": (0, 0, 200)}, per_class=4)
    b = make_folder_dataset(tmp_path / "b", {"x": (0, 200, 0), "y": (90, 90, 90)}, per_class=4, seed=1)
    cfg = cfg_factory("target=plants", "split.train=1.0", "split.val=0.0", "split.test=0.0")
    extractor = make_extractor(cfg)
    assert dataset_features(str(a), cfg, extractor=extractor).extracted
    assert dataset_features(str(b), cfg, extractor=extractor).extracted
    write_image(a / "x" / "001.png", (10, 10, 10), size=(33, 33))
    assert dataset_features(str(a), cfg, extractor=extractor).extracted
    assert not dataset_features(str(b), cfg, extractor=extractor).extracted


def test_backbone_settings_are_part_of_the_key(colour_dataset, cfg_factory):
    cfg = cfg_factory("target=plants")
    assert dataset_features(str(colour_dataset), cfg).extracted
    bigger = cfg_factory("target=plants", "backbone.image_size=72")
    assert dataset_features(str(colour_dataset), bigger).extracted
    capped = cfg_factory("target=plants", "features.max_images_per_class=2")
    assert dataset_features(str(colour_dataset), capped).class_counts.tolist() == [2, 2, 2]


def test_unreadable_files_are_skipped_and_counted(colour_dataset, cfg_factory):
    (colour_dataset / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (colour_dataset / "blue" / "readme.txt").write_text("notes")
    good = (colour_dataset / "green" / "000.png").read_bytes()
    (colour_dataset / "green" / "cut.png").write_bytes(good[: len(good) // 2])
    write_image(colour_dataset / "green" / "gray.png", (100, 100, 100), mode="L")
    write_image(colour_dataset / "green" / "alpha.png", (100, 200, 100), mode="RGBA")
    cfg = cfg_factory("target=plants", "split.train=1.0", "split.val=0.0", "split.test=0.0")
    feats = dataset_features(str(colour_dataset), cfg)
    assert sorted(Path(s).name for s in feats.skipped) == ["broken.jpg", "cut.png", "readme.txt"]
    assert feats.class_counts.tolist() == [6, 8, 6]
    assert feats.features().shape[0] == 20 and len(feats.refs) == 20


def test_a_dataset_with_no_readable_image_is_a_clear_error(tmp_path, cfg_factory):
    for c in ("a", "b"):
        (tmp_path / "bad" / c).mkdir(parents=True)
        (tmp_path / "bad" / c / "x.jpg").write_bytes(b"junk")
    cfg = cfg_factory("target=plants", "split.train=1.0", "split.val=0.0", "split.test=0.0")
    with pytest.raises(UnreadableImageError, match="none of its 2 images could be read"):
        dataset_features(str(tmp_path / "bad"), cfg)
    assert cache_files(cfg) == []  # nothing half-written is left for a later run to trust


def test_interrupted_extraction_leaves_no_cache_entry(colour_dataset, cfg_factory, monkeypatch):
    cfg = cfg_factory("target=plants")
    extractor = make_extractor(cfg)
    calls = {"n": 0}
    real_call = type(extractor).__call__

    def failing(self, images):
        calls["n"] += 1
        raise KeyboardInterrupt

    monkeypatch.setattr(type(extractor), "__call__", failing)
    with pytest.raises(KeyboardInterrupt):
        dataset_features(str(colour_dataset), cfg, extractor=extractor)
    assert calls["n"] == 1 and cache_files(cfg) == []
    monkeypatch.setattr(type(extractor), "__call__", real_call)
    assert dataset_features(str(colour_dataset), cfg, extractor=extractor).extracted


def test_features_extracted_together_equal_each_extractor_alone_in_one_pass(colour_dataset, cfg_factory,
                                                                            monkeypatch):
    """The pooled features and two cuts' activations from one pass (what the benchmark does) are, bit for bit,
    what each extractor writes alone, in the same cache entries; each image is decoded once, not three times."""
    import recommender.features.extractor as features

    alone_cfg = cfg_factory("target=plants")
    together_cfg = cfg_factory("target=plants", f"features.cache_dir={Path(alone_cfg.features.cache_dir)}-together")
    layers = [None, "block_12_add", "block_14_add"]
    alone = [dataset_features(str(colour_dataset), alone_cfg, "train", make_extractor(alone_cfg, layer))
             for layer in layers]
    decoded = []
    real_decode = features.decode_files
    monkeypatch.setattr(features, "decode_files", lambda paths, size: decoded.extend(paths) or real_decode(paths, size))
    extractors = [make_extractor(together_cfg, layer) for layer in layers]
    together = dataset_features_together(str(colour_dataset), together_cfg, "train", extractors)
    assert all(t.extracted for t in together) and len(decoded) == len(alone[0].refs)
    for a, t in zip(alone, together):
        assert a.path.name == t.path.name  # the same cache key: either way of extracting fills the same entry
        np.testing.assert_array_equal(a.features(), t.features())
        np.testing.assert_array_equal(a.class_sums, t.class_sums)
        np.testing.assert_array_equal(a.class_sq_sums, t.class_sq_sums)
        np.testing.assert_array_equal(a.refs, t.refs)
    assert [t.features().shape[1] for t in together] == [1280, 32 * 4 * 4, 56 * 2 * 2]  # alpha 0.35 at 64 px: 32 channels on 4x4, 56 on 2x2
    # A second call finds every entry and decodes nothing.
    decoded.clear()
    again = dataset_features_together(str(colour_dataset), together_cfg, "train", extractors)
    assert not any(t.extracted for t in again) and decoded == []


def test_imagenet_weights_resolve_to_the_shared_file():
    spec = BackboneSpec("mobilenet_v2", 0.5, 96, "imagenet", str(SHARED_WEIGHTS))
    assert resolve_weights(spec) == SHARED_WEIGHTS / weights_filename(0.5)
    assert weights_filename(0.5) == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5"


def test_missing_weights_offline_name_the_file_and_where_to_put_it(tmp_path, monkeypatch):
    import keras

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setattr(Path, "home", lambda: tmp_path)  # no Keras cache either
    spec = BackboneSpec("mobilenet_v2", 0.75, 96, "imagenet", str(tmp_path / "weights"))
    with pytest.raises(BackboneError) as err:
        resolve_weights(spec)
    assert weights_filename(0.75) in str(err.value) and str(tmp_path / "weights") in str(err.value)


def test_bad_backbone_options_are_refused():
    with pytest.raises(BackboneError, match="alpha"):
        BackboneSpec("mobilenet_v2", 0.6, 96, "imagenet")
    with pytest.raises(BackboneError, match="not supported"):
        BackboneSpec("resnet50", 0.5, 96, "imagenet")
    with pytest.raises(BackboneError, match="no such file"):
        resolve_weights(BackboneSpec("mobilenet_v2", 0.5, 96, "/nowhere/w.h5"))


def test_pretrained_features_separate_classes_better_than_random_weights(colour_dataset, cfg_factory):
    """The loaded ImageNet weights are really used: features differ from a randomly initialised network."""
    trained = dataset_features(str(colour_dataset), cfg_factory("target=plants", "split.train=1.0",
                                                                "split.val=0.0", "split.test=0.0"))
    random = dataset_features(str(colour_dataset), cfg_factory("target=plants", "backbone.weights=null",
                                                               "split.train=1.0", "split.val=0.0",
                                                               "split.test=0.0"))
    assert not np.allclose(trained.class_sums, random.class_sums)


# --- TFDS: the real tfds.load path, on a dataset prepared locally in a temporary data_dir -------------------

def test_tfds_dataset_from_a_locally_prepared_data_dir(tmp_path, cfg_factory):
    from tfds_tiny.tiny_colours import TinyColours

    TinyColours(data_dir=str(tmp_path / "tfds")).download_and_prepare()
    cfg = cfg_factory("target=plants", "+dataset@catalog.tiny=tf_flowers", "catalog.tiny.name=tiny",
                      "catalog.tiny.tfds_name=tiny_colours", f"catalog.tiny.data_dir={tmp_path / 'tfds'}")
    images = open_dataset("tiny", cfg)
    assert images.class_names == ["red", "blue"] and len(images.refs) == 12
    feats = dataset_features(images, cfg)
    assert feats.extracted and feats.class_counts.tolist() == [4, 4]  # 70 % of 6 per class
    assert not dataset_features(images, cfg).extracted
