"""The transfer benchmark on small real folders: networks, episodes, scores, reports, and its cache."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import SHARED_DATASETS, needs_shared
from finetune.benchmark.ground_truth import Protocol


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One feature cache and checkpoint folder for both runs here: the datasets are extracted once."""
    return tmp_path_factory.mktemp("benchmark_cache")


def _overrides(test_overrides, cache):
    return [o for o in test_overrides if not o.startswith("features.cache_dir=")] + [
        f"features.cache_dir={cache / 'features'}", f"finetune.checkpoint_dir={cache / 'ckpt'}"]


@needs_shared
def test_a_small_real_benchmark_end_to_end(tmp_path, test_overrides, shared_cache):
    from finetune.benchmark.run import run_benchmark
    from finetune.benchmark.serialise import to_json
    from finetune.benchmark.report import write_benchmark
    from recommender import load_config

    cfg = load_config([*_overrides(test_overrides, shared_cache), f"data_root={SHARED_DATASETS}",
                       "benchmark.targets=[plants]",
                       "benchmark.sources=[plants,animals,xray]", "features.max_images_per_class=12",
                       "benchmark.fewshot.episodes=4", "benchmark.fewshot.k=[2,4]", "benchmark.headline.k=4",
                       "benchmark.top_blocks=[2]", "benchmark.headline.top_blocks=2", "benchmark.bootstrap=10",
                       "benchmark.jobs=1", "finetune.epochs.head=1", "finetune.epochs.finetune=1"],
                      config_name="benchmark")
    result = run_benchmark(cfg)
    run = result.runs[0]
    assert run.target == "plants" and run.sources == ["animals", "xray"]  # the target is never its own source
    assert run.accuracy[Protocol(2, 4)].rows().shape == (3, 4)
    data = to_json(result)
    scores = data["targets"]["plants"]["scores"]
    assert {"logme", "leep", "nce", "h_score", "gbc", "parc", "knn_loo", "fewshot_probe", "class_mean_emd", "class_mean_emd_cosine_224",
            "gaussian_emd_ledoit_wolf", "otdd", "source_images", "source_classes", "random"} <= set(scores)
    paths = write_benchmark(result, tmp_path / "out")
    assert json.loads(paths["benchmark.json"].read_text())["protocol"]["headline"] == "top2/k4"
    assert "data:image/png;base64," in paths["report.html"].read_text()
    # A second run reads every target from the cache: the same numbers.
    again = run_benchmark(cfg)
    assert np.array_equal(again.runs[0].accuracy[Protocol(2, 4)].rows(), run.accuracy[Protocol(2, 4)].rows())
    # A score the cached run lacks (a score added to benchmark.scores later) is computed from the cached adapted
    # features and stored; the accuracies are read, not measured again.
    from pathlib import Path

    [entry] = (Path(cfg.features.cache_dir) / "benchmark").glob("target-*.json")
    stored = json.loads(entry.read_text())
    expected = stored["scores"]["2"].pop("fewshot_probe")
    entry.write_text(json.dumps(stored))
    third = run_benchmark(cfg)
    assert third.runs[0].scores[2]["fewshot_probe"].tolist() == expected
    assert json.loads(entry.read_text())["scores"]["2"]["fewshot_probe"] == expected
    assert np.array_equal(third.runs[0].accuracy[Protocol(2, 4)].rows(), run.accuracy[Protocol(2, 4)].rows())


@needs_shared
def test_the_finetune_ground_truth_pairs_seeds_like_episodes(test_overrides, shared_cache):
    from finetune.benchmark.run import run_benchmark
    from finetune.benchmark.serialise import to_json
    from recommender import load_config

    cfg = load_config([*_overrides(test_overrides, shared_cache), f"data_root={SHARED_DATASETS}",
                       "benchmark.targets=[xray]", "benchmark.sources=[plants,animals]",
                       "features.max_images_per_class=12",
                       "benchmark.ground_truth=finetune", "finetune.seeds=[0,1]", "benchmark.top_blocks=[2]",
                       "benchmark.headline.top_blocks=2", "benchmark.bootstrap=5", "benchmark.jobs=1",
                       "finetune.epochs.head=1", "finetune.epochs.finetune=1"], config_name="benchmark")
    result = run_benchmark(cfg)
    accuracy = result.runs[0].accuracy[Protocol(2)].rows()
    assert accuracy.shape == (3, 2)  # ImageNet + 2 sources, one column per fine-tuning seed
    assert ((accuracy >= 0) & (accuracy <= 1)).all()
    assert to_json(result)["protocol"]["headline"] == "top2/finetune"


@needs_shared
def test_two_worker_processes_give_the_same_networks_and_accuracies(tmp_path, test_overrides):
    """benchmark.jobs=2 trains the stage-1 networks in spawned workers and fits episodes in two processes; with
    empty caches each time, every checkpoint's weights and every episode's accuracy equal those of jobs=1."""
    import io
    import zipfile

    import h5py

    from finetune.benchmark.run import run_benchmark
    from recommender import load_config

    def run(jobs):
        cache = tmp_path / f"jobs{jobs}"
        cfg = load_config([*_overrides(test_overrides, cache), f"data_root={SHARED_DATASETS}",
                           "benchmark.targets=[xray]", "benchmark.sources=[plants,animals]",
                           "features.max_images_per_class=12", "benchmark.fewshot.episodes=4",
                           "benchmark.fewshot.k=[4]", "benchmark.headline.k=4", "benchmark.top_blocks=[2]",
                           "benchmark.headline.top_blocks=2", "benchmark.bootstrap=5", f"benchmark.jobs={jobs}",
                           "finetune.epochs.head=1", "finetune.epochs.finetune=1"], config_name="benchmark")
        result = run_benchmark(cfg)
        weights = {}
        for path in sorted((cache / "ckpt").glob("stage1-*.keras")):
            # The arrays, not the file's bytes: HDF5 files carry their own timestamps.
            with zipfile.ZipFile(path) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as h5:
                arrays = []
                h5.visititems(lambda name, item: arrays.append((name, item[()]))
                              if isinstance(item, h5py.Dataset) else None)
            weights[path.name] = arrays
        return result, weights

    one, weights_one = run(1)
    two, weights_two = run(2)
    assert len(weights_one) == 2 and weights_one.keys() == weights_two.keys()
    for name in weights_one:
        assert [n for n, _ in weights_one[name]] == [n for n, _ in weights_two[name]]
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(weights_one[name], weights_two[name]))
    assert np.array_equal(one.runs[0].accuracy[Protocol(2, 4)].rows(), two.runs[0].accuracy[Protocol(2, 4)].rows())
