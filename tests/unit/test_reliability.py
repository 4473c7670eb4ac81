"""Defects from the reliability issue, one test each: huge images, symlink loops, caches that heal, orphan
temporary files, and the error texts."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import make_folder_dataset
from recommender.common.cache import read_json, read_npz, valid_png, write_json, write_npz
from recommender.data.datasets import DatasetError, DatasetSpec, list_images
from recommender.common.files import atomic_output, clean_stale_temporaries, temporary_prefix
from recommender.data.images import UnreadableImageError, load_rgb


def test_a_decompression_bomb_is_an_unreadable_image_not_a_crash(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (14000, 14000)).save(path, optimize=True)  # ~200 KB on disk, 196 million pixels
    assert path.stat().st_size < 1_000_000
    with pytest.raises(UnreadableImageError, match="too large to decode safely"):
        load_rgb(path, 160)


def test_a_symlink_loop_in_a_class_folder_is_skipped(tmp_path):
    root = make_folder_dataset(tmp_path / "d", {"red": (220, 30, 30), "blue": (30, 30, 220)}, per_class=3)
    os.symlink(root / "red" / "loop", root / "red" / "loop")  # ELOOP when followed
    os.symlink(root, root / "blue" / "up")  # a link back to an ancestor: read once, not forever
    images = list_images(DatasetSpec("d", path=root))
    # blue/up/ would reach red (its 3 images labelled blue) and blue itself: a link out of a class folder to
    # another part of the dataset is skipped, so each class keeps its own images only.
    assert len(images.refs) == 6
    assert sorted(images.labels.tolist()) == [0, 0, 0, 1, 1, 1]


def test_a_pre_split_folder_is_explained(tmp_path):
    for part in ("train", "test"):
        make_folder_dataset(tmp_path / "d" / part, {"red": (220, 30, 30), "blue": (30, 30, 220)}, per_class=2)
    with pytest.raises(DatasetError, match="already split into train/test"):
        list_images(DatasetSpec("d", path=tmp_path / "d"))


def test_the_one_class_message_shows_the_real_folder(tmp_path):
    root = make_folder_dataset(tmp_path / "only", {"red": (220, 30, 30)}, per_class=2)
    with pytest.raises(DatasetError) as err:
        list_images(DatasetSpec("only", path=root))
    assert f"{root}/cat/*.jpg" in str(err.value) and "{root}" not in str(err.value)


@pytest.mark.parametrize("damage", ["truncated", "empty", "foreign"])
def test_npz_and_json_cache_entries_heal(tmp_path, damage, caplog):
    npz, js = tmp_path / "map2d-abc.npz", tmp_path / "quality-abc.json"
    write_npz(npz, {"xy": np.arange(6.0).reshape(3, 2)})
    write_json(js, {"knn_accuracy": 0.5})
    for path in (npz, js):
        data = path.read_bytes()
        path.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "foreign": b"\x89PNG junk"}[damage])
    assert read_npz(npz, ["xy"]) is None and read_json(js) is None
    assert not npz.exists() and not js.exists()  # removed, so the next write starts clean
    assert "unreadable" in caplog.text


def test_an_npz_entry_missing_an_array_is_not_trusted(tmp_path):
    path = tmp_path / "e.npz"
    write_npz(path, {"a": np.zeros(2)})
    assert read_npz(path, ["a", "b"]) is None


def test_valid_png_rejects_a_truncated_figure(tmp_path):
    path = tmp_path / "f.png"
    Image.new("RGB", (50, 50), (10, 20, 30)).save(path)
    assert valid_png(path)
    path.write_bytes(path.read_bytes()[:40])
    assert not valid_png(path) and not path.exists()


def test_temporaries_of_a_killed_writer_are_removed_and_a_live_writers_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    orphan = tmp_path / f".plants-abc.npz.pid{dead_pid}.x1y2.raw"
    orphan.write_bytes(b"half")
    orphan_partial = tmp_path / f".map2d-1.npz.pid{dead_pid}.q9.partial.npz"
    orphan_partial.write_bytes(b"half")
    live = tmp_path / f"{temporary_prefix('flowers-def.npz')}zz.raw"
    live.write_bytes(b"being written")
    unrelated = tmp_path / "plants-abc.npz"
    unrelated.write_bytes(b"an entry")
    assert clean_stale_temporaries(tmp_path) == 2
    assert not orphan.exists() and not orphan_partial.exists() and live.exists() and unrelated.exists()


def test_atomic_output_names_its_temporary_with_the_pid(tmp_path):
    with atomic_output(tmp_path / "x.json", ".json") as tmp:
        assert f".pid{os.getpid()}." in os.path.basename(tmp)
        open(tmp, "w").write(json.dumps(1))
    assert json.loads((tmp_path / "x.json").read_text()) == 1


def test_a_truncated_or_foreign_checkpoint_is_not_trusted(tmp_path):
    import zipfile

    from finetune.transfer.stages import checkpoint_problem

    good = tmp_path / "good.keras"
    with zipfile.ZipFile(good, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"weights")
        archive.writestr("metadata.json", "{}")
    assert checkpoint_problem(good) is None
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(good.read_bytes()[:-30])
    assert checkpoint_problem(truncated) is not None
    foreign = tmp_path / "foreign.keras"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("readme.txt", "not a model")
    assert "not a Keras model" in checkpoint_problem(foreign)


def test_links_out_of_the_dataset_are_not_followed_and_a_class_linked_twice_counts_once(tmp_path, caplog):
    import os

    from recommender.data.datasets import DatasetSpec, list_images

    root = make_folder_dataset(tmp_path / "data", {"red": (220, 30, 30), "blue": (30, 30, 220)}, per_class=3)
    outside = make_folder_dataset(tmp_path / "elsewhere", {"secret": (1, 2, 3)}, per_class=2)
    os.symlink(outside / "secret", root / "etc_like")  # a class folder that is a link out of the dataset
    os.symlink(root / "red", root / "red_again")  # a class folder that is another class
    os.symlink(outside / "secret" / "000.png", root / "blue" / "stolen.png")  # one file linked from outside
    listed = list_images(DatasetSpec("data", path=root))
    assert listed.class_names == ["blue", "red"]
    assert len(listed.refs) == 6 and not any("stolen" in r or "elsewhere" in r for r in listed.refs)
    assert "links outside the dataset" in caplog.text and "counted once" in caplog.text


def test_a_feature_cache_kept_inside_the_dataset_is_not_read_as_images(tmp_path):
    from recommender.data.datasets import DatasetSpec, list_images

    root = make_folder_dataset(tmp_path / "data", {"red": (220, 30, 30), "blue": (30, 30, 220)}, per_class=3)
    cache = root / "cache"
    (cache / "digests").mkdir(parents=True)
    (cache / "features-abc.npz").write_bytes(b"not an image")
    listed = list_images(DatasetSpec("data", path=root), digest_dir=cache / "digests")
    assert listed.class_names == ["blue", "red"] and len(listed.refs) == 6


def test_two_classes_holding_the_same_images_are_named_in_a_warning(tmp_path, caplog):
    import shutil

    from recommender.data.datasets import DatasetSpec, list_images

    root = make_folder_dataset(tmp_path / "data", {"red": (220, 30, 30), "blue": (30, 30, 220)}, per_class=3)
    shutil.copytree(root / "red", root / "red_copy")
    list_images(DatasetSpec("data", path=root))
    assert "classes 'red' and 'red_copy' hold the same images" in caplog.text


def test_a_plan_with_thousands_of_classes_is_drawn_at_a_bounded_size(tmp_path):
    from PIL import Image

    from factories import domain, source_result
    from recommender.explain.figures import MAX_PLAN_CLASSES, _heaviest, plot_transport_plan

    assert _heaviest(np.array([0.1, 0.5, 0.2, 0.5]), 2).tolist() == [1, 3]  # largest two, in their own order
    n_source, n_target = 30, 3000
    result = source_result("many", classes=[f"s{i}" for i in range(n_source)])
    rng = np.random.default_rng(0)
    result.plan = rng.random((n_source, n_target)) / (n_source * n_target)
    result.cost = rng.random((n_source, n_target))
    target = domain("target", means=np.zeros((n_target, 2)))
    plot_transport_plan(result, target, tmp_path / "plan.png")
    width, height = Image.open(tmp_path / "plan.png").size
    # 20 columns of 1.1 inch at the figures' dpi plus margins: bounded, however many classes the target has
    from recommender.common.plotting import DPI

    assert width <= (1.1 * MAX_PLAN_CLASSES + 3) * DPI + 1 and height <= (0.45 * MAX_PLAN_CLASSES + 2) * DPI + 1
