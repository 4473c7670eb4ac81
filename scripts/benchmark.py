"""The transfer benchmark: which score predicts the best source? Leave-one-dataset-out over the catalog.

    python scripts/benchmark.py                                   # every catalog dataset as the target
    python scripts/benchmark.py benchmark.targets=[plants,/data/my_leaves]
    python scripts/benchmark.py benchmark.targets=[/data/new] benchmark.sources=[flowers,animals,cifar10]
"""
import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from finetune.benchmark.run import run_benchmark
from finetune.benchmark.report import console_summary, write_benchmark
from finetune.checks import BENCHMARK_RULES, FINETUNE_RULES, headline_is_measured
from recommender.common.logs import say
from recommender.checks import check_config, user_errors, preflight


@hydra.main(version_base="1.3", config_path="../conf", config_name="benchmark")
def main(cfg: DictConfig) -> None:
    with user_errors():
        check_config(cfg, (*FINETUNE_RULES, *BENCHMARK_RULES), cross_checks=[headline_is_measured])
        result = run_benchmark(cfg)
        out_dir = HydraConfig.get().runtime.output_dir
        write_benchmark(result, out_dir)
    say(console_summary(result))
    say(f"Reports written to {out_dir}")


if __name__ == "__main__":
    preflight("benchmark")
    main()
