"""The README's example is the output: the main command, on the shipped networks, prints the README's block to
the last printed digit; results on stdout, progress on stderr; `--json` is one JSON document on stdout."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import needs_shared

ROOT = Path(__file__).resolve().parents[2]
NETWORKS = ROOT.parent / "shared" / "networks" / "catalog-top4"
pytestmark = [needs_shared, pytest.mark.skipif(not NETWORKS.is_dir(), reason=f"no shipped networks in {NETWORKS}")]


def readme_block() -> list[str]:
    text = (ROOT / "README.md").read_text().split("## Reading the output", 1)[1]
    return text.split("```\n", 2)[1].rstrip("\n").split("\n")


@pytest.fixture(scope="module")
def main_command(tmp_path_factory):
    out = tmp_path_factory.mktemp("readme")
    done = subprocess.run([sys.executable, "scripts/recommend.py", "target=plants", f"hydra.run.dir={out}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    return done, out


def test_the_readme_block_is_the_output(main_command):
    done, out = main_command
    assert done.returncode == 0, done.stderr[-3000:]
    printed = [line for line in done.stdout.rstrip("\n").split("\n") if not line.startswith("Reports written to")]
    assert printed == readme_block()
    assert any("9 shipped" in line for line in printed)  # ranked with the shipped networks, none trained here


def test_stdout_holds_results_and_stderr_the_progress(main_command):
    done, out = main_command
    assert "scoring each source's network" not in done.stdout and "features" not in done.stdout.split("\n")[0]
    assert all(len(line) <= 100 for line in done.stdout.splitlines() if not line.startswith("Reports written"))
    data = json.loads((out / "ranking.json").read_text())
    first = data["sources"][0]
    assert {"predicted_gain_points", "low_points", "high_points", "network"} <= set(first["parts"])
    assert first["parts"]["network"]["origin"] == "shipped" and len(first["parts"]["network"]["sha256"]) == 64
    assert data["verdict"]["next"][0].startswith("python scripts/train.py target=plants source=")
    assert "## What to run next" in (out / "report.md").read_text()


def test_json_on_stdout_parses(main_command, tmp_path):
    done = subprocess.run([sys.executable, "scripts/recommend.py", "plants", "--json", f"hydra.run.dir={tmp_path}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["decision"] in ("source", "imagenet")


def test_the_readme_python_snippet_runs_as_a_plain_script_from_another_folder(main_command, tmp_path):
    """The README's Python block, as a user pastes it into a file with no `__main__` guard, run from a folder
    that is not the checkout: it ranks, and its caches are the user's cache folder, not the working folder."""
    import os

    from recommender.common.paths import user_cache_dir

    text = (ROOT / "README.md").read_text().split("From Python (a plain script", 1)[1]
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    lines = [line.split("#")[0].rstrip() for line in snippet.splitlines()]
    script = "\n".join(line for line in lines if line) + "\nprint('HEADLINE', ranking.headline)\n"
    (tmp_path / "snippet.py").write_text(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    done = subprocess.run([sys.executable, "snippet.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "HEADLINE Start from" in done.stdout
    assert not (tmp_path / ".cache").exists() and (user_cache_dir() / "features").is_dir()
