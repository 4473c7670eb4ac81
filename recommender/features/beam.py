"""Feature extraction on Apache Beam (`features.runner=beam`): the same cache entry as the local path, at any scale.

    batches of (position, image, label) -> ExtractBatch (decode, resize, forward pass; the backbone is built once
    per worker in `setup`) -> per-class partial statistics -> CombinePerKey(ClassStatisticsFn) -> one writer

The recommender needs per class only a count, the sum of the features and the sum of their squares, plus per-image
rows for retrieval and the sample-level distances. The combiner adds the sums exactly and keeps at most
`rows_per_class` rows per class: those whose seeded hash of the image's reference is smallest (bottom-k sampling),
so the sample is the same whatever the sharding, the order or the number of workers, and the combiner's memory does
not grow with the number of images. With `rows_per_class: null` every row is kept and the entry is the local one.
The DirectRunner runs this on one machine; `features.beam_options` pass Flink, Spark or Dataflow flags through.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import apache_beam as beam
import numpy as np

from recommender.features.backbone import BackboneSpec
from recommender.data.datasets import DatasetSpec
from recommender.common.cache import write_npz
from recommender.features.extractor import Extractor, decode_files, tfds_images
from recommender.data.images import UnreadableImageError

log = logging.getLogger(__name__)


def row_priority(seed: int, ref) -> int:
    """The seeded hash that orders an image within its class's sample (smallest kept)."""
    return int.from_bytes(hashlib.blake2b(f"{int(seed)}\0{ref}".encode(), digest_size=8).digest(), "big")


@dataclass
class ClassStatistics:
    """What one class contributes to the cache entry: exact sums, and a bounded sample of per-image rows."""

    count: int
    sums: np.ndarray  # (dim,) float64
    sq_sums: np.ndarray  # (dim,) float64
    rows: list = field(default_factory=list)  # (priority, position, ref, features float32 (dim,)), by priority

    def merged(self, other: "ClassStatistics", limit: int | None) -> "ClassStatistics":
        rows = sorted(self.rows + other.rows, key=lambda row: (row[0], row[1]))
        return ClassStatistics(self.count + other.count, self.sums + other.sums, self.sq_sums + other.sq_sums,
                               rows if limit is None else rows[:limit])


class ClassStatisticsFn(beam.CombineFn):
    """Merges partial ClassStatistics of one class; at most `rows_per_class` rows are ever held."""

    def __init__(self, rows_per_class: int | None):
        self.rows_per_class = rows_per_class

    def create_accumulator(self):
        return None

    def add_input(self, accumulator, partial):
        return partial if accumulator is None else accumulator.merged(partial, self.rows_per_class)

    def merge_accumulators(self, accumulators):
        merged = None
        for accumulator in accumulators:
            if accumulator is not None:
                merged = self.add_input(merged, accumulator)
        return merged

    def extract_output(self, accumulator):
        return accumulator


class ExtractBatch(beam.DoFn):
    """One batch of images -> per-class partial statistics; unreadable images go to the `skipped` output."""

    def __init__(self, dataset: DatasetSpec, n_examples: int, backbone: BackboneSpec, rows_per_class: int | None,
                 seed: int):
        self.dataset, self.n_examples, self.backbone = dataset, n_examples, backbone
        self.rows_per_class, self.seed = rows_per_class, seed
        self.extractor = None

    def setup(self):
        self.extractor = Extractor(self.backbone)  # once per worker; the model is built on its first batch

    def process(self, batch):
        positions, refs, labels = batch
        size = int(self.backbone.image_size)
        if self.dataset.kind == "tfds":
            import tensorflow_datasets as tfds

            window = (int(positions[0]), int(positions[-1]) + 1)
            images = np.concatenate(list(tfds.as_numpy(
                tfds_images(self.dataset, self.n_examples, np.asarray(refs), size, window).batch(len(refs)))))
            readable = np.ones(len(refs), bool)
        else:
            images, readable = decode_files(refs, size)
        for position, ref in zip(np.asarray(positions)[~readable], np.asarray(refs)[~readable]):
            yield beam.pvalue.TaggedOutput("skipped", (int(position), str(ref)))
        if not readable.any():
            return
        features = self.extractor(images[readable])
        positions, refs, labels = (np.asarray(a)[readable] for a in (positions, refs, labels))
        for label in np.unique(labels):
            mine = labels == label
            rows = features[mine]
            wide = rows.astype(np.float64)
            kept = sorted((row_priority(self.seed, ref), int(position), str(ref), row)
                          for position, ref, row in zip(positions[mine], refs[mine], rows))
            if self.rows_per_class is not None:
                kept = kept[: self.rows_per_class]
            yield int(label), ClassStatistics(int(mine.sum()), wide.sum(axis=0), (wide * wide).sum(axis=0), kept)


def _batches(refs: list, labels: np.ndarray, indices: np.ndarray, batch_size: int):
    for lo in range(0, len(indices), batch_size):
        chunk = indices[lo : lo + batch_size]
        yield chunk.tolist(), [refs[i] if isinstance(refs[i], str) else int(refs[i]) for i in chunk], \
            labels[chunk].tolist()


def _write(all_classes, skipped, path: str, class_names: list[str]) -> None:
    """The single writer: assembles the entry exactly as the local path lays it out, and renames it into place."""
    if not all_classes:
        return  # nothing readable: the driver raises the local path's error
    n_classes = len(class_names)
    dim = len(all_classes[0][1].sums)
    counts = np.zeros(n_classes, np.int64)
    sums, sq_sums = np.zeros((n_classes, dim)), np.zeros((n_classes, dim))
    rows = []
    for label, stats in all_classes:
        counts[label], sums[label], sq_sums[label] = stats.count, stats.sums, stats.sq_sums
        rows += [(position, ref, label, feature) for _, position, ref, feature in stats.rows]
    rows.sort(key=lambda row: row[0])  # index order, as the local path writes them
    skipped = [ref for _, ref in sorted(skipped)]
    write_npz(Path(path), {
        "class_names": np.asarray(class_names),
        "class_counts": counts,
        "class_sums": sums,
        "class_sq_sums": sq_sums,
        "refs": np.asarray([ref for _, ref, _, _ in rows]),
        "labels": np.asarray([label for _, _, label, _ in rows], np.int64),
        "skipped": np.asarray(skipped) if skipped else np.asarray([], dtype=str),
        "features": np.stack([feature for *_, feature in rows]).astype("<f4"),
    })


def extract_with_beam(path: Path, image_list, indices: np.ndarray, backbone: BackboneSpec, batch_size: int,
                      options: dict, rows_per_class: int | None, seed: int) -> None:
    """Run the pipeline that writes the feature-cache entry at `path` (the local path's layout)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    indices = np.asarray(indices)
    batches = list(_batches(image_list.refs, image_list.labels, indices, int(batch_size)))
    log.info("Extracting %d images of %s on Beam (%d batches, options %s)", len(indices), image_list.name,
             len(batches), options)
    extract = ExtractBatch(image_list.spec, len(image_list.labels), backbone, rows_per_class, seed)
    with beam.Pipeline(options=PipelineOptions.from_dictionary(options)) as pipeline:
        parts = (pipeline
                 | "Batches" >> beam.Create(batches)
                 | "Extract" >> beam.ParDo(extract).with_outputs("skipped", main="classes"))
        all_classes = (parts.classes
                       | "Per class" >> beam.CombinePerKey(ClassStatisticsFn(rows_per_class))
                       | "Gather classes" >> beam.combiners.ToList())
        skipped = parts.skipped | "Gather skipped" >> beam.combiners.ToList()
        _ = all_classes | "Write entry" >> beam.Map(_write, skipped=beam.pvalue.AsSingleton(skipped),
                                                     path=str(path), class_names=list(image_list.class_names))
    if not path.is_file():
        raise UnreadableImageError(
            f"Dataset {image_list.name!r}: none of its {len(indices)} images could be read "
            "(see the warnings above for each file).")
