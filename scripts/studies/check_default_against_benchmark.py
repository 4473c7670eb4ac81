"""Does `recommend`'s default, with the networks it trains itself, rank every catalog target exactly as the
benchmark scores the shipped default?

    python scripts/studies/check_default_against_benchmark.py [docs/benchmark_intel/benchmark.json]

For each catalog target: `recommend(target)` under the default (prior_score; its networks trained on first use
and cached), against the benchmark's own path (`finetune.benchmark.with_shipped_default`) applied to the LogME
values the benchmark measured. Compare on the machine kind the benchmark was made on: stage-1 training is not
bit-reproducible across processors (docs/benchmark.md), so use docs/benchmark_intel/benchmark.json on Intel.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from finetune.benchmark.mix import shipped_prior_score_of
from recommender import load_config, recommend
from recommender.evidence import load_evidence

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "benchmark_intel" / "benchmark.json"
    bench = json.loads(path.read_text())
    evidence = load_evidence(None)
    logme = {t: bench["targets"][t]["scores"]["logme"] for t in bench["targets"]}
    expected = shipped_prior_score_of(bench, evidence)
    worst_logme = worst_score = 0.0
    same = 0
    for target in bench["targets"]:
        ranking = recommend(cfg=load_config([f"target={target}", "report.explain=false"]))
        got = {s.name: s for s in ranking.sources}
        worst_logme = max(worst_logme, *(abs(got[s].parts["logme"] - logme[target][s]) for s in got))
        worst_score = max(worst_score, *(abs(got[s].score - expected[target][s]) for s in got))
        same += [s.name for s in ranking.sources] == sorted(expected[target], key=lambda s: -expected[target][s])
    print(f"{path}: {len(bench['targets'])} targets, the same order on {same}; largest difference in LogME "
          f"{worst_logme:.1e}, in the combined score {worst_score:.1e}")


if __name__ == "__main__":
    main()
