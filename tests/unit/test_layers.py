"""The package layers hold: import-linter's contracts in pyproject.toml (the recommender never imports finetune;
the applications never import the benchmark; data flows one way through the recommender), and the packaging
names every package of the tree."""
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_linter_contracts_are_kept():
    # import-linter's own command, run by this interpreter (no reliance on its script being on PATH)
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
    assert "Contracts: 4 kept" in done.stdout


def test_the_wheel_lists_every_package_of_the_tree():
    """pyproject.toml lists the packages (conf/ joins them as recommender.conf): a new sub-package that is not
    listed would be missing from the wheel."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    tree = {str(p.parent.relative_to(ROOT)).replace("/", ".") for root in ("recommender", "finetune")
            for p in (ROOT / root).rglob("__init__.py")}
    assert listed == tree | {"recommender.conf"}
