"""`recommend`'s default (prior_score) ranks every catalog target exactly as the benchmark scores the shipped
default: the same fold's weight, the prior that leaves the target out, the sources matched by catalog identity.
The networks' LogME values are the committed benchmark's own (read in place of the trained networks), so the
test needs no training and checks the recommender's wiring against the benchmark's separate code path."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import SHARED_DATASETS, needs_shared

ROOT = Path(__file__).resolve().parents[2]


@needs_shared
def test_recommend_ranks_each_catalog_target_as_the_benchmark_scores_the_default(test_overrides, monkeypatch):
    import finetune.transfer.model_distance as model_distance
    from finetune.benchmark.mix import shipped_prior_score_of
    from recommender import load_config, recommend
    from recommender.evidence import load_evidence

    bench = json.loads((ROOT / "docs" / "benchmark" / "benchmark.json").read_text())
    logme = {t: bench["targets"][t]["scores"]["logme"] for t in bench["targets"]}
    # The benchmark's path: the committed scores put through with_shipped_default.
    expected = shipped_prior_score_of(bench, load_evidence(None))

    target_now = {}
    monkeypatch.setattr(model_distance, "trained_networks",
                        lambda images, stage1, seed, jobs: {i.name: Path(f"/no/network/{i.name}") for i in images})
    monkeypatch.setattr(model_distance, "cached_score", lambda checkpoint, target, stage1, name, compute:
                        logme[target_now["t"]][Path(checkpoint).name])
    model_distance.register()
    for target in bench["targets"]:
        target_now["t"] = target
        cfg = load_config([*test_overrides, f"data_root={SHARED_DATASETS}", f"target={target}",
                           "distance=prior_score", "features.max_images_per_class=6", "report.explain=false"])
        ranking = recommend(cfg=cfg)
        got = {s.name: s.score for s in ranking.sources}
        assert set(got) == set(expected[target])
        for source, value in expected[target].items():
            assert abs(got[source] - value) < 1e-9, (target, source, got[source], value)
        assert [s.name for s in ranking.sources] == sorted(expected[target], key=lambda s: -expected[target][s])


@needs_shared
def test_recommend_predicts_each_catalog_target_as_the_benchmark_scores_the_default(test_overrides, monkeypatch):
    """The default (distance=gain) through `recommend` equals the benchmark's 'gain' row on every catalog target:
    the same fold, the same features, the same prediction (recommender.rankers.gain.shipped_predictions is the one
    owner). The networks' scores and the ImageNet network's are the committed run's own."""
    import finetune.transfer.adapted as adapted
    import finetune.transfer.model_distance as model_distance
    from finetune.benchmark.mix import SHIPPED_GAIN, with_shipped_default
    from finetune.benchmark.results import TargetRun
    from recommender import load_config, recommend
    from recommender.evidence import load_evidence
    from recommender.rankers.gain import model_scores

    bench = json.loads((ROOT / "docs" / "benchmark" / "benchmark.json").read_text())
    reference = json.loads((ROOT / "docs" / "gain" / "gain.json").read_text())["imagenet_scores"]
    evidence = load_evidence(None)
    names = model_scores(evidence["gain"])
    runs = [TargetRun(t, list(bench["sources"][t]), {}, {4: {n: __import__("numpy").array(
        [bench["targets"][t]["scores"][n][s] for s in bench["sources"][t]]) for n in names}}) for t in bench["targets"]]
    expected = {r.target: dict(zip(r.sources, map(float, r.scores[4][SHIPPED_GAIN])))
                for r in with_shipped_default(runs, 4, evidence, reference)}

    now = {}
    monkeypatch.setattr(model_distance, "trained_networks",
                        lambda images, stage1, seed, jobs: {i.name: Path(f"/no/network/{i.name}") for i in images})
    monkeypatch.setattr(model_distance, "provenance", lambda path: __import__(
        "finetune.transfer.shipped", fromlist=["Provenance"]).Provenance("shipped", str(path), "0" * 64))
    monkeypatch.setattr(model_distance, "cached_score", lambda checkpoint, target, stage1, name, compute:
                        bench["targets"][now["t"]]["scores"][name][Path(checkpoint).name])
    monkeypatch.setattr(adapted, "imagenet_scores", lambda images, cfg, wanted: {n: reference[now["t"]][n]
                                                                                 for n in wanted})
    model_distance.register()
    for target in bench["targets"]:
        now["t"] = target
        cfg = load_config([*test_overrides, f"data_root={SHARED_DATASETS}", f"target={target}", "distance=gain",
                           "features.max_images_per_class=6", "report.explain=false"])
        ranking = recommend(cfg=cfg)
        got = {s.name: s.parts["predicted_gain_points"] for s in ranking.sources}
        assert set(got) == set(expected[target])
        for source, value in expected[target].items():
            assert abs(got[source] - value) < 1e-9, (target, source, got[source], value)
