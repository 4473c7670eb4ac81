"""Feature extraction on Apache Beam (`features.runner=beam`): the same cache entry as the local path, at any scale.

    shard descriptors (number, lo, hi) -> ExtractShard (decode, resize, forward pass; the backbone is built once
    per worker in `setup`; the shard's features go to a shard file) -> per-class partial statistics and row
    descriptors -> CombinePerKey(ClassStatisticsFn) -> the one writer (recommender/features/store.py)

The driver holds the selection's listing and the shard descriptors, never a batch or a feature row, so its memory
does not grow with the rows a source has (docs/pool/scale.md). The shard files live in a temporary folder beside
the cache entry, which every worker must therefore see (true of the DirectRunner; a shared filesystem otherwise).

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
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import apache_beam as beam
import numpy as np

from recommender.features.backbone import BackboneSpec
from recommender.data.datasets import DatasetSpec
from recommender.common.files import temporary_prefix
from recommender.features.store import raw_rows, write_entry
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
    rows: list = field(default_factory=list)  # (priority, index, ref, shard, offset), by priority

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


class ExtractShard(beam.DoFn):
    """One shard (a run of consecutive positions in the selection) -> per-class partial statistics.

    The worker decodes and embeds the shard's images, writes their features to its own shard file beside the
    entry, and yields per-class sums plus one small descriptor per kept row (priority, index, ref, shard,
    offset); unreadable images go to the `skipped` output. No feature row travels through the pipeline."""

    def __init__(self, dataset: DatasetSpec, n_examples: int, refs: np.ndarray, labels: np.ndarray,
                 indices: np.ndarray, backbone: BackboneSpec, rows_per_class: int | None, seed: int, shard_dir: str):
        self.dataset, self.n_examples, self.backbone = dataset, n_examples, backbone
        self.refs, self.labels, self.indices = refs, labels, indices  # the selection's listing, shipped once
        self.rows_per_class, self.seed, self.shard_dir = rows_per_class, seed, shard_dir
        self.extractor = None

    def setup(self):
        self.extractor = Extractor(self.backbone)  # once per worker; the model is built on its first batch

    def process(self, shard):
        number, lo, hi = shard
        positions, refs, labels = self.indices[lo:hi], self.refs[lo:hi], self.labels[lo:hi]
        size = int(self.backbone.image_size)
        if self.dataset.kind == "tfds":
            import tensorflow_datasets as tfds

            window = (int(positions[0]), int(positions[-1]) + 1)
            images = np.concatenate(list(tfds.as_numpy(
                tfds_images(self.dataset, self.n_examples, refs.astype(np.int64), size, window).batch(len(refs)))))
            readable = np.ones(len(refs), bool)
        else:
            images, readable = decode_files([str(r) for r in refs], size)
        for position, ref in zip(positions[~readable], refs[~readable]):
            yield beam.pvalue.TaggedOutput("skipped", (int(position), str(ref)))
        if not readable.any():
            return
        features = self.extractor(images[readable]).astype("<f4")
        np.save(Path(self.shard_dir) / f"{number:07d}.npy", features)
        positions, refs, labels = positions[readable], refs[readable], labels[readable]
        for label in np.unique(labels):
            mine = np.flatnonzero(labels == label)
            wide = features[mine].astype(np.float64)
            kept = sorted((row_priority(self.seed, refs[i]), int(positions[i]), str(refs[i]), int(number), int(i))
                          for i in mine)
            if self.rows_per_class is not None:
                kept = kept[: self.rows_per_class]
            yield int(label), ClassStatistics(len(mine), wide.sum(axis=0), (wide * wide).sum(axis=0), kept)


def shards(n: int, batch_size: int) -> list[tuple[int, int, int]]:
    """(number, lo, hi) for each run of `batch_size` consecutive positions of the selection."""
    return [(number, lo, min(lo + batch_size, n)) for number, lo in enumerate(range(0, n, batch_size))]


def _write(all_classes, skipped, path: str, class_names: list[str], shard_dir: str) -> None:
    """The single writer: the per-class sums and the kept rows' descriptors are small; the rows themselves are
    copied from the shard files into the entry in index order (the local path's layout), never all in memory."""
    if not all_classes:
        return  # nothing readable: the driver raises the local path's error
    n_classes = len(class_names)
    dim = len(all_classes[0][1].sums)
    counts = np.zeros(n_classes, np.int64)
    sums, sq_sums = np.zeros((n_classes, dim)), np.zeros((n_classes, dim))
    rows = []
    for label, stats in all_classes:
        counts[label], sums[label], sq_sums[label] = stats.count, stats.sums, stats.sq_sums
        rows += [(position, ref, label, shard, offset) for _, position, ref, shard, offset in stats.rows]
    rows.sort(key=lambda row: row[0])  # index order, as the local path writes them
    skipped = [ref for _, ref in sorted(skipped)]
    small = {
        "class_names": np.asarray(class_names),
        "class_counts": counts,
        "class_sums": sums,
        "class_sq_sums": sq_sums,
        "refs": np.asarray([row[1] for row in rows]),
        "labels": np.asarray([row[2] for row in rows], np.int64),
        "skipped": np.asarray(skipped) if skipped else np.asarray([], dtype=str),
    }
    with raw_rows(Path(path)) as (raw, raw_name):
        # Rows in index order visit the shards in order (a shard is a run of consecutive positions), so one shard
        # is held at a time; each is read whole and dropped, not memory-mapped (mapped pages count as resident).
        shard_number, shard, run = None, None, []
        for *_, number, offset in rows:
            if number != shard_number:
                if run:
                    raw.write(shard[run].tobytes())
                shard_number, shard, run = number, np.load(Path(shard_dir) / f"{number:07d}.npy"), []
            run.append(offset)
        if run:
            raw.write(shard[run].tobytes())
        raw.close()
        write_entry(Path(path), small, raw_name, (len(rows), dim))


def extract_with_beam(path: Path, image_list, indices: np.ndarray, backbone: BackboneSpec, batch_size: int,
                      options: dict, rows_per_class: int | None, seed: int) -> None:
    """Run the pipeline that writes the feature-cache entry at `path` (the local path's layout)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    indices = np.asarray(indices)
    refs = np.asarray([image_list.refs[i] for i in indices])  # str paths, or int TFDS indices
    parts_of = shards(len(indices), int(batch_size))
    log.info("Extracting %d images of %s on Beam (%d shards, options %s)", len(indices), image_list.name,
             len(parts_of), options)
    shard_dir = tempfile.mkdtemp(dir=path.parent, prefix=temporary_prefix(path.name), suffix=".shards")
    extract = ExtractShard(image_list.spec, len(image_list.labels), refs, np.asarray(image_list.labels)[indices],
                           indices, backbone, rows_per_class, seed, shard_dir)
    try:
        with beam.Pipeline(options=PipelineOptions.from_dictionary(options)) as pipeline:
            parts = (pipeline
                     | "Shards" >> beam.Create(parts_of)
                     | "Extract" >> beam.ParDo(extract).with_outputs("skipped", main="classes"))
            all_classes = (parts.classes
                           | "Per class" >> beam.CombinePerKey(ClassStatisticsFn(rows_per_class))
                           | "Gather classes" >> beam.combiners.ToList())
            skipped = parts.skipped | "Gather skipped" >> beam.combiners.ToList()
            _ = all_classes | "Write entry" >> beam.Map(_write, skipped=beam.pvalue.AsSingleton(skipped),
                                                         path=str(path), class_names=list(image_list.class_names),
                                                         shard_dir=shard_dir)
    finally:
        shutil.rmtree(shard_dir, ignore_errors=True)
    if not path.is_file():
        raise UnreadableImageError(
            f"Dataset {image_list.name!r}: none of its {len(indices)} images could be read "
            "(see the warnings above for each file).")
