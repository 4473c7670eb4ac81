"""Every `distance` option composes and runs once on small real image folders, through `recommend`."""
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import make_folder_dataset
from recommender import recommend
from recommender.explain.report import write_reports

OPTIONS = [
    ["distance=class_mean_emd"],
    ["distance=class_mean_emd", "distance.ground_metric=cosine", "distance.normalise=standardise"],
    ["distance=class_mean_emd", "distance.normalise=whiten", "distance.whiten_dim=4"],
    ["distance=gaussian_emd"],
    ["distance=gaussian_emd", "distance.covariance=ledoit_wolf", "distance.covariance_dim=4"],
    ["distance=otdd", "distance.samples=10"],
    ["distance=otdd", "distance.solver=sinkhorn", "distance.samples=10"],
]


@pytest.fixture
def folders(tmp_path):
    colours = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 40)}
    target = make_folder_dataset(tmp_path / "target", colours, per_class=6)
    near = make_folder_dataset(tmp_path / "near", colours, per_class=6, seed=1)
    far = make_folder_dataset(tmp_path / "far", {"grey": (128, 128, 128), "white": (250, 250, 250)}, per_class=6,
                              seed=2)
    return target, near, far


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: " ".join(o))
def test_every_distance_option_ranks_the_same_colours_first(option, folders, cfg_factory, tmp_path):
    target, near, far = folders
    ranking = recommend(cfg=cfg_factory(f"target={target}", f"sources=[{far},{near}]", *option))
    assert [s.name for s in ranking.sources] == ["near", "far"]
    assert ranking.distances.shape == (3, 3)
    written = json.loads(write_reports(ranking, tmp_path / "out", {"explain": False})["ranking.json"].read_text())
    assert written["distance"]["name"] == option[0].split("=")[1]
    # No committed evidence file knows these folders: the report says the ranking is not validated.
    assert written["distance"]["validated"] is None


def test_prior_mix_falls_back_to_the_distance_for_sources_the_catalog_never_measured(folders, cfg_factory, tmp_path):
    target, near, far = folders
    evidence = {"format": 1, "protocol": "top4/k20", "image_size": 64, "targets": ["plants", "flowers"],
                "backbone": {"alpha": 0.35, "weights": "imagenet"},  # the tests' backbone: the evidence holds
                "gains": {"plants": {"flowers": 0.01}, "flowers": {"plants": -0.02}},
                "summary": {"prior_mix_loto": {"mean_weighted_tau": 0.5, "ci95": [0.4, 0.6], "mean_top1_regret": 0.3,
                                               "n_targets": 2},
                            "class_mean_emd": {"mean_weighted_tau": 0.3, "ci95": [0.2, 0.4], "mean_top1_regret": 1.0,
                                               "n_targets": 2}},
                "distances": {"class_mean_emd": {"name": "class_mean_emd", "ground_metric": "euclidean",
                                                 "normalise": "none", "whiten_dim": 128, "gamma": 0.01}},
                "default": {"score": "prior_mix_loto", "folds": {},
                            "all_targets": {"distance": "class_mean_emd", "c": 1.0, "sd_prior": 0.01,
                                            "sd_distance": 2.0}}}
    path = tmp_path / "catalog_evidence.json"
    path.write_text(json.dumps(evidence))
    ranking = recommend(cfg=cfg_factory(f"target={target}", f"sources=[{far},{near}]", "distance=prior_mix",
                                        f"distance.evidence={path}"))
    assert [s.name for s in ranking.sources] == ["near", "far"]
    assert all(s.parts["prior_gain_points"] is None and s.gain is None for s in ranking.sources)
    # The combined value is a score; the distance column holds the real distance it was built from.
    assert all(s.distance == s.parts["distance"] for s in ranking.sources)
    assert ranking.decision == "unmeasured" and ranking.headline.startswith("Try near first")
    assert any("distance alone places them" in n for n in ranking.notes)
    # No source has a prior: the ranking is the distance alone, and is validated as that distance.
    assert ranking.evidence["validated"]["score"] == "class_mean_emd"
    assert ranking.evidence["validated"]["mean_weighted_tau"] == 0.3
    assert any("no transfer measurement" in s for s in ranking.evidence["sentences"])


def test_prior_mix_without_an_evidence_file_is_one_clear_error(folders, cfg_factory, tmp_path):
    from recommender.evidence import EvidenceError

    target, near, far = folders
    with pytest.raises(EvidenceError, match="does not exist; run scripts/benchmark.py"):
        recommend(cfg=cfg_factory(f"target={target}", f"sources=[{far},{near}]", "distance=prior_mix",
                                  f"distance.evidence={tmp_path / 'missing.json'}"))


def test_the_explained_report_draws_a_normalised_distance_in_the_backbone_space(folders, cfg_factory, tmp_path):
    target, near, far = folders
    ranking = recommend(cfg=cfg_factory(f"target={target}", f"sources=[{far},{near}]", "distance=class_mean_emd",
                                        "distance.normalise=whiten", "distance.whiten_dim=4", "report.explain=true",
                                        "report.map_points_per_dataset=6"))
    paths = write_reports(ranking, tmp_path / "out", {"explain": True, "map": True, "map_points_per_dataset": 6})
    assert paths["domain_map.png"].stat().st_size > 10_000  # whitened means in a 1280-d map used to crash here


def test_distance_logme_ranks_by_each_trained_source_networks_logme(tmp_path, cfg_factory):
    from finetune.transfer.adapted import adapted_split
    from finetune.transfer.model_distance import register, stage1_config
    from finetune.transfer.stages import train_source
    from finetune.transferability import REGISTRY
    from recommender import open_dataset

    colours = {"yellow": (230, 220, 30), "purple": (140, 30, 160)}
    target = make_folder_dataset(tmp_path / "target", colours, per_class=12)
    near = make_folder_dataset(tmp_path / "near", colours, per_class=12, seed=1)
    far = make_folder_dataset(tmp_path / "far", {"grey": (128, 128, 128), "white": (250, 250, 250)}, per_class=12,
                              seed=2)
    cfg = cfg_factory(f"target={target}", f"sources=[{far},{near}]", "distance=logme", "distance.top_blocks=2",
                      "+finetune=default", "finetune.epochs.head=1", "finetune.epochs.finetune=1",
                      "finetune.hidden_units=8", "finetune.batch_size=8", f"finetune.checkpoint_dir={tmp_path / 'ck'}")
    register()
    ranking = recommend(cfg=cfg)
    stage1 = stage1_config(cfg, 2)
    for source in ranking.sources:
        # The score computed here, from the same cached checkpoint, by the registry's function directly.
        pool = adapted_split(train_source(str(tmp_path / source.name), stage1, 0), open_dataset(str(target), stage1),
                             stage1, ("train", "val"))
        expected = REGISTRY["logme"].function(pool.features, pool.labels)
        assert source.parts["logme"] == pytest.approx(expected, rel=1e-6)
        assert source.score == pytest.approx(expected, rel=1e-6)
        assert source.distance is None and source.similarity is None  # a model score is not a distance
    assert [s.score for s in ranking.sources] == sorted((s.score for s in ranking.sources), reverse=True)
    written = json.loads(write_reports(ranking, tmp_path / "out", {"explain": False})["ranking.json"].read_text())
    assert written["distance"]["name"] == "model_score"


def test_model_score_without_the_fine_tuning_package_says_what_to_do(monkeypatch):
    import recommender.rankers.base as base

    monkeypatch.setattr(base, "_entry_point", lambda name: None)  # as in a checkout that is not installed
    monkeypatch.setattr(base, "REGISTERED", {})
    with pytest.raises(ValueError, match="finetune.transfer.model_distance.register"):
        base.build_ranker({"name": "model_score", "score": "logme"})


def _doc_block(fence: str, first_line: str) -> str:
    """The block of docs/method.md that opens with ```<fence> and `first_line`, exactly as the page shows it."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "method.md").read_text()
    return first_line + text.split(f"```{fence}\n{first_line}", 1)[1].split("```", 1)[0]


TOY_MODULE, TOY_YAML = _doc_block("python", "# toy_distance.py"), _doc_block("yaml", "# my_conf/distance/toy.yaml")
RANKER_MODULE = _doc_block("python", "# nearest_class.py")
RANKER_YAML = _doc_block("yaml", "# my_conf/distance/nearest_class.yaml")


def _your_own(name: str, module: str, yaml: str, folders, cfg_factory, tmp_path, monkeypatch):
    """The configuration that selects option `name`, with its module on the path and its YAML on Hydra's search
    path, as docs/method.md tells a user to install them."""
    target, near, far = folders
    (tmp_path / module.split()[1].rstrip(",")).write_text(module)  # its first line names the file
    (tmp_path / "conf" / "distance").mkdir(parents=True)
    (tmp_path / "conf" / "distance" / f"{name}.yaml").write_text(yaml)
    monkeypatch.syspath_prepend(str(tmp_path))
    return cfg_factory(f"target={target}", f"sources=[{far},{near}]", f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
                       f"distance={name}")


def test_a_ranker_of_your_own_is_one_module_and_one_yaml(folders, cfg_factory, tmp_path, monkeypatch):
    """The worked example of docs/method.md, verbatim: a Ranker class named by _target_ ranks, its own option
    rule is checked, and its values are minus the mean nearest-class distance computed here by hand."""
    from omegaconf import OmegaConf

    from recommender.checks import check_config

    cfg = _your_own("nearest_class", RANKER_MODULE, RANKER_YAML, folders, cfg_factory, tmp_path, monkeypatch)
    check_config(cfg)
    ranking = recommend(cfg=cfg)
    assert [s.name for s in ranking.sources] == ["near", "far"]
    assert ranking.distance_name == "nearest_class" and ranking.distance_label.startswith("mean euclidean")
    t = ranking.domains["target"].means
    for source in ranking.sources:
        s = ranking.domains[source.name].means
        by_hand = np.mean([min(np.sqrt(((row - other) ** 2).sum()) for other in s) for row in t])
        assert source.distance == pytest.approx(by_hand, rel=1e-9) and source.score == pytest.approx(-by_hand)
    OmegaConf.set_struct(cfg, False)
    cfg.distance.metric = "manhattan"
    with pytest.raises(Exception, match=r"distance.metric='manhattan' must be one of"):
        check_config(cfg)  # the ranker's own rule


def test_a_distance_of_your_own_is_one_module_and_one_yaml(folders, cfg_factory, tmp_path, monkeypatch):
    from recommender.checks import check_config

    cfg = _your_own("toy", TOY_MODULE, TOY_YAML, folders, cfg_factory, tmp_path, monkeypatch)
    check_config(cfg)  # an unknown name is fine when its YAML names a factory
    ranking = recommend(cfg=cfg)
    assert [s.name for s in ranking.sources] == ["near", "far"]  # 3 classes like the target, then 2
    assert [s.distance for s in ranking.sources] == [0.0, 1.0] and ranking.distance_label == "class-count gap (a toy)"
    from omegaconf import OmegaConf

    OmegaConf.set_struct(cfg, False)
    cfg.distance.offset = -1.0
    with pytest.raises(Exception, match=r"distance.offset=-1.0 must be at least 0"):
        check_config(cfg)  # the module's own rule
    cfg.distance = {"name": "nearest", "gamma": 0.01}
    with pytest.raises(Exception, match="distance.name='nearest' is not a distance: .*class_mean_emd"):
        check_config(cfg)
    cfg.distance = {"name": "toy", "_target_": "toy_distance.no_such_factory", "gamma": 0.01}
    with pytest.raises(Exception, match=r"distance._target_='toy_distance.no_such_factory' cannot be imported"):
        check_config(cfg)
