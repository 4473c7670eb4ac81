"""Measure feature extraction on Apache Beam against the local path, and project the cost of huge sources.

    python scripts/perf/bench_scale.py [dataset ...]      # default: cifar10, the largest catalog set

For each dataset, with an empty cache each time and in alternating order: the local path, the Beam DirectRunner
with one worker (in_memory), with two worker processes (multi_processing) and with two worker threads in this process
(multi_threading). Then the per-image cost of each
stage (decode + resize, forward pass, per-class combine) and the bytes the combiner keeps per class. Writes
docs/scale.json and docs/scale.md (the projections are computed from these measurements; assumptions are stated
there) and a section of docs/benchmarks.md.
"""
from __future__ import annotations

import json
import logging
import pickle
import shutil
import sys
import tempfile
import time

import numpy as np

from benchlib import ROOT, machine_facts, write_section  # noqa: E402
from recommender import dataset_features, load_config, open_dataset  # noqa: E402
from recommender.api import backbone_spec, split_indices_of  # noqa: E402
from recommender.features.extractor import Extractor, decode_files  # noqa: E402

RUNS = {
    "local": ["features.runner=local"],
    "beam, 1 worker": ["features.runner=beam"],
    "beam, 2 worker processes": ["features.runner=beam", "features.beam_options.direct_num_workers=2",
                                 "features.beam_options.direct_running_mode=multi_processing"],
    "beam, 2 worker threads": ["features.runner=beam", "features.beam_options.direct_num_workers=2",
                               "features.beam_options.direct_running_mode=multi_threading"],
}
# Nearly every image in the train split (all but 1 % each for val and test), and a run capped at 30 per class:
# the difference removes start-up costs.
SIZES = {"small": ["features.max_images_per_class=30"], "full": []}
FULL_SPLIT = ["split.train=0.98", "split.val=0.01", "split.test=0.01"]
REPEATS = 4
STAGE_IMAGES = 512
DIM = 1280


def timed_extraction(dataset: str, overrides: list[str]) -> tuple[float, int]:
    cache = tempfile.mkdtemp(prefix="bench-scale-")
    try:
        cfg = load_config([f"features.cache_dir={cache}", "features.progress=false", *FULL_SPLIT, *overrides])
        start = time.perf_counter()
        features = dataset_features(dataset, cfg)
        return time.perf_counter() - start, features.n_images
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def stage_costs(dataset: str) -> dict:
    """Seconds per image of each stage, one core's worth of work measured in this process."""
    from recommender.features import beam as beam_features

    cfg = load_config(["features.progress=false"])
    images = open_dataset(dataset, cfg)
    indices = split_indices_of(images, cfg)[:STAGE_IMAGES]
    paths = [images.refs[i] for i in indices]
    size = int(cfg.backbone.image_size)
    start = time.perf_counter()
    decoded, _ = decode_files(paths, size)
    decode = (time.perf_counter() - start) / len(paths)
    extractor = Extractor(backbone_spec(cfg))
    batch = int(cfg.features.batch_size)
    extractor(decoded[:batch])  # build and trace once
    start = time.perf_counter()
    features = np.concatenate([extractor(decoded[lo:lo + batch]) for lo in range(0, len(decoded), batch)])
    forward = (time.perf_counter() - start) / len(decoded)
    labels = images.labels[indices]
    combiner = beam_features.ClassStatisticsFn(rows_per_class=100)
    start = time.perf_counter()
    accumulators = {}
    for lo in range(0, len(features), batch):
        for label in np.unique(labels[lo:lo + batch]):
            mine = labels[lo:lo + batch] == label
            rows = features[lo:lo + batch][mine].astype(np.float64)
            part = beam_features.ClassStatistics(int(mine.sum()), rows.sum(0), (rows * rows).sum(0), [
                (beam_features.row_priority(0, p), i, p, lo // batch, i) for i, p in
                enumerate(np.asarray(paths[lo:lo + batch])[mine])])
            accumulators[label] = combiner.add_input(accumulators.get(label), part)
    combine = (time.perf_counter() - start) / len(features)
    return {"images": len(paths), "decode_s_per_image": decode, "forward_s_per_image": forward,
            "combine_s_per_image": combine, "batch_size": batch}


def accumulator_bytes(rows_per_class: int | None, n_images: int) -> int:
    """Pickled size of one class's accumulator after `n_images` images (synthetic sums of the real width; each row
    travels as a descriptor: priority, index, file name, shard, offset)."""
    from recommender.features import beam as beam_features

    rng = np.random.default_rng(0)
    fn = beam_features.ClassStatisticsFn(rows_per_class)
    acc = None
    for lo in range(0, n_images, 256):
        n = min(256, n_images - lo)
        rows = rng.random((n, DIM), dtype=np.float32)
        refs = [f"/data/source/class_0001/img_{lo + i:09d}.jpg" for i in range(n)]
        wide = rows.astype(np.float64)
        acc = fn.add_input(acc, beam_features.ClassStatistics(n, wide.sum(0), (wide * wide).sum(0), [
            (beam_features.row_priority(0, r), lo + i, r, lo // 256, i) for i, r in enumerate(refs)]))
    return len(pickle.dumps(acc))


def main(datasets: list[str]) -> None:
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    throughput = {}
    for dataset in datasets:
        times = {size: {name: [] for name in RUNS} for size in SIZES}
        n_images = {}
        for repeat in range(REPEATS):
            order = [(size, name) for size in SIZES for name in RUNS]
            for size, name in order if repeat % 2 == 0 else reversed(order):
                seconds, n_images[size] = timed_extraction(dataset, RUNS[name] + SIZES[size])
                times[size][name].append(seconds)
                print(f"{dataset} {size} {name}: {seconds:.1f} s ({n_images[size] / seconds:.0f} images/s)",
                      flush=True)
        full, small = (np.asarray([times[s][name] for name in RUNS]) for s in ("full", "small"))
        marginal = (n_images["full"] - n_images["small"]) / (full - small)  # (runner, repeat): start-up cancels
        throughput[dataset] = {
            "images": n_images,
            "seconds": times,
            "images_per_s": {name: n_images["full"] / float(np.mean(full[i])) for i, name in enumerate(RUNS)},
            # paired by repeat: each repeat ran every runner back to back
            "ratio_to_local": {name: float(np.mean(full[0] / full[i])) for i, name in enumerate(RUNS)},
            "marginal_images_per_s": {name: float(np.mean(marginal[i])) for i, name in enumerate(RUNS)},
            "marginal_ratio_to_local": {name: float(np.mean(marginal[i] / marginal[0])) for i, name in enumerate(RUNS)},
            "startup_s": {name: float(np.mean(small[i] - n_images["small"] / marginal[i]))
                          for i, name in enumerate(RUNS)},
        }
    stages = stage_costs(datasets[-1])
    memory = {str(k): {str(n): accumulator_bytes(k, n) for n in (1_000, 10_000, 30_000)} for k in (100, 1000)}
    result = {"machine": machine_facts(), "throughput": throughput, "stages": stages, "stage_dataset": datasets[-1],
              "accumulator_bytes_per_class": memory,
              "command": "python scripts/perf/bench_scale.py " + " ".join(datasets)}
    (ROOT / "docs" / "scale.json").write_text(json.dumps(result, indent=1) + "\n")
    (ROOT / "docs" / "scale.md").write_text(render(result))
    write_section("scale", throughput_table(result) + "\n\nProjections and assumptions: docs/scale.md.")
    print(render(result))


def throughput_table(result: dict) -> str:
    lines = ["## Extraction on Apache Beam (`features.runner=beam`) against the local path",
             "", f"`{result['command']}` on {result['machine']}. Each run starts from an empty cache. End to end: the "
             "whole dataset (a 98 % train split), start-up included (Python workers, TensorFlow, the model). Per image: the difference "
             "between the whole split and a run capped at 30 images per class, divided into the difference in images, "
             f"so every fixed start-up cost cancels; that is the rate a large source sees. {REPEATS} repeats in "
             "alternating order; ratios are paired by repeat.", "",
             "| dataset | images | runner | end to end, images/s | ratio | per image, images/s | ratio | start-up, s |",
             "|---|---|---|---|---|---|---|---|"]
    for dataset, t in result["throughput"].items():
        for name in RUNS:
            lines.append(f"| {dataset} | {t['images']['full']} | {name} | {t['images_per_s'][name]:.0f} | "
                         f"{t['ratio_to_local'][name]:.2f} | {t['marginal_images_per_s'][name]:.0f} | "
                         f"{t['marginal_ratio_to_local'][name]:.2f} | {t['startup_s'][name]:.1f} |")
    return "\n".join(lines)


def verdict(result: dict) -> str:
    lines = []
    for dataset, t in result["throughput"].items():
        n = t["images"]["full"] - t["images"]["small"]
        local = n / (np.asarray(t["seconds"]["full"]["local"]) - np.asarray(t["seconds"]["small"]["local"]))
        parts = []
        for two in ("beam, 2 worker processes", "beam, 2 worker threads"):
            if two not in t["ratio_to_local"]:
                continue
            per_image, end_to_end = t["marginal_ratio_to_local"][two], t["ratio_to_local"][two]
            each = n / (np.asarray(t["seconds"]["full"][two]) - np.asarray(t["seconds"]["small"][two])) / local
            ends = np.asarray(t["seconds"]["full"]["local"]) / np.asarray(t["seconds"]["full"][two])
            parts.append(
                f"{two}: per image (what a large source sees) {per_image:.2f}x (repeats {each.min():.2f}-"
                f"{each.max():.2f}), " + ("met" if per_image >= 0.8 and each.min() >= 0.8 else "**not met** in every repeat")
                + f"; end to end on these {t['images']['full']} images {end_to_end:.2f}x (repeats {ends.min():.2f}-"
                f"{ends.max():.2f}), " + ("met" if end_to_end >= 0.8 and ends.min() >= 0.8 else "**not met**")
                + f", start-up {t['startup_s'][two]:.0f} s against {t['startup_s']['local']:.0f} s for the local path.")
        lines.append(
            f"Goal (issue 13): a Beam pipeline on 2 workers at >= 0.8x the local throughput. On {dataset}:\n\n- "
            + "\n- ".join(parts) + "\n\n"
            "Two worker *processes* each start Python, TensorFlow and the model, a fixed cost that a catalog-sized "
            "dataset does not amortise and a large source does; two worker *threads* share the launcher's process, "
            "so they pay it once (`features.beam_options.direct_running_mode=multi_threading`; the forward pass "
            "releases Python's lock). The local and in-process runs share this benchmark's process, so after its "
            "first run they no longer pay for importing TensorFlow: the very first run, local on "
            f"{t['images']['small']} images, took {t['seconds']['small']['local'][0]:.1f} s against "
            f"{float(np.median(t['seconds']['small']['local'][1:])):.1f} s for the same run later. A fresh command "
            "pays that on every runner.")
    return "\n\n".join(lines)


def render(result: dict) -> str:
    s = result["stages"]
    per_image_core = s["decode_s_per_image"] + s["forward_s_per_image"] + s["combine_s_per_image"]
    worker_rate = 1.0 / per_image_core  # images/s of one core doing every stage
    mem = result["accumulator_bytes_per_class"]
    lines = [
        "# Scale: budgeting a million-image source", "",
        f"Every measured number comes from `{result['command']}` (docs/scale.json) on {result['machine']}.", "",
        throughput_table(result), "",
        verdict(result), "",
        "## Cost of each stage, per image, on one core", "",
        f"Measured on {s['images']} images of {result['stage_dataset']} (160 px, MobileNetV2 alpha 0.5, batch "
        f"{s['batch_size']}), in one process:", "",
        "| stage | ms per image |", "|---|---|",
        f"| decode + resize (PIL draft + OpenCV) | {1e3 * s['decode_s_per_image']:.2f} |",
        f"| forward pass (Keras, TensorFlow CPU, 2 threads) | {1e3 * s['forward_s_per_image']:.2f} |",
        f"| per-class combine (sums, sums of squares, bottom-k sample) | {1e3 * s['combine_s_per_image']:.3f} |",
        f"| **all stages** | **{1e3 * per_image_core:.2f}** ({worker_rate:.0f} images/s) |", "",
        "The forward pass dominates on a CPU; the combine step is negligible.", "",
        "## Memory of the combine step", "",
        "Pickled size of one class's accumulator (count, sum and sum of squares of the 1280-d features, plus the "
        "bottom-k sample of rows with their file names), after this many images of the class:", "",
        "| rows_per_class | " + " | ".join(f"{int(n):,} images" for n in next(iter(mem.values()))) + " |",
        "|---|" + "---|" * len(next(iter(mem.values()))),
    ]
    for k, sizes in mem.items():
        lines.append(f"| {k} | " + " | ".join(f"{b / 2**20:.2f} MiB" for b in sizes.values()) + " |")
    row_bytes = DIM * 4
    lines += [
        "", "It stops growing once a class has `rows_per_class` images: about "
        f"{row_bytes / 1024:.0f} KiB per kept row plus {2 * DIM * 8 / 1024:.0f} KiB of sums, whatever the number of "
        "images. With `rows_per_class: null` (the default, which reproduces the local entry exactly) every row is "
        "kept, so set it for a large source: 1,000 rows per class of a 1,000-class source is a 5 GB entry at most, "
        "against 5 GB per million images when every row is kept.", "",
        "## Projection", "",
        "Assumptions (not measured here): the per-image CPU cost above holds on a cloud vCPU pair; workers scale "
        "linearly, since images are independent and the only shuffle is the per-class combine (a few MB per "
        "class); a 2-vCPU worker costs an assumed $0.10 per hour (not a quoted price: put in your provider's); "
        "start-up of a cluster (a few minutes) is left out. cifar10's images are 32 px, so its decode cost is the "
        "lowest of the catalog; on large photos decoding costs more, but stays far below the forward pass on a CPU.",
        "",
        "| source | workers (2 vCPU each) | hours | worker-hours | cost at $0.10 per worker-hour |",
        "|---|---|---|---|---|",
    ]
    # One 2-vCPU worker runs what this 2-core machine ran: local throughput of the largest dataset.
    rate = min(t["marginal_images_per_s"]["local"] for t in result["throughput"].values())
    for n_images in (1_000_000, 10_000_000):
        for workers in (1, 16, 64, 256):
            hours = n_images / (rate * workers) / 3600
            lines.append(f"| {n_images:,} images | {workers} | {hours:.2f} | {hours * workers:.1f} | "
                         f"${hours * workers * 0.10:.2f} |")
    lines += [
        "", f"The rate per worker is this machine's measured per-image local rate ({rate:.0f} images/s on 2 cores). "
        "The total (worker-hours, money) does not depend on the number of workers; only the wall time does.", "",
        "### On a GPU worker", "",
        "No GPU was lent to the session that wrote this file, so nothing below is measured here. Issue 13 gives, for "
        "the lent H100 machine (16 cores): MobileNetV2 alpha 0.5 at 160 px on JAX, batch 256, about 67,000 images/s "
        "forward; decoding (PIL draft + OpenCV resize to 160 px) about 25,000 images/s with 16 processes and 1,350 "
        "with one. A GPU worker is therefore decode-bound at about 25,000 images/s: a 10M-image source in about "
        "7 minutes of that worker, provided the images are read from storage at about 25,000 files/s. The same "
        "`ExtractBatch` runs there unchanged (the extractor is pure Keras: `KERAS_BACKEND=jax`; checked on this CPU "
        "with `scripts/perf/check_backends.py`: Keras 3.15.1 on JAX 0.10.2 gives the features TensorFlow gives to within "
        "6.7e-5 absolute, 1.1e-5 relative, on 128 flowers images), with "
        "`features.batch_size=256` and as many Beam worker processes as cores, so that decoding spreads over them.",
        "",
        "## Running it on a cluster", "",
        "The pipeline options pass through `features.beam_options`; add any with a leading `+`. On Flink (the "
        "workers must see the images and the weights file at the same paths, e.g. a shared file system):", "",
        "```",
        "python scripts/recommend.py target=/data/my_target sources=[/data/inaturalist,/data/places365] \\",
        "    features.runner=beam features.rows_per_class=1000 features.batch_size=256 \\",
        "    features.beam_options.runner=FlinkRunner +features.beam_options.flink_master=flink-host:8081 \\",
        "    +features.beam_options.environment_type=LOOPBACK +features.beam_options.parallelism=64",
        "```", "",
        "On Dataflow, `features.beam_options.runner=DataflowRunner +features.beam_options.project=<project> "
        "+features.beam_options.region=<region> +features.beam_options.temp_location=gs://<bucket>/tmp "
        "+features.beam_options.requirements_file=requirements.txt`; the images must then be readable by the "
        "workers. Limits, stated plainly: the image list is built by the launcher and sent with the pipeline (about "
        "100 bytes per image), and the finished entry is written by one worker to `features.cache_dir`, which the "
        "launcher must also be able to read.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--render"]:  # rewrite docs/scale.md from docs/scale.json without measuring again
        (ROOT / "docs" / "scale.md").write_text(render(json.loads((ROOT / "docs" / "scale.json").read_text())))
    else:
        main(sys.argv[1:] or ["cifar10"])
