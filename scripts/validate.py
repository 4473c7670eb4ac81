"""Fine-tune from every candidate source (and ImageNet) and score the distance ranking against target accuracy.

    python scripts/validate.py target=plants
    python scripts/validate.py -m target=plants,flowers,animals   # then: python scripts/summarize_validation.py multirun/validate/<date>
"""
import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from finetune.checks import FINETUNE_RULES
from finetune.transfer.validation_report import markdown, write_validation
from finetune.transfer.validate import validate
from recommender.common.logs import say
from recommender.checks import check_config, user_errors, preflight


@hydra.main(version_base="1.3", config_path="../conf", config_name="validate")
def main(cfg: DictConfig) -> None:
    with user_errors():
        check_config(cfg, FINETUNE_RULES, required=[("target", "plants")])
        result = validate(cfg)
        out_dir = HydraConfig.get().runtime.output_dir
        write_validation(result, out_dir)
    say(markdown(result))
    say(f"Reports written to {out_dir}")


if __name__ == "__main__":
    preflight("validate")
    main()
