"""Datasets are known by where they are, not by their folder name (issue: dataset identity)."""
from __future__ import annotations

import os

import pytest

from conftest import make_folder_dataset
from recommender import candidate_datasets, recommend, same_dataset
from recommender.data.datasets import DatasetSpec, catalog_sources, unique_names

RED, BLUE, GREEN = (220, 30, 30), (30, 30, 220), (30, 200, 40)


def _folder(root, colours):
    return make_folder_dataset(root, dict(zip(("a", "b", "c"), colours)), per_class=4)


def test_two_folders_with_one_base_name_keep_their_own_rows_and_refs(tmp_path, cfg_factory):
    target = _folder(tmp_path / "target", [RED, BLUE, GREEN])
    near = _folder(tmp_path / "x" / "other" / "t2", [RED, BLUE, GREEN])  # the same colours: closest
    far = _folder(tmp_path / "y" / "other2" / "t2", [(128, 128, 0), (0, 128, 128), (90, 90, 90)])
    ranking = recommend(cfg=cfg_factory(f"target={target}", f"sources=[{far},{near}]", "report.explain=true",
                                        "report.knn_k=1"))
    names = [s.name for s in ranking.sources]
    assert sorted(names) == ["other/t2", "other2/t2"]  # unique display names, a parent folder added
    best = ranking.first
    assert best.name == "other/t2" and best.ref == str(near)  # rank 1's ref is rank 1's folder
    assert ranking.sources[1].ref == str(far)
    assert set(ranking.descriptor_quality) == {"target", "other/t2", "other2/t2"}
    assert ranking.feature_sets["other/t2"].refs[0].startswith(str(near))


def test_target_and_source_with_one_base_name_are_told_apart(tmp_path, cfg_factory):
    target = _folder(tmp_path / "x" / "t2", [RED, BLUE, GREEN])
    source = _folder(tmp_path / "y" / "t2", [BLUE, GREEN, RED])
    ranking = recommend(cfg=cfg_factory(f"target={target}", f"sources=[{source}]", "report.knn_k=1"))
    assert ranking.target.name == "x/t2" and ranking.first.name == "y/t2"
    assert ranking.feature_sets["x/t2"].refs[0].startswith(str(target))  # neighbours.png reads these
    assert ranking.feature_sets["y/t2"].refs[0].startswith(str(source))
    assert len(ranking.descriptor_quality) == 2


@pytest.mark.parametrize("spelling", ["trailing slash", "symlink", "dot segments"])
def test_the_target_spelled_differently_is_never_its_own_source(tmp_path, cfg_factory, spelling):
    target = _folder(tmp_path / "leaves", [RED, BLUE, GREEN])
    other = _folder(tmp_path / "other", [BLUE, GREEN, RED])
    if spelling == "trailing slash":
        alias = f"{target}/"
    elif spelling == "symlink":
        os.symlink(target, tmp_path / "alias")
        alias = str(tmp_path / "alias")
    else:
        alias = f"{tmp_path}/other/../leaves"
    cfg = cfg_factory(f"target={target}", f"sources=[{alias},{other}]")
    _, sources, refs, notes = candidate_datasets(cfg)
    assert refs == [str(other)] and len(sources) == 1
    assert any("excluded" in n for n in notes)
    # ... and the other way round: the alias as the target, the real folder as a source.
    _, _, refs, _ = candidate_datasets(cfg_factory(f"target={alias}", f"sources=[{target},{other}]"))
    assert refs == [str(other)]


def test_a_catalog_dataset_given_by_path_is_the_catalog_dataset(cfg_factory):
    from conftest import SHARED_DATASETS

    if not SHARED_DATASETS.is_dir():
        pytest.skip("../shared/datasets is not present")
    cfg = cfg_factory(f"data_root={SHARED_DATASETS}", f"target={SHARED_DATASETS}/plants/", "sources=all")
    _, sources, refs, _ = candidate_datasets(cfg)
    assert "plants" not in refs and len(refs) == len(catalog_sources(cfg.catalog)) - 1
    assert not any(same_dataset(s, DatasetSpec("x", path=SHARED_DATASETS / "plants")) for s in sources)


def test_a_dataset_listed_twice_counts_once(tmp_path, cfg_factory):
    target = _folder(tmp_path / "t", [RED, BLUE, GREEN])
    other = _folder(tmp_path / "o", [BLUE, GREEN, RED])
    _, sources, refs, notes = candidate_datasets(cfg_factory(f"target={target}", f"sources=[{other},{other}/]"))
    assert len(sources) == 1 and any("once" in n for n in notes)


def test_unique_names_adds_parents_until_names_differ(tmp_path):
    specs = [DatasetSpec("t2", path=tmp_path / "a" / "same" / "t2"), DatasetSpec("t2", path=tmp_path / "b" / "same" / "t2"),
             DatasetSpec("imagenet", path=tmp_path / "c" / "imagenet"), DatasetSpec("plants", path=tmp_path / "p")]
    names = [s.name for s in unique_names(specs)]
    assert names == ["a/same/t2", "b/same/t2", "c/imagenet", "plants"]  # 'imagenet' is the baseline's name
