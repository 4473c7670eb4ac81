"""The README's Python usage as a user writes it: a plain script, no `if __name__ == "__main__":` guard, run from
another folder. Networks still to train go to worker processes, which must not run the script again; the caches
go to the user's cache folder, not the working folder."""
import os
import subprocess
import sys

from conftest import SHARED_WEIGHTS, make_folder_dataset

SCRIPT = """
from recommender import recommend
ranking = recommend("target", sources=["one", "two"], overrides=[
    "backbone.alpha=0.35", "backbone.image_size=64", "backbone.weights_dir={weights}", "distance=logme",
    "+distance.jobs=2", "+finetune=default", "finetune.epochs.head=1", "finetune.epochs.finetune=1",
    "finetune.hidden_units=8", "finetune.batch_size=8", "domain.min_images_per_class=1", "features.progress=false"])
print("RANKED", *[s.name for s in ranking.sources])
"""


def test_an_unguarded_script_ranks_with_worker_processes_and_the_user_cache(tmp_path):
    for i, name in enumerate(("one", "two", "target")):
        make_folder_dataset(tmp_path / name, {"a": (200 - 60 * i, 40, 60 * i), "b": (30, 60 * i, 200)},
                            per_class=12, seed=i)
    (tmp_path / "script.py").write_text(SCRIPT.format(weights=SHARED_WEIGHTS))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "user_cache")
    done = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    ranked = [line for line in done.stdout.splitlines() if line.startswith("RANKED")]
    assert len(ranked) == 1 and sorted(ranked[0].split()[1:]) == ["one", "two"]  # ranked once, not per worker
    cache = tmp_path / "user_cache" / "pretrain-recommender"
    assert len(list((cache / "checkpoints").glob("stage1-*.keras"))) == 2  # both trained, by the workers
    assert any((cache / "features").iterdir())
    assert not (tmp_path / ".cache").exists()
