"""Two runs at once on one fresh cache and the same new folder: both succeed, agree, and keep their reports."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import SHARED_WEIGHTS, make_folder_dataset

ROOT = Path(__file__).resolve().parents[2]


def test_two_concurrent_runs_share_a_cold_cache_and_keep_separate_reports(tmp_path):
    target = make_folder_dataset(tmp_path / "new_target", {"red": (220, 30, 30), "blue": (30, 30, 220)}, per_class=8)
    source = make_folder_dataset(tmp_path / "new_source", {"red": (200, 40, 40), "green": (30, 200, 40)},
                                 per_class=8, seed=1)
    cmd = [sys.executable, str(ROOT / "scripts" / "recommend.py"), f"target={target}", f"sources=[{source}]",
           f"backbone.weights_dir={SHARED_WEIGHTS}", "backbone.alpha=0.35", "backbone.image_size=64",
           f"features.cache_dir={tmp_path / 'cache'}", "features.progress=false", "report.knn_k=1", "distance=prior_mix"]
    # The default run folder (outputs/recommend/<date-time>-<pid>, under the working folder): both runs start
    # within the same second.
    runs = [subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=600) for run in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode == 0, err[-3000:]
    reports = sorted((tmp_path / "outputs" / "recommend").glob("*/ranking.json"))
    assert len(reports) == 2  # separate folders: neither report overwrote the other
    first, second = (json.loads(p.read_text()) for p in reports)
    assert [(s["name"], s["distance"]) for s in first["sources"]] == [(s["name"], s["distance"]) for s in second["sources"]]
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if "partial" in p.name or p.suffix == ".raw"]
    assert not leftovers
