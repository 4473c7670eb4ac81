"""Learn a retrieval embedding on one dataset (triplet or cross-entropy head on the cached features), and
compare its descriptor quality with the raw features on the test split.

    python scripts/metric_learn.py target=flowers loss=triplet
    python scripts/retrieve.py query=/path/to/rose.jpg datasets=[flowers] embedding=outputs/metric_learn/<run>/head.keras
"""
import json

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from finetune.metric.run import learn_embedding
from recommender.common.logs import say
from recommender.checks import check_config, preflight, user_errors
from recommender.common.checks import Rule, choice, integer, number


@hydra.main(version_base="1.3", config_path="../conf", config_name="metric_learn")
def main(cfg: DictConfig) -> None:
    with user_errors():
        check_config(cfg, (Rule("loss", choice(("triplet", "crossentropy"))), Rule("metric.dim", integer(2)),
                           Rule("metric.margin", number(above=0)), Rule("metric.epochs", integer(1)),
                           Rule("metric.batch_size", integer(4)), Rule("metric.learning_rate", number(above=0))),
                     required=[("target", "flowers")])
        out_dir = HydraConfig.get().runtime.output_dir
        result = learn_embedding(cfg, out_dir)
    say(json.dumps({k: v for k, v in result.items() if k != "config"}, indent=1))
    say(f"Head and report written to {out_dir}")


if __name__ == "__main__":
    preflight("metric_learn")
    main()
