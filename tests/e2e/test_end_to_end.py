"""The whole pipeline on a small real subset of ../shared/datasets, and the command-line entry point."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recommender import dataset_features, load_config, recommend
from recommender.domains import build_domain
from recommender.distances.class_mean_emd import class_mean_emd
from recommender.explain.report import format_table, write_reports

from conftest import SHARED_DATASETS, SHARED_WEIGHTS, needs_shared

ROOT = Path(__file__).resolve().parents[2]
pytestmark = needs_shared


@pytest.fixture(scope="session")
def real_overrides(tmp_path_factory):
    cache = tmp_path_factory.mktemp("real-cache")
    return ["backbone.alpha=0.35", "backbone.image_size=96", f"backbone.weights_dir={SHARED_WEIGHTS}",
            f"data_root={SHARED_DATASETS}", "features.max_images_per_class=10", f"features.cache_dir={cache}",
            "features.progress=false", "domain.min_images_per_class=3", "distance=class_mean_emd"]


@pytest.fixture(scope="session")
def plants_ranking(real_overrides):
    return recommend(cfg=load_config(["target=plants", *real_overrides]))


def test_ranking_covers_every_other_dataset_in_emd_order(plants_ranking):
    names = [s.name for s in plants_ranking.sources]
    assert sorted(names) == sorted(["flowers", "animals", "butterflies", "cifar10", "textures", "aerial", "trash",
                                    "xray", "brainmri"])
    emds = [s.distance for s in plants_ranking.sources]
    assert emds == sorted(emds) and all(e > 0 for e in emds)
    assert [s.rank for s in plants_ranking.sources] == list(range(1, 10))
    for s in plants_ranking.sources:
        assert s.similarity == pytest.approx(np.exp(-0.01 * s.distance))
        assert s.plan.shape == (s.n_classes, 3)
        assert s.n_images == 10 * s.n_classes  # the cap, per class


def test_pairwise_table_is_symmetric_and_agrees_with_the_ranking(plants_ranking):
    table = plants_ranking.distances
    assert np.allclose(table, table.T) and np.all(np.diag(table) == 0)
    for s in plants_ranking.sources:
        j = plants_ranking.distance_names.index(s.name)
        assert table[0, j] == pytest.approx(s.distance)


def test_a_copy_of_the_target_is_at_distance_zero_and_the_target_by_path_is_excluded(real_overrides, tmp_path):
    import shutil

    # The same images, in another folder (copied: links out of a dataset's folder are not followed)
    copy = shutil.copytree(SHARED_DATASETS / "plants", tmp_path / "plants_copy")
    ranking = recommend(cfg=load_config(["target=plants", f"sources=[{SHARED_DATASETS / 'plants'}/,{copy},flowers]",
                                         *real_overrides]))
    assert [s.name for s in ranking.sources] == ["plants_copy", "flowers"]  # the target itself is never a source
    assert any("excluded" in note for note in ranking.notes)
    assert ranking.sources[0].distance == pytest.approx(0.0, abs=1e-6)
    assert ranking.sources[1].distance > 1.0


def test_two_disjoint_samples_of_a_dataset_are_closer_than_any_other_dataset(real_overrides, plants_ranking):
    cfg = load_config(["target=plants", *real_overrides])
    val = build_domain(dataset_features("plants", cfg, split="val"), 3)
    test = build_domain(dataset_features("plants", cfg, split="test"), 3)
    same_dataset = class_mean_emd(val, test).value
    assert same_dataset < 0.5 * plants_ranking.first.distance


def test_obvious_pairs_rank_plausibly(real_overrides):
    flowers = recommend(cfg=load_config(["target=flowers", *real_overrides]))
    order = [s.name for s in flowers.sources]
    # Outdoor plant photos are a better match for flower photos than X-ray or MRI scans.
    assert order.index("plants") < order.index("xray") and order.index("plants") < order.index("brainmri")
    aerial = recommend(cfg=load_config(["target=aerial", *real_overrides]))
    # Aerial scenes are mostly texture; brain MRI slices are the least like them.
    assert "textures" in [s.name for s in aerial.sources][:2]
    assert aerial.sources[-1].name == "brainmri"


def test_same_config_and_seed_give_the_same_ranking(real_overrides, plants_ranking):
    again = recommend(cfg=load_config(["target=plants", *real_overrides]))
    assert [(s.name, s.distance) for s in again.sources] == [(s.name, s.distance) for s in plants_ranking.sources]


def test_reports_are_written(plants_ranking, tmp_path):
    paths = write_reports(plants_ranking, tmp_path, {"top_flows": 3, "explain": False})
    data = json.loads(paths["ranking.json"].read_text())
    assert data["target"]["name"] == "plants"
    assert [s["name"] for s in data["sources"]] == [s.name for s in plants_ranking.sources]
    assert {"name", "distance", "similarity", "rank", "n_classes", "n_images"} <= set(data["sources"][0])
    assert data["config"]["backbone"]["alpha"] == 0.35
    rows = list(csv.reader(paths["ranking.csv"].open()))
    assert rows[0][:7] == ["rank", "source", "score", "distance", "similarity", "gain_points", "gain_ci95_points"]
    assert len(rows) == 11 and rows[-1][1] == "imagenet"  # nine sources, then ImageNet at gain 0
    table = list(csv.reader(paths["distances.csv"].open()))
    assert len(table) == 11 and len(table[1]) == 11
    assert paths["distances.png"].stat().st_size > 10_000
    report = paths["report.md"].read_text()
    assert "| 1 | " + plants_ranking.first.name in report and "source class | target class" in report
    text = format_table(plants_ranking)
    lines = text.splitlines()
    target_line = next(i for i, line in enumerate(lines) if line.startswith("Target: plants"))
    blocks = " ".join(lines[:target_line]).split("What decided the order:")
    assert blocks[0].strip() == plants_ranking.headline and len(blocks) == 2  # wrapped at 100 columns
    assert plants_ranking.first.name in lines[target_line + 3]


def test_command_line_multirun_writes_a_report_per_target(real_overrides, tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "scripts/recommend.py", "-m", "target=plants,animals", "sources=[flowers,cifar10]",
           *real_overrides, f"hydra.sweep.dir={sweep}"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Target: plants" in done.stdout and "Target: animals" in done.stdout
    for job in ("0", "1"):
        names = {p.name for p in (sweep / job).iterdir()}
        assert {"ranking.json", "ranking.csv", "distances.csv", "distances.png", "report.md"} <= names


def test_command_line_errors_are_clear(real_overrides, tmp_path):
    cmd = [sys.executable, "scripts/recommend.py", "target=planets", *real_overrides,
           f"hydra.run.dir={tmp_path / 'run'}"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "Unknown dataset 'planets'" in done.stderr and "Known datasets:" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_tiny_folder_without_a_test_split_is_ranked_with_a_note(tmp_path, real_overrides):
    from conftest import make_folder_dataset

    tiny = make_folder_dataset(tmp_path / "tiny", {"red": (220, 30, 30), "blue": (30, 30, 220)}, per_class=3)
    ranking = recommend(cfg=load_config([f"target={tiny}", "sources=[flowers]", *real_overrides,
                                         "domain.min_images_per_class=1"]))
    assert ranking.first.name == "flowers"
    assert "tiny" not in ranking.descriptor_quality and "flowers" in ranking.descriptor_quality
    assert any("No descriptor-quality score" in n and "test split is empty" in n for n in ranking.notes)
