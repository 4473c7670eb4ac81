"""A source built from a pool runs wherever a dataset runs: recommend, train.py and the benchmark (small folders)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from finetune.benchmark.ground_truth import Protocol
from recommender import load_config, open_dataset, recommend
from recommender.data.subset import write_spec
from recommender.pool import build_source

from conftest import make_folder_dataset

POOL = {"crimson": (200, 20, 20), "scarlet": (235, 45, 35), "navy": (20, 20, 140), "teal": (20, 140, 140),
        "olive": (120, 120, 20), "white": (245, 245, 245)}
TARGET = {"red": (220, 30, 30), "orange": (240, 70, 20)}


@pytest.fixture
def pool_and_target(tmp_path, test_overrides):
    pool = make_folder_dataset(tmp_path / "pool", POOL, per_class=12)
    target = make_folder_dataset(tmp_path / "tgt", TARGET, per_class=12, seed=5)
    other = make_folder_dataset(tmp_path / "other", {"a": (128, 128, 128), "b": (10, 10, 10)}, per_class=12, seed=7)
    overrides = [*test_overrides, f"target={target}"]
    return pool, target, other, overrides


def finetune_options(tmp_path):
    return ["finetune.epochs.head=1", "finetune.epochs.finetune=1", "finetune.hidden_units=8", "finetune.batch_size=8",
            f"finetune.checkpoint_dir={tmp_path / 'ckpt'}", "finetune.seeds=[0]"]


def test_the_closest_pool_classes_are_the_red_ones(pool_and_target, tmp_path):
    pool, target, _, overrides = pool_and_target
    cfg = load_config(overrides)
    spec = build_source(cfg, str(target), [str(pool)], 2)
    assert sorted(c["class"] for c in spec["chosen"]) == ["crimson", "scarlet"]
    distances = [c["distance"] for c in spec["chosen"]]
    assert distances == sorted(distances) and spec["members"][0]["classes"] == [c["class"] for c in spec["chosen"]]
    # Deterministic: the same configuration builds the same source.
    assert build_source(cfg, str(target), [str(pool)], 2)["identity"] == spec["identity"]
    drawn = build_source(cfg, str(target), [str(pool)], 3, rule="random", seed=1)
    assert len(drawn["chosen"]) == 3 and all(c["distance"] is None for c in drawn["chosen"])


def test_a_built_source_runs_through_recommend_train_and_the_benchmark(pool_and_target, tmp_path):
    from finetune.benchmark.run import run_benchmark
    from finetune.transfer.select import train_from_source

    pool, target, other, overrides = pool_and_target
    cfg = load_config(overrides)
    path = write_spec(build_source(cfg, str(target), [str(pool)], 3, name="built"), tmp_path / "built.json")
    images = open_dataset(str(path), cfg)
    assert images.name == "built" and len(images.class_names) == 3 and len(images.refs) == 36

    ranking = recommend(cfg=load_config([*overrides, f"sources=[{path},{other}]"]))
    assert {s.name for s in ranking.sources} == {"built", "other"}
    assert next(s for s in ranking.sources if s.name == "built").ref == str(path)
    from recommender.explain.report import write_reports

    paths = write_reports(ranking, tmp_path / "report", {"explain": False})
    report = paths["report.md"].read_text()
    assert "## Sources built from a pool" in report and ("| 1 | scarlet |" in report or "| 1 | crimson |" in report)
    assert paths["classes_built.png"].is_file()

    metrics = train_from_source(load_config([*overrides, *finetune_options(tmp_path), f"source={path}"],
                                                 "validate"), tmp_path / "run")
    assert metrics["reason"]["source"] == "built" and (tmp_path / "run" / "model.keras").is_file()
    # The stage-1 network is keyed by the source's content: the same classes under another spec name reuse it.
    renamed = json.loads(path.read_text())
    renamed["name"] = "same-classes"
    (tmp_path / "same.json").write_text(json.dumps(renamed))
    assert open_dataset(str(tmp_path / "same.json"), cfg).fingerprint == images.fingerprint

    bench = load_config([*overrides, *finetune_options(tmp_path), f"benchmark.targets=[{target}]", f"benchmark.sources=[{path},{other}]",
                         "benchmark.fewshot.episodes=3", "benchmark.fewshot.k=[2]", "benchmark.headline.k=2",
                         "benchmark.top_blocks=[2]", "benchmark.headline.top_blocks=2", "benchmark.bootstrap=5",
                         "benchmark.jobs=1", "benchmark.scores=[logme]",
                         "~benchmark.distances", "+benchmark.distances={class_mean_emd:{distance:class_mean_emd}}"],
                        config_name="benchmark")
    run = run_benchmark(bench).runs[0]
    assert run.sources == ["built", "other"] and run.accuracy[Protocol(2, 2)].rows().shape == (3, 3)
    assert np.all(np.isfinite(run.accuracy[Protocol(2, 2)].rows()))


def test_recommend_with_a_pool_ranks_the_source_built_for_the_target(pool_and_target):
    from recommender.data.subset import read_spec

    pool, target, other, overrides = pool_and_target
    cfg = load_config([*overrides, f"sources=[{other}]", f"pool=[{pool}]", "pool_classes=2"])
    ranking = recommend(cfg=cfg)
    built = [s for s in ranking.sources if str(s.ref).endswith(".json")]
    assert len(ranking.sources) == 2 and len(built) == 1 and built[0].name == "pool-emd2-tgt"
    assert sorted(m for m in read_spec(built[0].ref)["members"][0]["classes"]) == ["crimson", "scarlet"]
    # Kept in the cache under its content identity: the same build again is the same file and the same ranking.
    again = recommend(cfg=cfg)
    assert [(s.name, s.ref, s.distance) for s in again.sources] == [(s.name, s.ref, s.distance) for s in ranking.sources]
    # The study never measured a build from this pool: nothing claims it beats ImageNet.
    assert built[0].gain is None and any("pool-emd2-tgt" in n for n in ranking.notes)


def test_the_build_source_command_writes_the_spec_and_its_report(pool_and_target, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from recommender.data.subset import read_spec

    pool, target, _, overrides = pool_and_target
    root = Path(__file__).resolve().parents[2]
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "scripts/build_source.py", *overrides, f"pool=[{pool}]", "pool_classes=2",
                           f"hydra.run.dir={run}"], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Built source pool-emd2-tgt: 2 of 6 pool classes" in done.stdout
    spec = read_spec(run / "source.json")
    assert sorted(spec["members"][0]["classes"]) == ["crimson", "scarlet"]
    assert (run / "classes.png").is_file() and "data:image/png;base64," in (run / "report.html").read_text()
