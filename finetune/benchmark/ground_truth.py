"""The benchmark's ground truths: what "the source that transfers best" is measured by.

    fewshot   paired few-shot episodes on the adapted features (benchmark.fewshot: k shots, episodes, seed):
              one protocol key per k ("5", "20"), accuracies (1 + sources, episodes)
    finetune  stage-2 fine-tuning of each source's network on the target over finetune.seeds: one protocol key,
              FINETUNE, accuracies (1 + sources, seeds)

Every part of the benchmark asks this module which protocol keys a configuration measures and whether a key is
fine-tuning, instead of comparing strings.
"""
from __future__ import annotations

from omegaconf import DictConfig

FINETUNE = "finetune"  # the protocol key of the fine-tuning ground truth
GROUND_TRUTHS = ("fewshot", FINETUNE)  # benchmark.ground_truth


def is_finetune(key) -> bool:
    """Whether a protocol key is the fine-tuning ground truth (not a few-shot k)."""
    return str(key) == FINETUNE


def protocol_keys(bench: DictConfig) -> list[str]:
    """The protocol keys one stage-1 protocol (top blocks) is measured under."""
    return [str(k) for k in bench.fewshot.k] if bench.ground_truth == "fewshot" else [FINETUNE]


def headline_key(bench: DictConfig) -> str:
    """The protocol key the headline numbers come from: the headline k, or fine-tuning."""
    return str(bench.headline.k) if bench.ground_truth == "fewshot" else FINETUNE


def few_shot_keys(keys) -> list[str]:
    """The keys among `keys` that are few-shot episode counts."""
    return [k for k in keys if not is_finetune(k)]
