"""scripts/fewshot.py, scripts/metric_learn.py and retrieval in a learned embedding, on small real folders."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import SHARED_DATASETS, SHARED_WEIGHTS, needs_shared

ROOT = Path(__file__).resolve().parents[2]


def _common(tmp_path):
    return [f"data_root={SHARED_DATASETS}", f"backbone.weights_dir={SHARED_WEIGHTS}", "backbone.alpha=0.35",
            "backbone.image_size=64", f"features.cache_dir={tmp_path / 'cache'}", "features.progress=false",
            "features.max_images_per_class=20"]


@needs_shared
def test_fewshot_script_compares_every_classifier_on_paired_episodes(tmp_path):
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "scripts/fewshot.py", "target=animals", "k=2", "fewshot.episodes=3",
                           *_common(tmp_path), f"hydra.run.dir={run}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((run / "fewshot.json").read_text())
    assert data["classifiers"] == ["logistic", "prototype", "deepemd", "deepemd_cloud"]
    assert len(data["accuracy"][0]) == 3
    assert "minus prototype" in done.stdout


@needs_shared
def test_metric_learning_head_is_saved_measured_and_searchable(tmp_path):
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "scripts/metric_learn.py", "target=flowers", "loss=triplet",
                           "metric.epochs=2", "metric.augment=true", *_common(tmp_path), f"hydra.run.dir={run}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((run / "metric.json").read_text())
    assert set(result["raw"]) >= {"knn_accuracy", "precision_at_k"} and result["augment"] is True
    assert (run / "umap.png").stat().st_size > 10_000
    query = sorted((SHARED_DATASETS / "flowers" / "roses").iterdir())[0]
    found = subprocess.run([sys.executable, "scripts/retrieve.py", f"query={query}", "datasets=[flowers]", "k=3",
                            f"embedding={run / 'head.keras'}", *_common(tmp_path), f"hydra.run.dir={tmp_path / 'r'}"],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert found.returncode == 0, found.stderr[-3000:]
    assert "flowers/" in found.stdout
