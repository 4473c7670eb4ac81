"""Rank candidate pretraining sources for a target dataset.

    python scripts/recommend.py target=plants
    python scripts/recommend.py target=/data/my_images sources=[flowers,animals]
    python scripts/recommend.py -m target=plants,flowers,animals
    python scripts/recommend.py target=plants distance=prior_score  # trains every source once (a minute each)
    python scripts/recommend.py target=plants distance=logme      # trains every source first (minutes each)
"""
import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from recommender import recommend
from recommender.logs import say
from recommender.checks import check_config, user_errors, preflight
from recommender.report import format_table, write_reports


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    with user_errors():
        check_config(cfg, required=[("target", "plants")])
        ranking = recommend(cfg=cfg)
        out_dir = HydraConfig.get().runtime.output_dir
        write_reports(ranking, out_dir, cfg.report)
    say(format_table(ranking))
    say(f"Reports written to {out_dir}")


if __name__ == "__main__":
    preflight("config")
    main()
