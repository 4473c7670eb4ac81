"""Every HTML report a person opens renders in headless Chromium with every figure embedded and no console error:
recommend's (made here on small folders), and the committed benchmark and active-learning reports."""
from pathlib import Path

import pytest

from browser import needs_chromium, open_page
from conftest import make_folder_dataset
from recommender import recommend
from recommender.explain.report import write_reports

DOCS = Path(__file__).resolve().parents[2] / "docs"
COMMITTED = [DOCS / "benchmark" / "report.html", DOCS / "benchmark_intel" / "report.html",
             *sorted((DOCS / "active_learning").glob("*/report.html"))]

pytestmark = needs_chromium()


def test_recommend_report_renders_with_every_figure(tmp_path, cfg_factory):
    colours = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 40)}
    target = make_folder_dataset(tmp_path / "target", colours, per_class=8)
    near = make_folder_dataset(tmp_path / "near", colours, per_class=8, seed=1)
    ranking = recommend(cfg=cfg_factory(f"target={target}", f"sources=[{near}]", "distance=class_mean_emd",
                                        "report.map_points_per_dataset=10"))
    paths = write_reports(ranking, tmp_path / "out", {"explain": True, "map": True})
    page = open_page(paths["report.html"])
    # gains, distances, domain map (asked for: report.map), nearest images and the one transport plan
    assert page["images"] >= 5 and page["broken"] == [] and page["console"] == []
    # Links to the files beside the report
    assert all(name in paths["report.html"].read_text() for name in ('href="ranking.json"', 'href="ranking.csv"'))


@pytest.mark.parametrize("page", COMMITTED, ids=lambda p: str(p.relative_to(DOCS)))
def test_committed_reports_render_with_every_figure(page):
    found = open_page(page)
    assert found["images"] >= 1 and found["broken"] == [] and found["console"] == []
