"""Worker processes die with their parent, and a dead worker is one error line that keeps finished work:
stage-1 networks trained in two workers by `recommend-source`, on small folders, with the process killed."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import SHARED_WEIGHTS, make_folder_dataset

ROOT = Path(__file__).resolve().parents[2]
# Enough epochs that training is still running when the test kills a process (early stopping is off).
SLOW = ["+finetune=default", "finetune.epochs.head=40", "finetune.epochs.finetune=40", "finetune.patience=100",
        "finetune.hidden_units=8", "finetune.batch_size=4"]


@pytest.fixture
def setting(tmp_path):
    sources = [make_folder_dataset(tmp_path / n, {"a": (200 - 50 * i, 40, 50 * i), "b": (30, 50 * i, 200)},
                                   per_class=14, seed=i) for i, n in enumerate(("one", "two", "three"))]
    target = make_folder_dataset(tmp_path / "target", {"a": (190, 50, 20), "b": (40, 70, 190)}, per_class=12, seed=9)
    return sources, target


def _start(tmp_path, sources, target, checkpoints):
    cmd = [sys.executable, "scripts/recommend.py", f"target={target}", f"sources=[{','.join(map(str, sources))}]",
           "backbone.alpha=0.35", "backbone.image_size=64", f"backbone.weights_dir={SHARED_WEIGHTS}",
           f"features.cache_dir={tmp_path / 'cache'}", "features.progress=false", "domain.min_images_per_class=1",
           "distance=logme", "+distance.jobs=2", f"finetune.checkpoint_dir={checkpoints}", "report.explain=false",
           f"hydra.run.dir={tmp_path / 'run'}", *SLOW]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _workers(proc, timeout=240):
    """The spawned worker processes of `proc` once two are running."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        kids = [p for p in psutil.Process(proc.pid).children(recursive=True)
                if "spawn_main" in " ".join(p.cmdline())]
        if len(kids) >= 2:
            return kids
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"no two workers appeared: {proc.communicate()[1][-2000:]}")


def test_a_terminated_run_leaves_no_worker(tmp_path, setting):
    sources, target = setting
    proc = _start(tmp_path, sources, target, tmp_path / "ck")
    workers = _workers(proc)
    time.sleep(3)  # the workers are training now
    os.kill(proc.pid, signal.SIGKILL)  # what kill -9 or the OOM killer does to the main process
    proc.wait(timeout=30)
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, [p.pid for p in alive]


def test_a_dead_worker_is_one_error_line_and_finished_networks_are_kept(tmp_path, setting):
    sources, target = setting
    checkpoints = tmp_path / "ck"
    proc = _start(tmp_path, sources, target, checkpoints)
    workers = _workers(proc)
    deadline = time.time() + 300
    while not list(checkpoints.glob("stage1-*.keras")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)  # the first network finished and was written by its worker
    finished = sorted(checkpoints.glob("stage1-*.keras"))
    assert finished, "no network finished in time"
    still = [w for w in workers if w.is_running()]
    still[-1].kill()
    out, err = proc.communicate(timeout=120)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and "Traceback" not in err, err[-3000:]
    assert len(errors) == 1 and "worker process died" in errors[0], errors
    assert set(finished) <= set(checkpoints.glob("stage1-*.keras"))  # what finished is kept
