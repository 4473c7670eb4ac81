"""Cost of every distance option on `recommend target=plants` (cold table, warm command), and the debiased
Sinkhorn solver's error against the exact OTDD; writes its section of docs/benchmarks.md.

    python scripts/perf/bench_distances.py

The feature cache must be warm (run `python scripts/recommend.py target=plants` once). "Distance cold" is the
in-process cost of the representation step, the ranking and the pairwise table with no cached table;
"recommend warm" is the wall time of the whole command (Python and TensorFlow start-up included) once its
table is cached. Each command runs twice in a row, alternating options, and the faster run is kept.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchlib import ROOT, machine_facts, write_section  # noqa: E402

from recommender import load_config  # noqa: E402
from recommender.api import candidate_datasets, dataset_features, make_extractor  # noqa: E402
from recommender.distances import configure, needs_features  # noqa: E402
from recommender.distances.otdd import otdd  # noqa: E402
from recommender.domains import build_domain, represent  # noqa: E402
from recommender.ranking import pairwise_distances, rank_sources  # noqa: E402
from recommender.rankers.base import distance_scored  # noqa: E402

OPTIONS = {
    "class_mean_emd": ["distance=class_mean_emd"],
    "class_mean_emd, cosine": ["distance=class_mean_emd", "distance.ground_metric=cosine"],
    "class_mean_emd, standardise": ["distance=class_mean_emd", "distance.normalise=standardise"],
    "class_mean_emd, whiten": ["distance=class_mean_emd", "distance.normalise=whiten"],
    "gaussian_emd, diagonal": ["distance=gaussian_emd"],
    "gaussian_emd, ledoit_wolf": ["distance=gaussian_emd", "distance.covariance=ledoit_wolf"],
    "otdd, exact": ["distance=otdd"],
    "otdd, sinkhorn": ["distance=otdd", "distance.solver=sinkhorn"],
    "prior_mix (the default)": ["distance=prior_mix"],
}


def in_process(overrides: list[str]) -> float:
    cfg = load_config(["target=plants", "features.progress=false", *overrides])
    from omegaconf import OmegaConf
    distance_cfg = OmegaConf.to_container(cfg.distance, resolve=True)
    if distance_cfg["name"] == "prior_mix":
        return float("nan")  # its cost is its base distance's, measured on that row
    spec = configure(distance_cfg)
    target, sources, _, _ = candidate_datasets(cfg)
    extractor = make_extractor(cfg)
    start = time.perf_counter()
    domains = [build_domain(dataset_features(d, cfg, extractor=extractor), cfg.domain.min_images_per_class,
                            needs_features(spec)) for d in [target, *sources]]
    domains = represent(domains, **spec.represent)
    rank_sources(domains[0], domains[1:], [distance_scored(spec.function(d, domains[0])) for d in domains[1:]])
    pairwise_distances(domains, spec.function)
    return time.perf_counter() - start


def command(overrides: list[str], out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "scripts/recommend.py", "target=plants", f"hydra.run.dir={out}", *overrides],
                   cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def sinkhorn_errors() -> list[dict]:
    cfg = load_config(["target=plants", "features.progress=false", "distance=otdd"])
    target, sources, _, _ = candidate_datasets(cfg)
    extractor = make_extractor(cfg)
    domains = [build_domain(dataset_features(d, cfg, extractor=extractor), cfg.domain.min_images_per_class, True)
               for d in [target, *sources]]
    domains = represent(domains, covariance="diagonal", samples=500, seed=0)
    rows = []
    for reg in (0.1, 0.03, 0.01, 0.003):
        errors, seconds = [], []
        for src in domains[1:]:
            exact = otdd(src, domains[0]).value
            start = time.perf_counter()
            approx = otdd(src, domains[0], solver="sinkhorn", sinkhorn_reg=reg).value
            seconds.append(time.perf_counter() - start)
            errors.append(abs(approx - exact) / exact)
        rows.append({"reg": reg, "mean_relative_error": float(np.mean(errors)),
                     "max_relative_error": float(np.max(errors)), "seconds_per_pair": float(np.mean(seconds))})
    start = time.perf_counter()
    for src in domains[1:]:
        otdd(src, domains[0])
    rows.append({"reg": 0.0, "mean_relative_error": 0.0, "max_relative_error": 0.0,
                 "seconds_per_pair": (time.perf_counter() - start) / (len(domains) - 1)})
    return rows


def main() -> None:
    import tempfile

    results = {name: {"distance_cold_s": in_process(o)} for name, o in OPTIONS.items()}
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in OPTIONS.items():  # fills each table cache
            results[name]["first_command_s"] = command(overrides, Path(tmp) / "first")
        for _ in range(2):
            for name, overrides in OPTIONS.items():
                t = command(overrides, Path(tmp) / "warm")
                results[name]["recommend_warm_s"] = min(t, results[name].get("recommend_warm_s", t))
    errors = sinkhorn_errors()
    (ROOT / "docs" / "distances.json").write_text(json.dumps({"costs": results, "sinkhorn": errors}, indent=1))
    lines = ["## Distances: cost and Sinkhorn error (`python scripts/perf/bench_distances.py`)", "",
             f"Machine: {machine_facts()}. Target plants, the 9 other catalog datasets as sources, features cached.",
             "", "| distance | distance cold, s (representation + ranking + pairwise table) | recommend, first run "
             "(table not cached), s | recommend warm, s |", "|---|---|---|---|"]
    for name, r in results.items():
        cold = "—" if np.isnan(r["distance_cold_s"]) else f"{r['distance_cold_s']:.2f}"
        lines.append(f"| {name} | {cold} | {r['first_command_s']:.1f} | {r['recommend_warm_s']:.1f} |")
    lines += ["", "Debiased Sinkhorn against the exact OTDD (plants against each source, 500 images per dataset, "
              "diagonal class Gaussians; regularisation as a fraction of the largest cost; reg 0 = exact):", "",
              "| reg | mean relative error | max relative error | s per pair |", "|---|---|---|---|"]
    lines += [f"| {r['reg']:g} | {r['mean_relative_error']:.4f} | {r['max_relative_error']:.4f} | "
              f"{r['seconds_per_pair']:.3f} |" for r in errors]
    write_section("distances", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
