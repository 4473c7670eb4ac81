"""The console command `recommend-source` (installed by pip, see [project.scripts] in pyproject.toml).

`python scripts/recommend.py ...` in a checkout runs this same function; the configuration comes from the
packaged conf/ either way, so an installed wheel needs no checkout.

Results go to stdout (the verdict, the table, the next command; with --json the ranking.json document alone),
progress and logs to stderr, and both to the run's recommend.log.

    recommend-source plants                      # a positional target: a catalog name or an image folder
    recommend-source ./my_images --json | jq .decision
    recommend-source plants --quiet              # the result only
    recommend-source --list                      # the catalog: each dataset's size and what it is
    recommend-source --version
"""
from __future__ import annotations

import sys

# Flags this command reads itself; everything else is Hydra's (key=value overrides, --help, -m, ...).
OWN_FLAGS = ("--json", "--quiet", "-q", "--version", "--list")


def split_argv(argv: list[str]) -> tuple[set[str], list[str]]:
    """(this command's own flags, the arguments left for Hydra), with a positional target (`plants`,
    `./my_images`) and `--target X` / `--target=X` turned into `target=X`."""
    flags, rest = set(), []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in OWN_FLAGS:
            flags.add({"-q": "--quiet"}.get(arg, arg))
        elif arg == "--target" and args:
            rest.append(f"target={args.pop(0)}")
        elif arg.startswith("--target="):
            rest.append("target=" + arg.split("=", 1)[1])
        elif not arg.startswith("-") and "=" not in arg and not any(r.startswith("target=") for r in rest):
            rest.append(f"target={arg}")
        else:
            rest.append(arg)
    return flags, rest


def version() -> str:
    """The installed package's version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("pretrain-recommender")
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def catalog_listing() -> str:
    """Each catalog dataset with its image and class counts and what it is (from its conf/dataset YAML)."""
    from recommender import load_config, open_dataset
    from recommender.common.paths import CONF_DIR
    from recommender.data.datasets import DatasetError

    cfg = load_config(["target=plants"])
    lines = [f"{'name':<13} {'images':>7} {'classes':>7}  what it is"]
    for name, entry in cfg.catalog.items():
        about = ""
        path = CONF_DIR / "dataset" / f"{name}.yaml"
        if path.is_file():
            first = path.read_text().splitlines()[0]
            about = first.lstrip("# ").strip() if first.startswith("#") else ""
        try:
            images = open_dataset(str(name), cfg)
            counts = f"{len(images.labels):>7} {len(images.class_names):>7}"
        except DatasetError:
            counts = f"{'—':>7} {'—':>7}"
            about = (about + " (not on this machine)").strip()
        pool = " [pool: a source to build from, not ranked whole]" if entry.get("pool") else ""
        lines.append(f"{name:<13} {counts}  {about}{pool}")
    return "\n".join(lines)


def _quiet_console() -> None:
    import logging

    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) is sys.stderr:
            handler.setLevel(logging.WARNING)


def _run(flags: set[str]) -> None:
    from pathlib import Path

    import hydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import DictConfig, OmegaConf

    from recommender import recommend as rank_sources
    from recommender.checks import check_config, remove_failed_run, user_errors
    from recommender.common.logs import say
    from recommender.explain.report import format_table, write_reports

    @hydra.main(version_base="1.3", config_path="pkg://recommender.conf", config_name="config")
    def _recommend(cfg: DictConfig) -> None:
        out_dir = HydraConfig.get().runtime.output_dir
        if "--quiet" in flags or "--json" in flags:
            _quiet_console()
            cfg = OmegaConf.merge(cfg, {"features": {"progress": False}})
        with user_errors(cleanup=lambda: remove_failed_run(out_dir)):
            check_config(cfg, required=[("target", "plants")])
            ranking = rank_sources(cfg=cfg)
            write_reports(ranking, out_dir, cfg.report)
        if "--json" in flags:
            print(Path(out_dir, "ranking.json").read_text())  # the very document the run folder keeps
            return
        say(format_table(ranking))
        say(f"Reports written to {out_dir}")

    _recommend()


def main() -> None:
    """Rank candidate pretraining sources for a target dataset: `recommend-source plants`."""
    flags, rest = split_argv(sys.argv[1:])
    if "--version" in flags:
        print(f"recommend-source {version()}")
        return
    if "--list" in flags:
        print(catalog_listing())
        return
    sys.argv = [sys.argv[0], *rest]
    from recommender.checks import preflight

    preflight("config")
    _run(flags)
