"""Folder datasets, catalog resolution and the seeded stratified split."""
import numpy as np
import pytest

from recommender.data.datasets import (DatasetError, cap_per_class, default_data_root, list_images, resolve_dataset,
                                  split_indices)

from conftest import make_folder_dataset, write_image

CATALOG = {"plants": {"name": "plants", "kind": "folder", "path": "plants"}}


def test_folder_listing_has_classes_labels_and_fingerprint(colour_dataset):
    images = list_images(resolve_dataset(str(colour_dataset), CATALOG, None))
    assert images.name == "colours"
    assert images.class_names == ["blue", "green", "red"]
    assert np.bincount(images.labels).tolist() == [6, 6, 6]
    assert len(images.refs) == 18 and len(images.fingerprint) == 64


def test_fingerprint_changes_when_one_file_changes(colour_dataset):
    before = list_images(resolve_dataset(str(colour_dataset), CATALOG, None)).fingerprint
    write_image(colour_dataset / "red" / "000.png", (0, 0, 0), size=(41, 30))
    after = list_images(resolve_dataset(str(colour_dataset), CATALOG, None)).fingerprint
    assert before != after


def test_a_copied_folder_keeps_its_fingerprint_and_a_changed_byte_does_not(colour_dataset, tmp_path):
    import os
    import shutil

    spec = resolve_dataset(str(colour_dataset), CATALOG, None)
    before = list_images(spec, digest_dir=tmp_path / "digests").fingerprint
    for path in colour_dataset.rglob("*.png"):  # what a fresh copy of the folder looks like: new mtimes
        os.utime(path, ns=(1, 1))
    assert list_images(spec, digest_dir=tmp_path / "digests").fingerprint == before
    assert list_images(spec).fingerprint == before  # the memo only saves reading; it never changes the answer
    copy = shutil.copytree(colour_dataset, tmp_path / "copy" / "colours")
    assert list_images(resolve_dataset(str(copy), CATALOG, None)).fingerprint == before
    one = colour_dataset / "red" / "000.png"
    data = bytearray(one.read_bytes())
    data[-1] ^= 1
    stat = one.stat()
    one.write_bytes(bytes(data))
    os.utime(one, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and mtime: only the memo is fooled
    assert list_images(spec).fingerprint != before


def test_catalog_name_resolves_under_the_data_root(tmp_path):
    spec = resolve_dataset("plants", CATALOG, tmp_path)
    assert spec.path == tmp_path / "plants" and spec.kind == "folder"


def test_unknown_dataset_lists_the_known_names():
    with pytest.raises(DatasetError, match=r"Unknown dataset 'planets'.*Known datasets: plants"):
        resolve_dataset("planets", CATALOG, None)


def test_missing_data_root_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        list_images(resolve_dataset("plants", CATALOG, tmp_path / "nowhere"))


def test_folder_without_class_subfolders_is_refused(tmp_path):
    write_image(tmp_path / "flat" / "a.png", (1, 2, 3))
    with pytest.raises(DatasetError, match="no class sub-folders"):
        list_images(resolve_dataset(str(tmp_path / "flat"), CATALOG, None))


def test_folder_with_one_class_is_refused(tmp_path):
    make_folder_dataset(tmp_path / "one", {"only": (1, 2, 3)}, per_class=2)
    with pytest.raises(DatasetError, match=r"only one class \(only\)"):
        list_images(resolve_dataset(str(tmp_path / "one"), CATALOG, None))


def test_empty_class_folder_is_skipped_warned_and_counted(colour_dataset, caplog):
    (colour_dataset / "empty").mkdir()
    images = list_images(resolve_dataset(str(colour_dataset), CATALOG, None))
    assert images.empty_classes == ["empty"]
    assert "empty" not in images.class_names
    assert "is empty" in caplog.text


def test_split_is_stratified_disjoint_complete_and_seeded():
    labels = np.repeat(np.arange(3), [20, 40, 13])
    fractions = {"train": 0.7, "val": 0.15, "test": 0.15}
    parts = split_indices(labels, fractions, seed=0)
    together = np.concatenate(list(parts.values()))
    assert sorted(together.tolist()) == list(range(len(labels)))
    for c, n in enumerate([20, 40, 13]):
        assert (labels[parts["test"]] == c).sum() == round(n * 0.15)
        assert (labels[parts["val"]] == c).sum() == round(n * 0.15)
    again = split_indices(labels, fractions, seed=0)
    other = split_indices(labels, fractions, seed=1)
    assert all(np.array_equal(parts[s], again[s]) for s in parts)
    assert not np.array_equal(parts["test"], other["test"])


def test_bad_split_fractions_are_refused():
    with pytest.raises(DatasetError, match="sum to 1"):
        split_indices(np.zeros(4, int), {"train": 0.9, "val": 0.2, "test": 0.0}, seed=0)


def test_cap_per_class_keeps_a_seeded_subset():
    labels = np.repeat([0, 1], [10, 3])
    idx = np.arange(13)
    capped = cap_per_class(idx, labels, 4, seed=0)
    assert np.bincount(labels[capped]).tolist() == [4, 3]
    assert np.array_equal(capped, cap_per_class(idx, labels, 4, seed=0))
    assert np.array_equal(cap_per_class(idx, labels, None, seed=0), idx)
    with pytest.raises(DatasetError, match="max_images_per_class"):
        cap_per_class(idx, labels, 0, seed=0)


def test_default_data_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RECOMMENDER_DATA_ROOT", str(tmp_path))
    assert default_data_root() == tmp_path


def test_a_folder_named_like_a_catalog_dataset_keeps_its_path_as_name(tmp_path):
    folder = make_folder_dataset(tmp_path / "plants", {"a": (1, 2, 3), "b": (4, 5, 6)}, per_class=1)
    assert resolve_dataset(str(folder), CATALOG, None).name == str(folder.resolve())


def test_a_file_name_that_is_not_utf8_is_listed_and_fingerprinted(colour_dataset):
    import os
    import shutil

    from recommender.data.datasets import DatasetSpec, list_images

    before = list_images(DatasetSpec("colours", path=colour_dataset)).fingerprint
    odd = os.fsencode(str(colour_dataset / "red")) + b"/odd\xffname.png"
    shutil.copy(colour_dataset / "red" / "000.png", odd)
    listed = list_images(DatasetSpec("colours", path=colour_dataset))
    assert any(os.fsencode(r) == odd for r in listed.refs)
    assert listed.fingerprint != before  # a new file counts, whatever bytes its name holds
    os.remove(odd)
    assert list_images(DatasetSpec("colours", path=colour_dataset)).fingerprint == before
