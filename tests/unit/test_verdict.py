"""The verdict a person acts on (recommender.evidence): per-source gains over ImageNet with their intervals, the
decision between "Start from X", "Start from ImageNet" and "X and Y are interchangeable", and the table that
shows it (ImageNet as a row at gain 0, one unit everywhere)."""
import json
import math

import numpy as np
import pytest

from recommender.explain.verdict import decide, source_gains, verdict
from recommender.ranking import Ranking
from recommender.explain.report import format_table, markdown_report, table_rows

from factories import domain, source_result


def evidence(gains: dict[str, dict[str, float]]) -> dict:
    return {"format": 1, "protocol": "top4/k20", "image_size": 160, "gains": gains,
            "summary": {"prior_mix_loto": {"mean_weighted_tau": 0.5, "ci95": [0.4, 0.6], "mean_top1_regret": 0.3,
                                           "n_targets": 4}},
            "distances": {}, "default": {"score": "prior_mix_loto", "folds": {}, "all_targets": {}}}


# Four catalog targets besides the scored one; gains are fractions of accuracy, as the benchmark writes them.
BEATS = {"t1": {"a": 0.02, "b": -0.01}, "t2": {"a": 0.03, "b": -0.02}, "t3": {"a": 0.025, "b": -0.015},
         "t4": {"a": 0.02, "b": -0.01}}


def test_a_sources_gain_is_its_mean_over_the_other_targets_with_a_t_interval_in_points():
    gains = source_gains(evidence(BEATS), None, ["a", "never"])
    # a: 2, 3, 2.5, 2 points -> mean 2.375; sample sd sqrt(0.6875 / 3) = 0.47871; t(0.975, 3) = 3.18245;
    # half-width 3.18245 * 0.47871 / 2 = 0.76174 (worked by hand).
    assert gains["a"]["mean"] == pytest.approx(2.375)
    assert gains["a"]["half"] == pytest.approx(0.76174, abs=1e-4)
    assert gains["a"]["n"] == 4
    assert gains["never"] is None
    # A catalog target never sees its own measurement: leaving t2 out gives the mean of 2, 2.5, 2.
    assert source_gains(evidence(BEATS), "t2", ["a"])["a"]["mean"] == pytest.approx(6.5 / 3)


@pytest.mark.parametrize("gain, others, decision, starts", [
    ({"mean": 2.0, "half": 0.5, "n": 4}, [], "source", "Start from a:"),
    ({"mean": 2.0, "half": 0.5, "n": 4}, ["b"], "interchangeable", "a and b are interchangeable"),
    ({"mean": 0.4, "half": 0.5, "n": 4}, [], "imagenet", "Start from ImageNet:"),
    ({"mean": -1.0, "half": 0.5, "n": 4}, ["b"], "imagenet", "Start from ImageNet:"),
    ({"mean": 3.0, "half": math.nan, "n": 1}, [], "imagenet", "Start from ImageNet:"),  # one target: no interval
    (None, [], "unmeasured", "Try a first:"),
])
def test_the_decision_follows_the_first_sources_interval_and_the_interchangeable_ones(gain, others, decision,
                                                                                     starts):
    found, headline = decide(["a", *others, "c"], [gain, *[gain] * len(others), None], others)
    assert found == decision
    assert headline.startswith(starts)


@pytest.mark.parametrize("gains, decision", [
    (BEATS, "source"),
    ({t: {"a": g["a"] - 0.024, "b": g["b"]} for t, g in BEATS.items()}, "imagenet"),
    ({t: {"a": g["a"], "b": g["a"] + d} for (t, g), d in zip(BEATS.items(), (0.001, -0.002, 0.002, -0.001))},
     "interchangeable"),
])
def test_verdict_on_hand_made_evidence(gains, decision):
    judged = verdict(evidence(gains), {"name": "prior_mix"}, "scored", [("a", "a"), ("b", "b")], 160)
    assert judged["decision"] == decision
    assert judged["start_from_imagenet"] is (decision == "imagenet")
    assert judged["gains"]["a"]["mean"] == pytest.approx(100 * np.mean([g["a"] for g in gains.values()]))


def _ranking(judged: dict, kind: str = "prior") -> Ranking:
    sources = [source_result("a", 28.0, rank=1), source_result("b", 25.0, rank=2)]
    for s in sources:
        s.gain = judged["gains"][s.name]
    return Ranking(target=domain("target"), sources=sources, distance_names=["target", "a", "b"],
                   table=np.zeros((3, 3)), evidence=judged, kind=kind, distance_label="the catalog prior",
                   table_label="class-mean EMD")


def test_the_console_leads_with_the_verdict_and_imagenet_is_a_row_at_zero():
    judged = verdict(evidence(BEATS), {"name": "prior_mix"}, "scored", [("a", "a"), ("b", "b")], 160)
    text = format_table(_ranking(judged))
    lines = text.splitlines()
    assert lines[0] == judged["headline"] and lines[0].startswith("Start from a:")
    assert lines[1].startswith("What decided the order: each source's measured transfer")
    header, body = table_rows(_ranking(judged))
    assert "gain over ImageNet, points (95% CI)" in header and "similarity" not in header
    assert body[0][:3] == ("1", "a", "+2.4 ± 0.8")
    assert body[-1][1].startswith("imagenet") and "+0.0" in body[-1][2]
    assert "nan" not in text.lower()


def test_every_gain_is_in_points_in_the_table_the_json_and_the_records():
    judged = verdict(evidence(BEATS), {"name": "prior_mix"}, "scored", [("a", "a"), ("b", "b")], 160)
    ranking = _ranking(judged)
    records = ranking.to_records()
    data = ranking.to_dict()
    assert records[0]["gain_points"] == pytest.approx(2.375) == data["sources"][0]["gain_points"]
    assert records[-1]["source"] == "imagenet" and records[-1]["gain_points"] == 0.0
    assert data["decision"] == "source" and data["headline"] == judged["headline"]
    json.dumps(data)  # plain values only


def test_figures_that_did_not_decide_the_order_say_so_and_the_method_matches_the_kind():
    judged = verdict(evidence(BEATS), {"name": "prior_mix"}, "scored", [("a", "a"), ("b", "b")], 160)
    prior = markdown_report(_ranking(judged, "prior"))
    assert prior.index("**Start from a:") < prior.index("| rank |")
    assert "_These did not decide the order._" in prior
    assert "ranked by distance" not in prior and "ranked by its measured transfer" in prior
    by_distance = markdown_report(_ranking(judged, "distance"))
    assert "_These did not decide the order._" not in by_distance and "ranked by distance, smallest first" in by_distance


def test_a_ranking_has_a_short_repr_and_a_notebook_table():
    judged = verdict(evidence(BEATS), {"name": "prior_mix"}, "scored", [("a", "a"), ("b", "b")], 160)
    ranking = _ranking(judged)
    assert repr(ranking) == "Ranking(target='target', decision='source', by='class_mean_emd', sources=[a, b])"
    assert len(repr(ranking.sources[0])) < 100
    page = ranking._repr_html_()
    assert page.startswith("<p><b>Start from a:") and "<td>imagenet (no source)</td>" in page


def test_class_names_cannot_break_the_markdown_table():
    from recommender.explain.report import md_cell

    assert md_cell("a|b\nc<script>") == "a\\|b c&lt;script&gt;"


def test_evidence_measured_with_another_backbone_is_not_quoted_as_validated():
    base = evidence(BEATS)
    base["summary"]["class_mean_emd"] = {"mean_weighted_tau": 0.46, "ci95": [0.4, 0.5], "n_targets": 4}
    base["validated_distances"] = {
        "class_mean_emd": {"name": "class_mean_emd", "ground_metric": "euclidean", "image_size": 160},
        "class_mean_emd_224": {"name": "class_mean_emd", "ground_metric": "euclidean", "image_size": 224}}
    base["summary"]["class_mean_emd_224"] = {"mean_weighted_tau": 0.5, "ci95": [0.4, 0.6], "n_targets": 4}
    distance = {"name": "class_mean_emd", "ground_metric": "euclidean", "gamma": 0.01}
    ranked = [("a", "a"), ("b", "b")]
    same = verdict(base, distance, "scored", ranked, 160, {"alpha": 0.5, "weights": "imagenet"})
    assert same["validated"]["score"] == "class_mean_emd"
    # The same distance at 224 px was measured too, under its own name.
    assert verdict(base, distance, "scored", ranked, 224, {"alpha": 0.5, "weights": "imagenet"}
                   )["validated"]["score"] == "class_mean_emd_224"
    narrower = verdict(base, distance, "scored", ranked, 160, {"alpha": 0.35, "weights": "imagenet"})
    assert narrower["validated"] is None and narrower["gains"]["a"] is not None  # gains shown as measured there
    assert any("Not validated for this backbone" in s for s in narrower["sentences"])
    random = verdict(base, distance, "scored", ranked, 160, {"alpha": 0.5, "weights": None})
    assert random["validated"] is None and random["gains"]["a"] is None and random["decision"] == "unmeasured"
    assert "none of its measurements" in random["sentences"][0]


def test_a_gain_whose_interval_lies_below_zero_is_called_a_loss_not_noise():
    decision, headline = decide(["a"], [{"mean": -3.3, "half": 1.6, "n": 9}], [])
    assert decision == "imagenet" and headline.endswith("a measured loss.")
    decision, headline = decide(["a"], [{"mean": -0.3, "half": 1.6, "n": 9}], [])
    assert headline.endswith("within the noise.")


def test_a_built_source_first_is_a_source_to_build_with_its_kinds_measured_gain():
    built = "built:0123456789abcdef:emd25"
    pool = {"protocol": "top4/k20", "gains": {t: {built: g["a"]} for t, g in BEATS.items()},
            "built": {built: {"pool": "tinyimagenet", "classes": 25}}}
    from recommender.evidence import with_pool_evidence

    merged = with_pool_evidence(evidence({t: {"b": g["b"]} for t, g in BEATS.items()}), pool)
    assert merged["gains"]["t1"] == {"b": -0.01, built: 0.02}
    judged = verdict(merged, {"name": "prior_mix"}, None, [("tinyimagenet-emd25-x", built), ("b", "b")], 160)
    assert judged["decision"] == "build" and judged["headline"].startswith("Build a source from the pool")
    assert "+2.4 ± 0.8 points" in judged["headline"]  # the gains of `a` above, now the built kind's
    # Another protocol's study does not apply: the built source stays unmeasured.
    other = with_pool_evidence(evidence(BEATS), {**pool, "protocol": "top2/k5"})
    assert built not in other["gains"]["t1"]
    # Within the noise, the verdict is ImageNet, whatever the source is.
    assert decide(["x"], [{"mean": 0.3, "half": 1.0, "n": 9}], [], frozenset({"x"}))[0] == "imagenet"
