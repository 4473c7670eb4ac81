"""scripts/active_learn.py on a small real target: every output a user is promised."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from conftest import SHARED_DATASETS, SHARED_WEIGHTS, needs_shared

ROOT = Path(__file__).resolve().parents[2]


@needs_shared
def test_active_learning_script_writes_its_reports(tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "scripts/active_learn.py", "target=flowers", "rare_class=[tulips,daisy]",
           "sources=[animals,xray]", f"data_root={SHARED_DATASETS}", f"backbone.weights_dir={SHARED_WEIGHTS}",
           "backbone.alpha=0.35", "backbone.image_size=64", f"features.cache_dir={tmp_path / 'cache'}",
           f"finetune.checkpoint_dir={tmp_path / 'ckpt'}", "finetune.epochs.head=1", "finetune.epochs.finetune=1",
           "features.progress=false", "rounds=2", "batch=20", "n_seeds=2", "strategy=all", "initial_from_first_kind=true",
           "distance=prior_mix",  # the quick ranking chooses the start: no network trained for the choice
           f"hydra.run.dir={run}"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((run / "active_learning.json").read_text())
    assert set(data["starts"]) == {"source", "imagenet"}  # the chosen source beside the ImageNet start
    assert data["start"] in ("animals", "xray")
    rounds = data["starts"]["source"]["top_score"]["rounds"]
    assert [r["labels"] for r in rounds] == [60, 80, 100]
    for key in ("found", "r_precision", "average_precision", "lift", "pool_precision_at_50"):
        assert key in rounds[-1] and f"{key}_ci95" in rounds[-1]
    first = data["starts"]["source"]["top_score"]["per_seed"][0][0]
    assert first["found_by_kind"][1] == 0  # first labels shown from the first sub-kind only (daisy sorts first)
    with open(run / "to_label.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20 and Path(rows[0]["image"]).is_file()
    for name in ("report.md", "report.html", "curves.png", "top50.png", "active_learning.csv"):
        assert (run / name).is_file(), name
