"""The wheel is a complete recommender: built from the project's files, installed into a fresh virtualenv with
no source tree on its path, `recommend-source` (the console command) and `recommender.recommend` (the Python API)
rank small folders exactly as the editable install does."""
import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from conftest import SHARED_WEIGHTS, make_folder_dataset

pytestmark = [pytest.mark.slow, pytest.mark.needs_weights]
ROOT = Path(__file__).resolve().parents[2]
API = """import json, sys
from recommender import recommend
import recommender
ranking = recommend(sys.argv[1], sys.argv[2].split(","), overrides=sys.argv[3:])
print(json.dumps({"module": recommender.__file__,
                  "ranking": [[s.name, round(s.distance, 9)] for s in ranking.sources]}))
"""


def _run(command, cwd, **kwargs):
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _table(stdout: str) -> list[str]:
    """The printed verdict and ranking, without progress lines (timings) and the run-folder line."""
    lines = [line for line in stdout.splitlines() if not line.startswith(("features ", "Reports written to"))]
    assert any(line.split()[:2] == ["1", "near"] for line in lines if line.strip()), stdout  # ranked first
    return lines


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A wheel built from a copy of what pyproject.toml packages, installed with --no-deps into a virtualenv that
    sees the machine's TensorFlow and Keras (system site-packages) but not the checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, source / part)
    for part in ("recommender", "finetune", "conf"):
        shutil.copytree(ROOT / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "dist"),
          str(source)], cwd=tmp)
    wheel = next((tmp / "dist").glob("pretrain_recommender-*.whl"))
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(tmp / "venv")
    python = tmp / "venv" / "bin" / "python"
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], cwd=tmp)
    return tmp, python, wheel


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("folders")
    target = make_folder_dataset(root / "target", {"red": (220, 30, 30), "blue": (30, 30, 220)}, per_class=10, seed=1)
    near = make_folder_dataset(root / "near", {"crimson": (200, 20, 40), "navy": (20, 20, 200)}, per_class=10, seed=2)
    far = make_folder_dataset(root / "far", {"green": (30, 200, 40), "yellow": (230, 220, 40)}, per_class=10, seed=3)
    return target, [near, far]


def _overrides(cache: Path) -> list[str]:
    return ["distance=class_mean_emd", "backbone.alpha=0.35", "backbone.image_size=64",
            f"backbone.weights_dir={SHARED_WEIGHTS}", f"features.cache_dir={cache}", "features.progress=false",
            "report.explain=false"]


def test_the_wheel_ships_conf_and_the_evidence_and_not_the_tests(installed):
    _, _, wheel = installed
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    assert "recommender/conf/config.yaml" in names and "recommender/conf/distance/prior_score.yaml" in names
    assert {"recommender/conf/evidence/catalog.json", "recommender/conf/evidence/pool.json"} <= names
    assert not any(n.startswith(("tests/", "scripts/", "docs/")) for n in names)


def test_console_command_and_api_from_the_wheel_rank_as_the_editable_install(installed, folders, tmp_path):
    tmp, python, _ = installed
    target, sources = folders
    sources_arg = f"sources=[{','.join(map(str, sources))}]"
    command = tmp / "venv" / "bin" / "recommend-source"
    wheel_cli = _run([command, f"target={target}", sources_arg, *_overrides(tmp_path / "c1"),
                      f"hydra.run.dir={tmp_path / 'run1'}"], cwd=tmp_path)
    editable_cli = _run([sys.executable, str(ROOT / "scripts" / "recommend.py"), f"target={target}", sources_arg,
                         *_overrides(tmp_path / "c2"), f"hydra.run.dir={tmp_path / 'run2'}"], cwd=tmp_path)
    assert _table(wheel_cli) == _table(editable_cli)
    assert (tmp_path / "run1" / "recommend.log").is_file()  # the run folder's log keeps the command's name

    arguments = [str(target), ",".join(map(str, sources)), *_overrides(tmp_path / "c3")]
    wheel_api = json.loads(_run([python, "-c", API, *arguments], cwd=tmp_path).splitlines()[-1])
    editable_api = json.loads(_run([sys.executable, "-c", API, *arguments], cwd=tmp_path).splitlines()[-1])
    assert Path(wheel_api["module"]).is_relative_to(tmp / "venv")  # the wheel's copy, not the checkout's
    assert Path(editable_api["module"]).is_relative_to(ROOT)
    assert wheel_api["ranking"] == editable_api["ranking"]
    assert [name for name, _ in wheel_api["ranking"]] == ["near", "far"]
