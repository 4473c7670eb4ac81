"""Re-evaluate a committed benchmark's headline stage-1 protocol from its own measurements, with today's code.

    python scripts/studies/reevaluate_benchmark.py docs/benchmark/benchmark.json /tmp/reevaluated.json

benchmark.json keeps every target's paired episode accuracies (every protocol) and every score of every source
under the headline's stage-1 protocol. This rebuilds the TargetRuns from them (dropping the rows the evaluation
derives: the prior, the mixes, the shipped default), runs `finetune.benchmark.evaluate.evaluate` for each k of the
headline's stage-1 protocol as `scripts/benchmark.py` does, and writes, in benchmark.json's layout, the parts it
recomputed ("summary", "excluded_targets", "targets" and "protocols" for those k), for
`scripts/studies/compare_numbers.py`. The stage-1 networks and the episodes are not rerun: on another processor they
would retrain differently (docs/benchmark.md, "Reproducibility across machines"); this checks everything after them.
"""
from __future__ import annotations

import json
import sys

import numpy as np

from finetune.benchmark.evaluate import evaluate
from finetune.benchmark.measure import mix_candidates
from finetune.benchmark.mix import DEFAULT, MIX, PRIOR, SHIPPED_PRIOR_SCORE, with_shipped_default
from finetune.benchmark.ground_truth import Protocol
from finetune.benchmark.results import Accuracies, TargetRun
from recommender import load_config
from recommender.evidence import load_evidence

DERIVED = (PRIOR, MIX, DEFAULT, SHIPPED_PRIOR_SCORE)
KEPT = ("accuracy", "ci95", "gain_over_imagenet", "gain_ci95", "discriminates", "friedman_p", "spread_points",
        "weighted_tau")


def runs_of(bench: dict, top_blocks: int) -> list[TargetRun]:
    runs = []
    for target, measured in bench["targets"].items():
        sources = list(bench["sources"][target])
        scores = {name: np.array([by_source[s] for s in sources], float)
                  for name, by_source in measured["scores"].items() if name not in DERIVED}
        accuracy = {Protocol.of(b, k): Accuracies.from_rows(a) for b, ks in bench["episodes"][target].items()
                    for k, a in ks.items()}
        runs.append(TargetRun(target, sources, accuracy, {top_blocks: scores}))
    return runs


def main(argv: list[str]) -> None:
    bench = json.load(open(argv[0]))
    cfg = load_config(config_name="benchmark")
    top_blocks = int(bench["protocol"]["top_blocks"])
    runs = with_shipped_default(runs_of(bench, top_blocks), top_blocks, load_evidence(cfg.benchmark.get("evidence")))
    out = {"protocols": {}}
    for k in bench["episodes"][next(iter(bench["episodes"]))][str(top_blocks)]:
        protocol = Protocol.of(top_blocks, k)
        result = evaluate(runs, protocol, int(cfg.benchmark.bootstrap), int(cfg.benchmark.seed),
                          candidates=mix_candidates(cfg))
        label = protocol.label
        out["protocols"][label] = {"summary": result["summary"], "excluded_targets": result["excluded_targets"],
                                   "targets": {t: {key: v[key] for key in KEPT} for t, v in result["targets"].items()}}
        if label == bench["protocol"]["headline"]:
            out.update(targets=result["targets"], summary=result["summary"],
                       excluded_targets=result["excluded_targets"])
    with open(argv[1], "w") as f:
        json.dump(out, f, indent=1, default=float)
    print(f"re-evaluated {list(out['protocols'])} of {argv[0]} -> {argv[1]}")


if __name__ == "__main__":
    main(sys.argv[1:])
