"""Explaining the ranking (figures, nearest images, domain map, descriptor quality) and image retrieval."""
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from recommender import dataset_features, load_config, make_extractor, recommend
from recommender.common.errors import RecommenderError
from recommender.explain.figures import (descriptor_quality, domain_map_points, embeddings_2d, nearest,
                                 sample_per_class)
from recommender.common.html import markdown_to_html
from recommender.common.plotting import cached_figure
from recommender.explain.report import write_reports
from recommender.explain.retrieval import build_index, encode_query

from conftest import SHARED_DATASETS, make_folder_dataset, needs_shared, write_image


def test_nearest_agrees_with_brute_force():
    rng = np.random.default_rng(0)
    index, queries = rng.normal(size=(200, 16)), rng.normal(size=(7, 16))
    distances, rows = nearest(index, queries, 5)
    brute = cdist(queries, index)
    np.testing.assert_array_equal(rows, np.argsort(brute, axis=1)[:, :5])
    np.testing.assert_allclose(distances, np.sort(brute, axis=1)[:, :5], rtol=1e-7)


def test_sample_per_class_is_seeded_and_stratified():
    labels = np.repeat([0, 1, 2], [5, 1, 9])
    picks = sample_per_class(labels, 2, seed=0)
    assert np.bincount(labels[picks]).tolist() == [2, 1, 2]
    assert np.array_equal(picks, sample_per_class(labels, 2, seed=0))


@pytest.fixture
def colour_features(tmp_path, cfg_factory):
    folder = make_folder_dataset(tmp_path / "colours", {"red": (220, 30, 30), "blue": (30, 30, 220),
                                                         "green": (30, 200, 40)}, per_class=10)
    cfg = cfg_factory("target=plants")
    extractor = make_extractor(cfg)
    return (cfg, folder, extractor, dataset_features(str(folder), cfg, "train", extractor),
            dataset_features(str(folder), cfg, "test", extractor))


def test_descriptor_quality_matches_a_brute_force_count(colour_features):
    _, _, _, train, test = colour_features
    q = descriptor_quality(train, test, k=3)
    xtr, xte = train.features(), test.features()
    order = np.argsort(cdist(xte, xtr), axis=1)[:, :3]
    hits = train.labels[order] == test.labels[:, None]
    assert q["precision_at_k"] == pytest.approx(hits.mean())
    votes = [np.bincount(train.labels[row], minlength=3).argmax() for row in order]
    assert q["knn_accuracy"] == pytest.approx(np.mean(np.array(votes) == test.labels))
    assert q["knn_accuracy"] > 0.9  # three flat colours are trivially separable by ImageNet features


def test_domain_map_has_one_point_per_sampled_image(colour_features):
    _, _, _, train, test = colour_features
    points, owner, labels = domain_map_points([train, test], per_dataset=12, seed=0)
    assert len(points) == 12 + len(test.refs) and np.bincount(owner).tolist() == [12, len(test.refs)]
    maps = embeddings_2d(points, seed=0)
    assert {"PCA", "t-SNE"} <= set(maps)
    assert all(xy.shape == (len(points), 2) for xy in maps.values())


def test_retrieval_finds_the_same_colour_and_handles_query_files(colour_features, tmp_path):
    cfg, folder, extractor, train, _ = colour_features
    index = build_index([str(folder)], cfg, extractor)
    query = write_image(tmp_path / "q.png", (220, 30, 30), noise_seed=99)
    matches = index.search(encode_query(query, extractor), k=4)
    assert [m.rank for m in matches] == [1, 2, 3, 4]
    assert all(m.class_name == "red" for m in matches)
    assert [m.distance for m in matches] == sorted(m.distance for m in matches)
    # Grayscale and RGBA queries are converted, not refused.
    for mode in ("L", "RGBA", "P"):
        converted = write_image(tmp_path / f"q_{mode}.png", (220, 30, 30), mode=mode)
        assert encode_query(converted, extractor).shape == (1280,)
    with pytest.raises(RecommenderError, match="no such image file"):
        encode_query(tmp_path / "missing.jpg", extractor)
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(RecommenderError, match="is not an image"):
        encode_query(tmp_path / "notes.jpg", extractor)
    with pytest.raises(RecommenderError, match="at least one dataset"):
        build_index([], cfg, extractor)


def test_html_report_is_self_contained(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.plot([0, 1], [1, 0])
    plt.savefig(tmp_path / "fig.png")
    plt.close()
    page = markdown_to_html("# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![fig](fig.png)\n\n- item `code`\n",
                            tmp_path, "t")
    assert "<h1>Title</h1>" in page and "<td>1</td>" in page and "<li>item <code>code</code></li>" in page
    assert "data:image/png;base64," in page
    assert not re.search(r'src="(?!data:)', page)  # nothing to fetch from a server or the disk


@needs_shared
def test_explained_report_on_a_small_real_run(tmp_path, test_overrides, monkeypatch):
    cfg = load_config([*test_overrides, "target=plants", "sources=[flowers,aerial,xray]",
                       f"data_root={SHARED_DATASETS}", "features.max_images_per_class=8", "report.top_k=2",
                       "report.map=true", "report.map_points_per_dataset=20"])
    ranking = recommend(cfg=cfg)
    assert set(ranking.descriptor_quality) == {"plants", "flowers", "aerial", "xray"}
    for q in ranking.descriptor_quality.values():
        assert 0.0 <= q["knn_accuracy"] <= 1.0 and 0.0 <= q["precision_at_k"] <= 1.0
    paths = write_reports(ranking, tmp_path, cfg.report)
    top2 = [s.name for s in ranking.sources[:2]]
    for name in ("neighbours.png", "domain_map.png", *(f"plan_{n}.png" for n in top2)):
        assert paths[name].is_file() and paths[name].stat().st_size > 10_000, name
    assert f"plan_{ranking.sources[2].name}.png" not in paths
    report = paths["report.md"].read_text()
    for name in ("neighbours.png", "domain_map.png", "distances.png", *(f"plan_{n}.png" for n in top2)):
        assert f"({name})" in report
    assert "### Descriptor quality" in report
    page = paths["report.html"].read_text()
    # gains, distances, domain map, nearest images, and the transport plans of the first sources
    assert page.count("data:image/png;base64,") == 6 and "[missing figure" not in page

    # A second report of the same ranking copies the cached figures instead of drawing them again, also when
    # the first run extracted the features and this one read them from the cache.
    for fs in ranking.feature_sets.values():
        fs.extracted = not fs.extracted

    def no_drawing(*args, **kwargs):
        raise AssertionError("a cached figure was drawn again")

    monkeypatch.setattr("recommender.explain.figures.plot_domain_map", no_drawing)
    monkeypatch.setattr("recommender.explain.figures.plot_transport_plan", no_drawing)
    again = write_reports(ranking, tmp_path / "again", cfg.report)
    for name in ("domain_map.png", "distances.png", *(f"plan_{n}.png" for n in top2)):
        assert again[name].read_bytes() == paths[name].read_bytes(), name


def _png_drawer(drawn: list):
    from PIL import Image

    def draw(path):
        drawn.append(path.name)
        Image.new("RGB", (4, 4), (len(drawn), 0, 0)).save(path, format="PNG")

    return draw


def test_cached_figure_redraws_only_when_its_inputs_or_version_change(tmp_path):
    drawn = []
    draw = _png_drawer(drawn)
    table = np.arange(6.0).reshape(2, 3)
    cached_figure(tmp_path / "cache", tmp_path / "a.png", ("plan", ["x", "y"], table), draw, version=1)
    cached_figure(tmp_path / "cache", tmp_path / "b.png", ("plan", ["x", "y"], table.copy()), draw, version=1)
    assert drawn == ["a.png"] and (tmp_path / "b.png").read_bytes() == (tmp_path / "a.png").read_bytes()
    table[1, 2] = 7.0  # one number of the figure changes: it is drawn again
    cached_figure(tmp_path / "cache", tmp_path / "c.png", ("plan", ["x", "y"], table), draw, version=1)
    cached_figure(tmp_path / "cache", tmp_path / "d.png", ("plan", ["x", "z"], table), draw, version=1)
    assert drawn == ["a.png", "c.png", "d.png"]
    cached_figure(tmp_path / "cache", tmp_path / "e.png", ("plan", ["x", "z"], table), draw, version=2)
    assert drawn[-1] == "e.png"  # the drawing code changed its version: the old copy is not reused
    cached_figure(None, tmp_path / "f.png", ("plan", ["x", "y"], table), draw, version=1)  # no cache: always drawn
    assert drawn[-1] == "f.png"
    with pytest.raises(TypeError, match="cannot fingerprint"):
        cached_figure(tmp_path / "cache", tmp_path / "g.png", ("plan", object()), draw, version=1)


def test_a_truncated_cached_figure_is_drawn_again(tmp_path):
    drawn = []
    draw = _png_drawer(drawn)
    cached_figure(tmp_path / "cache", tmp_path / "a.png", ("plan", [1]), draw, version=1)
    (entry,) = (tmp_path / "cache").glob("*.png")
    entry.write_bytes(entry.read_bytes()[:20])  # truncated, as by a full disk or a kill during a copy
    cached_figure(tmp_path / "cache", tmp_path / "b.png", ("plan", [1]), draw, version=1)
    assert drawn == ["a.png", "b.png"]
    from PIL import Image

    with Image.open(tmp_path / "b.png") as img:
        img.load()  # the report got a complete figure


def test_retrieve_script_prints_and_writes_matches(tmp_path, test_overrides):
    import subprocess
    import sys

    folder = make_folder_dataset(tmp_path / "colours", {"red": (220, 30, 30), "blue": (30, 30, 220)}, per_class=8)
    query = write_image(tmp_path / "query.png", (30, 30, 220), noise_seed=7)
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "scripts/retrieve.py", f"query={query}", f"datasets=[{folder}]", "k=3",
                           *test_overrides, f"hydra.run.dir={run}"], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if re.match(r"\s+\d+\s", line)]
    assert len(lines) == 3 and all("colours/blue " in line for line in lines)
    assert (run / "matches.png").stat().st_size > 5_000
    assert len((run / "matches.csv").read_text().splitlines()) == 4
    missing = subprocess.run([sys.executable, "scripts/retrieve.py", f"query={tmp_path / 'nope.jpg'}",
                              f"datasets=[{folder}]", *test_overrides, f"hydra.run.dir={run}"],
                             cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "no such image file" in missing.stderr
