"""features.runner=beam: the Apache Beam pipeline writes the local path's cache entry, with the same numbers."""
import os

import numpy as np
import pytest

from conftest import SHARED_DATASETS, needs_shared, write_image
from recommender import dataset_features, recommend
from recommender.features.extractor import FeatureError

beam_features = pytest.importorskip("recommender.features.beam", reason="apache-beam is not installed")

TWO_WORKERS = {mode: ("features.beam_options.direct_num_workers=2", f"features.beam_options.direct_running_mode={mode}")
               for mode in ("multi_processing", "multi_threading")}


def entry_files(cfg):
    return sorted(e.name for e in os.scandir(cfg.features.cache_dir) if e.is_file())  # not digests/


@needs_shared
def test_beam_gives_the_local_classes_means_ranking_and_distances_on_real_catalog_data(cfg_factory, tmp_path):
    common = ("target=plants", "sources=[flowers,butterflies,xray]", "features.max_images_per_class=6",
              f"data_root={SHARED_DATASETS}", "distance=class_mean_emd", "report.explain=false")
    local = cfg_factory(*common)
    beam = cfg_factory(*common, "features.runner=beam", f"features.cache_dir={tmp_path / 'beam'}")
    by_local, by_beam = recommend(cfg=local), recommend(cfg=beam)
    assert [s.name for s in by_beam.sources] == [s.name for s in by_local.sources]
    np.testing.assert_allclose([s.distance for s in by_beam.sources], [s.distance for s in by_local.sources],
                               atol=1e-4)
    for name in ("plants", "flowers", "butterflies", "xray"):
        a, b = dataset_features(name, local), dataset_features(name, beam)
        assert not a.extracted and not b.extracted  # recommend cached both, under the same entry name
        np.testing.assert_array_equal(b.class_counts, a.class_counts)
        np.testing.assert_allclose(b.class_sums / b.class_counts[:, None], a.class_sums / a.class_counts[:, None],
                                   atol=1e-5)
        np.testing.assert_array_equal(b.refs, a.refs)
        np.testing.assert_allclose(b.features(), a.features(), atol=1e-5)
    assert entry_files(local) == entry_files(beam)


@pytest.mark.parametrize("mode", sorted(TWO_WORKERS))
def test_two_workers_write_one_entry_once_and_skip_what_local_skips(mode, colour_dataset, cfg_factory, tmp_path):
    (colour_dataset / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    write_image(colour_dataset / "blue" / "gray.png", (100, 100, 100), mode="L")
    split = ("split.train=1.0", "split.val=0.0", "split.test=0.0")
    local = dataset_features(str(colour_dataset), cfg_factory(*split))
    beam_cfg = cfg_factory(*split, "features.runner=beam", "features.batch_size=4", *TWO_WORKERS[mode],
                           f"features.cache_dir={tmp_path / 'beam'}")
    beam = dataset_features(str(colour_dataset), beam_cfg)
    assert beam.extracted and entry_files(beam_cfg) == [beam.path.name]  # one entry, no temporary left over
    assert beam.class_counts.tolist() == local.class_counts.tolist() == [7, 6, 6]  # blue, green, red
    assert [os.path.basename(r) for r in beam.skipped] == ["broken.jpg"]
    np.testing.assert_allclose(beam.class_sq_sums, local.class_sq_sums, rtol=1e-6)
    assert not dataset_features(str(colour_dataset), beam_cfg).extracted


def test_rows_per_class_keeps_a_seeded_sample_while_sums_cover_every_image(colour_dataset, cfg_factory, tmp_path):
    for i in range(6, 14):
        write_image(colour_dataset / "green" / f"{i:03d}.png", (30, 200, 40), noise_seed=500 + i)
    split = ("split.train=1.0", "split.val=0.0", "split.test=0.0", "features.runner=beam", "features.batch_size=4")
    every = dataset_features(str(colour_dataset), cfg_factory(*split))
    sampled = [dataset_features(str(colour_dataset), cfg_factory(*split, "features.rows_per_class=3", *extra,
                                                                 f"features.cache_dir={tmp_path / str(i)}"))
               for i, extra in enumerate([(), ("features.batch_size=3",), ("seed=1",)])]
    one, other_batches, other_seed = sampled
    assert np.bincount(one.labels).tolist() == [3, 3, 3] and one.features().shape == (9, 1280)
    np.testing.assert_allclose(one.class_sums, every.class_sums, rtol=1e-6)  # sums cover all 6, 14 and 6 images
    assert one.class_counts.tolist() == every.class_counts.tolist() == [6, 14, 6]  # blue, green, red
    np.testing.assert_array_equal(other_batches.refs, one.refs)  # the sample does not depend on the sharding
    assert set(other_seed.refs) != set(one.refs)
    rows = dict(zip(every.refs, every.features()))
    np.testing.assert_allclose(one.features(), [rows[r] for r in one.refs], atol=1e-5)
    assert one.path != every.path  # a sampled entry never stands in for a full one


def test_bottom_k_combiner_is_the_same_in_any_merge_order():
    fn = beam_features.ClassStatisticsFn(rows_per_class=2)
    parts = [beam_features.ClassStatistics(1, np.full(2, float(i)), np.full(2, float(i * i)),
                                           [(beam_features.row_priority(0, f"img{i}"), i, f"img{i}", np.zeros(2))])
             for i in range(6)]
    forward = fn.merge_accumulators([fn.add_input(fn.add_input(None, parts[0]), parts[1]),
                                     *(fn.add_input(None, p) for p in parts[2:])])
    backward = fn.merge_accumulators([fn.add_input(None, p) for p in reversed(parts)])
    expected = sorted(range(6), key=lambda i: beam_features.row_priority(0, f"img{i}"))[:2]
    for merged in (forward, backward):
        assert merged.count == 6 and merged.sums.tolist() == [15.0, 15.0] and merged.sq_sums.tolist() == [55.0] * 2
        assert [row[1] for row in merged.rows] == expected


def test_rows_per_class_needs_the_beam_runner(colour_dataset, cfg_factory):
    with pytest.raises(FeatureError, match="features.runner=beam"):
        dataset_features(str(colour_dataset), cfg_factory("features.rows_per_class=3"))


def test_tfds_dataset_streams_through_beam_in_slices(tmp_path, cfg_factory):
    from tfds_tiny.tiny_colours import TinyColours

    TinyColours(data_dir=str(tmp_path / "tfds")).download_and_prepare()
    tiny = ("target=plants", "+dataset@catalog.tiny=tf_flowers", "catalog.tiny.name=tiny",
            "catalog.tiny.tfds_name=tiny_colours", f"catalog.tiny.data_dir={tmp_path / 'tfds'}")
    local = dataset_features("tiny", cfg_factory(*tiny))
    beam = dataset_features("tiny", cfg_factory(*tiny, "features.runner=beam", "features.batch_size=3",
                                                f"features.cache_dir={tmp_path / 'beam'}"))
    assert beam.class_counts.tolist() == local.class_counts.tolist() == [4, 4]
    np.testing.assert_array_equal(beam.refs, local.refs)
    np.testing.assert_allclose(beam.features(), local.features(), atol=1e-5)
