"""Features of a dataset split from the cache, or extracted and cached: where the runner is chosen.

The local runner (`extractor`) and the Apache Beam runner (`beam`) both write the cache entry
`extractor.load_entry` reads; this module, above both, picks one, so neither runner imports the other.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import zipfile
from pathlib import Path

import numpy as np

from recommender.common.files import clean_stale_temporaries
from recommender.data.datasets import ImageList
from recommender.features.extractor import (Extractor, FeatureError, FeatureSet, cache_key, extract_to,
                                            load_entry)

log = logging.getLogger(__name__)
RUNNERS = ("local", "beam")


def extract_features(
    image_list: ImageList,
    indices: np.ndarray,
    extractor: Extractor,
    cache_dir: str | Path,
    batch_size: int = 64,
    progress: bool = True,
    split: str = "",
    runner: str = "local",
    beam_options: dict | None = None,
    rows_per_class: int | None = None,
    seed: int = 0,
) -> FeatureSet:
    """Features of `image_list[indices]`, from the cache when it holds them, else extracted and cached.

    `split` only names the selection in the progress bar. `runner="beam"` extracts on Apache Beam
    (recommender/features/beam.py), which can also keep only a seeded `rows_per_class` sample of per-image rows;
    class counts and sums always cover every image."""
    if runner not in RUNNERS:
        raise FeatureError(f"features.runner={runner!r} is not supported; use one of {RUNNERS}.")
    if rows_per_class is not None and runner != "beam":
        raise FeatureError("features.rows_per_class needs features.runner=beam (the local path keeps every row); "
                           "set features.rows_per_class=null or features.runner=beam.")
    path = cache_path(image_list, indices, extractor, cache_dir, rows_per_class)
    if path.is_file():
        try:
            return _rebased(load_entry(path, image_list.name), image_list)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            log.warning("Feature cache %s is unreadable (%s); removed, extracting again.", path, err)
            path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path.parent)
    label = f"features {image_list.name} {split}".rstrip()
    if runner == "beam":
        if extractor.layer is not None:
            raise FeatureError("features.runner=beam extracts the pooled features only; this step needs a "
                               "layer's activations, so run it with features.runner=local.")
        _beam().extract_with_beam(path, image_list, np.asarray(indices), extractor.spec, batch_size,
                                  dict(beam_options or {}), rows_per_class, seed)
    else:
        extract_to([path], image_list, np.asarray(indices), [extractor], batch_size, progress, label)
    result = load_entry(path, image_list.name)
    result.extracted = True
    return result


def cache_path(image_list: ImageList, indices: np.ndarray, extractor: Extractor, cache_dir: str | Path,
               rows_per_class: int | None = None) -> Path:
    # Named by content alone: the same images reached as a catalog name, a path or a renamed copy share one entry.
    """Where the features of `image_list[indices]` through `extractor` are cached in `cache_dir`."""
    key = cache_key(image_list, indices, extractor.identity, rows_per_class)
    return Path(cache_dir).expanduser() / f"features-{key}.npz"


def extract_features_together(image_list: ImageList, indices: np.ndarray, extractors, cache_dir: str | Path,
                              batch_size: int = 64, progress: bool = True, split: str = "") -> list[FeatureSet]:
    """`extract_features` for several extractors of one backbone: the entries not cached yet are extracted in a
    single pass over the images (`ExtractorGroup`), so each image is decoded and run through the shared layers
    once. The entries are the ones `extract_features` writes and reads, one per extractor."""
    extractors = list(extractors)
    paths = [cache_path(image_list, indices, e, cache_dir) for e in extractors]
    missing = [i for i, path in enumerate(paths) if not path.is_file()]
    if len(missing) > 1:
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(paths[0].parent)
        label = f"features {image_list.name} {split} ({len(missing)} outputs)".replace("  ", " ")
        extract_to([paths[i] for i in missing], image_list, np.asarray(indices), [extractors[i] for i in missing],
                    batch_size, progress, label)
    # One missing entry (or a cache that turned unreadable) goes the ordinary way.
    out = [extract_features(image_list, indices, e, cache_dir, batch_size, progress, split) for e in extractors]
    for i in missing:
        out[i].extracted = True
    return out


def _beam():
    try:
        from recommender.features import beam as beam_features
    except ImportError as err:
        raise FeatureError(f"features.runner=beam needs Apache Beam, which is not installed ({err}): "
                           "pip install -e \".[beam]\"") from err
    return beam_features


def _rebased(found: FeatureSet, image_list: ImageList) -> FeatureSet:
    """The entry's image references as paths of `image_list`'s own folder. An entry is named by content, so it may
    have been written for an identical copy elsewhere (same relative files, same bytes); its rows are this
    folder's images, and the grids and retrieval must open this folder's files."""
    if image_list.spec.kind != "folder" or image_list.spec.path is None:
        return found
    root = str(image_list.spec.path) + os.sep
    stored = [str(r) for r in (*found.refs, *found.skipped)]
    if not stored or stored[0].startswith(root):
        return found
    mine = set(image_list.refs)
    probe = stored[0]
    cuts = [k for k, ch in enumerate(probe) if ch == os.sep and root + probe[k + 1:] in mine]
    if not cuts:
        return found
    old = len(probe[: cuts[-1] + 1])

    def moved(refs: np.ndarray) -> np.ndarray:
        return np.array([root + str(r)[old:] for r in refs], dtype=str)

    return dataclasses.replace(found, refs=moved(found.refs), skipped=moved(found.skipped))
