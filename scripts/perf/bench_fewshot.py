"""Few-shot classifiers on every catalog target at 1 and 5 shots; writes its section of docs/benchmarks.md.

    python scripts/perf/bench_fewshot.py [episodes] [queries_per_class]
"""
from __future__ import annotations

import json
import sys

from benchlib import ROOT, machine_facts, write_section  # noqa: E402

from finetune.fewshot.compare import compare  # noqa: E402
from recommender import load_config  # noqa: E402
from recommender.data.datasets import catalog_sources  # noqa: E402


def main() -> None:
    episodes = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    queries = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    results = []
    for target in catalog_sources(load_config(["target=plants"]).catalog):  # the catalog, not its pools
        for k in (1, 5):
            cfg = load_config([f"target={target}", f"k={k}", f"fewshot.episodes={episodes}",
                               f"fewshot.max_queries_per_class={queries}", "features.progress=false"],
                              config_name="fewshot")
            r = compare(cfg)
            results.append({"target": r.target, "k": k, "rows": r.rows()})
            print(r.target, k, [(x["classifier"], round(x["accuracy"], 3)) for x in r.rows()], flush=True)
    (ROOT / "docs" / "fewshot.json").write_text(json.dumps(results, indent=1))
    lines = [f"## Few-shot classifiers (`python scripts/perf/bench_fewshot.py {episodes} {queries}`)", "",
             f"Machine: {machine_facts()}.", "",
             f"Frozen ImageNet MobileNetV2 (alpha 0.5, 160 px; DeepEMD on its 5 x 5 x 1280 last-conv maps), "
             f"{episodes} paired episodes per target and k (the benchmark's episodes: k labelled images per class "
             f"from the train+val pool), scored on the same seeded {queries} test images per class for every "
             "classifier. Accuracy ± 95% interval over episodes; the difference to `prototype` is paired.", "",
             "| target | k | logistic | prototype | deepemd | deepemd − prototype, points | deepemd_cloud − "
             "prototype, points | s/episode (logistic / prototype / deepemd / cloud) |", "|---|---|---|---|---|---|---|---|"]
    wins = {1: [], 5: []}
    for r in results:
        row = {x["classifier"]: x for x in r["rows"]}
        def acc(name):
            return f"{row[name]['accuracy']:.3f} ± {row[name]['ci95']:.3f}"
        def diff(name):
            return f"{100 * row[name]['minus_prototype']:+.1f} ± {100 * row[name]['minus_prototype_ci95']:.1f}"
        best = max(("logistic", "deepemd", "deepemd_cloud"), key=lambda n: row[n]["accuracy"])
        wins[r["k"]].append(row[best]["minus_prototype"] - row[best]["minus_prototype_ci95"] > 0)
        lines.append(f"| {r['target']} | {r['k']} | {acc('logistic')} | {acc('prototype')} | {acc('deepemd')} | "
                     f"{diff('deepemd')} | {diff('deepemd_cloud')} | "
                     + " / ".join(f"{row[n]['seconds_per_episode']:.3f}" for n in
                                  ("logistic", "prototype", "deepemd", "deepemd_cloud")) + " |")
    lines += ["", "Targets where the best non-prototype classifier is ahead of `prototype` with its paired 95% "
              f"interval above 0: 1-shot {sum(wins[1])}/{len(wins[1])}, 5-shot {sum(wins[5])}/{len(wins[5])}."]
    write_section("fewshot", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
