"""Figures for the reports: Matplotlib's object API on the Agg canvas, and a PIL mosaic for image grids.

Pyplot is not used: it keeps global state (the current figure) and costs import time that a warm run, which
only redraws its figures, should not pay.
"""
from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from recommender.common.cache import valid_png
from recommender.common.files import atomic_output


def figure(figsize: tuple[float, float]):
    """A new Matplotlib figure that renders on the Agg canvas (no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


MIN_FONT_PT = 9.0  # the smallest text a report's figure may carry, at the size it is drawn
DPI = 150  # sharp on high-density screens; the reports show figures at their drawn width


def small_text(fig) -> list[tuple[str, float]]:
    """(text, size in points) of every visible, non-empty text of `fig` smaller than MIN_FONT_PT."""
    from matplotlib.text import Text

    return [(t.get_text(), float(t.get_fontsize())) for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip() and t.get_fontsize() < MIN_FONT_PT]


def save_png(fig, path: str | Path, dpi: int = DPI, layout: bool = True) -> None:
    """Lay the figure out and write it as PNG (fast zlib level: these files are viewed, not archived). With
    RECOMMENDER_CHECK_FONTS set (the test suite sets it), a text below MIN_FONT_PT is an error naming the figure."""
    import os

    if layout:  # False: the caller laid the figure out itself (say, with room kept for a legend)
        fig.tight_layout()
    if os.environ.get("RECOMMENDER_CHECK_FONTS"):
        small = small_text(fig)
        if small:
            raise AssertionError(f"{Path(path).name}: text below {MIN_FONT_PT} pt: {small[:5]}")
    with atomic_output(path, ".png") as tmp:  # a full disk leaves no truncated figure under its name
        fig.savefig(tmp, dpi=max(int(dpi), DPI), format="png", pil_kwargs={"compress_level": 1})


def colour(index: int) -> tuple[float, float, float, float]:
    """The index-th colour of Matplotlib's tab10 cycle: one per dataset in every figure."""
    from matplotlib import colormaps

    return colormaps["tab10"](index % 10)


def save_mosaic(tiles: list[list[np.ndarray]], captions: list[list[tuple[str, str]]], title: str,
                path: str | Path, caption_height: int = 44) -> None:
    """Write a grid of equal-size RGB tiles, each with a caption (text, colour name) above it, as one PNG.

    Drawn with PIL rather than Matplotlib: the grid is a picture already, and PIL writes it in a fraction of
    the time Matplotlib takes to lay out a hundred captions.
    """
    from PIL import Image, ImageDraw, ImageFont

    tile_h, tile_w = tiles[0][0].shape[:2]
    rows, cols = len(tiles), max(len(row) for row in tiles)
    title_h = 30
    canvas = Image.new("RGB", (cols * tile_w, title_h + rows * (tile_h + caption_height)), "white")
    draw = ImageDraw.Draw(canvas)
    # 14 px captions: the reports show the grid at up to 1,100 px wide, and 10 px came out at 6-7 px there.
    font = ImageFont.load_default(size=14)
    draw.text((4, 4), title, fill="black", font=ImageFont.load_default(size=18))
    for r, (row_tiles, row_captions) in enumerate(zip(tiles, captions)):
        top = title_h + r * (tile_h + caption_height)
        for c, (tile, (text, fill)) in enumerate(zip(row_tiles, row_captions)):
            fitted = "\n".join(_fit(line, font, tile_w - 4) for line in text.split("\n"))
            draw.multiline_text((c * tile_w + 2, top + 1), fitted, fill=fill, font=font, spacing=1)
            canvas.paste(Image.fromarray(tile), (c * tile_w, top + caption_height))
    with atomic_output(path, ".png") as tmp:
        canvas.save(tmp, format="PNG", compress_level=1)


def _fit(text: str, font, width: float) -> str:
    """`text`, cut with an ellipsis where it would run into the next tile."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def cached_figure(cache_dir: str | Path | None, path: str | Path, inputs, draw: Callable[[Path], object], *,
                  version: int) -> None:
    """Write the figure `draw(path)` would write, reusing the copy drawn earlier from the same inputs.

    The key is a hash of `inputs` (every array, name and number the figure shows, taken whole) and of the
    figure's `version`, which its drawing code bumps whenever what it draws changes. A warm run on unchanged
    data copies its figures instead of drawing them again; a cached copy that is not a complete PNG is
    removed and drawn again. `cache_dir=None` always draws.
    """
    path = Path(path)
    if cache_dir is None:
        draw(path)
        return
    digest = hashlib.sha256(f"figure version {int(version)};".encode())
    _fingerprint(inputs, digest)
    cached = Path(cache_dir) / f"{digest.hexdigest()[:24]}{path.suffix}"
    if valid_png(cached):
        with atomic_output(path, ".png") as tmp:
            shutil.copyfile(cached, tmp)
        return
    draw(path)
    with atomic_output(cached, path.suffix) as tmp:
        shutil.copyfile(path, tmp)


def _fingerprint(value, digest) -> None:
    """Feed `value` into `digest` by content: arrays by dtype, shape and bytes; containers item by item."""
    if isinstance(value, np.ndarray):
        digest.update(f"array {value.dtype.str} {value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        digest.update(type(value).__name__.encode())
        for f in dataclasses.fields(value):
            if f.compare:  # compare=False marks bookkeeping that is no part of what the value is
                _fingerprint((f.name, getattr(value, f.name)), digest)
    elif isinstance(value, Mapping):
        digest.update(b"{")
        for key in sorted(value, key=repr):
            _fingerprint((key, value[key]), digest)
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(f"[{len(value)}".encode())
        for item in value:
            _fingerprint(item, digest)
        digest.update(b"]")
    elif isinstance(value, (str, int, float, bool, type(None), Path, np.generic)):
        digest.update(f"{type(value).__name__}:{value!r};".encode())
    else:
        raise TypeError(f"cached_figure: cannot fingerprint a {type(value).__name__}; pass arrays, numbers, "
                        "strings, containers or dataclasses of them.")
