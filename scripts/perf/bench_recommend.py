"""Benchmark of the recommender; writes its section of docs/benchmarks.md.

    python scripts/perf/bench_recommend.py

Measures (default config: MobileNetV2 alpha 0.5 at 160 px):
  * extraction throughput (decode + resize + forward) against the bare forward pass on pre-decoded tensors;
  * cold and warm wall time of `scripts/recommend.py target=plants` over the nine other datasets;
  * peak RSS of extraction for growing image counts (features are streamed into class sums);
  * EMD solve time for 10, 100 and 1000 classes per side.
"""
from __future__ import annotations

import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchlib import machine_facts, timed_command, write_section  # noqa: E402

import recommender  # noqa: E402,F401
from recommender import dataset_features, load_config, make_extractor, open_dataset, split_indices_of  # noqa: E402
from recommender.data.datasets import catalog_sources  # noqa: E402
from recommender.explain.retrieval import build_index, encode_query  # noqa: E402
from recommender.distances.class_mean_emd import ground_cost  # noqa: E402
from recommender.distances.transport import emd_distance  # noqa: E402
from recommender.features.extract import extract_features  # noqa: E402
from recommender.data.images import load_rgb, resize_array  # noqa: E402


REPEATS = 7
THROUGHPUT_DATASETS = ("cifar10", "flowers", "aerial")  # 32 px, ~227 px and 150 px JPEGs


def throughput(cfg, dataset: str = "cifar10") -> dict:
    images = open_dataset(dataset, cfg)
    indices = split_indices_of(images, cfg, "train")
    extractor = make_extractor(cfg)
    size, batch = cfg.backbone.image_size, cfg.features.batch_size
    extractor(np.zeros((batch, size, size, 3), np.float32))  # build and trace once, outside both timings
    decoded = np.stack([resize_array(load_rgb(images.refs[i], size), size) for i in indices])
    pipeline_s, bare_s = [], []
    for _ in range(REPEATS):  # alternating pairs of runs: the machine's noise is larger than the effect
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            extract_features(images, indices, extractor, cache, batch_size=batch, progress=False)
            pipeline_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        for lo in range(0, len(decoded), batch):
            extractor(decoded[lo : lo + batch])
        bare_s.append(time.perf_counter() - start)
    n = len(indices)
    paired = sorted(b / p for b, p in zip(bare_s, pipeline_s))
    return {"dataset": dataset, "images": n, "pipeline_ips": n / np.median(pipeline_s),
            "bare_ips": n / np.median(bare_s), "ratio": float(np.median(paired)), "paired": paired}


def rss_child(cap: str) -> None:
    """Run in a subprocess: extract cifar10's train split with a per-class cap and print peak RSS."""
    cfg = load_config(["target=cifar10", f"features.max_images_per_class={cap}", "features.progress=false"])
    images = open_dataset("cifar10", cfg)
    indices = split_indices_of(images, cfg, "train", None if cap == "null" else int(cap))
    with tempfile.TemporaryDirectory() as cache:
        extract_features(images, indices, make_extractor(cfg), cache, progress=False)
    print(json.dumps({"images": len(indices), "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def retrieval_time(cfg) -> dict:
    """A query against the ten cached datasets, after the backbone is loaded (and traced once)."""
    names = catalog_sources(cfg.catalog)
    extractor = make_extractor(cfg)
    for name in names:  # make sure every train split is cached: this benchmark times the query, not extraction
        dataset_features(name, cfg, "train", extractor)
    query = open_dataset("plants", cfg).refs[0]
    encode_query(query, extractor)  # loads the backbone
    start = time.perf_counter()
    index = build_index(names, cfg, extractor)
    loaded = time.perf_counter()
    matches = index.search(encode_query(query, extractor), 10)
    done = time.perf_counter()
    return {"index_images": len(index.features), "load_s": loaded - start, "query_s": done - loaded,
            "total_s": done - start, "top": f"{matches[0].dataset}/{matches[0].class_name}"}


def emd_times() -> list[tuple[int, float]]:
    rng = np.random.default_rng(0)
    rows = []
    for n in (10, 100, 1000):
        a, b = rng.random(n) + 0.01, rng.random(n) + 0.01
        cost = ground_cost(rng.normal(size=(n, 1280)), rng.normal(size=(n, 1280)))
        start = time.perf_counter()
        emd_distance(a, b, cost)
        rows.append((n, time.perf_counter() - start))
    return rows


def main() -> None:
    cfg = load_config(["target=plants", "features.progress=false"])
    tps = [throughput(cfg, name) for name in THROUGHPUT_DATASETS]
    rss = []
    for cap in ("20", "100", "null"):
        _, out = timed_command([sys.executable, __file__, "--rss-child", cap])
        rss.append(json.loads(out.strip().splitlines()[-1]))
    with tempfile.TemporaryDirectory() as cache:
        command = [sys.executable, "scripts/recommend.py", "target=plants", f"features.cache_dir={cache}",
                   "features.progress=false", f"hydra.run.dir={cache}/run"]
        cold_s, _ = timed_command(command)
        # Median of three: one warm run is at the mercy of this shared machine's noise.
        warm = [timed_command(command) for _ in range(3)]
        warm_s, warm_out = float(np.median([w[0] for w in warm])), warm[-1][1]
        redrawn = []
        for _ in range(3):
            shutil.rmtree(Path(cache) / "figures")
            redrawn.append(timed_command(command)[0])
        warm_redrawn_s = float(np.median(redrawn))
        warm_plain_s = float(np.median([timed_command([*command, "report.explain=false"])[0] for _ in range(3)]))
    emd_rows = emd_times()
    rt = retrieval_time(cfg)

    body = f"""## Recommender (`python scripts/perf/bench_recommend.py`)

Machine: {machine_facts()}.
Backbone: MobileNetV2 alpha {cfg.backbone.alpha}, {cfg.backbone.image_size} px, batch {cfg.features.batch_size}.
Timings on this shared 2-core VM vary noticeably from run to run (even the bare forward pass); rerun the
script to see the spread.

### Extraction throughput (train splits; {REPEATS} alternating pairs of runs, medians)

| dataset | images | bare forward pass on pre-decoded tensors (img/s) | full pipeline (img/s) | median ratio (goal ≥ 0.9) | ratio in each of the {REPEATS} pairs |
|---|---|---|---|---|---|
""" + "\n".join(f"| {t['dataset']} | {t['images']} | {t['bare_ips']:.0f} | {t['pipeline_ips']:.0f} | **{t['ratio']:.2f}** | "
              + ", ".join(f"{r:.2f}" for r in t["paired"]) + " |" for t in tps) + f"""

The full pipeline reads, decodes (JPEG at reduced DCT scale where the file is at least twice the input size),
resizes (OpenCV), runs the forward pass, streams features into class sums and writes the cache entry. Decoding
runs in two low-priority background threads a few batches ahead, so it fills the gaps the model's threads leave.
Each pair runs the pipeline, then the bare forward pass, so both see the same state of this shared machine;
the ratios of the pairs show how much that state moves between runs.

### `recommend target=plants` over the nine other datasets (wall time of the whole command)

| run | seconds (warm: median of 3 runs) |
|---|---|
| cold (empty feature cache: extracts the train and test splits of all ten datasets) | {cold_s:.1f} |
| warm (everything cached; goal < 5 s) | **{warm_s:.1f}** |
| warm, figures drawn again (figure cache emptied before each run) | {warm_redrawn_s:.1f} |
| warm, `report.explain=false` (ranking and basic reports only) | {warm_plain_s:.1f} |

The default run also explains the ranking (`report.explain=true`: transport-plan heatmaps, nearest images,
the 2-D domain map, descriptor quality and report.html). Features, 2-D embeddings, neighbour searches,
descriptor-quality scores and the drawn figures (keyed by the numbers they show and the drawing code) are all
cached, so a warm run computes the EMDs and writes the reports; most of what is left is importing POT
(which imports scikit-learn and SciPy) and Matplotlib.

### Peak RSS of extraction (cifar10 train split, growing image count)

| images | peak RSS (MiB) |
|---|---|
""" + "\n".join(f"| {r['images']} | {r['peak_rss_mib']:.0f} |" for r in rss) + """

Features are added to per-class sums and appended to a temporary file as batches stream, so memory does not
grow with the number of images (most of the RSS is TensorFlow itself).

### EMD solve time (POT `ot.emd2`, random class means, Euclidean cost)

| classes per side | seconds |
|---|---|
""" + "\n".join(f"| {n} | {s:.4f} |" for n, s in emd_rows) + f"""

### Image retrieval (`scripts/retrieve.py`), one query against the ten cached datasets, backbone loaded

| step | seconds |
|---|---|
| load the cached features of all ten train splits ({rt['index_images']} images) and build the index | {rt['load_s']:.3f} |
| encode the query and search (k = 10) | {rt['query_s']:.3f} |
| **total (goal < 1 s)** | **{rt['total_s']:.3f}** |

Warm-run output:

```
{warm_out.strip()}
```
"""
    write_section("recommend", body)
    print(body)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--rss-child":
        rss_child(sys.argv[2])
    else:
        main()
