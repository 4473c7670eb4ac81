"""The pool as a large source: extraction on the local path against Apache Beam, time and memory.

    python scripts/perf/bench_pool_scale.py [dataset] [--repeats N]      # default: tinyimagenet, 1 repeat

Each run is a fresh process with an empty cache, extracting the dataset's pooled ImageNet features with nearly
every image in the split (split.train=0.98), and once capped at 10 images per class (about 2,000 images), in
alternating order. Reported: wall time and images/s of each, the ratio to local, and the peak resident memory
of the process (the driver; with the DirectRunner `in_memory` the one worker runs inside it) and of its largest
child process. Writes docs/pool/scale.json and docs/pool/scale.md.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNS = {"local": ["features.runner=local"], "beam, 1 worker (in_memory)": ["features.runner=beam"]}
SIZES = {"10 per class": ["features.max_images_per_class=10"], "all": []}
FULL_SPLIT = ["split.train=0.98", "split.val=0.01", "split.test=0.01"]
CHILD = """
import json, resource, sys, time
from recommender import dataset_features, load_config
cfg = load_config(sys.argv[2:])
start = time.perf_counter()
features = dataset_features(sys.argv[1], cfg)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "images": features.n_images,
                  "driver_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "largest_child_peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def one_run(dataset: str, overrides: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="pool-scale-") as cache:
        args = [f"features.cache_dir={cache}", "features.progress=false", *FULL_SPLIT, *overrides]
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD, dataset, *args], cwd=ROOT, capture_output=True,
                              text=True, check=True)
        out = json.loads(done.stdout.strip().splitlines()[-1])
        out["process_seconds"] = time.perf_counter() - started
        return out


def main(argv: list[str]) -> None:
    dataset = next((a for a in argv if not a.startswith("--")), "tinyimagenet")
    repeats = int(argv[argv.index("--repeats") + 1]) if "--repeats" in argv else 1
    order = [(size, runner) for size in SIZES for runner in RUNS]
    results = {size: {runner: [] for runner in RUNS} for size in SIZES}
    for repeat in range(repeats):
        for size, runner in (order if repeat % 2 == 0 else list(reversed(order))):
            run = one_run(dataset, RUNS[runner] + SIZES[size])
            results[size][runner].append(run)
            print(f"{dataset} {size} {runner}: {run['images']} images, {run['seconds']:.1f} s, "
                  f"driver peak {run['driver_peak_mib']:.0f} MiB", flush=True)
    payload = {"dataset": dataset, "repeats": repeats, "command": "python scripts/perf/bench_pool_scale.py " + " ".join(argv),
               "results": results}
    out = ROOT / "docs" / "pool"
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(payload, indent=1) + "\n")
    (out / "scale.md").write_text(render(payload))
    print(render(payload))


def _mean(runs: list[dict], key: str) -> float:
    return sum(r[key] for r in runs) / len(runs)


def render(p: dict) -> str:
    lines = [f"# {p['dataset']} as a large source: local against Beam", "",
             f"`{p['command']}`: fresh process and empty cache per run, {p['repeats']} run(s) each, alternating "
             "order; 2-core machine, cold (nothing cached). Extraction time inside the process (start-up excluded); "
             "peak resident memory of the process, which with the DirectRunner `in_memory` also holds its worker.", "",
             "| images | runner | seconds | images/s | ratio to local | peak memory, MiB | largest child, MiB |",
             "|---|---|---|---|---|---|---|"]
    for size, runners in p["results"].items():
        local = _mean(runners["local"], "seconds")
        for runner, runs in runners.items():
            seconds, images = _mean(runs, "seconds"), runs[0]["images"]
            lines.append(f"| {images:,} | {runner} | {seconds:.1f} | {images / seconds:.0f} | {local / seconds:.2f} | "
                         f"{_mean(runs, 'driver_peak_mib'):.0f} | {_mean(runs, 'largest_child_peak_mib'):.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main(sys.argv[1:])
