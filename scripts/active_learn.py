"""Find a rare class with few labels: a simulated active-learning campaign on a labelled target.

    python scripts/active_learn.py target=flowers rare_class=tulips
    python scripts/active_learn.py target=cifar10 rare_class=[cat,truck] initial_from_first_kind=true
    python scripts/active_learn.py target=/data/my_photos rare_class=insect source=imagenet strategy=top_score
"""
import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from finetune.active.loop import run_active_learning
from finetune.active.report import console_summary, write_active_learning
from finetune.checks import ACTIVE_LEARNING_RULES, FINETUNE_RULES
from recommender.common.logs import say
from recommender.checks import check_config, user_errors, preflight


@hydra.main(version_base="1.3", config_path="../conf", config_name="active_learn")
def main(cfg: DictConfig) -> None:
    with user_errors():
        check_config(cfg, (*FINETUNE_RULES, *ACTIVE_LEARNING_RULES),
                     required=[("target", "flowers"), ("rare_class", "tulips")])
        result = run_active_learning(cfg)
        out_dir = HydraConfig.get().runtime.output_dir
        write_active_learning(result, out_dir)
    say(console_summary(result))
    say(f"Reports written to {out_dir}")


if __name__ == "__main__":
    preflight("active_learn")
    main()
