"""Images shared by the target and a source, byte for byte: counted, warned about by recommend, refused for
training and for building a source."""
import shutil

import pytest

from conftest import make_folder_dataset
from recommender.data.datasets import DatasetError, DatasetSpec, list_images, refuse_shared, shared_images

COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220)}


def test_copies_are_counted_and_refused_for_training(tmp_path):
    source = make_folder_dataset(tmp_path / "source", COLOURS, per_class=6, seed=1)
    target = make_folder_dataset(tmp_path / "target", COLOURS, per_class=6, seed=2)
    copied = sorted((source / "red").iterdir())[:4]
    for i, path in enumerate(copied):
        shutil.copy(path, target / "blue" / f"copy{i}.jpg")  # renamed and relabelled: still the same bytes
    s, t = list_images(DatasetSpec("source", path=source)), list_images(DatasetSpec("target", path=target))
    assert shared_images(t, s) == 4 and shared_images(s, t) == 4
    assert shared_images(t, list_images(DatasetSpec("other", path=make_folder_dataset(tmp_path / "o", COLOURS,
                                                                                         seed=3)))) == 0
    with pytest.raises(DatasetError, match="holds 4 of the target 'target'"):
        refuse_shared(t, s, "train")


def test_a_pool_holding_the_target_is_refused_and_a_pool_listed_twice_counts_once(tmp_path, cfg_factory):
    from recommender.pool import build_source

    pool = make_folder_dataset(tmp_path / "pool", {**COLOURS, "green": (30, 200, 40)}, per_class=6, seed=1)
    target = tmp_path / "target"
    shutil.copytree(pool / "red", target / "red")
    shutil.copytree(pool / "blue", target / "blue")
    with pytest.raises(DatasetError, match="holds 12 of the target"):
        build_source(cfg_factory(f"target={target}"), str(target), [str(pool), f"{pool}/"], 2)


def test_a_pool_listed_twice_counts_once(tmp_path, cfg_factory):
    from recommender.pool import build_source

    pool = make_folder_dataset(tmp_path / "pool", {**COLOURS, "green": (30, 200, 40)}, per_class=6, seed=1)
    target = make_folder_dataset(tmp_path / "target", COLOURS, per_class=6, seed=2)
    with pytest.raises(DatasetError, match="the pool has 3 classes"):  # not 6: the second spelling is the same
        build_source(cfg_factory(f"target={target}"), str(target), [str(pool), f"{pool}/"], 4, rule="random")

