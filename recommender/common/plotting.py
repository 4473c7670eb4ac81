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


def save_png(fig, path: str | Path, dpi: int) -> None:
    """Lay the figure out and write it as PNG (fast zlib level: these files are viewed, not archived)."""
    fig.tight_layout()
    with atomic_output(path, ".png") as tmp:  # a full disk leaves no truncated figure under its name
        fig.savefig(tmp, dpi=dpi, format="png", pil_kwargs={"compress_level": 1})


def colour(index: int) -> tuple[float, float, float, float]:
    """The index-th colour of Matplotlib's tab10 cycle: one per dataset in every figure."""
    from matplotlib import colormaps

    return colormaps["tab10"](index % 10)


def save_mosaic(tiles: list[list[np.ndarray]], captions: list[list[tuple[str, str]]], title: str,
                path: str | Path, caption_height: int = 30) -> None:
    """Write a grid of equal-size RGB tiles, each with a caption (text, colour name) above it, as one PNG.

    Drawn with PIL rather than Matplotlib: the grid is a picture already, and PIL writes it in a fraction of
    the time Matplotlib takes to lay out a hundred captions.
    """
    from PIL import Image, ImageDraw, ImageFont

    tile_h, tile_w = tiles[0][0].shape[:2]
    rows, cols = len(tiles), max(len(row) for row in tiles)
    title_h = 24
    canvas = Image.new("RGB", (cols * tile_w, title_h + rows * (tile_h + caption_height)), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=10)
    draw.text((4, 4), title, fill="black", font=ImageFont.load_default(size=13))
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
