"""A source built from a pool: the class score (Cui et al. 2018, section 4.2) and the source spec."""
from __future__ import annotations

import json

import numpy as np
import ot
import pytest

from recommender.data.datasets import DatasetError, DatasetSpec, list_images, resolve_dataset
from recommender.data.subset import make_spec, read_spec, spec_identity, write_spec
from recommender.pool import class_distances, closest, drawn, similarity

from conftest import make_folder_dataset


def test_class_distance_by_hand():
    # Target: classes at (0,0) and (6,8), weights 3/4 and 1/4. Pool class at (0,0): 3/4*0 + 1/4*10 = 2.5;
    # pool class at (3,4): 3/4*5 + 1/4*5 = 5.
    d = class_distances([[0.0, 0.0], [3.0, 4.0]], [[0.0, 0.0], [6.0, 8.0]], [0.75, 0.25])
    assert d == pytest.approx([2.5, 5.0])
    assert similarity(d) == pytest.approx([np.exp(-0.025), np.exp(-0.05)])


def test_closed_form_is_the_emd_of_a_one_point_domain():
    rng = np.random.default_rng(0)
    pool, target = rng.normal(size=(7, 5)), rng.normal(size=(4, 5))
    w = rng.random(4)
    w /= w.sum()
    d = class_distances(pool, target, w)
    for i in range(len(pool)):
        cost = np.linalg.norm(pool[i][None, :] - target, axis=1)[None, :]
        assert d[i] == pytest.approx(ot.emd2(np.ones(1), w, cost))


def test_a_copy_of_a_target_class_ranks_first_and_the_order_follows_the_closed_form():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(3, 8)) * 0.5  # the target domain, near the origin
    w = np.array([0.5, 0.3, 0.2])
    others = rng.normal(size=(12, 8)) + 4.0  # a pool from another domain
    pool = np.vstack([others[:6], target[0], others[6:]])
    d = class_distances(pool, target, w)
    order = closest(d, len(pool))
    assert order[0] == 6
    by_hand = sorted(range(len(pool)), key=lambda i: sum(wj * np.linalg.norm(pool[i] - t) for wj, t in zip(w, target)))
    assert list(order) == by_hand


def test_ties_keep_pool_order_and_sizes_are_checked():
    assert list(closest(np.array([1.0, 0.5, 0.5, 2.0]), 3)) == [1, 2, 0]
    with pytest.raises(ValueError):
        closest(np.array([1.0, 2.0]), 3)
    with pytest.raises(ValueError):
        class_distances([[0.0, 0.0]], [[0.0, 0.0]], [0.5])


def test_random_draws_are_seeded_and_shared():
    assert list(drawn(200, 10, 0)) == list(drawn(200, 10, 0))
    assert list(drawn(200, 10, 0)) != list(drawn(200, 10, 1))
    assert len(set(drawn(200, 50, 2))) == 50


def _pool(tmp_path):
    return make_folder_dataset(tmp_path / "pool", {"red": (220, 30, 30), "blue": (30, 30, 220),
                                                   "green": (30, 200, 40), "grey": (128, 128, 128)})


def _spec_for(tmp_path, classes):
    root = _pool(tmp_path)
    pool = list_images(DatasetSpec("pool", path=root))
    members = [{"dataset": str(root), "fingerprint": pool.fingerprint, "classes": classes}]
    chosen = [{"dataset": str(root), "class": c, "images": 6, "distance": 1.0, "similarity": 0.99} for c in classes]
    return root, pool, write_spec(make_spec("mine", members, chosen, {"rule": "emd"}), tmp_path / "mine.json")


def test_a_spec_round_trips_to_the_same_classes_and_identity(tmp_path):
    root, pool, path = _spec_for(tmp_path, ["green", "red"])
    spec = resolve_dataset(str(path), {}, None)
    images = list_images(spec)
    assert spec.kind == "subset" and images.class_names == ["green", "red"] and len(images.refs) == 12
    assert all(r.startswith(str(root / "green")) for r in images.refs[:6])
    assert spec.identity == ("subset", read_spec(path)["identity"])
    # The same classes under another name are the same dataset, with the same fingerprint (so the same caches).
    again = json.loads(path.read_text())
    again["name"] = "renamed"
    other = tmp_path / "renamed.json"
    other.write_text(json.dumps(again))
    assert list_images(resolve_dataset(str(other), {}, None)).fingerprint == images.fingerprint
    # Other classes: another identity and fingerprint.
    _, _, third = _spec_for(tmp_path / "b", ["green", "blue"])
    assert list_images(resolve_dataset(str(third), {}, None)).fingerprint != images.fingerprint


def test_identity_is_content_not_name_or_scores():
    a = [{"dataset": "x", "fingerprint": "f", "classes": ["a", "b"]}]
    b = [{"dataset": "/elsewhere/x", "fingerprint": "f", "classes": ["a", "b"]}]
    assert spec_identity(a) == spec_identity(b)
    assert spec_identity(a) != spec_identity([{"dataset": "x", "fingerprint": "g", "classes": ["a", "b"]}])


def test_an_edited_spec_is_refused(tmp_path):
    _, _, path = _spec_for(tmp_path, ["green", "red"])
    spec = json.loads(path.read_text())
    spec["members"][0]["classes"] = ["green", "blue"]
    path.write_text(json.dumps(spec))
    with pytest.raises(DatasetError, match="identity does not match"):
        resolve_dataset(str(path), {}, None)


def test_a_pool_that_changed_is_refused(tmp_path):
    root, _, path = _spec_for(tmp_path, ["green", "red"])
    (root / "red" / "000.png").write_bytes(b"changed bytes")
    with pytest.raises(DatasetError, match="changed since the spec was built"):
        list_images(resolve_dataset(str(path), {}, None))


@pytest.mark.parametrize("text, message", [("not json", "cannot be read as JSON"),
                                           ('{"kind": "folder"}', "not a source spec")])
def test_a_file_that_is_not_a_spec_is_refused(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message):
        resolve_dataset(str(path), {}, None)


def test_relative_distance_by_hand_demotes_a_hub():
    from recommender.pool import relative_distances

    # Class 0 is close to the target (d 2) but as close to both references (2, 2): a hub, relative 0.
    # Class 1 is farther (d 3) but far from the references (7, 9): relative 3 - 8 = -5, now first.
    d = np.array([2.0, 3.0])
    rel = relative_distances(d, np.array([[2.0, 2.0], [7.0, 9.0]]))
    assert rel == pytest.approx([0.0, -5.0])
    assert list(closest(rel, 2)) == [1, 0]
    with pytest.raises(ValueError):
        relative_distances(d, np.zeros((2, 0)))


def test_the_shipped_pool_evidence_is_the_studys_measurement():
    """conf/evidence/pool.json (what `recommend pool=[...]` reads) holds, for each catalog target, the mean
    over the study's paired episodes of the built source's accuracy minus ImageNet's, under the name of the build
    recorded in the committed spec."""
    from pathlib import Path

    from recommender.evidence import SHIPPED_POOL
    from recommender.pool import evidence_name

    docs = Path(__file__).resolve().parents[2] / "docs" / "pool"
    evidence = json.loads(SHIPPED_POOL.read_text())
    runs = json.loads((docs / "runs.json").read_text())
    assert set(evidence["gains"]) == set(runs["runs"]) and evidence["protocol"] == runs["protocol"] == "top4/k20"
    for target, run in runs["runs"].items():
        accuracy = np.asarray(run["accuracy"])
        for i, role in enumerate(run["roles"]):
            if not role.startswith("emd"):
                continue
            spec = json.loads((docs / "specs" / Path(run["refs"][i]).name).read_text())
            assert spec["about"]["target"] == target and spec["about"]["rule"] == role.rstrip("0123456789")
            name = evidence_name(spec)
            assert evidence["gains"][target][name] == pytest.approx(np.mean(accuracy[1 + i]) - np.mean(accuracy[0]))


def test_a_spec_over_several_pool_datasets_names_classes_by_pool(tmp_path):
    a = make_folder_dataset(tmp_path / "first", {"red": (220, 30, 30), "blue": (30, 30, 220)})
    b = make_folder_dataset(tmp_path / "second", {"red": (200, 20, 20), "grey": (128, 128, 128)}, seed=3)
    members = [{"dataset": str(p), "fingerprint": list_images(DatasetSpec(p.name, path=p)).fingerprint,
                "classes": classes} for p, classes in ((a, ["red"]), (b, ["red", "grey"]))]
    path = write_spec(make_spec("two", members, [], {"rule": "emd"}), tmp_path / "two.json")
    images = list_images(resolve_dataset(str(path), {}, None))
    assert images.class_names == ["first/red", "second/red", "second/grey"] and len(images.refs) == 18
