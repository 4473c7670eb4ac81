"""Check the ruler: does the few-shot proxy order sources as fine-tuning on the target does?

    python scripts/studies/study_ruler.py <fine-tune benchmark.json> <few-shot benchmark.json> [docs/ruler]

The first file is a `scripts/benchmark.py benchmark.ground_truth=finetune` run on a few targets; the second the
few-shot benchmark made with the *same* stage-1 networks (on this project's Intel machines,
docs/benchmark_intel/benchmark.json: the networks retrain bit for bit there). For each target:
  * Kendall tau between the two orders of the sources by mean accuracy, with a 95% bootstrap interval (episodes
    of the few-shot ruler and seeds of the fine-tune one resampled, 2,000 draws);
  * each ranking's weighted tau and top-1 regret against the fine-tune order, as the benchmark evaluated it
    (prior_score = the shipped default, computed as `recommend` does; prior_mix; logme; the prior).
Writes <stem>.md and <stem>.json.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats

RANKINGS = ("prior_score", "prior_mix", "logme", "source_prior_loto", "class_mean_emd")
DRAWS = 2000


def mean_accuracy(data: dict, target: str, blocks: str, k: str) -> tuple[list[str], np.ndarray]:
    return data["sources"][target], np.asarray(data["episodes"][target][blocks][k], float)


def agreement(finetune: np.ndarray, fewshot: np.ndarray, seed: int = 0) -> dict:
    """Kendall tau between the sources' mean accuracies under both rulers (row 0, ImageNet, left out), and its
    bootstrap interval over the rulers' own replicates."""
    tau = float(stats.kendalltau(finetune[1:].mean(axis=1), fewshot[1:].mean(axis=1)).statistic)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(DRAWS):
        f = finetune[:, rng.integers(0, finetune.shape[1], finetune.shape[1])]
        e = fewshot[:, rng.integers(0, fewshot.shape[1], fewshot.shape[1])]
        value = stats.kendalltau(f[1:].mean(axis=1), e[1:].mean(axis=1)).statistic
        draws.append(0.0 if not np.isfinite(value) else value)
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return {"kendall_tau": tau, "ci95": [float(lo), float(hi)]}


def conclusion(targets: dict) -> str:
    """What the table says, in words, from its own numbers."""
    apart = [t for t, e in targets.items() if e["discriminates"]]
    taus = {t: e["agreement"]["kendall_tau"] for t, e in targets.items()}
    seeds = min(e["seeds"] for e in targets.values())
    default = {t: e["rankings"].get("prior_score", {}).get("weighted_tau") for t, e in targets.items()}
    agree = [t for t, e in targets.items() if e["agreement"]["ci95"][0] > 0]
    verdict = ("its seed-to-seed differences are as large as the sources' differences, so it can neither confirm "
               "nor refute the few-shot order at this budget" if not apart else
               "where it did, its order is the one to compare")
    return (f"What this says: the fine-tune ruler told the sources apart on {len(apart)} of {len(targets)} targets "
            f"({', '.join(apart) or 'none'}) with {seeds} seeds: {verdict}. The two "
            "orders' Kendall τ was " + ", ".join(f"{t} {v:+.2f}" for t, v in taus.items()) + "; "
            + (f"positive beyond its interval on {', '.join(agree)}" if agree else "none is a positive agreement")
            + ". With so few seeds the bootstrap resamples very few distinct seed sets, so its intervals "
            "understate the uncertainty. Every ranking's weighted τ against this ruler (the default's: "
            + ", ".join(f"{t} {v:+.2f}" for t, v in default.items() if v is not None) + ") is therefore read as "
            "noise, not as evidence against the ranking. A decisive check needs more seeds and larger test splits: "
            "on this 2-core machine each target cost about 11 minutes per two seeds of ten starts.")


def main() -> None:
    finetune_path, fewshot_path = Path(sys.argv[1]), Path(sys.argv[2])
    stem = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(__file__).resolve().parents[2] / "docs" / "ruler"
    tuned, shot = json.loads(finetune_path.read_text()), json.loads(fewshot_path.read_text())
    blocks = str(tuned["protocol"]["top_blocks"])
    k = str(shot["protocol"]["k"])
    rows, out = [], {"finetune": str(finetune_path), "fewshot": str(fewshot_path), "targets": {}}
    for target in tuned["targets"]:
        sources, ft = mean_accuracy(tuned, target, blocks, "finetune")
        shot_sources, fs = mean_accuracy(shot, target, blocks, k)
        order = [shot_sources.index(s) for s in sources]
        fs = fs[[0, *(1 + i for i in order)]]
        entry = {"agreement": agreement(ft, fs), "seeds": int(ft.shape[1]), "episodes": int(fs.shape[1]),
                 "finetune_accuracy": dict(zip(["imagenet", *sources], ft.mean(axis=1).round(4).tolist())),
                 "any_source_beats_imagenet": tuned["targets"][target]["any_source_beats_imagenet"],
                 "discriminates": tuned["targets"][target]["discriminates"],
                 "friedman_p": tuned["targets"][target]["friedman_p"],
                 "rankings": {r: {"weighted_tau": tuned["targets"][target]["weighted_tau"].get(r),
                                  "top1_regret": tuned["targets"][target]["top1_regret"].get(r)}
                              for r in RANKINGS if r in tuned["targets"][target]["weighted_tau"]}}
        out["targets"][target] = entry
        a = entry["agreement"]
        rows.append(f"| {target} | {a['kendall_tau']:.2f} [{a['ci95'][0]:.2f}, {a['ci95'][1]:.2f}] | "
                    f"{entry['seeds']} seeds / {entry['episodes']} episodes | "
                    f"{'yes' if entry['discriminates'] else 'no'} (p = {entry['friedman_p']:.3f}) | "
                    + " | ".join(f"{entry['rankings'][r]['weighted_tau']:.2f} / {entry['rankings'][r]['top1_regret']:.2f}"
                                 if r in entry["rankings"] else "—" for r in RANKINGS) + " |")
    stem.with_suffix(".json").write_text(json.dumps(out, indent=1) + "\n")
    lines = ["# Checking the ruler: few-shot episodes against fine-tuning on the target", "",
             f"`python scripts/studies/study_ruler.py {finetune_path} {fewshot_path}`. The fine-tune ruler trains each "
             "source's stage-1 network (and the ImageNet network) on the target's train split and measures its "
             "test split, once per seed; the few-shot ruler is the benchmark's headline protocol "
             f"(top {blocks} blocks, k = {k}) on the same networks. The fine-tune run: `python scripts/benchmark.py "
             "benchmark.ground_truth=finetune benchmark.targets=[" + ",".join(tuned["targets"]) + "] "
             "finetune.seeds=[" + ",".join(map(str, tuned["protocol"]["finetune"]["seeds"])) + f"] benchmark.top_blocks=[{blocks}] "
             f"benchmark.headline.top_blocks={blocks}` (its benchmark.json and log are in {finetune_path.parent}; "
             f"{tuned['seconds'] / 60:.0f} min wall with every network cached).", "",
             "| target | Kendall τ of the two orders [95% bootstrap] | replicates | fine-tune ruler tells sources apart "
             "(Friedman) | weighted τ / top-1 regret (points) against fine-tuning: "
             + ", ".join(RANKINGS) + " |",
             "|---|---|---|---|" + "---|" * len(RANKINGS), *rows, "", conclusion(out["targets"]), ""]
    stem.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
