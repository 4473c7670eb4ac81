"""Shipped stage-1 networks (finetune.transfer.shipped): a verified file is used and nothing is trained; a
tampered file is refused with one line and trained instead, and the report says so; a missing file is the only
network trained; the shipped folder is never written."""
import hashlib
import logging
import shutil

import pytest

from conftest import make_folder_dataset
from recommender import recommend

FAST = ("+finetune=default", "finetune.epochs.head=1", "finetune.epochs.finetune=1", "finetune.hidden_units=8",
        "finetune.batch_size=8", "distance=logme", "+distance.jobs=1")


@pytest.fixture(autouse=True)
def _fresh_state():
    import finetune.transfer.shipped as shipped

    shipped._warned.clear()
    yield
    shipped._warned.clear()


def test_verified_files_are_used_tampered_refused_missing_trained(tmp_path, cfg_factory, monkeypatch, caplog):
    import finetune.transfer.stages as stages
    from finetune.transfer.model_distance import register

    register()
    sources = {n: make_folder_dataset(tmp_path / n, {"a": (200 - 60 * i, 40, 60 * i), "b": (30, 60 * i, 200)},
                                      per_class=12, seed=i) for i, n in enumerate(("one", "two", "three"))}
    target = make_folder_dataset(tmp_path / "target", {"a": (190, 50, 20), "b": (40, 70, 190)}, per_class=12, seed=9)
    trained = []
    original = stages._train_phases
    monkeypatch.setattr(stages, "_train_phases",
                        lambda net, images, *a, **k: trained.append(images.name) or original(net, images, *a, **k))

    def run(checkpoints):
        return recommend(cfg=cfg_factory(f"target={target}", f"sources=[{','.join(map(str, sources.values()))}]",
                                         *FAST, f"finetune.checkpoint_dir={checkpoints}"))

    monkeypatch.setenv("RECOMMENDER_NETWORKS_DIR", str(tmp_path / "no_such_folder"))
    first = run(tmp_path / "made")
    assert sorted(trained) == ["one", "three", "two"]
    # Ship what was made: all three files listed, then one tampered with and one removed.
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    files = sorted((tmp_path / "made").glob("stage1-*.keras"))
    assert len(files) == 3
    lines = []
    for f in files:
        shutil.copy(f, shipped / f.name)
        lines.append(f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.name}")
    (shipped / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    by_name = {s.name: s for s in first.sources}
    path_of = {n: shipped / __import__("pathlib").Path(by_name[n].parts["network"]["path"]).name for n in by_name}
    with open(path_of["one"], "ab") as handle:
        handle.write(b"tampered")
    path_of["two"].unlink()
    shipped.chmod(0o555)  # read-only: anything written there would fail the run
    monkeypatch.setenv("RECOMMENDER_NETWORKS_DIR", str(shipped))
    trained.clear()
    try:
        with caplog.at_level(logging.WARNING):
            second = run(tmp_path / "fresh")
    finally:
        shipped.chmod(0o755)
    assert sorted(trained) == ["one", "two"]  # the tampered and the missing network; three came shipped
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and path_of["one"].name in refusals[0].getMessage()
    origin = {s.name: s.parts["network"] for s in second.sources}
    assert origin["three"]["origin"] == "shipped" and len(origin["three"]["sha256"]) == 64
    assert origin["one"]["origin"] == "trained here" and "does not match" in origin["one"]["refused"]
    assert origin["two"]["origin"] == "trained here" and "refused" not in origin["two"]
    note = next(n for n in second.notes if n.startswith("Networks:"))
    assert "1 shipped" in note and "2 trained here" in note and "Refused" in note and "one" in note
    # The same scores as the networks made here: a verified shipped file is exactly that network.
    for s in second.sources:
        assert s.parts["logme"] == pytest.approx(by_name[s.name].parts["logme"], abs=0)
    assert sorted(p.name for p in shipped.iterdir()) == sorted([path_of["one"].name, path_of["three"].name,
                                                                "SHA256SUMS"])
