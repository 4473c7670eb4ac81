"""Backbone features of a dataset split, streamed into per-class sums and cached on disk.

Extraction is the expensive step, so each (dataset content, split selection, backbone) is extracted once:
the cache file name is a hash of all of them, and a second run on unchanged data extracts nothing.
While extracting, features are added to per-class sums and appended to a temporary file, so memory
does not grow with the number of images; the per-image features stay available for retrieval and plots.
"""
from __future__ import annotations


import functools
import hashlib
import json
import logging
import os
import tempfile
import threading
import zipfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recommender.features.backbone import BackboneSpec, build_backbone, identity, preprocess, resolve_weights
from recommender.data.datasets import ImageList
from recommender.common.errors import RecommenderError
from recommender.common.files import temporary_prefix
from recommender.features.store import write_entry
from recommender.data.images import UnreadableImageError, load_rgb, resize_array

log = logging.getLogger(__name__)
CACHE_FORMAT = 2  # 2: class sums of squares
LOOKAHEAD = 3  # batches decoded ahead of the model: enough to hide decoding, bounded memory
DECODE_THREADS = 2


class FeatureError(RecommenderError, ValueError):
    """Features cannot be extracted as configured; the message names the option to change."""


@dataclass
class FeatureSet:
    """Features of one dataset split: class sums for the recommender, per-image rows on demand."""

    dataset: str
    class_names: list[str]
    class_counts: np.ndarray  # images successfully read per class
    class_sums: np.ndarray  # (n_classes, dim), float64
    class_sq_sums: np.ndarray  # (n_classes, dim), float64: per-class sums of squared features
    refs: np.ndarray  # readable images, in row order of `features()`
    labels: np.ndarray
    skipped: np.ndarray  # refs of images that could not be read
    path: Path
    # True when this call ran the backbone (cache miss): how the features were obtained, not what they are.
    extracted: bool = field(default=False, compare=False)

    @property
    def n_images(self) -> int:
        return int(self.class_counts.sum())

    def features(self) -> np.ndarray:
        """Per-image features, (n_images, dim) float32, read from the cache file."""
        with np.load(self.path, allow_pickle=False) as data:
            return data["features"]


def cache_key(image_list: ImageList, indices: np.ndarray, backbone: dict, rows_per_class: int | None = None) -> str:
    """The content key of a feature cache entry: the dataset's content, the selected images, the backbone's
    identity and the row sample (a pure function of what the features depend on, not of names or paths)."""
    payload = {
        "format": CACHE_FORMAT,
        "dataset": image_list.fingerprint,
        "indices": hashlib.sha256(np.asarray(indices, dtype=np.int64).tobytes()).hexdigest(),
        "backbone": backbone,
    }
    if rows_per_class is not None:  # an entry with every row is the same whichever runner wrote it
        payload["rows_per_class"] = int(rows_per_class)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


class Extractor:
    """The frozen backbone as a function images -> features, built on first use.

    `layer=None` gives the global-average-pooled features the recommender compares; a layer name gives that
    layer's activations (flattened), which fine-tuning caches so the frozen part of the network runs once.
    Building lazily keeps a fully cached run free of TensorFlow start-up; sharing one instance across
    datasets builds and traces the model once.
    """

    def __init__(self, spec: BackboneSpec, layer: str | None = None):
        self.spec = spec
        self.layer = layer
        self.weights_path = resolve_weights(spec)
        self.identity = {**identity(spec, self.weights_path), "layer": layer or "global_average_pool"}
        self._model = None
        self.output_shape = None

    @property
    def dim(self) -> int:
        return int(np.prod(self.output_shape))

    def __call__(self, images) -> np.ndarray:
        if self._model is None:
            self._model = self._build()
        return np.asarray(self._model.predict_on_batch(np.asarray(images, np.uint8)))

    def _build(self):
        model, shapes = backbone_model(self.spec, self.weights_path, (self.layer,))
        self.output_shape = shapes[0]
        return model


class ExtractorGroup:
    """Several extractors of one backbone run as one model: each image is decoded and passes through the layers
    they share once (a pooled output and the activations of two cuts cost one forward pass, not three).
    Each output is exactly what its extractor alone computes, so their cache entries are interchangeable."""

    def __init__(self, extractors):
        self.extractors = list(extractors)
        if not self.extractors or len({e.spec for e in self.extractors}) != 1:
            raise FeatureError("extractors run together must share one backbone (name, alpha, image size, weights).")
        self.spec = self.extractors[0].spec
        self._model = None

    def __call__(self, images) -> list[np.ndarray]:
        if self._model is None:
            self._model, shapes = _group_model(self.spec, self.extractors[0].weights_path,
                                               tuple(e.layer for e in self.extractors))
            for extractor, shape in zip(self.extractors, shapes):
                extractor.output_shape = shape
        outputs = self._model.predict_on_batch(np.asarray(images, np.uint8))
        return [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


@functools.lru_cache(maxsize=4)
def _group_model(spec: BackboneSpec, weights_path, layers: tuple):
    # Built and traced once per backbone and set of outputs, however many datasets and splits run through it.
    return backbone_model(spec, weights_path, layers)


def backbone_model(spec: BackboneSpec, weights_path, layers: tuple):
    """uint8 images -> preprocessing -> backbone -> one flattened output per entry of `layers` (a layer's name,
    or None for the global-average-pooled features), as one Keras model; also each output's unflattened shape.

    Only Keras ops, so the same model runs on TensorFlow, JAX or PyTorch (whichever `KERAS_BACKEND` names),
    on a GPU when that backend sees one; `predict_on_batch` runs the backend's compiled predict step.
    """
    import keras

    if layers == (None,):
        backbone = build_backbone(spec, weights_path, pooling="avg")
    else:
        full = build_backbone(spec, weights_path, pooling=None)
        # The same pooling layer keras.applications appends for pooling="avg", so the outputs are identical.
        ends = [keras.layers.GlobalAveragePooling2D()(full.output) if layer is None else full.get_layer(layer).output
                for layer in layers]
        backbone = keras.Model(full.input, ends if len(ends) > 1 else ends[0])
    shapes = [tuple(int(d) for d in s[1:]) for s in
              (backbone.output_shape if len(layers) > 1 else [backbone.output_shape])]
    size = int(spec.image_size)
    images = keras.Input((size, size, 3), dtype="uint8")
    outputs = backbone(preprocess(keras.ops.cast(images, "float32")), training=False)
    outputs = outputs if len(layers) > 1 else [outputs]
    flat = [keras.ops.reshape(o, (-1, int(np.prod(shape)))) for o, shape in zip(outputs, shapes)]
    return keras.Model(images, flat if len(layers) > 1 else flat[0]), shapes


ENTRY_ARRAYS = ("class_names", "class_counts", "class_sums", "class_sq_sums", "refs", "labels", "skipped",
                "features")


_VERIFIED: set[tuple] = set()  # (path, size, mtime) of entries this process has already read back whole


def _verified(path: Path) -> None:
    """Raise ValueError unless the entry at `path` is whole: every array's CRC (the zip's), every array present,
    and the shapes agreeing with each other. Reading only the class sums would pass an entry whose per-image rows
    are damaged, and the damage would surface later, on every run. Checked once per process and file version: a
    benchmark reads the same entries hundreds of times."""
    st = path.stat()
    version = (str(path), st.st_size, st.st_mtime_ns)
    if version in _VERIFIED:
        return
    with zipfile.ZipFile(path) as archive:
        damaged = archive.testzip()
        if damaged is not None:
            raise ValueError(f"CRC error in {damaged}")
        members = {Path(n).stem: n for n in archive.namelist()}
        missing = [a for a in ENTRY_ARRAYS if a not in members]
        if missing:
            raise ValueError(f"arrays missing: {missing}")
        shapes = {}
        for name in ENTRY_ARRAYS:
            with archive.open(members[name]) as fh:
                version = np.lib.format.read_magic(fh)
                reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shapes[name] = reader(fh)[0]
    n_classes, n_rows = shapes["class_names"][0], shapes["refs"][0]
    consistent = (shapes["class_counts"] == (n_classes,) and shapes["class_sums"][0] == n_classes
                  and shapes["class_sq_sums"] == shapes["class_sums"] and shapes["labels"] == (n_rows,)
                  and len(shapes["features"]) == 2 and shapes["features"][0] == n_rows
                  and shapes["features"][1] == shapes["class_sums"][1])
    if not consistent:
        raise ValueError(f"array shapes do not agree: {shapes}")
    _VERIFIED.add(version)


def load_entry(path: Path, dataset: str) -> FeatureSet:
    _verified(path)
    with np.load(path, allow_pickle=False) as data:
        return FeatureSet(
            dataset=dataset,
            class_names=[str(c) for c in data["class_names"]],
            class_counts=data["class_counts"],
            class_sums=data["class_sums"],
            class_sq_sums=data["class_sq_sums"],
            refs=data["refs"],
            labels=data["labels"],
            skipped=data["skipped"],
            path=path,
        )


def image_batches(image_list: ImageList, indices: np.ndarray, image_size: int, batch_size: int):
    """Yield (images uint8 (n, size, size, 3), labels, readable mask) batches in index order.

    The next batches decode in a background thread while the caller runs the model on this one: PIL releases
    the GIL while decoding and TensorFlow while computing, so decoding hides behind the forward pass.
    """
    size, batch_size = int(image_size), int(batch_size)
    labels = image_list.labels[indices]
    if image_list.spec.kind == "tfds":
        import tensorflow_datasets as tfds

        batches = tfds.as_numpy(tfds_images(image_list.spec, len(image_list.labels), indices, size).batch(batch_size))
        for lo, images in zip(range(0, len(indices), batch_size), batches):
            yield images, labels[lo : lo + batch_size], np.ones(len(images), bool)
        return
    paths = [image_list.refs[i] for i in indices]
    starts = range(0, len(paths), batch_size)

    def decode(lo):
        return (*decode_files(paths[lo : lo + batch_size], size), labels[lo : lo + batch_size])

    with ThreadPoolExecutor(max_workers=DECODE_THREADS, initializer=_lower_priority) as pool:
        ahead = deque(pool.submit(decode, lo) for lo in starts[:LOOKAHEAD])
        for lo in starts[LOOKAHEAD:]:
            images, ok, batch_labels = ahead.popleft().result()
            ahead.append(pool.submit(decode, lo))
            yield images, batch_labels, ok
        while ahead:
            images, ok, batch_labels = ahead.popleft().result()
            yield images, batch_labels, ok


def decode_files(paths, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, size, size, 3), readable mask) of image files; an unreadable one is logged and left black."""
    batch = np.zeros((len(paths), size, size, 3), np.uint8)
    ok = np.ones(len(batch), bool)
    for k, path in enumerate(paths):
        try:
            batch[k] = resize_array(load_rgb(path, min_size=size), size)
        except UnreadableImageError as err:
            log.warning("Skipping unreadable image: %s", err)
            ok[k] = False
    return batch, ok


def _lower_priority() -> None:
    """Let the decoding threads yield to the model's threads: they only have to fill the gaps those leave.

    The lowest priority (19) measured best on two cores (mean extraction speed 0.92-0.95 of the bare forward
    pass on three datasets, against 0.88-0.97 at nice 10); when the model does wait for a batch, its threads
    are idle and decoding gets the CPU anyway, so nothing starves.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux, or not allowed: decoding still works, just less politely
        pass


def tfds_images(spec, n_examples: int, indices: np.ndarray, size: int, window: tuple[int, int] | None = None):
    """The split's images at `indices`, decoded and resized, streamed in order by tf.data.

    `window=(lo, hi)` reads only examples lo..hi-1 of the split (every index must lie there): a Beam worker
    streams its own slice instead of the whole split."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    lo, hi = window or (0, int(n_examples))
    if window is None:
        ds = tfds.load(spec.tfds_name, split=spec.tfds_split, data_dir=spec.data_dir)
    elif "[" in spec.tfds_split or "+" in spec.tfds_split:  # a sliced or merged split cannot be sliced again
        ds = tfds.load(spec.tfds_name, split=spec.tfds_split, data_dir=spec.data_dir).skip(lo).take(hi - lo)
    else:
        ds = tfds.load(spec.tfds_name, split=f"{spec.tfds_split}[{lo}:{hi}]", data_dir=spec.data_dir)
    wanted = tf.constant(np.isin(np.arange(lo, hi), indices))

    def in_split(position, example):
        return tf.gather(wanted, position)

    def to_rgb(position, example):
        image = example["image"]
        if image.dtype != tf.uint8:
            image = tf.image.convert_image_dtype(image, tf.uint8, saturate=True)
        # Both branches are (h, w, 3): grayscale is repeated, RGBA loses its alpha.
        image = tf.cond(tf.shape(image)[-1] == 1, lambda: tf.repeat(image[..., :1], 3, axis=-1),
                        lambda: image[..., :3])
        resized = tf.image.resize(tf.cast(image, tf.float32), (size, size), method="bilinear")
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    ds = ds.enumerate().filter(in_split)
    return ds.map(to_rgb, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def extract_to(paths, image_list, indices, extractors, batch_size, progress, label):
    """One pass over the images; each extractor's features go to its own cache entry (paths[i])."""
    from tqdm.auto import tqdm

    run = extractors[0] if len(extractors) == 1 else ExtractorGroup(extractors)
    n_classes = len(image_list.class_names)
    sums = sq_sums = None
    counts = np.zeros(n_classes, np.int64)
    kept_labels, kept_refs, skipped = [], [], []
    refs = np.asarray([str(image_list.refs[i]) for i in indices])
    position = 0
    raws = [tempfile.mkstemp(dir=p.parent, prefix=temporary_prefix(p.name), suffix=".raw") for p in paths]
    try:
        files = [os.fdopen(fd, "wb") for fd, _ in raws]
        try:
            batches = image_batches(image_list, indices, extractors[0].spec.image_size, batch_size)
            bar = tqdm(total=len(indices), desc=label, unit="img", disable=not progress)
            for images, labels, readable in batches:
                outputs = run(images) if len(extractors) > 1 else [run(images)]
                feats = [o[readable] for o in outputs]
                if sums is None:
                    sums = [np.zeros((n_classes, e.dim), np.float64) for e in extractors]
                    sq_sums = [np.zeros_like(s) for s in sums]
                labels = labels[readable]
                for f, s, sq, raw in zip(feats, sums, sq_sums, files):
                    add_to_class_sums(s, sq, labels, f)
                    raw.write(f.astype("<f4").tobytes())
                counts += np.bincount(labels, minlength=n_classes)
                batch_refs = refs[position : position + len(readable)]
                kept_refs.append(batch_refs[readable])
                skipped.append(batch_refs[~readable])
                kept_labels.append(labels)
                position += len(readable)
                bar.update(len(readable))
            bar.close()
        finally:
            for f in files:
                f.close()
        n_kept = int(counts.sum())
        if n_kept == 0:
            raise UnreadableImageError(
                f"Dataset {image_list.name!r}: none of its {len(indices)} images could be read "
                "(see the warnings above for each file)."
            )
        for path, extractor, s, sq, (_, raw_name) in zip(paths, extractors, sums, sq_sums, raws):
            small = {
                "class_names": np.asarray(image_list.class_names),
                "class_counts": counts,
                "class_sums": s,
                "class_sq_sums": sq,
                "refs": np.concatenate(kept_refs),
                "labels": np.concatenate(kept_labels).astype(np.int64),
                "skipped": np.concatenate(skipped) if skipped else np.asarray([], dtype=str),
            }
            write_entry(path, small, raw_name, (n_kept, extractor.dim))
    finally:
        for _, raw_name in raws:
            if os.path.exists(raw_name):
                os.unlink(raw_name)


def add_to_class_sums(sums: np.ndarray, sq_sums: np.ndarray, labels: np.ndarray, feats: np.ndarray) -> None:
    """sums[c] += the features of class c, sq_sums[c] += their squares.

    A one-hot matrix product rather than np.add.at: this runs between two forward passes, where add.at's
    per-element loop cost a few percent of the extraction time.
    """
    one_hot = np.zeros((len(sums), len(labels)))
    one_hot[labels, np.arange(len(labels))] = 1.0
    feats = feats.astype(np.float64)
    sums += one_hot @ feats
    sq_sums += one_hot @ (feats * feats)


