"""Raw features vs cross-entropy head vs triplet head, descriptor quality on every catalog dataset; writes its
section of docs/benchmarks.md.

    python scripts/perf/bench_metric.py
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from benchlib import ROOT, machine_facts, write_section  # noqa: E402

from finetune.metric.run import learn_embedding  # noqa: E402
from recommender import load_config  # noqa: E402
from recommender.data.datasets import catalog_sources  # noqa: E402


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for target in catalog_sources(load_config(["target=plants"]).catalog):  # the catalog, not its pools
            row = {"dataset": target}
            for loss in ("crossentropy", "triplet"):
                cfg = load_config([f"target={target}", f"loss={loss}", "features.progress=false"],
                                  config_name="metric_learn")
                result = learn_embedding(cfg, Path(tmp) / f"{target}-{loss}")
                row["raw"], row[loss] = result["raw"], result["learned"]
            rows.append(row)
            print(target, {k: round(v["precision_at_k"], 3) for k, v in row.items() if k != "dataset"}, flush=True)
    (ROOT / "docs" / "metric_learning.json").write_text(json.dumps(rows, indent=1))
    lines = ["## Metric learning for retrieval (`python scripts/perf/bench_metric.py`)", "", f"Machine: {machine_facts()}.",
             "", "A 1280 -> 256 projection, L2-normalised, trained on each dataset's cached train-split features "
             "(validation split for early stopping; defaults of conf/metric_learn.yaml, no augmentation); "
             "descriptor quality as the report measures it: k-NN (k = 5) accuracy and precision@5 on the test "
             "split with the train split as the index. One training seed: no interval.", "",
             "| dataset | precision@5 raw | cross-entropy head | triplet head | k-NN accuracy raw | cross-entropy | "
             "triplet |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['raw']['precision_at_k']:.3f} | {r['crossentropy']['precision_at_k']:.3f} | "
                     f"{r['triplet']['precision_at_k']:.3f} | {r['raw']['knn_accuracy']:.3f} | "
                     f"{r['crossentropy']['knn_accuracy']:.3f} | {r['triplet']['knn_accuracy']:.3f} |")
    ahead = sum(r["triplet"]["precision_at_k"] > r["raw"]["precision_at_k"] for r in rows)
    over_ce = sum(r["triplet"]["precision_at_k"] > r["crossentropy"]["precision_at_k"] for r in rows)
    lines += ["", f"Triplet head ahead of the raw features in precision@5 on {ahead}/{len(rows)} datasets, ahead "
              f"of the cross-entropy head on {over_ce}/{len(rows)}."]
    write_section("metric", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
