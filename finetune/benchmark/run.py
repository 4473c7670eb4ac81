"""The transfer benchmark: does a score predict which source transfers best? Measured, with intervals.

For every target and every candidate source, the ground truth is the accuracy of the source-adapted network
on the target (paired few-shot episodes by default, see `fewshot.py`; or stage-2 fine-tuning over seeds), next
to the ImageNet network's on the same episodes. Every transferability score (model-free distances computed by
the recommender, model-based scores on the stage-1 networks, naive baselines) is then judged per target by how
well it orders the sources (Kendall tau, weighted tau, Pearson, top-1 relative accuracy and regret), and over
targets with a bootstrap over episodes.

Data flow: datasets -> stage-1 checkpoints (cached, shared by all targets) -> the target's images through each
source network (cached) -> episodes -> accuracies; scores -> evaluation -> report.
"""
from __future__ import annotations

import logging
import time

from omegaconf import DictConfig, OmegaConf

from finetune.benchmark.diagnostics import feature_change, stage1_accuracy
from finetune.benchmark.evaluate import evaluate, order_agreement
from finetune.benchmark.ground_truth import few_shot, headline as headline_protocol, protocols as measured_protocols
from finetune.benchmark.measure import (
    dataset_refs,
    extract_shared,
    measure_target,
    mix_candidates,
    protocol_config,
    target_cache_path,
)
from finetune.benchmark.mix import with_shipped_default
from finetune.benchmark.results import Benchmark
from finetune.fewshot.episodes import pool_labels, refuse_k_beyond_the_pool
from finetune.parallel import in_parallel, worker_pool
from recommender import DatasetError, open_dataset, same_dataset
from recommender.api import canonical_ref
from recommender.common.logs import Steps
from recommender.evidence import load_evidence

log = logging.getLogger(__name__)


def plan(cfg: DictConfig) -> list[tuple[str, list[str]]]:
    """(target, its sources) pairs: every target against every source that is not the target itself."""
    targets = dataset_refs(cfg.benchmark.targets, cfg)
    sources = dataset_refs(cfg.benchmark.sources, cfg)
    opened = {r: open_dataset(r, cfg) for r in dict.fromkeys([*targets, *sources])}
    # One spelling per dataset, as the recommender reports it, so its results can be looked up by ref.
    canonical = {r: canonical_ref(r, images, cfg) for r, images in opened.items()}
    targets, sources = [canonical[t] for t in targets], [canonical[s] for s in sources]
    opened = {canonical[r]: images for r, images in opened.items()}
    pairs = []
    for t in targets:
        chosen = [s for s in dict.fromkeys(sources) if not same_dataset(opened[s], opened[t])]
        if len(chosen) < 2:
            raise DatasetError(f"benchmark: target {t!r} has fewer than two candidate sources; list at least two "
                               "other datasets in benchmark.sources.")
        pairs.append((t, chosen))
        if few_shot(cfg.benchmark):  # a k the pool cannot hold is refused before any work
            refuse_k_beyond_the_pool(pool_labels(opened[t], cfg), cfg.benchmark.fewshot.k, opened[t].class_names,
                                     f"benchmark.fewshot.k (target {t})")
    return pairs


def imagenet_references(targets: list[str], cfg: DictConfig, evidence: dict | None) -> dict | None:
    """The ImageNet network's own scores on each target (the reference the gain model's features subtract),
    for the scores the evidence's gain model reads; None without a gain section."""
    if not evidence or not evidence.get("gain"):
        return None
    from finetune.transfer.adapted import imagenet_scores
    from recommender.rankers.gain import model_scores

    names = model_scores(evidence["gain"])
    return {open_dataset(t, cfg).name: imagenet_scores(open_dataset(t, cfg), cfg, names) for t in targets}


def _measure_timed(target_ref: str, source_refs: list[str], cfg: DictConfig, checkpoints: dict):
    start = time.perf_counter()
    run = measure_target(target_ref, source_refs, cfg, checkpoints)
    return run, time.perf_counter() - start


def run_benchmark(cfg: DictConfig) -> Benchmark:
    """Train (or reuse) every stage-1 network, measure every target, evaluate every score under every protocol.

    Stage-1 networks are independent of each other: with `benchmark.jobs` > 1 they train in that many worker
    processes (one network's training leaves a core partly idle; see `jobs` in conf/benchmark.yaml)."""
    from tqdm.auto import tqdm

    from finetune.transfer.stages import train_source

    start = time.perf_counter()
    bench = cfg.benchmark
    pairs = plan(cfg)
    needed = list(dict.fromkeys(s for _, srcs in pairs for s in srcs))
    quiet = not cfg.features.progress
    with worker_pool(int(bench.jobs)) as pool:
        t0 = time.perf_counter()
        extract_shared(list(dict.fromkeys([*(t for t, _ in pairs), *needed])), cfg)
        timings = {"jobs": int(bench.jobs), "features_seconds": time.perf_counter() - t0}
        t0 = time.perf_counter()
        opened = {ref: open_dataset(ref, cfg) for ref in needed}
        # Largest sources first, so the last network to finish is a short one.
        jobs = sorted([(int(b), ref) for b in bench.top_blocks for ref in needed],
                      key=lambda job: -len(opened[job[1]].labels))
        from finetune.transfer.shipped import provenance
        from finetune.transfer.stages import existing_network, transfer_config

        # What this run will read (shipped or cached) rather than train: the report says whether it was cold.
        cached_networks = sum(existing_network(opened[ref], transfer_config(protocol_config(cfg, b)),
                                               int(bench.stage1_seed)) is not None for b, ref in jobs)
        with tqdm(total=len(jobs), desc="stage-1 networks", unit="net", disable=quiet) as bar:
            paths = in_parallel(pool, train_source, [(ref, protocol_config(cfg, b), int(bench.stage1_seed))
                                                      for b, ref in jobs],
                                 Steps("stage-1 networks", len(jobs), log, bar), [f"{ref}, top {b}" for b, ref in jobs])
        checkpoints = {(b, opened[ref].fingerprint): path for (b, ref), path in zip(jobs, paths)}
        timings.update({"stage1_seconds": time.perf_counter() - t0, "targets": {},
                        "networks": len(jobs), "networks_cached": int(cached_networks),
                        "networks_shipped": {f"{ref}, top {b}": provenance(path).to_dict()
                                             for (b, ref), path in zip(jobs, paths)
                                             if provenance(path).origin == "shipped"}})
        timings["targets_cached"] = [str(t) for t, srcs in pairs if target_cache_path(
            open_dataset(t, cfg), [opened[r] for r in srcs], checkpoints, cfg).is_file()]
        t0 = time.perf_counter()
    # Targets run here, one after another, each fitting its episodes in `jobs` processes: measured, two targets
    # in two workers were no faster (1,328 s against 1,274 s for the catalog's ten).
    with tqdm(total=len(pairs), desc="targets", unit="target", disable=quiet) as bar:
        measured = in_parallel(None, _measure_timed, [(t, srcs, cfg, checkpoints) for t, srcs in pairs],
                                Steps("targets", len(pairs), log, bar), [str(t) for t, _ in pairs])
    runs = [run for run, _ in measured]
    timings["targets"] = {run.target: seconds for run, seconds in measured}
    timings["targets_seconds"] = time.perf_counter() - t0
    evidence = load_evidence(bench.get("evidence"))
    references = imagenet_references([t for t, _ in pairs], cfg, evidence)
    runs = with_shipped_default(runs, int(bench.headline.top_blocks), evidence, references)
    candidates = mix_candidates(cfg)
    protocols, measured = {}, {}
    for protocol in measured_protocols(bench):
        measured[protocol.label] = protocol
        protocols[protocol.label] = evaluate(runs, protocol, int(bench.bootstrap), int(bench.seed),
                                             candidates=candidates)
    head = headline_protocol(bench)
    headline = head.label
    if headline not in protocols:
        raise DatasetError(f"benchmark.headline={dict(bench.headline)} is not among the measured protocols "
                           f"{list(protocols)}; pick top_blocks from benchmark.top_blocks and k from "
                           "benchmark.fewshot.k.")
    sensitivity = {label: order_agreement(runs, head, measured[label]) for label in protocols if label != headline}
    changed = feature_change(pairs, cfg, checkpoints, head.top_blocks) if not head.is_finetune else {}
    own = stage1_accuracy(needed, cfg, checkpoints, head.top_blocks)
    return Benchmark(runs=runs, config=OmegaConf.to_container(cfg, resolve=True), protocols=protocols,
                     headline=headline, sensitivity=sensitivity, feature_change=changed, stage1_accuracy=own,
                     seconds=time.perf_counter() - start, timings=timings)
