"""Opening and describing a dataset, the steps every ranker, the pool builder and the benchmark share: a name or
folder -> its image list -> a seeded split -> cached backbone features -> a domain. Below both `api` (which
ranks) and `pool` (which builds a source), so neither imports the other for them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from recommender.data.datasets import DatasetError, ImageList, list_images, resolve_dataset, select
from recommender.domains import Domain, build_domain
from recommender.features.backbone import BackboneSpec
from recommender.features.extract import extract_features, extract_features_together
from recommender.features.extractor import Extractor, FeatureSet, image_batches


def backbone_spec(cfg: DictConfig) -> BackboneSpec:
    """The frozen backbone the configuration names (`cfg.backbone`), as a hashable spec."""
    b = cfg.backbone
    return BackboneSpec(name=b.name, alpha=b.alpha, image_size=b.image_size, weights=b.weights,
                        weights_dir=b.weights_dir)


def open_dataset(name: str | ImageList, cfg: DictConfig) -> ImageList:
    """The image list of a catalog name or an image-folder path (an ImageList is returned as it is)."""
    if isinstance(name, ImageList):
        return name
    return list_images(resolve_dataset(name, cfg.catalog, cfg.data_root),
                       digest_dir=Path(cfg.features.cache_dir).expanduser() / "digests")


def split_indices_of(images: ImageList, cfg: DictConfig, split: str = "train",
                     cap: int | None = None) -> np.ndarray:
    """Indices of one split of `images`: the same seeded, stratified split everywhere in the project."""
    return select(images, split, cfg.split, cfg.seed, cap)


def make_extractor(cfg: DictConfig, layer: str | None = None) -> Extractor:
    """The configured frozen backbone (pooled features, or one layer's activations); share one across datasets."""
    return Extractor(backbone_spec(cfg), layer)


def load_images(name_or_images: str | ImageList, cfg: DictConfig, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Decoded, resized uint8 images of one split and their labels (unreadable files skipped, with a warning)."""
    images = open_dataset(name_or_images, cfg)
    indices = split_indices_of(images, cfg, split, cfg.features.max_images_per_class)
    batches = list(image_batches(images, indices, cfg.backbone.image_size, cfg.features.batch_size))
    readable = np.concatenate([ok for _, _, ok in batches])
    return (np.concatenate([b for b, _, _ in batches])[readable],
            np.concatenate([lab for _, lab, _ in batches])[readable])


def dataset_features(name_or_images: str | ImageList, cfg: DictConfig, split: str = "train",
                     extractor: Extractor | None = None) -> FeatureSet:
    """Backbone features of one split (the train split for the recommender), cached on disk."""
    images = open_dataset(name_or_images, cfg)
    indices = split_indices_of(images, cfg, split, cfg.features.max_images_per_class)
    if len(indices) == 0:
        raise DatasetError(f"Dataset {images.name!r}: its {split} split is empty (too few images per class for "
                           f"split={dict(cfg.split)}); add images or change the split fractions.")
    return extract_features(images, indices, extractor or make_extractor(cfg), Path(cfg.features.cache_dir),
                            batch_size=cfg.features.batch_size, progress=cfg.features.progress, split=split,
                            runner=cfg.features.runner, beam_options=dict(cfg.features.beam_options),
                            rows_per_class=cfg.features.rows_per_class, seed=cfg.seed)


def dataset_features_together(name_or_images: str | ImageList, cfg: DictConfig, split: str,
                              extractors) -> list[FeatureSet]:
    """`dataset_features` of several extractors of one backbone (say the pooled features and two cuts'
    activations): what is not cached yet is extracted in one pass over the split's images, not one per extractor.
    Needs `features.runner=local`; under another runner each extractor goes its own way."""
    images = open_dataset(name_or_images, cfg)
    if cfg.features.runner != "local":
        return [dataset_features(images, cfg, split, e) for e in extractors]
    indices = split_indices_of(images, cfg, split, cfg.features.max_images_per_class)
    if len(indices) == 0:
        raise DatasetError(f"Dataset {images.name!r}: its {split} split is empty (too few images per class for "
                           f"split={dict(cfg.split)}); add images or change the split fractions.")
    return extract_features_together(images, indices, extractors, Path(cfg.features.cache_dir),
                                     batch_size=cfg.features.batch_size, progress=cfg.features.progress, split=split)


def dataset_domain(name: str, cfg: DictConfig, extractor: Extractor | None = None) -> Domain:
    """A dataset's train split as class means weighted by class size."""
    return build_domain(dataset_features(name, cfg, extractor=extractor), cfg.domain.min_images_per_class)


def canonical_ref(ref: str, images: ImageList, cfg: DictConfig) -> str:
    """How to open a dataset again from anywhere: its catalog name, or its absolute folder path."""
    return ref if ref in cfg.catalog or images.spec.path is None else str(images.spec.path)
