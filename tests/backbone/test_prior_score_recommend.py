"""distance=prior_score through `recommend`: each source's network trained once and shared, the evidence's weight
and prior applied, a source without a prior placed by its score alone."""
import json

import numpy as np
import pytest

from conftest import make_folder_dataset
from recommender import recommend
from recommender.rankers.prior import prior_score

COLOURS = {"yellow": (230, 220, 30), "purple": (140, 30, 160)}
FAST = ("+finetune=default", "finetune.epochs.head=1", "finetune.epochs.finetune=1", "finetune.hidden_units=8",
        "finetune.batch_size=8")


@pytest.fixture
def setting(tmp_path):
    near = make_folder_dataset(tmp_path / "near", COLOURS, per_class=12, seed=1)
    far = make_folder_dataset(tmp_path / "far", {"grey": (128, 128, 128), "white": (250, 250, 250)}, per_class=12,
                              seed=2)
    mine = make_folder_dataset(tmp_path / "mine", {"grey": (120, 120, 130), "yellow": (220, 210, 40)},
                               per_class=12, seed=3)
    targets = [make_folder_dataset(tmp_path / f"target{i}", COLOURS, per_class=12, seed=10 + i) for i in range(2)]
    # near and far are catalog datasets the evidence measured; "mine" is a user's folder nobody measured.
    evidence = {"format": 1, "protocol": "top4/k20", "image_size": 64, "targets": ["near", "far"],
                "backbone": {"alpha": 0.35, "weights": "imagenet"},
                "gains": {"near": {"far": -0.02}, "far": {"near": 0.01}, "other": {"near": 0.03, "far": -0.04}},
                "summary": {"logme": {"mean_weighted_tau": 0.6, "ci95": [0.5, 0.7], "mean_top1_regret": 0.4,
                                      "n_targets": 3}},
                "distances": {}, "default": {"score": "logme", "folds": {}, "all_targets": {}},
                "prior_score": {"score": "logme", "top_blocks": 4, "folds": {"near": 2.0, "far": 2.0},
                                "all_targets": 0.5,
                                "summary": {"mean_weighted_tau": 0.8, "ci95": [0.7, 0.9], "mean_top1_regret": 0.2,
                                            "n_targets": 3}}}
    path = tmp_path / "catalog_evidence.json"
    path.write_text(json.dumps(evidence))
    catalog = [f"+catalog.{n}={{name: {n}, kind: folder, path: {p}}}" for n, p in (("near", near), ("far", far))]
    return {"targets": targets, "mine": mine, "evidence": path, "catalog": catalog, "ck": tmp_path / "ck"}


def test_networks_are_trained_once_and_the_mix_applies_the_evidence(setting, cfg_factory, monkeypatch):
    import finetune.transfer.stages as transfer
    from finetune.transfer.model_distance import register

    trained = []
    original = transfer._train_phases
    monkeypatch.setattr(transfer, "_train_phases",
                        lambda net, images, *a, **k: trained.append(images.name) or original(net, images, *a, **k))
    register()

    def run(target, *extra):
        return recommend(cfg=cfg_factory(f"target={target}", f"sources=[near,far,{setting['mine']}]",
                                         *setting["catalog"], "distance=prior_score",
                                         f"distance.evidence={setting['evidence']}", *FAST,
                                         f"finetune.checkpoint_dir={setting['ck']}", "distance.jobs=1", *extra))

    first = run(setting["targets"][0])
    assert sorted(trained) == ["far", "mine", "near"]
    second = run(setting["targets"][1])
    assert len(trained) == 3  # a new target costs forward passes only: no stage-1 network trained again
    for ranking in (first, second):
        names = [s.name for s in ranking.sources]
        by_name = {s.name: s for s in ranking.sources}
        # Not a catalog target: the weight fitted on every catalog target (0.5), the prior over all of them;
        # "mine" has no prior and gets the mean of the others' (the score alone places it).
        prior = {"near": (0.01 + 0.03) / 2, "far": (-0.02 - 0.04) / 2}
        expected = prior_score(prior, names, [by_name[n].parts["logme"] for n in names], 0.5)
        np.testing.assert_allclose([by_name[n].score for n in names], expected, rtol=1e-9)
        assert names == [n for _, n in sorted(zip(-expected, names))]
        assert by_name["near"].parts["prior_gain_points"] == pytest.approx(2.0)
        assert by_name["mine"].parts["prior_gain_points"] is None and by_name["mine"].distance is None
        assert any("mine" in n and "trained network's score alone" in n for n in ranking.notes)
        assert ranking.kind == "prior_model" and "catalog prior + 0.5 × logme" in ranking.distance_label
        assert ranking.evidence["validated"]["score"] == "prior_score"
        assert ranking.evidence["validated"]["mean_weighted_tau"] == 0.8

    from recommender.explain.report import markdown_report

    report = markdown_report(first)
    assert "its score alone places it" in report and "These did not decide the order" in report

    # A shortlist of one: the prior's first source (near) and the unmeasured folder are scored; far follows.
    short = run(setting["targets"][0], "distance.shortlist=1")
    assert len(trained) == 3
    by_name = {s.name: s for s in short.sources}
    assert short.sources[-1].name == "far" and by_name["far"].parts["shortlisted"] is False
    names = [n for n in [s.name for s in short.sources] if n != "far"]
    expected = prior_score({"near": 0.02}, names, [by_name[n].parts["logme"] for n in names], 0.5)
    np.testing.assert_allclose([by_name[n].score for n in names], expected, rtol=1e-9)
    assert sum("distance.shortlist=1" in n and "far follow" in n for n in short.notes) == 1
    assert short.evidence["validated"] is None  # the whole ranking's figure does not hold for a shortlist
    assert any("distance.shortlist=1" in s for s in short.evidence["sentences"])
    from recommender.explain.report import table_rows

    assert "not trained (outside the shortlist)" in table_rows(short)[1][2]


def test_the_recommenders_networks_are_the_benchmarks(cfg_factory):
    """The checkpoint recommend trains for a source is the file benchmark.py, and train.py / validate.py under the
    same protocol (finetune.top_blocks=4), read for that source."""
    from hydra import compose, initialize_config_dir

    from finetune.benchmark.measure import protocol_config
    from finetune.transfer.model_distance import stage1_config
    from finetune.transfer.stages import checkpoint_path, transfer_config
    from recommender import open_dataset
    from recommender.config import CONF_DIR

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        ours = transfer_config(stage1_config(compose("config", ["target=plants", "distance=prior_score"]), 4))
        bench = transfer_config(protocol_config(compose("benchmark"), 4))
        # train.py / validate.py fine-tune top 2 blocks by default; with the ranking's protocol they reuse its file
        train = transfer_config(compose("validate", ["target=plants", "finetune.top_blocks=4"]))
    path = checkpoint_path(open_dataset("flowers", ours), ours, 0)
    assert path == checkpoint_path(open_dataset("flowers", bench), bench, 0)
    assert path == checkpoint_path(open_dataset("flowers", train), train, 0)

