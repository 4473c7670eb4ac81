"""Two benchmark runs side by side: what changed between them, score by score (a reproducibility check).

    python scripts/studies/compare_benchmarks.py docs/benchmark/benchmark.json docs/benchmark_intel/benchmark.json

Prints whether the ImageNet network's episode accuracies agree exactly (inference only), how far the stage-1
networks' own test accuracies moved, and every score's headline mean weighted tau and top-1 regret in both runs.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: python scripts/studies/compare_benchmarks.py <first benchmark.json> <second benchmark.json>")
    a, b = (json.loads(Path(p).read_text()) for p in sys.argv[1:3])
    head = a["protocol"]["headline"]
    blocks, k = head.removeprefix("top").split("/k")
    imagenet_same = all(np.array_equal(np.asarray(a["episodes"][t][blocks][k])[0], np.asarray(b["episodes"][t][blocks][k])[0])
                        for t in a["episodes"])
    moved = {s: b["stage1_accuracy"][s] - a["stage1_accuracy"][s] for s in a["stage1_accuracy"]}
    print(f"Headline protocol {head}. ImageNet network's episode accuracies identical on every target: "
          f"{imagenet_same}. Stage-1 networks' own test accuracy, second minus first: "
          + ", ".join(f"{s} {100 * d:+.1f}" for s, d in moved.items()) + " points.\n")
    print("| score | first: weighted τ | second: weighted τ | difference | first: regret | second: regret |")
    print("|---|---|---|---|---|---|")
    for name in sorted(a["summary"], key=lambda n: -np.nan_to_num(a["summary"][n]["mean_weighted_tau"], nan=-9)):
        x, y = a["summary"][name], b["summary"].get(name)
        if y is None:
            continue
        print(f"| {name} | {x['mean_weighted_tau']:.2f} | {y['mean_weighted_tau']:.2f} | "
              f"{y['mean_weighted_tau'] - x['mean_weighted_tau']:+.2f} | {x['mean_top1_regret']:.2f} | "
              f"{y['mean_top1_regret']:.2f} |")


if __name__ == "__main__":
    main()
