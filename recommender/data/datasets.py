"""Datasets: which images a dataset holds, their classes, and the seeded stratified split.

Three kinds are supported:
  folder  one sub-folder per class (JPEG/PNG/BMP/GIF files inside);
  tfds    `tfds.load(name, split=..., data_dir=...)` with an integer `label` feature;
  subset  classes kept from pool datasets, named by a source spec (a .json file of scripts/build_source.py).
The first two are named in a catalog entry (conf/dataset/*.yaml); anything that is not a catalog name but is an
existing folder, or a source spec file, can be used as a dataset directly.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from recommender.common.errors import DatasetError, RecommenderError  # noqa: F401 (DatasetError: re-exported)
from recommender.data.subset import read_spec
from recommender.common.paths import SHARED_DIR

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset lives. `path` for folders; `tfds_name`/`tfds_split`/`data_dir` for TFDS."""

    name: str
    kind: str = "folder"
    path: Path | None = None
    tfds_name: str | None = None
    tfds_split: str = "train"
    data_dir: str | None = None
    # subset: (pool dataset spec, classes kept, its fingerprint when the spec was built) per pool dataset
    members: tuple = ()
    subset_identity: str | None = None

    @property
    def identity(self) -> tuple:
        """What the dataset *is*, however it was named: its real folder (after symlinks and trailing slashes),
        its TFDS split, or a built source's content identity. Two specs with the same identity are the same
        dataset."""
        if self.kind == "folder" and self.path is not None:
            return ("folder", os.path.realpath(self.path))
        if self.kind == "subset":
            return ("subset", self.subset_identity)
        return (self.kind, self.tfds_name, self.tfds_split, self.data_dir)


@dataclass
class ImageList:
    """Every image of a dataset, in a fixed order: `refs[i]` (file path or TFDS index) has class `labels[i]`."""

    spec: DatasetSpec
    class_names: list[str]
    refs: list
    labels: np.ndarray
    fingerprint: str
    empty_classes: list[str] = field(default_factory=list)
    # Each image's content digest, in `refs` order (folders only; empty for TFDS and built sources).
    contents: tuple = ()

    @property
    def name(self) -> str:
        return self.spec.name


def shared_images(a: ImageList, b: ImageList) -> int:
    """How many of `a`'s images are byte-identical to one of `b`'s (by content digest; 0 when either dataset has
    no digests, as TFDS datasets)."""
    if not a.contents or not b.contents:
        return 0
    theirs = set(b.contents)
    return sum(1 for c in a.contents if c in theirs)


def refuse_shared(target: ImageList, source: ImageList, what: str) -> None:
    """Training from a source that holds the target's own images would put its test images into pretraining:
    one error naming both datasets and the count."""
    n = shared_images(target, source)
    if n:
        raise DatasetError(f"{what}: the source {source.name!r} holds {n} of the target {target.name!r}'s images "
                           "byte for byte, so the target's test images would be in pretraining; remove them from "
                           "one of the two folders, or choose another source.")


def default_data_root() -> Path | None:
    """RECOMMENDER_DATA_ROOT if set, else ../shared/datasets beside the project when it exists."""
    env = os.environ.get("RECOMMENDER_DATA_ROOT")
    if env:
        return Path(env).expanduser()
    shared = SHARED_DIR / "datasets"
    return shared if shared.is_dir() else None


def resolve_dataset(name: str, catalog: Mapping[str, Mapping], data_root: str | Path | None) -> DatasetSpec:
    """Turn a catalog name or a folder path into a DatasetSpec."""
    name = str(name)
    if name in catalog:
        entry = dict(catalog[name])
        kind = entry.get("kind", "folder")
        if kind == "folder":
            path = Path(str(entry["path"])).expanduser()
            if not path.is_absolute():
                root = Path(data_root).expanduser() if data_root else default_data_root()
                if root is None:
                    raise DatasetError(
                        f"Dataset {name!r} is relative to the data root, but no data root is set: "
                        "pass data_root=/path/to/datasets or set RECOMMENDER_DATA_ROOT."
                    )
                path = root / path
            return DatasetSpec(name=entry.get("name", name), kind="folder", path=path)
        if kind == "tfds":
            return DatasetSpec(
                name=entry.get("name", name),
                kind="tfds",
                tfds_name=entry["tfds_name"],
                tfds_split=entry.get("split", "train"),
                data_dir=entry.get("data_dir"),
            )
        raise DatasetError(f"Dataset {name!r}: unknown kind {kind!r} (use 'folder' or 'tfds').")
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".json":
        return _resolve_subset(path, catalog, data_root)
    if path.is_dir():
        path = path.resolve()
        # A folder is called by its own name, unless that would pass it off as a catalog dataset.
        return DatasetSpec(name=str(path) if path.name in catalog else path.name, kind="folder", path=path)
    if os.sep in name or name.startswith((".", "~")):
        what = "no such folder" if not path.exists() else "not a folder of class sub-folders"
        raise DatasetError(f"{what}: {name}. Give the path of an image folder with one sub-folder per class, a "
                           "source spec (.json) built by scripts/build_source.py, or a catalog name "
                           f"({', '.join(sorted(catalog))}).")
    import difflib

    near = difflib.get_close_matches(name, list(catalog), n=1, cutoff=0.6)
    raise DatasetError(
        f"Unknown dataset {name!r}." + (f" Did you mean {near[0]!r}?" if near else "")
        + f" Known datasets: {', '.join(sorted(catalog))}. "
        "Or give the path of an image folder with one sub-folder per class, or of a source spec (.json) built by "
        "scripts/build_source.py."
    )


def _resolve_subset(path: Path, catalog: Mapping[str, Mapping], data_root: str | Path | None) -> DatasetSpec:
    spec = read_spec(path)
    members = []
    for member in spec["members"]:
        pool = resolve_dataset(member["dataset"], catalog, data_root)
        if pool.kind != "folder":
            raise DatasetError(f"Source spec {path}: pool dataset {member['dataset']!r} is a {pool.kind} dataset; "
                               "a pool must be an image folder.")
        members.append((pool, tuple(str(c) for c in member["classes"]), member["fingerprint"]))
    return DatasetSpec(name=str(spec["name"]), kind="subset", path=path.resolve(), members=tuple(members),
                       subset_identity=spec["identity"])


def catalog_sources(catalog: Mapping[str, Mapping]) -> list[str]:
    """What `sources: all` means: every catalog dataset but the pools (entries with `pool: true`)."""
    return [str(n) for n, entry in catalog.items() if not (entry or {}).get("pool", False)]


def same_dataset(a: DatasetSpec | ImageList, b: DatasetSpec | ImageList) -> bool:
    """Whether `a` and `b` are one dataset (compared by identity, never by display name)."""
    return _spec(a).identity == _spec(b).identity


def _spec(x) -> DatasetSpec:
    return x.spec if isinstance(x, ImageList) else x


RESERVED_NAMES = frozenset({"imagenet"})  # the baseline network's name in reports


def unique_names(specs: list[DatasetSpec]) -> list[DatasetSpec]:
    """The same specs, renamed where display names collide: a folder gets as many parent folders in front of
    its name as it takes to tell it apart (`x/other/t2`, `y/other/t2` -> `x/other/t2`, `y/other/t2`)."""
    names = [s.name for s in specs]
    for depth in range(1, 64):
        clashes = {n for n in names if names.count(n) > 1 or n in RESERVED_NAMES}
        if not clashes:
            break
        for i, spec in enumerate(specs):
            if names[i] in clashes:
                if spec.kind == "folder" and spec.path is not None:
                    parts = Path(os.path.realpath(spec.path)).parts
                    names[i] = "/".join(parts[-(depth + 1):]) if depth + 1 < len(parts) else str(spec.path)
                elif spec.kind == "subset":
                    names[i] = f"{spec.name}[{spec.path}]"
                else:
                    names[i] = f"{spec.name}[{spec.tfds_name}:{spec.tfds_split}]"
    return [s if s.name == n else replace(s, name=n) for s, n in zip(specs, names)]


def list_images(spec: DatasetSpec, digest_dir: str | Path | None = None) -> ImageList:
    """The dataset's images, classes and fingerprint. `digest_dir` memoises the folder's file digests there
    (keyed by size and modification time), so a second listing reads no image."""
    if spec.kind == "folder":
        return _list_folder(spec, digest_dir)
    if spec.kind == "tfds":
        return _list_tfds(spec)
    if spec.kind == "subset":
        return _list_subset(spec, digest_dir)
    raise DatasetError(f"Dataset {spec.name!r}: unknown kind {spec.kind!r}.")


def _list_folder(spec: DatasetSpec, digest_dir: str | Path | None = None) -> ImageList:
    root = spec.path
    if root is None or not root.is_dir():
        raise DatasetError(f"Dataset {spec.name!r}: folder {root} does not exist (check data_root).")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    split_names = {"train", "test", "val", "valid", "validation"}
    if len(class_dirs) >= 2 and {p.name.lower() for p in class_dirs} <= split_names and all(
            any(c.is_dir() for c in p.iterdir()) for p in class_dirs):
        raise DatasetError(
            f"Dataset {spec.name!r} at {root}: its sub-folders ({', '.join(p.name for p in class_dirs)}) look like "
            "a dataset already split into train/test, not classes. This tool makes its own seeded split: merge "
            f"them into one folder per class, or use one part alone (e.g. {root / class_dirs[0].name})."
        )
    if len(class_dirs) < 2:
        found = "no class sub-folders" if not class_dirs else f"only one class ({class_dirs[0].name})"
        raise DatasetError(
            f"Dataset {spec.name!r} at {root}: found {found}. A dataset needs one sub-folder per class "
            f"and at least two classes, e.g. {root}/cat/*.jpg and {root}/dog/*.jpg."
        )
    prefix = len(str(root)) + 1  # scandir paths start with the root: slicing is os.path.relpath, minus its cost
    root_real = os.path.realpath(root)
    # A feature cache kept inside the dataset folder is not images (a cache that holds the dataset is no concern).
    excluded = tuple(e for e in (os.path.realpath(Path(d).parent) for d in [digest_dir] if d is not None)
                     if _inside(e, root_real) and e != root_real)
    class_names, refs, labels, empty, listed = [], [], [], [], []
    class_reals: dict[str, str] = {}
    for class_dir in class_dirs:
        real = os.path.realpath(class_dir)
        if not _inside(real, root_real):
            log.warning("Dataset %r: class folder %s links outside the dataset (to %s); skipped. Copy or "
                        "hard-link its images into the dataset folder to use them.", spec.name, class_dir, real)
            continue
        if real in class_reals:
            log.warning("Dataset %r: class folder %s is the same folder as class %r; counted once, as %r.",
                        spec.name, class_dir, class_reals[real], class_reals[real])
            continue
        if any(_inside(real, e) for e in excluded):
            continue  # the feature cache kept inside the dataset folder is no class
        class_reals[real] = class_dir.name
        # Every regular file counts: a stray non-image is skipped and counted at decode time, not hidden.
        files = _files_below(class_dir, root_real, excluded)
        if not files:
            log.warning("Dataset %r: class folder %s is empty; skipped.", spec.name, class_dir)
            empty.append(class_dir.name)
            continue
        label = len(class_names)
        class_names.append(class_dir.name)
        listed += files
        for path, _ in files:
            refs.append(path)
            labels.append(label)
    if len(class_names) < 2:
        raise DatasetError(
            f"Dataset {spec.name!r} at {root}: fewer than two non-empty class folders "
            f"(empty: {', '.join(empty)}). Add images to the class folders."
        )
    digests: dict[str, str] = {}
    fingerprint = _content_fingerprint(root, listed, prefix, digest_dir, digests)
    _warn_about_identical_classes(spec.name, class_names, refs, labels, digests, prefix)
    contents = tuple(digests.get(ref[prefix:]) for ref in refs)
    return ImageList(spec, class_names, refs, np.asarray(labels, dtype=np.int64), fingerprint, empty,
                     contents if all(contents) else ())


def _list_subset(spec: DatasetSpec, digest_dir: str | Path | None = None) -> ImageList:
    """The kept classes of each pool dataset, in the spec's order (named `<pool>/<class>` when the pool has more
    than one dataset). Refused when a pool dataset's content changed since the spec was built: its classes may no
    longer be the images they were chosen as."""
    class_names, refs, labels = [], [], []
    prefixed = len(spec.members) > 1
    for pool_spec, classes, fingerprint in spec.members:
        pool = list_images(pool_spec, digest_dir)
        if pool.fingerprint != fingerprint:
            raise DatasetError(f"Source spec {spec.path}: pool dataset {pool_spec.name!r} ({pool_spec.path}) changed "
                               "since the spec was built; build the source again with scripts/build_source.py.")
        index = {c: i for i, c in enumerate(pool.class_names)}
        for name in classes:
            if name not in index:
                raise DatasetError(f"Source spec {spec.path}: pool dataset {pool_spec.name!r} has no class {name!r}; "
                                   "build the source again with scripts/build_source.py.")
            rows = np.flatnonzero(pool.labels == index[name])
            refs += [pool.refs[i] for i in rows]
            labels += [len(class_names)] * len(rows)
            class_names.append(f"{pool_spec.name}/{name}" if prefixed else name)
    if len(class_names) < 2:
        raise DatasetError(f"Source spec {spec.path}: it keeps {len(class_names)} class; a source needs at least two.")
    fingerprint = hashlib.sha256(f"subset\0{spec.subset_identity}".encode()).hexdigest()
    return ImageList(spec, class_names, refs, np.asarray(labels, dtype=np.int64), fingerprint)


def _warn_about_identical_classes(name, class_names, refs, labels, digests, prefix) -> None:
    """Two classes holding the same images (a copied or mislabelled folder) make a class a person cannot learn
    apart: said once, by name, with no effect on what is computed."""
    per_class: dict[int, set] = {}
    for ref, label in zip(refs, labels):
        per_class.setdefault(label, set()).add(digests.get(ref[prefix:]))
    seen: dict[frozenset, int] = {}
    for label, contents in per_class.items():
        key = frozenset(contents)
        if key in seen:
            log.warning("Dataset %r: classes %r and %r hold the same images; check the folders.", name,
                        class_names[seen[key]], class_names[label])
        else:
            seen[key] = label


def _content_fingerprint(root: Path, files: list[tuple[str, os.stat_result]], prefix: int,
                         digest_dir: str | Path | None, digests: dict | None = None) -> str:
    """SHA-256 over every file's relative path and content digest: a copied or touched folder (new modification
    times, same bytes) keeps its fingerprint, and so its cached features, while any changed byte changes it.

    Content digests are memoised per folder in `digest_dir`, keyed by (size, mtime): only new or changed files
    are read again."""
    from recommender.common.cache import read_json, write_json

    memo_path = None
    memo = {}
    if digest_dir is not None:
        memo_path = Path(digest_dir) / f"{hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:20]}.json"
        memo = read_json(memo_path) or {}
    digest, fresh, changed = hashlib.sha256(), {}, False
    for path, st in files:
        rel = path[prefix:]
        known = memo.get(rel)
        if known is not None and known[0] == st.st_size and known[1] == st.st_mtime_ns:
            content = known[2]
        else:
            content = _file_digest(path)
            changed = True
        fresh[rel] = [st.st_size, st.st_mtime_ns, content]
        if digests is not None:
            digests[rel] = content
        # os.fsencode: a name that is not valid UTF-8 hashes as its bytes (the same bytes as .encode() otherwise)
        digest.update(os.fsencode(rel) + f"\0{st.st_size}\0{content}\n".encode())
    if memo_path is not None and (changed or len(fresh) != len(memo)):
        try:
            write_json(memo_path, fresh)
        except OSError as err:  # a read-only cache only costs the re-reading next time
            log.warning("Could not store file digests in %s: %s", memo_path, err)
    return digest.hexdigest()


def _file_digest(path: str) -> str:
    try:
        digest = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()
    except OSError as err:  # unreadable now: decoding will skip and count it; its name still counts here
        return f"unreadable:{err.errno}"


def _inside(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def _files_below(folder: Path, root_real: str | None = None, excluded: tuple[str, ...] = ()) -> list[tuple[str, os.stat_result]]:
    """Every non-hidden regular file below `folder` with its stat, sorted by path (scandir: one pass, no rglob).

    A symlink loop, a dangling link or an unreadable sub-folder is skipped with a warning; a folder reached twice
    through links is read once. Nothing whose real path leaves `root_real` (the dataset's real folder) is read, a
    link to /etc or / included, no sub-folder that links out of `folder` itself to another part of the dataset (its
    images would take this class's label), and nothing inside `excluded` (e.g. a cache folder kept in the
    dataset)."""
    found, stack, seen = [], [str(folder)], set()
    own_real = os.path.realpath(folder) if root_real is not None else None
    while stack:
        directory = stack.pop()
        try:
            real = os.path.realpath(directory)
            if real in seen:
                log.warning("Skipping %s: a link back to a folder already read.", directory)
                continue
            if root_real is not None and not _inside(real, root_real):
                log.warning("Skipping %s: it links outside the dataset folder (to %s).", directory, real)
                continue
            if own_real is not None and not _inside(real, own_real):
                # A link from inside a class folder to the dataset's root or another class would hand this class
                # the others' images under its label.
                log.warning("Skipping %s: it links to another part of the dataset (%s), whose images would join "
                            "this class; copy the images you mean into the class folder instead.", directory, real)
                continue
            if any(_inside(real, e) for e in excluded):
                log.warning("Skipping %s: it is the feature cache, not images.", directory)
                continue
            seen.add(real)
            with os.scandir(directory) as entries:
                entries = list(entries)
        except OSError as err:
            log.warning("Skipping %s: %s", directory, err.strerror or err)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=True):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=True):
                    if root_real is not None and entry.is_symlink() and \
                            not _inside(os.path.realpath(entry.path), root_real):
                        log.warning("Skipping %s: it links outside the dataset folder (copy or hard-link the "
                                    "image instead).", entry.path)
                        continue
                    found.append((entry.path, entry.stat()))
            except OSError as err:  # a symlink loop (ELOOP) or a link whose target vanished
                log.warning("Skipping %s: %s", entry.path, err.strerror or err)
    return sorted(found)


# Where TFDS downloads from (its GCS bucket). Asked once per process, and only for a dataset that is not prepared
# locally: offline, tfds.load would retry its downloads for minutes and leave a temporary file behind.
TFDS_DOWNLOAD_HOST = "storage.googleapis.com:443"
_reachable: dict[str, bool] = {}


def network_reachable(address: str | None = None, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to `address` ("host:port"; RECOMMENDER_TFDS_HOST, else TFDS's download host)
    opens within `timeout` seconds; remembered for the process, so an offline run waits once at most."""
    import socket

    address = address or os.environ.get("RECOMMENDER_TFDS_HOST") or TFDS_DOWNLOAD_HOST
    if address not in _reachable:
        host, _, port = address.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                _reachable[address] = True
        except (OSError, ValueError):
            _reachable[address] = False
    return _reachable[address]


def _list_tfds(spec: DatasetSpec) -> ImageList:
    import tensorflow_datasets as tfds

    try:
        prepared = tfds.builder(spec.tfds_name, data_dir=spec.data_dir).is_prepared()
    except Exception as err:  # an unknown name or a bad data_dir: the same error line as a failed load
        raise DatasetError(f"Dataset {spec.name!r}: tfds does not know {spec.tfds_name!r} "
                           f"(data_dir={spec.data_dir}): {err}") from err
    if not prepared and not network_reachable():
        raise DatasetError(
            f"Dataset {spec.name!r}: tfds dataset {spec.tfds_name!r} is not prepared in "
            f"{spec.data_dir or '~/tensorflow_datasets'} and its download host is unreachable (offline?). Prepare it "
            f"on a machine with network access (tfds build {spec.tfds_name} --data_dir <dir>), copy <dir> here and "
            "set its catalog entry's data_dir, or use an image folder instead.")
    try:
        ds, info = tfds.load(spec.tfds_name, split=spec.tfds_split, data_dir=spec.data_dir, with_info=True,
                             decoders={"image": tfds.decode.SkipDecoding()})
    except Exception as err:  # tfds raises many types; the user needs the name and the cause
        raise DatasetError(
            f"Dataset {spec.name!r}: tfds could not load {spec.tfds_name!r} split {spec.tfds_split!r} "
            f"(data_dir={spec.data_dir}): {err}"
        ) from err
    class_names = list(info.features["label"].names)
    labels = np.fromiter((int(ex["label"]) for ex in tfds.as_numpy(ds)), dtype=np.int64)
    key = f"{spec.tfds_name}\0{info.version}\0{spec.tfds_split}\0{len(labels)}\0{info.data_dir}"
    fingerprint = hashlib.sha256(key.encode() + labels.tobytes()).hexdigest()
    return ImageList(spec, class_names, list(range(len(labels))), labels, fingerprint)


def split_indices(labels: np.ndarray, fractions: Mapping[str, float], seed: int) -> dict[str, np.ndarray]:
    """Deterministic stratified train/val/test split: each class is shuffled with (seed, class) and cut.

    The recommender uses `train`; fine-tuning uses all three, so both see the same images.
    """
    fracs = {s: float(fractions.get(s, 0.0)) for s in SPLITS}
    if any(f < 0 for f in fracs.values()) or not np.isclose(sum(fracs.values()), 1.0):
        raise DatasetError(f"split fractions {fracs} must be non-negative and sum to 1.")
    parts = {s: [] for s in SPLITS}
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        order = np.random.default_rng([int(seed), int(label)]).permutation(members)
        n_test = int(round(len(order) * fracs["test"]))
        n_val = int(round(len(order) * fracs["val"]))
        parts["test"].append(order[:n_test])
        parts["val"].append(order[n_test : n_test + n_val])
        parts["train"].append(order[n_test + n_val :])
    return {s: np.sort(np.concatenate(p)) if p else np.empty(0, np.int64) for s, p in parts.items()}


def cap_per_class(indices: np.ndarray, labels: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """Keep at most `cap` images per class (a seeded choice), so quick runs stay representative."""
    if cap is None:
        return indices
    if int(cap) < 1:
        raise DatasetError(f"features.max_images_per_class must be a positive integer or null, got {cap}.")
    kept = []
    for label in np.unique(labels[indices]):
        members = indices[labels[indices] == label]
        rng = np.random.default_rng([int(seed), int(label), 1])
        kept.append(members if len(members) <= cap else rng.choice(members, int(cap), replace=False))
    return np.sort(np.concatenate(kept)) if kept else indices


def select(image_list: ImageList, split: str, fractions: Mapping[str, float], seed: int,
           cap: int | None = None) -> np.ndarray:
    """Indices into `image_list` of one split, optionally capped per class."""
    if split not in SPLITS:
        raise DatasetError(f"Unknown split {split!r}; use one of {SPLITS}.")
    idx = split_indices(image_list.labels, fractions, seed)[split]
    return cap_per_class(idx, image_list.labels, cap, seed)

