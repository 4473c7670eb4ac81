"""The target's images through a stage-1 network, the features every transferability score and episode
classifier reads: the frozen bottom's activations come from the recommender's feature cache, the adapted
top runs once per (checkpoint, split) and is cached beside the checkpoint.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from recommender import ImageList, backbone_spec, dataset_features
from recommender.common.cache import read_npz, write_npz


BASELINE = "imagenet"


@dataclass
class Split:
    features: np.ndarray
    labels: np.ndarray
    refs: np.ndarray
    predictions: np.ndarray | None = None


def imagenet_split(images: ImageList, cfg: DictConfig, splits: tuple[str, ...]) -> Split:
    """Pooled ImageNet-MobileNetV2 features of the given splits, concatenated (the recommender's own cache)."""
    parts = [dataset_features(images, cfg, s) for s in splits]
    return Split(np.concatenate([p.features() for p in parts]), np.concatenate([p.labels for p in parts]),
                 np.concatenate([p.refs for p in parts]))


def adapted_split(checkpoint: Path, images: ImageList, cfg: DictConfig, splits: tuple[str, ...]) -> Split:
    """The target's images through a stage-1 network: pooled features of its adapted top and its source-class
    probabilities, computed from the cached frozen-bottom activations and cached per (checkpoint, split)."""
    from finetune.transfer.stages import companion_dir, cut_extractor

    parts = []
    cut_name = cut_name_of(backbone_spec(cfg), cfg.finetune.strategy, int(cfg.finetune.top_blocks))
    for split in splits:
        cut = dataset_features(images, cfg, split, extractor=cut_extractor(backbone_spec(cfg), cut_name))
        path = companion_dir(checkpoint, cfg) / f"adapted-{Path(checkpoint).stem}-{cut.path.stem}.npz"
        arrays = read_npz(path, ADAPTED_ARRAYS)
        if arrays is None:
            features, probabilities = _run_tail(checkpoint, cut.features())
            arrays = {"features": features, "labels": cut.labels, "refs": cut.refs, "predictions": probabilities}
            write_npz(path, arrays)
        parts.append(Split(*(arrays[name] for name in ADAPTED_ARRAYS)))
    return Split(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("features", "labels", "refs",
                                                                              "predictions")))


ADAPTED_ARRAYS = ("features", "labels", "refs", "predictions")


@functools.lru_cache(maxsize=16)
def cut_name_of(spec, strategy: str, top_blocks: int) -> str | None:
    """The layer whose cached activations feed a stage-1 network's trainable top: a function of the backbone
    and the protocol, so it is found without loading any checkpoint."""
    from finetune.transfer.model import cut_layer
    from recommender import build_backbone, resolve_weights

    return cut_layer(build_backbone(spec, resolve_weights(spec), pooling=None), strategy, top_blocks)


@functools.lru_cache(maxsize=32)
def tail_of(checkpoint: str, stamp: tuple[int, int]):
    """A stage-1 network's trainable tail with its pooled activations as a second output, built once per
    checkpoint file and kept: loading a checkpoint costs seconds, and a benchmark reads each one for every target.
    `stamp` (size, mtime) makes a file written again at the same path load again."""
    import keras

    from finetune.transfer.model import trainable_tail
    from finetune.transfer.stages import load_checkpoint

    tail = trainable_tail(load_checkpoint(Path(checkpoint)))[0]
    # Re-apply the tail's layers to a fresh input, keeping the pooled activations as a second output.
    x = inputs = keras.Input(tail.input.shape[1:])
    outputs = {}
    for layer in tail.layers:
        if not isinstance(layer, keras.layers.InputLayer):
            x = outputs[layer.name] = layer(x)
    return keras.Model(inputs, [outputs["pool"], x])


TAIL_BATCH = 256


def _run_tail(checkpoint: Path, activations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stat = Path(checkpoint).stat()
    try:
        both = tail_of(str(checkpoint), (stat.st_size, stat.st_mtime_ns))
    except Exception as err:  # a complete zip whose contents Keras cannot load: damaged, not a bug of the caller
        from finetune.transfer.shipped import networks_dir
        from recommender.common.errors import RecommenderError

        shipped = networks_dir() is not None and Path(checkpoint).parent.resolve() == networks_dir().resolve()
        if not shipped:  # a cached network is removed, so the next run trains it again; a shipped one is only read
            Path(checkpoint).unlink(missing_ok=True)
        raise RecommenderError(
            f"the network {checkpoint} cannot be loaded ({type(err).__name__}: {str(err)[:200]}); "
            + ("it is in the shipped networks folder: restore the file, or remove it to train it here."
               if shipped else "it was removed from the cache: run the command again to train it anew.")) from None
    x = activations.reshape((-1, *both.input.shape[1:]))
    # The batches `predict(x, batch_size=256)` would make, without its per-call set-up (a dataset adapter,
    # callbacks), which cost more than these small tails' arithmetic: the same outputs, bit for bit, 35 % sooner.
    batches = [both.predict_on_batch(x[i:i + TAIL_BATCH]) for i in range(0, len(x), TAIL_BATCH)]
    pooled, probabilities = (np.concatenate([b[j] for b in batches]) for j in range(2))
    return pooled.astype(np.float32), probabilities.astype(np.float32)


def imagenet_scores(images: ImageList, cfg: DictConfig, names) -> dict[str, float]:
    """The transferability scores (finetune.transferability) of the ImageNet network itself on `images`'
    train+val split: the reference every source network's score is read against (the gain model's features are
    source score minus this). The same pooled features the benchmark's ImageNet episodes use."""
    from finetune.transferability import REGISTRY
    from recommender.common.cache import read_json, write_json

    parts = [dataset_features(images, cfg, split) for split in ("train", "val")]
    pool = None
    out = {}
    for name in names:
        score = REGISTRY[name]
        if score.needs == "predictions":
            raise ValueError(f"{name} reads source-class predictions, which the ImageNet network has none of here")
        # A pure function of the two feature cache files (named by content) and the score: kept beside them, so a
        # warm run reads it instead of fitting the probe's episodes again.
        path = parts[0].path.parent / f"imagenet-{name}-{parts[0].path.stem}-{parts[1].path.stem}.json"
        stored = read_json(path)
        if isinstance(stored, float) and np.isfinite(stored):
            out[name] = stored
            continue
        pool = pool or imagenet_split(images, cfg, ("train", "val"))
        out[name] = float(score.function(pool.features, pool.labels))
        write_json(path, out[name])
    return out
