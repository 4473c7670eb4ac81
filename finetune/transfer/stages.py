"""Stage 1 (train on the source) and stage 2 (transfer to the target, evaluate once on its test split).

Only the recommender's public API is used for data: the same seeded splits, and its feature cache for the
frozen bottom's activations, so head training and top-block fine-tuning never recompute the frozen part.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from recommender import (DatasetError, Extractor, ImageList, atomic_output, backbone_identity, backbone_spec,
                         dataset_features, load_images, open_dataset, resolve_weights, split_indices_of)

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = 1


@dataclass
class TransferResult:
    """Target test-split metrics of one transfer (source or 'imagenet', seed)."""

    source: str
    target: str
    seed: int
    accuracy: float
    per_class_accuracy: dict[str, float]
    confusion: list[list[int]]
    class_names: list[str]
    n_test: int
    model: object = field(default=None, repr=False)  # the trained keras.Model (not serialised)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "model"}


def transfer_config(cfg: DictConfig) -> DictConfig:
    """The configuration the transfer runs with: the backbone at `finetune.image_size`."""
    if int(cfg.finetune.image_size) == int(cfg.backbone.image_size):
        return cfg
    return OmegaConf.merge(cfg, {"backbone": {"image_size": int(cfg.finetune.image_size)}})


def check_splittable(images: ImageList, cfg: DictConfig) -> None:
    """Every class needs enough images for a train, a validation and a test share."""
    minimum = int(cfg.finetune.min_images_per_class)
    counts = np.bincount(images.labels, minlength=len(images.class_names))
    for name, count in zip(images.class_names, counts):
        if count < minimum:
            raise DatasetError(
                f"Dataset {images.name!r}: class {name!r} has {count} images; fine-tuning needs at least "
                f"{minimum} per class to split it into train/val/test (finetune.min_images_per_class). "
                "Add images or remove the class folder."
            )
    split = {s: split_indices_of(images, cfg, s) for s in ("train", "val", "test")}
    for s, idx in split.items():
        missing = sorted(set(range(len(images.class_names))) - set(images.labels[idx].tolist()))
        if missing:
            raise DatasetError(f"Dataset {images.name!r}: the {s} split has no image of class "
                               f"{images.class_names[missing[0]]!r}; add images of that class or change "
                               "split.train/val/test.")


def _uses_images(cfg: DictConfig) -> bool:
    aug = cfg.finetune.augmentation
    return cfg.finetune.strategy == "full" or any(bool(aug[k]) for k in ("shift", "zoom", "rotation", "flip"))


def _split_arrays(images: ImageList, cfg: DictConfig, split: str, cut: str | None, tail_input_shape) -> tuple:
    """(x, y) for the tail: cached activations at the cut, or decoded images when training runs on images."""
    if cut == "input":
        return load_images(images, cfg, split)
    feats = dataset_features(images, cfg, split, extractor=cut_extractor(backbone_spec(cfg), cut))
    return feats.features().reshape((-1, *tail_input_shape)), feats.labels


@functools.lru_cache(maxsize=8)
def cut_extractor(spec, cut: str | None):
    # One extractor per backbone and cut: built and traced once, however many datasets and seeds use it.
    """The frozen-bottom extractor of `spec` cut at `cut`, one per process."""
    return Extractor(spec, cut)


def _trainable(net, cfg: DictConfig):
    """(model to train, what it takes): the tail on cached activations, or the whole network on images."""
    from finetune.transfer.model import trainable_tail

    return (net, "input") if _uses_images(cfg) else trainable_tail(net)


def _fit(net, cfg: DictConfig, data: dict, phase: str, learning_rate: float, epochs: int, seed: int) -> int:
    import keras

    ft = cfg.finetune
    if int(epochs) == 0:  # finetune.epochs.finetune=0: the head alone is trained; this phase is skipped
        return 0
    from finetune.transfer.model import set_phase

    set_phase(net, phase)
    model = _trainable(net, cfg)[0]
    model.compile(optimizer=keras.optimizers.AdamW(float(learning_rate), weight_decay=float(ft.weight_decay)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    keras.utils.set_random_seed(int(seed))
    history = model.fit(*data["train"], validation_data=data["val"], epochs=int(epochs), batch_size=int(ft.batch_size),
                        shuffle=True, verbose=0,
                        callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(ft.patience),
                                                                 restore_best_weights=True)])
    return len(history.history["loss"])


def _data(net, images: ImageList, cfg: DictConfig, splits=("train", "val")) -> dict:
    model, cut = _trainable(net, cfg)
    shape = tuple(model.input.shape[1:])
    return {s: _split_arrays(images, cfg, s, cut, shape) for s in splits}


def _train_phases(net, images: ImageList, cfg: DictConfig, seed: int, stage: str) -> dict:
    data = _data(net, images, cfg, ("train", "val"))
    ft = cfg.finetune
    epochs = {"head": _fit(net, cfg, data, "head", ft.learning_rate[f"{stage}_head"], ft.epochs.head, seed)}
    if ft.strategy != "linear_probe":
        epochs["finetune"] = _fit(net, cfg, data, "finetune", ft.learning_rate[f"{stage}_finetune"],
                                  ft.epochs.finetune, seed)
    return epochs


def stage1_key(images: ImageList, cfg: DictConfig, seed: int) -> str:
    """What a stage-1 checkpoint depends on: source content and split, backbone, stage-1 options, seed."""
    ft = OmegaConf.to_container(cfg.finetune, resolve=True)
    for target_only in ("seeds", "checkpoint_dir", "min_images_per_class"):
        ft.pop(target_only, None)
    ft["learning_rate"] = {k: v for k, v in ft["learning_rate"].items() if k.startswith("source")}
    spec = backbone_spec(cfg)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "dataset": images.fingerprint,
        "train": hashlib.sha256(split_indices_of(images, cfg, "train", cfg.features.max_images_per_class)
                                .tobytes()).hexdigest(),
        "split": OmegaConf.to_container(cfg.split), "seed": int(seed),
        "backbone": backbone_identity(spec, resolve_weights(spec)), "finetune": ft,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def checkpoint_path(images: ImageList, cfg: DictConfig, seed: int) -> Path:
    """Where the stage-1 checkpoint of `images` under `cfg` (a transfer_config) and `seed` is cached: named by
    content, not by display name, so one source reached two ways trains once."""
    return Path(cfg.finetune.checkpoint_dir).expanduser() / f"stage1-{stage1_key(images, cfg, seed)}.keras"


def companion_dir(checkpoint: Path, cfg: DictConfig) -> Path:
    """Where files computed from a network (its scores, the target's features through it) are cached: beside
    the network, unless it is a shipped one, whose folder is only read; then in `finetune.checkpoint_dir`. The
    files are named by the network's content key either way."""
    from finetune.transfer.shipped import networks_dir

    folder = networks_dir()
    if folder is not None and Path(checkpoint).parent.resolve() == folder.resolve():
        return Path(cfg.finetune.checkpoint_dir).expanduser()
    return Path(checkpoint).parent


def existing_network(images: ImageList, cfg: DictConfig, seed: int) -> Path | None:
    """The stage-1 network of `images` under `cfg` (a transfer_config) and `seed` that needs no training: the
    shipped file when the networks folder has it and its hash checks out, else a cached checkpoint (not yet
    checked for damage: `train_source` does that), else None."""
    from finetune.transfer.shipped import shipped_network

    path = checkpoint_path(images, cfg, seed)
    shipped, _ = shipped_network(path.name)
    if shipped is not None:
        return shipped
    return path if path.is_file() else None


def train_source(source: str, cfg: DictConfig, seed: int) -> Path:
    """Stage 1: train on the source's train split; the checkpoint is cached per (source, config, seed). A shipped
    network (finetune.transfer.shipped) whose hash checks out is used as it is, and nothing is trained."""
    from finetune.transfer.shipped import shipped_network

    cfg = transfer_config(cfg)
    images = open_dataset(source, cfg)
    check_splittable(images, cfg)
    path = checkpoint_path(images, cfg, seed)
    shipped, _ = shipped_network(path.name)
    if shipped is not None:
        log.debug("Stage 1 %s seed %d: shipped network %s", images.name, seed, shipped)
        return shipped
    if path.is_file():
        problem = checkpoint_problem(path)
        if problem is None:
            log.debug("Stage 1 %s seed %d: cached checkpoint %s", images.name, seed, path)
            return path
        # A truncated or foreign file: train again rather than fail every later run.
        log.warning("Checkpoint %s is unreadable (%s); training stage 1 again.", path, problem)
        path.unlink(missing_ok=True)
    import keras

    from finetune.transfer.model import build_network

    keras.utils.set_random_seed(int(seed))
    spec = backbone_spec(cfg)
    net = build_network(spec, resolve_weights(spec), cfg.finetune, len(images.class_names))
    epochs = _train_phases(net, images, cfg, seed, "source")
    log.info("Stage 1 %s seed %d: trained (%s)", images.name, seed,
             ", ".join(f"{phase} {n} epochs" for phase, n in epochs.items()))
    with atomic_output(path, ".keras") as tmp:
        net.save(tmp)
    return path


def checkpoint_problem(path: Path) -> str | None:
    """Why a .keras checkpoint cannot be trusted (None: it can): it must be a complete zip archive whose members
    all pass their CRC check and that holds the model's config and weights. Much cheaper than loading it."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile) as err:
        return str(err)
    if bad is not None:
        return f"member {bad} is corrupt"
    if not {"config.json", "model.weights.h5"} <= names:
        return f"not a Keras model archive (holds {sorted(names)[:5]})"
    return None


def load_checkpoint(path: Path):
    """A stage-1 network from its .keras file (not compiled: it is fine-tuned or read, not trained as is)."""
    import keras

    return keras.models.load_model(path, compile=False)


def train_target(target: str, cfg: DictConfig, seed: int, start: Path | None = None,
                 source_name: str = "imagenet") -> TransferResult:
    """Stage 2: from a stage-1 checkpoint (or ImageNet when `start` is None) to the target; test once."""
    import keras
    from sklearn.metrics import confusion_matrix

    from finetune.transfer.model import build_network, with_new_classifier

    cfg = transfer_config(cfg)
    images = open_dataset(target, cfg)
    check_splittable(images, cfg)
    n_classes = len(images.class_names)
    keras.utils.set_random_seed(int(seed))
    if start is None:
        spec = backbone_spec(cfg)
        net = build_network(spec, resolve_weights(spec), cfg.finetune, n_classes)
    else:
        net = with_new_classifier(load_checkpoint(start), n_classes)
    _train_phases(net, images, cfg, seed, "target")
    data = _data(net, images, cfg, ("test",))
    x_test, y_test = data["test"]
    model = _trainable(net, cfg)[0]
    predicted = np.argmax(model.predict(x_test, batch_size=256, verbose=0), axis=1)
    confusion = confusion_matrix(y_test, predicted, labels=list(range(n_classes)))
    per_class = confusion.diagonal() / np.maximum(confusion.sum(1), 1)
    return TransferResult(
        source=source_name, target=images.name, seed=int(seed), accuracy=float(np.mean(predicted == y_test)),
        per_class_accuracy={c: float(a) for c, a in zip(images.class_names, per_class)},
        confusion=confusion.tolist(), class_names=list(images.class_names), n_test=int(len(y_test)), model=net,
    )
