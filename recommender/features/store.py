"""The one writer of a feature-cache entry, used by both runners (local and Beam).

An entry is an uncompressed npz: the small arrays (class names, counts, per-class sums and sums of squares, refs,
labels, skipped refs) and `features`, streamed from a raw float32 file of the rows in index order, so neither
runner holds every row in memory.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from recommender.common.files import atomic_output, temporary_prefix


@contextlib.contextmanager
def raw_rows(path: Path):
    """A temporary raw file beside the entry at `path` to write its rows into: yields (open file, its name); the
    file is removed afterwards, whether or not the entry was written."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path.name), suffix=".raw")
    raw = os.fdopen(fd, "wb")
    try:
        yield raw, name
    finally:
        raw.close()
        if os.path.exists(name):
            os.unlink(name)


def write_entry(path: Path, arrays: dict, raw_name: str, feature_shape: tuple[int, int]) -> None:
    """Write an npz whose `features` member is streamed from the raw float32 file, then rename it into place.

    A crash leaves only a temporary file behind, never a half-written cache entry that a later run would trust.
    """
    with atomic_output(path, ".npz") as tmp_name:
        with zipfile.ZipFile(tmp_name, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, array in arrays.items():
                with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
            header = {"descr": "<f4", "fortran_order": False, "shape": feature_shape}
            with zf.open("features.npy", "w", force_zip64=True) as member, open(raw_name, "rb") as raw:
                np.lib.format.write_array_header_2_0(member, header)
                while chunk := raw.read(1 << 20):
                    member.write(chunk)
