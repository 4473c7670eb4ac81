"""How many episodes the few-shot probe needs: its noise, its cost, and the gain model judged with each.

    python scripts/studies/study_probe_episodes.py [docs/benchmark/benchmark.json [docs/probe_episodes]]

For every catalog target of the benchmark (headline protocol) and every network on it (the ImageNet network and
each shipped source network, from the benchmark's cached features: run `scripts/benchmark.py` first), the probe's
episode accuracies are computed once for the largest episode count; the probe with E episodes is the mean of the
first E (`finetune.transferability.probe.probe_accuracies`: episode e's support set does not depend on E). For
each E it reports: the probe difference (source - ImageNet, points) against the measured gain with no fitting at
all (mean absolute difference, Pearson r), the episodes' own standard error of that difference, the seconds per
network, and the gain model's nested leave-one-target-out figures (`recommender.rankers.gain.nested_loto`, the
same function `study_gain.py` runs) with the probe at E episodes in place of the shipped probe. Writes
<out>/probe_episodes.md and .json (default docs/gain).
"""
from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_gain import SCORES, measured, summarise  # noqa: E402

from recommender.rankers.gain import Catalog, nested_loto  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EPISODES = (20, 50, 100)


def episode_table(targets: list[str], top_blocks: int) -> dict:
    """target -> {"imagenet": [acc per episode], source: [...], "seconds": {network: s}} at max(EPISODES)."""
    from threadpoolctl import threadpool_limits

    from finetune.benchmark.measure import protocol_config
    from finetune.benchmark.run import plan
    from finetune.transfer.adapted import adapted_split, imagenet_split
    from finetune.transfer.stages import train_source
    from finetune.transferability.probe import probe_accuracies
    from recommender import load_config, open_dataset

    cfg = load_config(config_name="benchmark")
    cfg_b = protocol_config(cfg, top_blocks)
    out = {}
    for target_ref, source_refs in plan(cfg):
        target = open_dataset(target_ref, cfg)
        if target.name not in targets:
            continue
        networks = {"imagenet": imagenet_split(target, cfg_b, ("train", "val"))}
        for ref in source_refs:
            checkpoint = train_source(ref, cfg_b, int(cfg.benchmark.stage1_seed))  # shipped: read, not trained
            networks[open_dataset(ref, cfg).name] = adapted_split(checkpoint, target, cfg_b, ("train", "val"))
        row, seconds = {}, {}
        for name, split in networks.items():
            start = time.perf_counter()
            with threadpool_limits(limits=1, user_api="blas"):  # what one benchmark worker gets
                row[name] = probe_accuracies(split.features, split.labels, episodes=max(EPISODES)).tolist()
            seconds[name] = time.perf_counter() - start
        out[target.name] = {"accuracies": row, "seconds": seconds}
        print(f"{target.name}: {np.mean(list(seconds.values())):.2f} s per network", file=sys.stderr)
    return out


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else ROOT / "docs" / "benchmark" / "benchmark.json"
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "gain"
    gains, halves, scores, head = measured(source)
    top_blocks = int(json.loads(source.read_text())["protocol"]["top_blocks"])
    table = episode_table(list(gains), top_blocks)
    other = [n for n in SCORES if n != "fewshot_probe"]
    from study_gain import imagenet_reference
    reference = imagenet_reference(list(gains))
    results = {}
    for e in EPISODES:
        raw, se, per_network = [], [], []
        relative = {}
        for t, per in scores.items():
            acc = {n: np.asarray(a[:e]) for n, a in table[t]["accuracies"].items()}
            relative[t] = {}
            for s in per:
                diff = acc[s] - acc["imagenet"]
                raw.append((100 * diff.mean(), gains[t][s]))
                se.append(100 * diff.std(ddof=1) / np.sqrt(e))
                relative[t][s] = {**{n: per[s][n] - reference[t][n] for n in other},
                                  "fewshot_probe": float(diff.mean())}
            per_network.extend(v * e / max(EPISODES) for v in table[t]["seconds"].values())
        raw = np.array(raw)
        catalog = Catalog(gains, relative, halves)
        summary = summarise(nested_loto(catalog, 0.9), catalog, halves)
        results[e] = {"mean_abs_difference": float(np.mean(np.abs(raw[:, 0] - raw[:, 1]))),
                      "pearson": float(np.corrcoef(raw[:, 0], raw[:, 1])[0, 1]),
                      "episode_se": float(np.mean(se)),
                      "seconds_per_network": float(np.mean(per_network)),
                      "gain_model": summary}
    out.mkdir(parents=True, exist_ok=True)
    (out / "probe_episodes.json").write_text(json.dumps({"source": str(source), "protocol": head,
                                                         "episodes": results, "table": table}, indent=1))
    shipped = EPISODES[0]
    lines = [
        "# How many episodes the few-shot probe needs", "",
        f"`python scripts/studies/study_probe_episodes.py` on `{source.relative_to(ROOT) if ROOT in source.parents else source}` "
        f"(headline protocol {head}), {date.today()}. For every catalog target and every network on it (ImageNet and "
        "the nine shipped source networks), the probe's episodes were run once at the largest count; the probe with "
        "E episodes is the mean of the first E (the support sets do not depend on E). *Raw*: 100 × (source probe − "
        "ImageNet probe) read directly as the gain in points, no fitting. *Gain model*: the whole nested "
        "leave-one-target-out of `study_gain.py` with the probe at E episodes (features, rule, coefficients and "
        f"interval chosen per fold on the other nine targets). The shipped probe runs E = {shipped}. Seconds: one "
        "network's probe with one BLAS thread (what a benchmark worker gets), mean over the 100 networks.", "",
        "| E | raw: mean abs. difference to the measured gain | raw: Pearson r | episodes' SE of the difference "
        "| gain model: decision regret | coverage | weighted τ | mean abs. error | half-width | seconds per network |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for e, r in results.items():
        g = r["gain_model"]["catalog"]
        lines.append(f"| {e} | {r['mean_abs_difference']:.2f} | {r['pearson']:.3f} | {r['episode_se']:.2f} | "
                     f"{g['mean_decision_regret']:.2f} ± {g['decision_regret_ci95_half']:.2f} | {g['coverage']:.0%} | "
                     f"{g['mean_weighted_tau']:.2f} ± {g['weighted_tau_ci95_half']:.2f} | {g['mean_abs_error']:.2f} | "
                     f"{g['mean_half_width']:.2f} | {r['seconds_per_network']:.2f} |")
    (out / "probe_episodes.md").write_text("\n".join(lines) + "\n")
    print((out / "probe_episodes.md").read_text())


if __name__ == "__main__":
    main(sys.argv[1:])
