"""Keyed, validated, atomic cache entries: every derived result on disk is read through here.

A cache entry is trusted only after it has been read back whole: a truncated, foreign or half-written file
is logged, removed and recomputed, never passed on. Writes go through `atomic_output`, so a crash leaves a
temporary file (cleaned by `clean_stale_temporaries` once its writer is gone), never a broken entry.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from recommender.common.files import atomic_output

log = logging.getLogger(__name__)


def key_of(parts) -> str:
    """A short content hash of JSON-serialisable `parts`: the name of a cache entry."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _discard(path: Path, err: Exception) -> None:
    log.warning("Cache entry %s is unreadable (%s: %s); computing it again.", path, type(err).__name__, err)
    try:
        path.unlink()
    except OSError:
        pass


def read_json(path: str | Path):
    """The JSON value stored at `path`, or None when there is none or it is unreadable (then it is removed)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as err:
        _discard(path, err)
        return None


def write_json(path: str | Path, value) -> None:
    """Write `value` as JSON to `path` atomically (a reader never sees half a file)."""
    with atomic_output(path, ".json") as tmp:
        Path(tmp).write_text(json.dumps(value))


def read_npz(path: str | Path, required: Sequence[str] = ()) -> dict[str, np.ndarray] | None:
    """Every array of the npz at `path`, read whole; None when missing, unreadable or lacking `required`."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        missing = [name for name in required if name not in arrays]
        if missing:
            raise KeyError(f"missing {missing}")
        return arrays
    except Exception as err:  # zipfile, numpy and OS errors alike: an entry is readable or it is recomputed
        _discard(path, err)
        return None


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` as an .npz to `path` atomically."""
    with atomic_output(path, ".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def cached_npz(path: str | Path, compute: Callable[[], dict[str, np.ndarray]],
               required: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """The arrays at `path` when it holds a valid entry, else `compute()`, stored there first."""
    found = read_npz(path, required)
    if found is not None:
        return found
    arrays = compute()
    write_npz(path, arrays)
    return arrays


def valid_png(path: str | Path) -> bool:
    """Whether `path` is a complete PNG (decoded whole); an invalid one is removed."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        return False
    try:
        with Image.open(path) as img:
            if img.format != "PNG":
                raise ValueError(f"not a PNG but {img.format}")
            img.load()
        return True
    except Exception as err:
        _discard(path, err)
        return False


def copy_entry(path: str | Path, destination: str | Path) -> None:
    """Copy a validated cache entry (a figure) to where a report wants it."""
    shutil.copyfile(path, destination)
