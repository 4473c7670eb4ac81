"""The benchmark's ground truths: what "the source that transfers best" is measured by.

    fewshot   paired few-shot episodes on the adapted features (benchmark.fewshot: k shots, episodes, seed):
              one protocol per k, accuracies per episode
    finetune  stage-2 fine-tuning of each source's network on the target over finetune.seeds: one protocol,
              accuracies per seed

A `Protocol` names one measurement: the stage-1 protocol (top blocks trained on the source) and the ground truth
(k shots, or fine-tuning). Every part of the benchmark asks it, instead of comparing strings; its `key` ("20",
"finetune") and `label` ("top4/k20") are how files spell it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from omegaconf import DictConfig

FINETUNE = "finetune"  # the key of the fine-tuning ground truth in files
GROUND_TRUTHS = ("fewshot", FINETUNE)  # benchmark.ground_truth


@dataclass(frozen=True)
class Protocol:
    """One ground-truth measurement: `top_blocks` top blocks trained on the source (stage 1), then `k`-shot
    episodes, or stage-2 fine-tuning when `k` is None."""

    top_blocks: int
    k: int | None = None

    @property
    def is_finetune(self) -> bool:
        return self.k is None

    @property
    def key(self) -> str:
        """How files key it under its top blocks: the k ("20"), or "finetune"."""
        return FINETUNE if self.k is None else str(self.k)

    @property
    def label(self) -> str:
        """Its name in reports and files: top<blocks>/k<k>, or top<blocks>/finetune."""
        return f"top{self.top_blocks}/{self.key if self.k is None else f'k{self.k}'}"

    @classmethod
    def of(cls, top_blocks, key) -> Protocol:
        """The protocol a file's (top blocks, key) pair names."""
        return cls(int(top_blocks), None if str(key) == FINETUNE else int(key))

    @classmethod
    def parse(cls, label: str) -> Protocol:
        """The protocol a label names ("top4/k20", "top4/finetune"); ValueError for anything else."""
        found = re.fullmatch(r"top([0-9]+)/(?:k([0-9]+)|finetune)", str(label))
        if not found:
            raise ValueError(f"{label!r} is not a protocol label (top<blocks>/k<shots> or top<blocks>/finetune)")
        return cls(int(found[1]), None if found[2] is None else int(found[2]))


def few_shot(bench) -> bool:
    """Whether a benchmark configuration (DictConfig or plain dict) measures few-shot episodes, not fine-tuning."""
    return bench["ground_truth"] != FINETUNE


def protocols(bench: DictConfig, top_blocks=None) -> list[Protocol]:
    """The protocols a configuration measures (under `top_blocks` only, when given), in its order."""
    blocks = [int(b) for b in bench.top_blocks] if top_blocks is None else [int(top_blocks)]
    if few_shot(bench):
        return [Protocol(b, int(k)) for b in blocks for k in bench.fewshot.k]
    return [Protocol(b) for b in blocks]


def headline(bench: DictConfig) -> Protocol:
    """The protocol the headline numbers come from: the headline top blocks, with its k or fine-tuning."""
    return Protocol(int(bench.headline.top_blocks), int(bench.headline.k) if few_shot(bench) else None)
