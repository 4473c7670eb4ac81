"""Train a target model from the recommended (or a forced) pretraining source.

    python scripts/train.py target=plants                 # source=auto: the verdict (a source, or ImageNet)
    python scripts/train.py target=plants source=flowers  # force a source
    python scripts/train.py target=plants source=imagenet # no source: ImageNet weights only
"""
import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from finetune.checks import FINETUNE_RULES
from finetune.transfer.select import train_from_source
from recommender.common.logs import say
from recommender.checks import check_config, user_errors, preflight


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> None:
    out_dir = HydraConfig.get().runtime.output_dir
    with user_errors():
        check_config(cfg, FINETUNE_RULES, required=[("target", "plants"), ("source", "auto")])
        metrics = train_from_source(cfg, out_dir)
    reason = metrics["reason"]
    measured = "" if reason["distance"] is None else \
        f"; distance {reason['distance']:.3f}, similarity {reason['similarity']:.4f}"
    say(f"Source: {reason['source']} ({reason['how']}{measured})")
    say(f"Target {metrics['target']}: test accuracy {metrics['accuracy']:.3f} on {metrics['n_test']} images")
    for name, acc in metrics["per_class_accuracy"].items():
        say(f"  {name}: {acc:.3f}")
    say(f"Model and metrics written to {out_dir}")


if __name__ == "__main__":
    preflight("train")
    main()
