"""Faults of the machine, not of the input: a full disk and a read-only output folder give one `error:` line
naming the folder, and no half-written file under a result's name. A small tmpfs is mounted where the test may
(root on Linux); otherwise the same failure is injected as an OSError."""
import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED_WEIGHTS, make_folder_dataset

ROOT = Path(__file__).resolve().parents[2]
COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 40)}


def _mount(folder: Path, options: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    return {"target": make_folder_dataset(root / "target", COLOURS, per_class=8),
            "source": make_folder_dataset(root / "source", COLOURS, per_class=8, seed=1), "root": root}


def _recommend(folders, run_dir: Path, tmp_path: Path):
    return subprocess.run(
        [sys.executable, "scripts/recommend.py", f"target={folders['target']}", f"sources=[{folders['source']}]",
         "distance=class_mean_emd", f"backbone.weights_dir={SHARED_WEIGHTS}", "backbone.alpha=0.35",
         "backbone.image_size=64", f"features.cache_dir={tmp_path / 'cache'}", "features.progress=false",
         "domain.min_images_per_class=1", "report.map_points_per_dataset=10", f"hydra.run.dir={run_dir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)


def _no_partial_files(folder: Path) -> None:
    left = [p.name for p in folder.rglob("*") if ".partial" in p.name]
    assert left == [], left


@pytest.mark.parametrize("fault, options", [("full disk", "size=120k"), ("read-only folder", "ro,size=1m")])
def test_a_run_that_cannot_write_its_reports_says_so_in_one_line(fault, options, folders, tmp_path, monkeypatch):
    mount = tmp_path / "mnt"
    if _mount(mount, options):
        try:
            done = _recommend(folders, mount / "run", tmp_path)
            output = done.stdout + done.stderr
            assert done.returncode == 2 and "Traceback" not in output, output[-3000:]
            errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
            assert len(errors) == 1 and str(mount) in errors[0], done.stderr[-2000:]
            assert ("No space left" if fault == "full disk" else "read-only or no permission") in errors[0]
            _no_partial_files(mount)
        finally:
            subprocess.run(["umount", str(mount)], capture_output=True)
        return
    # No mount here: the same failure injected where every figure is written.
    from recommender import load_config, recommend
    from recommender.checks import user_errors
    from recommender.explain.report import write_reports

    def failing_savefig(self, fname, *args, **kwargs):
        Path(fname).write_bytes(b"\x89PNG half")  # what a full disk leaves: a partial file
        raise OSError(errno.ENOSPC if fault == "full disk" else errno.EROFS, os.strerror(errno.ENOSPC), str(fname))

    from matplotlib.figure import Figure

    monkeypatch.setattr(Figure, "savefig", failing_savefig)
    cfg = load_config([f"target={folders['target']}", f"sources=[{folders['source']}]", "distance=class_mean_emd",
                       f"backbone.weights_dir={SHARED_WEIGHTS}", "backbone.alpha=0.35", "backbone.image_size=64",
                       f"features.cache_dir={tmp_path / 'cache'}", "features.progress=false",
                       "domain.min_images_per_class=1"])
    with pytest.raises(SystemExit) as stopped, user_errors():
        write_reports(recommend(cfg=cfg), tmp_path / "out", {"explain": False})
    assert stopped.value.code == 2
    _no_partial_files(tmp_path / "out")
