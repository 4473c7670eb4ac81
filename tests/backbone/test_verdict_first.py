"""`recommend` leads with the verdict: after the run's progress lines, the first line is the one sentence a person
acts on, for an image folder as target, in each of the three cases (a source that beats ImageNet, one that does
not, interchangeable top sources). The catalog here is three small folders and a hand-made evidence file."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED_WEIGHTS, make_folder_dataset

ROOT = Path(__file__).resolve().parents[2]
PROGRESS = ("features ", "descriptor quality:", "drawing ")
BASE = {"t1": 0.02, "t2": 0.03, "t3": 0.025, "t4": 0.02}  # gains (fractions) on four other catalog targets
CASES = {
    "beats ImageNet": ({t: {"plants": g, "flowers": -0.01, "animals": -0.03} for t, g in BASE.items()},
                       "Start from plants:"),
    "does not": ({t: {"plants": g - 0.024, "flowers": -0.03, "animals": -0.04} for t, g in BASE.items()},
                 "Start from ImageNet:"),
    "interchangeable": ({t: {"plants": g, "flowers": g + d, "animals": -0.03}
                         for (t, g), d in zip(BASE.items(), (0.001, -0.002, 0.002, -0.001))},
                        "plants and flowers are interchangeable"),
}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    root = tmp_path_factory.mktemp("verdict")
    colours = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 40)}
    for seed, name in enumerate(("plants", "flowers", "animals")):
        make_folder_dataset(root / "data" / name, colours, per_class=6, seed=seed + 1)
    make_folder_dataset(root / "my_images", colours, per_class=6)
    return root


@pytest.mark.parametrize("case", list(CASES))
def test_the_first_line_after_the_progress_is_the_verdict(case, catalog, tmp_path):
    gains, expected = CASES[case]
    evidence = {"format": 1, "protocol": "top4/k20", "image_size": 64, "targets": list(gains), "gains": gains,
                "summary": {"prior_mix_loto": {"mean_weighted_tau": 0.6, "ci95": [0.5, 0.7],
                                               "mean_top1_regret": 0.2, "n_targets": 4}},
                "distances": {"class_mean_emd": {"name": "class_mean_emd", "ground_metric": "euclidean",
                                                 "normalise": "none", "whiten_dim": 128, "gamma": 0.01}},
                "default": {"score": "prior_mix_loto", "folds": {},
                            "all_targets": {"distance": "class_mean_emd", "c": 1e-6, "sd_prior": 0.01,
                                            "sd_distance": 1.0}}}
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(evidence))
    env = {**os.environ, "RECOMMENDER_DATA_ROOT": str(catalog / "data")}
    out = subprocess.run(
        [sys.executable, "scripts/recommend.py", f"target={catalog / 'my_images'}", "sources=[plants,flowers,animals]",
         "distance=prior_mix", f"distance.evidence={path}", f"backbone.weights_dir={SHARED_WEIGHTS}", "backbone.alpha=0.35",
         "backbone.image_size=64", f"features.cache_dir={catalog / 'cache'}", "features.progress=false",
         "domain.min_images_per_class=1", "report.explain=false", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    first = next(i for i, line in enumerate(lines) if not line.startswith(PROGRESS))
    assert lines[first].startswith(expected), out.stdout
    assert "Traceback" not in out.stderr and "I0000" not in out.stderr  # TensorFlow's start-up chatter is silenced
    # The run's log file holds what the console showed.
    log = (tmp_path / "run" / "recommend.log").read_text()
    assert lines[first] in log and "imagenet (no source)" in log
