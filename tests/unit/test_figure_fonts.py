"""Figures a person can read: no text below 9 pt in any figure the suite draws (save_png checks every one under
RECOMMENDER_CHECK_FONTS, which conftest sets), 150 dpi, and the distance heatmap scaled without its diagonal."""
import numpy as np
import pytest
from PIL import Image

from recommender.common.plotting import DPI, MIN_FONT_PT, figure, save_png, small_text


def test_small_text_is_found_and_refused(tmp_path):
    fig = figure((3, 2))
    ax = fig.add_subplot()
    ax.set_title("readable", fontsize=10)
    ax.text(0.5, 0.5, "tiny", fontsize=6)
    assert small_text(fig) == [("tiny", 6.0)]
    with pytest.raises(AssertionError, match="tiny"):
        save_png(fig, tmp_path / "f.png")
    assert not (tmp_path / "f.png").exists()


def test_figures_are_saved_at_150_dpi(tmp_path):
    fig = figure((4, 2))
    fig.add_subplot().plot([0, 1], [0, 1])
    save_png(fig, tmp_path / "f.png", dpi=100)  # a lower request is raised to the floor
    assert Image.open(tmp_path / "f.png").size == (4 * DPI, 2 * DPI) and MIN_FONT_PT == 9


def test_the_distance_heatmap_ignores_its_diagonal(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from recommender.explain import report

    captured = {}
    monkeypatch.setattr(report, "save_png", lambda fig, path, **k: captured.setdefault("fig", fig))
    table = np.array([[0.0, 10.0, 12.0], [10.0, 0.0, 11.0], [12.0, 11.0, 0.0]])
    ranking = SimpleNamespace(distance_names=["t", "a", "b"], distances=table, table_label="EMD",
                              distance_label="EMD", target=SimpleNamespace(name="t"))
    report.plot_distance_heatmap(ranking, tmp_path / "d.png")
    image = captured["fig"].axes[0].images[0]
    assert image.norm.vmin == 10.0 and image.norm.vmax == 12.0  # the scale spans the off-diagonal cells only
    assert small_text(captured["fig"]) == []
