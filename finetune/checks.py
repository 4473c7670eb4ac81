"""The fine-tuning and benchmark rows of the configuration check (see recommender/checks.py); every allowed value
comes from the module that uses it."""
from __future__ import annotations

from finetune.active.loop import STRATEGIES as ACTIVE_STRATEGIES
from finetune.benchmark.ground_truth import GROUND_TRUTHS, few_shot
from finetune.fewshot.episodes import EPISODE_CLASSIFIERS
from finetune.transfer.model import N_BLOCKS, STRATEGIES
from finetune.transferability import REGISTRY
from recommender.common.checks import (
    Rule,
    boolean,
    choice,
    integer,
    integer_list,
    number,
    writable_folder,
)


def _score_names(value):
    if not isinstance(value, (list, tuple)) or any(v not in REGISTRY for v in value):
        return f"must be a list drawn from {', '.join(sorted(REGISTRY))}"
    return None


def _top_blocks_list(value):
    return integer_list(1)(value) or (None if all(v <= N_BLOCKS - 1 for v in value)
                                      else f"values must be at most {N_BLOCKS - 1}")


FINETUNE_RULES = (
    Rule("finetune.strategy", choice(STRATEGIES)),
    Rule("finetune.top_blocks", integer(1, N_BLOCKS - 1)),
    Rule("finetune.hidden_units", integer(0)),
    Rule("finetune.dropout", number(minimum=0, below=1)),
    Rule("finetune.weight_decay", number(minimum=0)),
    Rule("finetune.batch_size", integer(1)),
    Rule("finetune.image_size", integer(32, 1024)),
    Rule("finetune.epochs.head", integer(1)),
    Rule("finetune.epochs.finetune", integer(0)),
    Rule("finetune.patience", integer(0)),
    *(Rule(f"finetune.learning_rate.{k}", number(above=0))
      for k in ("source_head", "source_finetune", "target_head", "target_finetune")),
    *(Rule(f"finetune.augmentation.{k}", boolean) for k in ("shift", "zoom", "rotation", "flip")),
    *(Rule(f"finetune.augmentation.{k}_factor", number(above=0, maximum=1))
      for k in ("shift", "zoom", "rotation")),
    Rule("finetune.seeds", integer_list(0)),
    Rule("finetune.min_images_per_class", integer(3)),
    Rule("finetune.checkpoint_dir", writable_folder),
)

BENCHMARK_RULES = (
    Rule("benchmark.targets", lambda v: None if v == "all" or (isinstance(v, list) and v and all(
        isinstance(x, str) and x for x in v)) else "must be `all` or a non-empty list of names or folder paths"),
    Rule("benchmark.sources", lambda v: None if v == "all" or (isinstance(v, list) and len(v) >= 2 and all(
        isinstance(x, str) and x for x in v)) else "must be `all` or a list of at least two names or folder paths"),
    Rule("benchmark.ground_truth", choice(GROUND_TRUTHS)),
    Rule("benchmark.fewshot.k", integer_list(1)),
    Rule("benchmark.fewshot.episodes", integer(2)),
    Rule("benchmark.fewshot.seed", integer()),
    Rule("benchmark.fewshot.c", number(above=0)),
    Rule("benchmark.fewshot.classifier", choice(EPISODE_CLASSIFIERS)),
    Rule("benchmark.top_blocks", _top_blocks_list),
    Rule("benchmark.headline.top_blocks", integer(1, N_BLOCKS - 1)),
    Rule("benchmark.headline.k", integer(1)),
    Rule("benchmark.stage1_seed", integer()),
    Rule("benchmark.scores", _score_names),
    Rule("benchmark.bootstrap", integer(0)),
    Rule("benchmark.seed", integer()),
    Rule("benchmark.jobs", integer(1, 64)),
)


def headline_is_measured(cfg) -> str | None:
    """The headline protocol must be one of the protocols the benchmark measures."""
    b = cfg.benchmark
    if int(b.headline.top_blocks) not in [int(x) for x in b.top_blocks]:
        return (f"benchmark.headline.top_blocks={b.headline.top_blocks} is not in benchmark.top_blocks="
                f"{list(b.top_blocks)}; add it there or choose one of those.")
    if few_shot(b) and int(b.headline.k) not in [int(x) for x in b.fewshot.k]:
        return (f"benchmark.headline.k={b.headline.k} is not in benchmark.fewshot.k={list(b.fewshot.k)}; "
                "add it there or choose one of those.")
    return None


ACTIVE_LEARNING_RULES = (
    Rule("rare_fraction", number(above=0, maximum=0.5)),
    Rule("test_fraction", number(above=0, below=1)),
    Rule("initial_positives", integer(1)),
    Rule("initial_negatives", integer(1)),
    Rule("initial_from_first_kind", lambda v: None if isinstance(v, bool) else "must be true or false"),
    Rule("batch", integer(1)),
    Rule("rounds", integer(1)),
    Rule("strategy", choice((*ACTIVE_STRATEGIES, "all"))),
    Rule("proportional_random_share", number(minimum=0, maximum=1)),
    Rule("n_seeds", integer(2)),
    Rule("c", number(above=0)),
)
