"""The public entry points: datasets → features → domains → distance → ranking."""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
from omegaconf import DictConfig, OmegaConf

from recommender.common.cache import read_json, write_json
from recommender.config import load_config
from recommender.data.datasets import (DatasetError, ImageList, catalog_sources, same_dataset, shared_images, unique_names)
from recommender.distances import DistanceSpec, needs_features
from recommender.domains import Domain, build_domain, represent
from recommender.describe import (backbone_spec, canonical_ref, dataset_domain, dataset_features,  # noqa: F401
                                  dataset_features_together, load_images, make_extractor, open_dataset,
                                  split_indices_of)
from recommender.pool import built_for
from recommender.evidence import EvidenceError, backbone_mismatch, catalog_name, load_evidence, measured_sources
from recommender.explain.verdict import predicted_verdict, verdict
from recommender.rankers.base import Candidate, build_ranker
from recommender.explain.figures import descriptor_quality
from recommender.features.extractor import Extractor
from recommender.ranking import Ranking, pairwise_distances, rank_sources

log = logging.getLogger(__name__)


def descriptor_quality_of(name_or_images: str | ImageList, cfg: DictConfig, extractor: Extractor | None = None,
                          k: int | None = None) -> dict:
    """k-NN accuracy and precision@k of the backbone features on the test split (train split as the index)."""
    extractor = extractor or make_extractor(cfg)
    images = open_dataset(name_or_images, cfg)
    train = dataset_features(images, cfg, "train", extractor)
    test = dataset_features(images, cfg, "test", extractor)
    k = int(k or cfg.report.knn_k)
    if k >= train.n_images:  # k neighbours out of fewer images is a majority vote of the whole split: chance
        raise DatasetError(f"{images.name}: report.knn_k={k} is not below its {train.n_images} train images, so "
                           "k-NN accuracy would measure nothing; lower report.knn_k.")
    # The score is a pure function of the two cache files (whose names are content hashes) and k: keep it beside them.
    cached = train.path.parent / f"quality-{train.path.stem}-{test.path.stem}-k{k}.json"
    quality = read_json(cached)
    if isinstance(quality, dict) and {"knn_accuracy", "precision_at_k"} <= set(quality):
        return quality
    quality = descriptor_quality(train, test, k)
    write_json(cached, quality)
    return quality


def candidate_datasets(cfg: DictConfig) -> tuple[ImageList, list[ImageList], list[str], list[str]]:
    """(target, candidate sources, how to open each source again, notes) for `cfg.target` and `cfg.sources`.

    Datasets are compared by identity (real folder or TFDS split), never by how they were spelled: the target
    is never its own source, a dataset listed twice counts once, and display names are made unique."""
    requested = cfg.sources
    listed = requested not in (None, "all")
    refs = ([str(requested)] if isinstance(requested, str) else [str(n) for n in requested]) if listed \
        else catalog_sources(cfg.catalog)
    target = open_dataset(str(cfg.target), cfg)
    built = built_for(cfg, target)
    if built is not None:  # pool=[...]: the source built from the pool's closest classes is one more candidate
        refs.append(str(built))
    kept, kept_refs, notes = [], [], []
    for ref in refs:
        images = open_dataset(ref, cfg)
        if same_dataset(images, target):
            if listed:
                notes.append(f"The target {str(cfg.target)!r} was also listed as a source ({ref!r}); it is excluded.")
                log.warning(notes[-1])
            continue
        if any(same_dataset(images, k) for k in kept):
            notes.append(f"{ref!r} names a dataset listed before; it is used once.")
            log.warning(notes[-1])
            continue
        kept.append(images)
        kept_refs.append(canonical_ref(ref, images, cfg))
    if not kept:
        raise DatasetError("No candidate sources: set sources=all or sources=[name,...] with at least one dataset "
                           "other than the target.")
    specs = unique_names([target.spec, *(k.spec for k in kept)])
    renamed = [images if images.spec is spec else replace(images, spec=spec)
               for images, spec in zip([target, *kept], specs)]
    return renamed[0], renamed[1:], kept_refs, notes


def cached_table(domains: list[Domain], feature_sets: dict, distance: DistanceSpec, cfg: DictConfig,
                 known: dict) -> np.ndarray:
    """The pairwise distance table, kept on disk beside the features it was computed from: a pure function of
    those cache files (their names are content hashes), the domain options and the distance's options. `known`:
    (name, name) -> the distance the ranking already computed with this same distance."""
    payload = {"features": [feature_sets[d.name].path.name for d in domains],
               "domain": OmegaConf.to_container(cfg.domain, resolve=True),
               "distance": distance.table_key}
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]
    path = Path(cfg.features.cache_dir).expanduser() / f"distances-{key}.json"
    stored = read_json(path)
    n = len(domains)
    if isinstance(stored, list) and np.shape(stored) == (n, n):
        return np.asarray(stored, float)
    table = pairwise_distances(domains, distance.function, known)
    write_json(path, table.tolist())
    return table


def evidence_notes(ranker, evidence: dict, cfg: DictConfig, catalogs: list[str | None], names: list[str]) -> list[str]:
    """What a ranker that reads the catalog evidence must say before it ranks: it refuses evidence measured with
    other weights (EvidenceError), and names the sources the catalog prior never measured."""
    mismatch = backbone_mismatch(evidence, OmegaConf.to_container(cfg.backbone, resolve=True))
    if mismatch and mismatch[0] == "weights":  # the prior was measured with other weights: it does not apply
        raise EvidenceError(f"distance={ranker.name}: {mismatch[1]}. Use a distance (e.g. "
                            "distance=class_mean_emd), or run scripts/benchmark.py with this backbone and set "
                            "distance.evidence to its catalog_evidence.json.")
    measured = measured_sources(evidence)
    unseen = [n for n, c in zip(names, catalogs) if c is None or c not in measured]
    if not unseen:
        return []
    note = ("No catalog transfer measurement for " + ", ".join(unseen) + ": the catalog prior knows nothing about "
            f"them, so {ranker.unmeasured} alone places them." + ranker.unmeasured_caveat)
    return [note]


def shared_image_notes(target: ImageList, shared: dict[str, int]) -> list[str]:
    """What the report says about sources holding the target's own images byte for byte (name -> count)."""
    notes = []
    for name, n in shared.items():
        if n:  # the target's own images in a source: its score and gain describe the copy, not a transfer
            notes.append(f"The target shares {n} of its {len(target.refs)} images, byte for byte, with the "
                         f"source {name}: that source's place in the ranking says little about transfer, and "
                         "training from it would put the target's test images into pretraining (train.py and "
                         "validate.py refuse it).")
            log.warning(notes[-1])
    return notes


def describe_candidates(opened: list[ImageList], cfg: DictConfig, extractor: Extractor, ranker,
                        notes: list[str]) -> tuple[dict, list[Domain]]:
    """(feature sets by dataset, domains in `opened` order, in the ranker's feature space): features from the
    cache or extracted (with progress and the time left), unreadable images and dropped classes added to
    `notes`."""
    feature_sets, domains = {}, []
    started, extracted = time.perf_counter(), 0
    for i, images in enumerate(opened, start=1):
        features = dataset_features(images, cfg, extractor=extractor)
        if features.extracted:
            extracted += 1
            elapsed = time.perf_counter() - started
            left = "" if i == len(opened) else f"; about {elapsed / extracted * (len(opened) - i):.0f} s left"
            log.info("features %d/%d: %s (%d images) extracted and cached, %.0f s so far%s", i, len(opened),
                     images.name, features.n_images, elapsed, left)
        feature_sets[features.dataset] = features
        domains.append(build_domain(features, cfg.domain.min_images_per_class, needs_features(ranker.table)))
    domains = represent(domains, **ranker.represent)
    for dom in domains:
        if dom.n_skipped:
            notes.append(f"{dom.name}: {dom.n_skipped} unreadable image(s) skipped.")
        if dom.dropped:
            notes.append(f"{dom.name}: classes dropped (fewer than {cfg.domain.min_images_per_class} images): "
                         + ", ".join(f"{c} ({n})" for c, n in dom.dropped.items()))
    return feature_sets, domains


def decide_start(ranker, evidence: dict | None, options: dict, cfg: DictConfig, target: ImageList,
                 target_catalog: str | None, catalog_of: dict, results: list) -> dict:
    """The verdict: what the benchmark measured about this ranking and each source (`verdict`), and where to
    start: from this target's predicted gains under a ranker that predicts them (kind "gain"), else from the
    gains measured on other targets. Sets each result's measured gain."""
    judged = verdict(evidence, options, target_catalog, [(r.name, catalog_of.get(r.name)) for r in results],
                     int(cfg.backbone.image_size), OmegaConf.to_container(cfg.backbone, resolve=True),
                     capped=cfg.features.max_images_per_class is not None)
    for result in results:
        result.gain = judged["gains"].get(result.name)
    if ranker.kind != "gain":
        return judged
    # The catalog's figures hold under the catalog's protocol: every image, and a ranking of several sources.
    as_validated = cfg.features.max_images_per_class is None and len(results) > 1
    judged = predicted_verdict(judged, results, target.name, canonical_ref(str(cfg.target), target, cfg),
                               (evidence.get("gain") or {}).get("summary") if as_validated else None)
    if not as_validated:
        judged["sentences"].append(
            "The catalog's figures for this model are not quoted: they were measured with every image of each "
            "dataset and several sources ranked, and this run "
            + ("caps the images per class (features.max_images_per_class)." if len(results) > 1
               else "ranks a single source."))
    return judged


def descriptor_qualities(opened: list[ImageList], domains: list[Domain], cfg: DictConfig, extractor: Extractor,
                         notes: list[str]) -> dict:
    """Each dataset's descriptor quality (k-NN on its test split); a dataset without one gets a note instead."""
    log.info("descriptor quality: k-NN on the test split of %d datasets (extracted once, then cached)", len(opened))
    quality = {}
    for dom, images in zip(domains, opened):
        try:
            quality[dom.name] = descriptor_quality_of(images, cfg, extractor)
        except DatasetError as err:  # a tiny dataset has no test split: rank it, but say why it has no score
            notes.append(f"No descriptor-quality score: {err}")
    return quality


def recommend(target: str | None = None, sources: Sequence[str] | None = None, *,
              cfg: DictConfig | None = None, overrides: Sequence[str] = ()) -> Ranking:
    """Rank the candidate pretraining sources for `target`, best first, and decide where to start.

    Under the default ranking (``distance=gain``) each source gets its predicted few-shot accuracy gain over
    ImageNet weights on this target, in points, with a 90% interval, and the verdict says "Start from X" or
    "Start from ImageNet". Works from a plain script: no ``if __name__ == "__main__":`` guard is needed.

    Parameters
    ----------
    target : str, optional
        A catalog name (``"plants"``) or an image folder with one sub-folder per class.
    sources : sequence of str, optional
        Candidate sources (catalog names, folders, source specs); default: every catalog dataset but the target.
    cfg : DictConfig, optional
        A composed configuration (``load_config``), as the scripts pass it; `target`/`sources` override it.
    overrides : sequence of str
        Hydra overrides used when `cfg` is not given, e.g. ``["distance=prior_mix"]``.

    Returns
    -------
    Ranking
        ``.headline`` (the verdict), ``.best`` (the decided start, None for ImageNet), ``.sources`` (best first),
        ``.to_records()`` (the table), ``.write_report(folder)`` (the files the command writes).

    Examples
    --------
    >>> from recommender import recommend
    >>> ranking = recommend("plants")                       # doctest: +SKIP
    >>> ranking.best.name if ranking.best else "imagenet"   # doctest: +SKIP
    'trash'
    >>> recommend("/data/my_images", sources=["flowers", "/data/other"])  # doctest: +SKIP
    """
    cfg = cfg if cfg is not None else load_config(overrides)
    if target is not None or sources is not None:
        cfg = cfg.copy()
        if target is not None:
            cfg.target = str(target)
        if sources is not None:
            cfg.sources = list(sources)
    if OmegaConf.is_missing(cfg, "target"):
        raise DatasetError("No target dataset: pass target=<name or folder> (e.g. target=plants).")
    target_images, source_images, refs, notes = candidate_datasets(cfg)
    opened = [target_images, *source_images]
    shared = {images.name: shared_images(target_images, images) for images in source_images}
    notes.extend(shared_image_notes(target_images, shared))
    options = OmegaConf.to_container(cfg.distance, resolve=True)
    ranker = build_ranker(options, cfg)
    evidence = load_evidence(options.get("evidence"), required=ranker.uses_evidence)
    catalog_of = {images.name: catalog_name(images, cfg) for images in opened} if evidence else {}
    target_catalog = catalog_of.get(target_images.name)
    if ranker.uses_evidence:
        notes.extend(evidence_notes(ranker, evidence, cfg, [catalog_of[images.name] for images in source_images],
                                    [images.name for images in source_images]))
    ranker.fit(evidence, target_catalog)
    ranker.check(target_images, source_images, catalog_of)
    extractor = make_extractor(cfg)
    feature_sets, domains = describe_candidates(opened, cfg, extractor, ranker, notes)
    candidates = [Candidate(images, dom, catalog_of.get(images.name)) for images, dom in zip(opened, domains)]
    results = rank_sources(domains[0], domains[1:], ranker.score(candidates[0], candidates[1:]),
                           float(cfg.distance.gamma))
    for result in results:
        notes.extend(n for n in result.notes if n not in notes)  # a note shared by several sources, once
    ref_of = {d.name: ref for d, ref in zip(domains[1:], refs)}  # display names are unique
    for result in results:
        result.ref = ref_of[result.name]
        result.shared_images = shared.get(result.name, 0)
    judged = decide_start(ranker, evidence, options, cfg, target_images, target_catalog, catalog_of, results)
    quality = descriptor_qualities(opened, domains, cfg, extractor, notes) if cfg.report.explain else {}
    target_domain = domains[0]
    return Ranking(
        target=target_domain,
        sources=results,
        distance_names=[d.name for d in domains],
        evidence=judged,
        table=lambda: cached_table(domains, feature_sets, ranker.table, cfg,
                                   {(target_domain.name, r.name): r.distance for r in results
                                    if r.distance is not None}),
        config=OmegaConf.to_container(cfg, resolve=True),
        distance_name=ranker.name,
        distance_label=ranker.label,
        kind=ranker.kind,
        table_label=ranker.table_label,
        notes=notes,
        domains={d.name: d for d in domains},
        feature_sets=feature_sets,
        descriptor_quality=quality,
    )
