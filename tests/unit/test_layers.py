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


def test_the_readme_layout_names_every_package_and_script_folder():
    """The README's layout block names each sub-package of recommender/ and finetune/ and each folder of scripts/,
    and every folder it names exists."""
    import re

    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    named = set(re.findall(r"([a-z0-9_]+)/", block))
    tree = {p.parent.name for root in ("recommender", "finetune") for p in (ROOT / root).rglob("__init__.py")}
    tree |= {p.name for p in (ROOT / "scripts").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert tree <= named, f"missing from the README's layout: {sorted(tree - named)}"
    folders = {p.name for p in ROOT.rglob("*") if p.is_dir() and ".git" not in p.parts}
    assert named <= folders, f"the README's layout names folders that do not exist: {sorted(named - folders)}"


def test_recommender_has_no_import_cycle_beyond_the_declared_ones():
    """Module pairs of recommender/ that import each other, directly or through others (grimp). One is declared
    and held by a function-local import: a Ranking renders and writes its own report (ranking <-> explain).
    Anything else is a new circle."""
    import grimp

    graph = grimp.build_graph("recommender")
    found = set()
    for a in graph.modules:
        for b in graph.find_modules_directly_imported_by(a):
            if graph.chain_exists(importer=b, imported=a):
                found.add(tuple(sorted((a, b))))
    declared_groups = ({"recommender.ranking", "recommender.explain.report", "recommender.explain.figures",
                        "recommender.explain.built_source"},
                       {"recommender.features.beam", "recommender.features.extractor"})
    unexpected = [pair for pair in found if not any(set(pair) <= group for group in declared_groups)]
    assert not unexpected, sorted(unexpected)
