"""The console command `recommend-source` (installed by pip, see [project.scripts] in pyproject.toml).

`python scripts/recommend.py ...` in a checkout runs this same function; the configuration comes from the
packaged conf/ either way, so an installed wheel needs no checkout.
"""
import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from recommender import recommend as rank_sources
from recommender.checks import check_config, preflight, user_errors
from recommender.common.logs import say
from recommender.explain.report import format_table, write_reports


@hydra.main(version_base="1.3", config_path="pkg://recommender.conf", config_name="config")
def _recommend(cfg: DictConfig) -> None:
    with user_errors():
        check_config(cfg, required=[("target", "plants")])
        ranking = rank_sources(cfg=cfg)
        out_dir = HydraConfig.get().runtime.output_dir
        write_reports(ranking, out_dir, cfg.report)
    say(format_table(ranking))
    say(f"Reports written to {out_dir}")


def main() -> None:
    """Rank candidate pretraining sources for a target dataset: `recommend-source target=plants`."""
    preflight("config")
    _recommend()
