"""Few-shot classification on one target: logistic regression, nearest prototype and training-free DeepEMD.

    python scripts/fewshot.py target=flowers k=5
    python scripts/fewshot.py target=/data/my_leaves k=1 fewshot.classifier=[prototype,deepemd]
"""
import json

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from finetune.fewshot.compare import compare, format_table
from recommender.common.logs import say
from recommender.checks import check_config, preflight, user_errors
from recommender.common.checks import Rule, integer


@hydra.main(version_base="1.3", config_path="../conf", config_name="fewshot")
def main(cfg: DictConfig) -> None:
    with user_errors():
        check_config(cfg, (Rule("k", integer(1)), Rule("fewshot.episodes", integer(2)), Rule("fewshot.seed", integer()),
                           Rule("fewshot.max_queries_per_class", integer(1, nullable=True))),
                     required=[("target", "flowers")])
        result = compare(cfg)
        out_dir = HydraConfig.get().runtime.output_dir
        with open(f"{out_dir}/fewshot.json", "w") as fh:
            json.dump({"target": result.target, "k": result.k, "rows": result.rows(),
                       "accuracy": result.accuracy.tolist(), "classifiers": result.classifiers}, fh, indent=1)
    say(format_table(result))
    say(f"Written to {out_dir}/fewshot.json")


if __name__ == "__main__":
    preflight("fewshot")
    main()
