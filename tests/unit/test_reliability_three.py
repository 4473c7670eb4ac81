"""Reliability round three, the parts that need no network: a damaged network file, figures quoted only under
the protocol they were measured with, stale temporaries in the checkpoint folder."""
import json
import zipfile

import numpy as np
import pytest

from recommender.common.errors import RecommenderError
from recommender.common.paths import EVIDENCE_DIR
from recommender.explain.verdict import verdict


def test_a_network_archive_with_garbage_inside_is_removed_with_one_error(tmp_path, monkeypatch):
    from finetune.transfer import adapted

    monkeypatch.delenv("RECOMMENDER_NETWORKS_DIR", raising=False)
    path = tmp_path / "stage1-0123456789abcdef0123.keras"
    with zipfile.ZipFile(path, "w") as archive:  # passes the zip check: both members, valid CRCs
        archive.writestr("config.json", "{not json")
        archive.writestr("model.weights.h5", b"garbage")
    with pytest.raises(RecommenderError, match="cannot be loaded.*run the command again"):
        adapted._run_tail(path, np.zeros((2, 5, 5, 8), np.float32))
    assert not path.exists()  # removed, so the next run trains it again instead of failing forever


def test_validated_figures_are_quoted_only_under_their_protocol():
    evidence = json.loads((EVIDENCE_DIR / "catalog.json").read_text())
    ranked = [("trash", "trash"), ("textures", "textures")]
    config = {"name": "prior_score"}
    full = verdict(evidence, config, "plants", ranked, 160, {"alpha": 0.5, "weights": "imagenet"})
    assert full["validated"] is not None
    capped = verdict(evidence, config, "plants", ranked, 160, {"alpha": 0.5, "weights": "imagenet"}, capped=True)
    assert capped["validated"] is None and any("not quoted" in s for s in capped["sentences"])
    single = verdict(evidence, config, "plants", ranked[:1], 160, {"alpha": 0.5, "weights": "imagenet"})
    assert single["validated"] is None and any("single source" in s for s in single["sentences"])
    assert not any("not in the committed benchmark" in s for s in capped["sentences"] + single["sentences"])


def test_names_cannot_inject_links_or_html_into_a_report(tmp_path):
    from recommender.common.html import markdown_to_html, md_text

    name = "evil](javascript:alert(1)) [click](http://x) <img src=x onerror=alert(1)>"
    page = markdown_to_html(f"# Sources for {md_text(name)}\n\n| a |\n|---|\n| {md_text(name)} |\n", tmp_path, "t")
    assert "<a " not in page and "<img" not in page  # no link, no image: the name is text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # shown as text


def test_another_machines_temporary_files_are_left_alone_until_old(tmp_path):
    import os
    import time

    from recommender.common.files import FOREIGN_TEMPORARY_SECONDS, _host_tag, clean_stale_temporaries

    ours_dead = tmp_path / f".a.npz.pid999999.h{_host_tag()}.x.partial.npz"
    ours_dead.write_bytes(b"")  # this machine, a writer that no longer runs: removed
    theirs = tmp_path / ".b.npz.pid999999.hdeadbeef.x.raw"  # another machine's: its PID means nothing here
    theirs.write_bytes(b"")
    theirs_old = tmp_path / ".c.npz.pid999999.hdeadbeef.x.raw"
    theirs_old.write_bytes(b"")
    past = time.time() - FOREIGN_TEMPORARY_SECONDS - 60
    os.utime(theirs_old, (past, past))
    assert clean_stale_temporaries(tmp_path) == 2
    assert theirs.exists() and not ours_dead.exists() and not theirs_old.exists()
