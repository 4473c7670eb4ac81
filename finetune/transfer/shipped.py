"""Stage-1 networks that ship with the project: one fixed set of files every machine shares, so the same command
ranks the same way on any processor and the first run trains nothing.

A networks folder holds `stage1-<key>.keras` files named by `stages.stage1_key` (the file the project itself would
write for that source, protocol and seed) and a `SHA256SUMS` list (`sha256sum` format). A file is used only when
its SHA-256 matches the list; one that does not match, or is not listed, is refused with one warning and the
network is trained here as if the folder did not have it. The folder is only ever read.

Where: `RECOMMENDER_NETWORKS_DIR`, else `../shared/networks/catalog-top4` beside a checkout; neither: no folder,
and every network is trained (and cached) as before.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from recommender.common.paths import SHARED_DIR

log = logging.getLogger(__name__)
NETWORKS_ENV = "RECOMMENDER_NETWORKS_DIR"
DEFAULT_DIR = SHARED_DIR / "networks" / "catalog-top4"
SUMS = "SHA256SUMS"


@dataclass(frozen=True)
class Provenance:
    """Where one stage-1 network came from: "shipped" (verified against the folder's list) or "trained here"."""

    origin: str
    path: str
    sha256: str | None = None
    refused: str | None = None  # why a shipped file of the same name was not used

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def networks_dir() -> Path | None:
    """The shipped networks folder, or None when there is none (then everything is trained here)."""
    env = os.environ.get(NETWORKS_ENV)
    if env:
        return Path(env).expanduser()
    return DEFAULT_DIR if DEFAULT_DIR.is_dir() else None


def read_sums(path: Path) -> dict[str, str]:
    """`sha256sum` output ("<64 hex>  <name>" per line; a '*' before the name marks binary mode) as name -> hash.
    Lines that are not of that form are ignored: a hash list with a bad line cannot vouch for anything on it."""
    sums = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return sums
    for line in text.splitlines():
        digest, _, name = line.strip().partition(" ")
        name = name.strip().lstrip("*")
        if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest.lower()) and name and "/" not in name:
            sums[name] = digest.lower()
    return sums


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    # Keyed by size and mtime too: a file replaced during a long session is hashed again.
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (cached per path, size and modification time within one process)."""
    stat = path.stat()
    return _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)


_warned: set[str] = set()


def shipped_network(filename: str) -> tuple[Path | None, str | None]:
    """(the verified shipped file named `filename`, None) when the folder has it and its hash matches;
    (None, why it was refused) when the folder has a file of that name that cannot be trusted; (None, None) when
    there is no folder or no such file. A refusal is logged once per process, as one line."""
    folder = networks_dir()
    if folder is None:
        return None, None
    path = folder / filename
    if not path.is_file():
        return None, None
    expected = read_sums(folder / SUMS).get(filename)
    try:
        actual = file_sha256(path)
    except OSError as err:
        why = f"unreadable ({err.strerror or err})"
    else:
        if expected is None:
            why = f"not listed in {folder / SUMS}"
        elif actual != expected:
            why = f"its SHA-256 {actual[:12]}… does not match {SUMS} ({expected[:12]}…)"
        else:
            return path, None
    if filename not in _warned:
        _warned.add(filename)
        log.warning("Shipped network %s refused: %s; it is not used, and this network is trained here instead.",
                    path, why)
    return None, why


def provenance(path: Path) -> Provenance:
    """Where the network at `path` came from, for the report and ranking.json."""
    folder = networks_dir()
    path = Path(path)
    if folder is not None and path.parent.resolve() == folder.resolve():
        return Provenance("shipped", str(path), file_sha256(path))
    _, refused = shipped_network(path.name)
    return Provenance("trained here", str(path), refused=refused)
