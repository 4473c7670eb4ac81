"""Fine-tune from every candidate source (and ImageNet) and score the EMD ranking against target accuracy.

    python scripts/validate.py target=plants
    python scripts/validate.py -m target=plants,flowers,animals   # then: python scripts/summarize_validation.py multirun/validate/<date>
"""
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from finetune.report import markdown, write_validation
from finetune.validate import validate
from recommender.errors import RecommenderError


@hydra.main(version_base="1.3", config_path="../conf", config_name="validate")
def main(cfg: DictConfig) -> None:
    try:
        result = validate(cfg)
    except RecommenderError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    out_dir = HydraConfig.get().runtime.output_dir
    write_validation(result, out_dir)
    print(markdown(result))
    print(f"Reports written to {out_dir}")


if __name__ == "__main__":
    main()
