"""Every config group composes, and the catalog covers the shared datasets."""
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from recommender import candidate_datasets, load_config
from recommender.config import CONF_DIR

def source_names(cfg):
    """(refs of the candidate sources, notes), as `recommend` sees them."""
    _, _, refs, notes = candidate_datasets(cfg)
    return refs, notes


CATALOG = ["plants", "flowers", "animals", "butterflies", "cifar10", "textures", "aerial", "trash", "xray", "brainmri"]
POOLS = ["tinyimagenet"]  # named in the catalog, left out of sources=all


def test_default_config_has_every_section():
    cfg = load_config(["target=plants"])
    for key in ("backbone", "features", "domain", "distance", "report", "catalog", "split", "seed", "sources"):
        assert key in cfg
    assert cfg.backbone.alpha == 0.5 and cfg.backbone.weights == "imagenet"
    assert cfg.distance.name == "gain" and cfg.distance.evidence is None and cfg.distance.jobs == 3
    assert cfg.domain.min_images_per_class == 5
    assert sorted(cfg.catalog) == sorted(CATALOG + POOLS)
    assert [n for n in POOLS if cfg.catalog[n].pool] == POOLS


def test_target_is_mandatory():
    cfg = load_config()
    assert OmegaConf.is_missing(cfg, "target")


@pytest.mark.parametrize("name", CATALOG)
def test_every_catalog_dataset_composes_as_target(name):
    cfg = load_config([f"target={name}"])
    assert cfg.catalog[name].kind == "folder"
    names, notes = source_names(cfg)
    assert name not in names and len(names) == len(CATALOG) - 1 and not notes


@pytest.mark.parametrize("path", sorted((CONF_DIR / "dataset").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_dataset_config_composes_into_the_catalog(path):
    cfg = load_config(["target=plants", f"+dataset@catalog.extra={path.stem}"])
    assert cfg.catalog.extra.kind in ("folder", "tfds")
    assert cfg.catalog.extra.name == path.stem


@pytest.mark.parametrize("group", ["backbone", "features", "domain", "distance", "report"])
def test_every_option_of_every_group_composes(group):
    for option in sorted((CONF_DIR / group).glob("*.yaml")):
        cfg = load_config(["target=plants", f"{group}={option.stem}"])
        assert OmegaConf.to_container(cfg[group], resolve=True)


def test_command_line_overrides_reach_every_section():
    cfg = load_config(["target=flowers", "sources=[plants,animals]", "backbone.image_size=96", "distance.gamma=0.1",
                       "features.max_images_per_class=7", "distance=class_mean_emd", "distance.ground_metric=cosine",
                       "seed=3"])
    assert (cfg.backbone.image_size, cfg.distance.gamma, cfg.features.max_images_per_class) == (96, 0.1, 7)
    assert source_names(cfg) == (["plants", "animals"], [])


def test_target_listed_as_source_is_excluded_with_a_note():
    cfg = load_config(["target=flowers", "sources=[plants,flowers,animals]"])
    names, notes = source_names(cfg)
    assert names == ["plants", "animals"]
    assert len(notes) == 1 and "flowers" in notes[0] and "excluded" in notes[0]


def test_environment_variables_set_roots(monkeypatch, tmp_path):
    monkeypatch.setenv("RECOMMENDER_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("RECOMMENDER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RECOMMENDER_WEIGHTS_DIR", str(tmp_path / "weights"))
    cfg = load_config(["target=plants"])
    assert Path(cfg.data_root) == tmp_path / "data"
    assert Path(cfg.features.cache_dir) == tmp_path / "cache"
    assert Path(cfg.backbone.weights_dir) == tmp_path / "weights"


def test_distance_logme_keeps_single_finetune_keys_and_fills_the_rest_from_the_defaults(tmp_path):
    from finetune.transfer.model_distance import stage1_config

    cfg = load_config(["target=plants", "distance=logme", f"+finetune.checkpoint_dir={tmp_path}"])
    stage1 = stage1_config(cfg, 4)
    assert stage1.finetune.checkpoint_dir == str(tmp_path)  # the user's key survives
    assert stage1.finetune.epochs.head >= 1 and stage1.finetune.top_blocks == 4  # the rest: the defaults
