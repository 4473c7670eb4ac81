"""Measure one target: its ground truth (paired few-shot episodes, or stage-2 fine-tuning over seeds) for
every source next to the ImageNet network, and every score of every source (model-free distances from the
recommender, model-based scores on the stage-1 networks, naive baselines); cached per target.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
import zlib
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from finetune.benchmark.ground_truth import protocols
from finetune.benchmark.results import FORMAT, Accuracies, TargetRun
from finetune.fewshot.episodes import draw_episodes, episode_accuracies
from finetune.transfer.adapted import Split, adapted_split, cut_name_of, imagenet_split
from finetune.transferability import REGISTRY
from recommender import (
    DatasetError,
    ImageList,
    backbone_spec,
    dataset_features,
    dataset_features_together,
    make_extractor,
    open_dataset,
    recommend,
)
from recommender.common.cache import read_json, write_json
from recommender.common.logs import Steps
from recommender.config import CONF_DIR
from recommender.data.datasets import catalog_sources

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------- measurement


def _with(cfg: DictConfig, **values) -> DictConfig:
    return OmegaConf.merge(cfg, OmegaConf.create(values))


def protocol_config(cfg: DictConfig, top_blocks: int) -> DictConfig:
    """The configuration of the stage-1 protocol that trains `top_blocks` top blocks on each source."""
    return _with(cfg, finetune={"strategy": "top_blocks", "top_blocks": int(top_blocks)})


def dataset_refs(value, cfg: DictConfig) -> list[str]:
    """`benchmark.targets` / `benchmark.sources` as dataset references (`all`: the catalog's sources)."""
    if value in (None, "all"):
        return catalog_sources(cfg.catalog)
    return [str(value)] if isinstance(value, str) else [str(v) for v in value]


def extract_shared(refs: list[str], cfg: DictConfig) -> None:
    """Every split of every dataset through the ImageNet network once: its pooled features (the recommender's)
    and the frozen bottom's activations at each protocol's cut come out of the same forward pass, cached where
    `dataset_features` (and so stage-1 training and `adapted_split`) looks for them. Three passes become one.
    Then the pooled features of the distances computed at another image size."""
    from tqdm.auto import tqdm

    from finetune.transfer.stages import cut_extractor, transfer_config

    groups: dict = {}  # backbone spec -> (config at that image size, extractors sharing it)
    pooled = make_extractor(cfg)
    groups[pooled.spec] = (cfg, [pooled])
    for b in cfg.benchmark.top_blocks:
        cfg_b = transfer_config(protocol_config(cfg, int(b)))
        spec = backbone_spec(cfg_b)
        extractor = cut_extractor(spec, cut_name_of(spec, "top_blocks", int(b)))
        group = groups.setdefault(spec, (cfg_b, []))[1]
        if extractor.identity not in [e.identity for e in group]:
            group.append(extractor)
    # The model-free distances at other image sizes read their own pooled features (train split): extracted
    # here too, so targets measured in parallel never extract the same features twice.
    others = {}
    for name in cfg.benchmark.distances:
        c = distance_config(cfg, name)
        if backbone_spec(c) not in groups:
            others.setdefault(backbone_spec(c), c)
    steps = Steps("features of datasets", len(refs), log)
    for ref in tqdm(refs, desc="features", unit="dataset", disable=not cfg.features.progress):
        images = open_dataset(ref, cfg)
        for cfg_g, extractors in groups.values():
            for split in ("train", "val", "test"):
                dataset_features_together(images, cfg_g, split, extractors)
        for c in others.values():
            dataset_features(images, c, "train")
        steps.step(str(ref))


def distance_config(cfg: DictConfig, name: str) -> DictConfig:
    """The recommender's configuration with `benchmark.distances[name]` as its distance: the group option it
    names (`distance:`), with its other keys overriding that option's values (`image_size` sets the backbone's)."""
    entry = dict(OmegaConf.to_container(cfg.benchmark.distances[name], resolve=True) or {})
    option = str(entry.pop("distance", "class_mean_emd"))
    size = entry.pop("image_size", None)
    path = CONF_DIR / "distance" / f"{option}.yaml"
    if not path.is_file():
        raise DatasetError(f"benchmark.distances.{name}: distance={option!r} is not in conf/distance/; use one of "
                           f"{sorted(p.stem for p in path.parent.glob('*.yaml'))}.")
    distance = OmegaConf.merge(OmegaConf.load(path), entry)
    c = cfg.copy()
    OmegaConf.set_struct(c, False)
    c.distance = distance
    if size is not None:
        c.backbone.image_size = int(size)
    return _with(c, report={"explain": False}, features={"progress": False})


def mix_candidates(cfg: DictConfig) -> list[str]:
    """The distances the prior mix may use: those computed at the recommender's own image size, so the mix the
    benchmark fits is one `recommend` can run."""
    return [str(n) for n, entry in cfg.benchmark.distances.items()
            if int((entry or {}).get("image_size", cfg.backbone.image_size)) == int(cfg.backbone.image_size)]


def model_free_scores(target_ref: str, source_refs: list[str], cfg: DictConfig) -> dict:
    """-distance of every distance in `benchmark.distances` (model-free: ImageNet features only), in source
    order, plus the naive baselines."""
    scores = {}
    for name in cfg.benchmark.distances:
        ranking = recommend(cfg=distance_config(cfg, name), target=target_ref, sources=source_refs)
        found = {s.ref: s.distance for s in ranking.sources}
        scores[str(name)] = np.array([-found[r] for r in source_refs])
    ranking_sizes = {s.ref: (s.n_images, s.n_classes) for s in ranking.sources}
    scores["source_images"] = np.array([ranking_sizes[r][0] for r in source_refs], float)
    scores["source_classes"] = np.array([ranking_sizes[r][1] for r in source_refs], float)
    rng = np.random.default_rng([int(cfg.benchmark.seed), zlib.crc32(str(target_ref).encode())])
    scores["random"] = rng.permutation(len(source_refs)).astype(float)
    return scores


def model_based_scores(pools: list[Split], names: list[str]) -> dict:
    """Every transferability score named in `names` of each source network's split, in source order."""
    out = {}
    for name in names:
        score = REGISTRY[name]
        values = []
        for pool in pools:
            data = pool.predictions if score.needs == "predictions" else pool.features
            values.append(score.function(data, pool.labels))
        out[name] = np.array(values, float)
    return out


def _check_aligned(name: str, reference: Split, other: Split, what: str) -> None:
    if len(reference.refs) != len(other.refs) or np.any(reference.refs != other.refs):
        raise DatasetError(f"benchmark: the {what} images of {name!r} differ between networks (files changed "
                           "during the run?); run the benchmark again.")


def _parallel_accuracies(pools: list[Split], tests: list[Split], episodes, c: float, jobs: int,
                         classifier: str = "logistic") -> np.ndarray:
    """(networks, episodes) accuracies; episodes are split into chunks fitted in `jobs` processes.

    Always with one BLAS thread per process (what joblib's workers get), so the accuracies are the same whether
    the episodes are fitted here or in workers."""
    from joblib import Parallel, delayed
    from threadpoolctl import threadpool_limits

    args = ([p.features for p in pools], pools[0].labels, [t.features for t in tests], tests[0].labels)
    chunks = [episodes[i::int(jobs)] for i in range(int(jobs))] if jobs > 1 else [episodes]
    if len(chunks) == 1:
        with threadpool_limits(limits=1, user_api="blas"):
            parts = [episode_accuracies(*args, episodes, c, classifier)]
    else:
        parts = Parallel(n_jobs=len(chunks))(delayed(episode_accuracies)(*args, chunk, c, classifier)
                                             for chunk in chunks)
    out = np.zeros((len(pools), len(episodes)))
    for i, part in enumerate(parts):
        out[:, i::len(chunks)] = part
    return out


def _target_key(target: ImageList, sources: list[ImageList], checkpoints: dict, cfg: DictConfig) -> str:
    payload = {"format": FORMAT, "target": target.fingerprint, "sources": [s.fingerprint for s in sources],
               "checkpoints": {str(b): [Path(checkpoints[(b, s.fingerprint)]).name for s in sources]
                               for b in cfg.benchmark.top_blocks},
               "benchmark": OmegaConf.to_container(cfg.benchmark, resolve=True),
               "split": OmegaConf.to_container(cfg.split), "seed": int(cfg.seed),
               "backbone": OmegaConf.to_container(cfg.backbone, resolve=True),
               "cap": cfg.features.max_images_per_class}
    # Not what the accuracies depend on; scores are added to a cached run when missing (with_missing_scores).
    for volatile in ("jobs", "bootstrap", "headline", "distances", "evidence", "scores"):
        payload["benchmark"].pop(volatile, None)
    if payload["benchmark"]["fewshot"].get("classifier") == "logistic":
        # The default classifier is left out of the key, so targets measured before the option existed stay valid.
        payload["benchmark"]["fewshot"].pop("classifier")
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def target_cache_path(target: ImageList, sources: list[ImageList], checkpoints: dict, cfg: DictConfig) -> Path:
    """Where one target's measurements are cached (a pure function of their inputs' content)."""
    return Path(cfg.features.cache_dir).expanduser() / "benchmark" / \
        f"target-{_target_key(target, sources, checkpoints, cfg)}.json"


def measure_target(target_ref: str, source_refs: list[str], cfg: DictConfig, checkpoints: dict) -> TargetRun:
    """Accuracies (every protocol, every k, every episode) and scores of one target; cached by content."""
    start = time.perf_counter()
    bench = cfg.benchmark
    target = open_dataset(target_ref, cfg)
    sources = [open_dataset(r, cfg) for r in source_refs]
    cache = target_cache_path(target, sources, checkpoints, cfg)
    stored = read_json(cache)
    if stored is not None:
        try:
            run = TargetRun.from_json(stored)
        except (ValueError, KeyError, TypeError) as err:
            log.warning("Benchmark cache %s is unreadable (%s); measuring again.", cache, err)
        else:
            if with_missing_scores(run, target, sources, cfg, checkpoints):
                write_json(cache, run.to_json())
            return with_model_free(run, model_free_scores(target_ref, source_refs, cfg))
    pool_splits, test_splits = ("train", "val"), ("test",)
    base_pool, base_test = imagenet_split(target, cfg, pool_splits), imagenet_split(target, cfg, test_splits)
    if len(base_test.labels) == 0:
        raise DatasetError(f"benchmark: target {target.name!r} has an empty test split; add images.")
    accuracy, scores = {}, {}
    shots = list(dict.fromkeys(p.k for p in protocols(bench) if not p.is_finetune))
    episodes = {k: draw_episodes(base_pool.labels, k, int(bench.fewshot.episodes), int(bench.fewshot.seed))
                for k in shots}
    for b in bench.top_blocks:
        b = int(b)
        cfg_b = protocol_config(cfg, b)
        pools, tests = [base_pool], [base_test]
        for src in sources:
            ckpt = checkpoints[(b, src.fingerprint)]
            pools.append(adapted_split(ckpt, target, cfg_b, pool_splits))
            tests.append(adapted_split(ckpt, target, cfg_b, test_splits))
            _check_aligned(target.name, base_pool, pools[-1], "train+val")
            _check_aligned(target.name, base_test, tests[-1], "test")
        for protocol in protocols(bench, b):
            if protocol.is_finetune:
                rows = _finetune_accuracies(target_ref, source_refs, sources, cfg_b, checkpoints, b)
            else:
                rows = _parallel_accuracies(pools, tests, episodes[protocol.k], float(bench.fewshot.c),
                                            int(bench.jobs), str(bench.fewshot.classifier))
            accuracy[protocol] = Accuracies.from_rows(rows)
        pools = pools[1:]
        scores[b] = model_based_scores(pools, [n for n in bench.scores if n in REGISTRY])
    run = TargetRun(target=target.name, sources=[s.name for s in sources], accuracy=accuracy, scores=scores,
                    n_pool=len(base_pool.labels), n_test=len(base_test.labels), seconds=time.perf_counter() - start)
    write_json(cache, run.to_json())
    return with_model_free(run, model_free_scores(target_ref, source_refs, cfg))


def with_missing_scores(run: TargetRun, target: ImageList, sources: list[ImageList], cfg: DictConfig,
                        checkpoints: dict) -> bool:
    """Add to a cached run the transferability scores `benchmark.scores` names that it lacks, from each source
    network's cached adapted train+val features: a new score needs no re-measuring. Whether any was added."""
    wanted = [n for n in cfg.benchmark.scores if n in REGISTRY]
    added = False
    for b in cfg.benchmark.top_blocks:
        b = int(b)
        missing = [n for n in wanted if n not in run.scores.get(b, {})]
        if missing:
            cfg_b = protocol_config(cfg, b)
            pools = [adapted_split(checkpoints[(b, src.fingerprint)], target, cfg_b, ("train", "val"))
                     for src in sources]
            run.scores.setdefault(b, {}).update(model_based_scores(pools, missing))
            added = True
    return added


def with_model_free(run: TargetRun, free: dict) -> TargetRun:
    """The run with this configuration's model-free scores. They are recomputed on every run (seconds, from
    cached features) rather than stored with the measured accuracies, so a new distance needs no re-measuring."""
    for b, scores in run.scores.items():
        run.scores[b] = {**{n: v for n, v in scores.items() if n in REGISTRY}, **free}
    return run


def _finetune_accuracies(target_ref, source_refs, sources, cfg_b, checkpoints, b) -> np.ndarray:
    """The slower ground truth: stage-2 fine-tuning from each stage-1 network (and ImageNet), one column per
    seed of `finetune.seeds` (the same seeds, so the columns pair like episodes do)."""
    from finetune.transfer.stages import train_target

    seeds = [int(s) for s in cfg_b.finetune.seeds]
    rows = [[train_target(target_ref, cfg_b, s, None).accuracy for s in seeds]]
    for ref, src in zip(source_refs, sources):
        rows.append([train_target(target_ref, cfg_b, s, checkpoints[(b, src.fingerprint)]).accuracy for s in seeds])
    return np.array(rows)
