"""Evidence files are data: each malformed one is refused with one EvidenceError naming the file and the field,
and nothing in one chooses code."""
import copy
import json

import pytest

from recommender.common.paths import EVIDENCE_DIR
from recommender.evidence import EvidenceError, load_evidence

SHIPPED = json.loads((EVIDENCE_DIR / "catalog.json").read_text())


def _edit(change):
    data = copy.deepcopy(SHIPPED)
    change(data)
    return data


def _first_distance(data):
    return next(iter(data["distances"]))


CASES = {
    "a distance that names code": (lambda d: d["distances"][_first_distance(d)].update(
        {"_target_": "subprocess.Popen"}), "names code"),
    "a distance name that is a path": (lambda d: d["distances"][_first_distance(d)].update(
        {"name": "../../../tmp/x"}), "is not a distance of conf/distance/"),
    "an option that is not a value": (lambda d: d["distances"][_first_distance(d)].update(
        {"ground_metric": {"nested": 1}}), "not a plain option value"),
    "a gain that is text": (lambda d: d["gains"]["plants"].update({"flowers": "abc"}), "gains.plants.flowers"),
    "a gain that is nan": (lambda d: d["gains"]["plants"].update({"flowers": float("nan")}), "gains.plants.flowers"),
    "a gain of 1e308": (lambda d: d["gains"]["plants"].update({"flowers": 1e308}), "gains.plants.flowers"),
    "gains that are a list": (lambda d: d.update({"gains": [1, 2]}), "gains is not"),
    "prior_score without folds": (lambda d: d["prior_score"].pop("folds"), "prior_score.folds"),
    "prior_score without score": (lambda d: d["prior_score"].pop("score"), "prior_score.score"),
    "prior_score.all_targets null": (lambda d: d["prior_score"].update({"all_targets": None}),
                                     "prior_score.all_targets"),
    "top_blocks 99": (lambda d: d["prior_score"].update({"top_blocks": 99}), "prior_score.top_blocks"),
    "a default naming an unknown distance": (lambda d: d["default"]["all_targets"].update({"distance": "nope"}),
                                            "default.all_targets.distance"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_evidence_is_refused_naming_the_field(tmp_path, case):
    change, field = CASES[case]
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(_edit(change)))
    with pytest.raises(EvidenceError) as err:
        load_evidence(path)
    assert str(path) in str(err.value) and field in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


def test_a_gain_section_with_a_broken_model_is_refused(tmp_path):
    data = copy.deepcopy(SHIPPED)
    data["gain"] = {"protocol": "top4/k20", "folds": {}, "all_targets": {
        "threshold": 1.0, "catalog": {"features": ["os.system"], "coverage": 0.9, "intercept": 0.0,
                                      "coefficients": {"os.system": 1.0}, "half_width": 1.0},
        "user": {"features": ["logme"], "coverage": 0.9, "intercept": 0.0, "coefficients": {"logme": 1.0},
                 "half_width": 1.0}}}
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(data))
    with pytest.raises(EvidenceError, match="gain.all_targets.catalog"):
        load_evidence(path)


def test_the_shipped_evidence_passes():
    assert load_evidence() is not None
