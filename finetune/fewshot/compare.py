"""Few-shot classifiers compared on one target: the same paired episodes for each, accuracy ± interval."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from omegaconf import DictConfig, OmegaConf

from recommender import DatasetError, Extractor, backbone_spec, dataset_features, open_dataset

from finetune.transfer.adapted import imagenet_split
from finetune.evaluation import mean_ci
from finetune.fewshot.deepemd import CLASSIFIERS, classify
from finetune.fewshot.episodes import draw_episodes, pool_labels, refuse_k_beyond_the_pool

LOCAL_LAYER = "out_relu"  # MobileNetV2's last convolutional map, before global pooling


@dataclass
class FewShotResult:
    target: str
    k: int
    classifiers: list[str]
    accuracy: np.ndarray  # (classifiers, episodes)
    seconds_per_episode: dict[str, float]
    n_test: int
    cells: int
    config: dict = field(default_factory=dict)

    def rows(self, reference: str = "prototype") -> list[dict]:
        mean, half = mean_ci(self.accuracy)
        ref = self.classifiers.index(reference) if reference in self.classifiers else None
        rows = []
        for i, name in enumerate(self.classifiers):
            row = {"classifier": name, "accuracy": float(mean[i]), "ci95": float(half[i]),
                   "seconds_per_episode": self.seconds_per_episode[name]}
            if ref is not None and i != ref:
                d_mean, d_half = mean_ci(self.accuracy[i] - self.accuracy[ref])
                row[f"minus_{reference}"], row[f"minus_{reference}_ci95"] = float(d_mean), float(d_half)
            rows.append(row)
        return rows


def local_features(images, cfg: DictConfig, splits: tuple[str, ...]) -> tuple[np.ndarray, int]:
    """Flattened last-conv maps (n, cells * channels) of the splits, cached like pooled features; and cells."""
    extractor = Extractor(backbone_spec(cfg), LOCAL_LAYER)
    parts = [dataset_features(images, cfg, s, extractor=extractor) for s in splits]
    x = np.concatenate([p.features() for p in parts])
    cells = math.ceil(int(cfg.backbone.image_size) / 32) ** 2  # MobileNetV2's output stride is 32
    if x.shape[1] % cells:
        raise DatasetError(f"feature maps of {x.shape[1]} values do not split into {cells} cells.")
    return x, cells


def compare(cfg: DictConfig) -> FewShotResult:
    """Every configured few-shot classifier on the same paired episodes of the target."""
    fs = cfg.fewshot
    names = [str(fs.classifier)] if isinstance(fs.classifier, str) and fs.classifier != "all" else (
        list(CLASSIFIERS) if fs.classifier == "all" else [str(c) for c in fs.classifier])
    for name in names:
        if name not in CLASSIFIERS:
            raise DatasetError(f"fewshot.classifier={name!r}; use one of {', '.join(CLASSIFIERS)} or all.")
    images = open_dataset(str(cfg.target), cfg)
    refuse_k_beyond_the_pool(pool_labels(images, cfg), [int(cfg.k)], images.class_names, "k")
    pool, test = imagenet_split(images, cfg, ("train", "val")), imagenet_split(images, cfg, ("test",))
    needs_local = any(n.startswith("deepemd") for n in names)
    if needs_local:
        pool_local, cells = local_features(images, cfg, ("train", "val"))
        test_local, _ = local_features(images, cfg, ("test",))
    else:
        pool_local = test_local = None
        cells = 0
    queries = np.arange(len(test.labels))
    if fs.max_queries_per_class is not None:  # the same seeded subset of the test split for every classifier
        rng = np.random.default_rng([int(fs.seed), 5])
        queries = np.sort(np.concatenate([
            rng.choice(members, min(len(members), int(fs.max_queries_per_class)), replace=False)
            for members in (np.flatnonzero(test.labels == c) for c in np.unique(test.labels))]))
        test = type(test)(test.features[queries], test.labels[queries], test.refs[queries])
        if needs_local:
            test_local = test_local[queries]
    episodes = draw_episodes(pool.labels, int(cfg.k), int(fs.episodes), int(fs.seed))
    accuracy = np.zeros((len(names), len(episodes)))
    seconds = dict.fromkeys(names, 0.0)
    for e, support in enumerate(episodes):
        for i, name in enumerate(names):
            start = time.perf_counter()
            pooled = (pool.features[support], pool.labels[support], test.features)
            local = (pool_local[support], pool.labels[support], test_local) if needs_local else None
            predicted = classify(name, pooled, local, cells)
            seconds[name] += time.perf_counter() - start
            accuracy[i, e] = float(np.mean(predicted == test.labels))
    return FewShotResult(target=images.name, k=int(cfg.k), classifiers=names, accuracy=accuracy,
                         seconds_per_episode={n: s / len(episodes) for n, s in seconds.items()},
                         n_test=len(test.labels), cells=cells, config=OmegaConf.to_container(cfg, resolve=True))


def format_table(result: FewShotResult) -> str:
    """The comparison as console lines: accuracy and the paired difference to the prototype classifier."""
    lines = [f"{result.target}: {result.k}-shot, {result.accuracy.shape[1]} paired episodes, {result.n_test} test "
             "images (95% Student-t intervals over episodes)",
             f"{'classifier':14s} {'accuracy':>16s} {'minus prototype':>20s} {'s/episode':>10s}"]
    for row in result.rows():
        diff = (f"{100 * row['minus_prototype']:+.2f} ± {100 * row['minus_prototype_ci95']:.2f}"
                if "minus_prototype" in row else "—")
        lines.append(f"{row['classifier']:14s} {row['accuracy']:.4f} ± {row['ci95']:.4f} {diff:>20s} "
                     f"{row['seconds_per_episode']:10.3f}")
    return "\n".join(lines)
