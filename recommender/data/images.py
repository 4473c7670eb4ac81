"""Decode one image file into an RGB array the backbone can take.

Real folders hold grayscale scans, RGBA and palette PNGs, 16-bit PNGs and the odd broken file.
Every path into the backbone goes through `load_rgb`, so they are all handled the same way.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from recommender.common.errors import RecommenderError


class UnreadableImageError(RecommenderError, ValueError):
    """The file is not an image PIL can fully decode (corrupt, truncated or another format)."""


def load_rgb(path: str | Path, min_size: int | None = None) -> Image.Image:
    """Open `path` and return a fully decoded 8-bit RGB image, or raise UnreadableImageError.

    With `min_size`, a large JPEG may be decoded at a reduced scale (libjpeg's DCT scaling) that still keeps
    both sides at least `min_size`: the result is resized anyway, and decoding fewer pixels is most of the cost.
    """
    try:
        with warnings.catch_warnings():
            # A truncated file must fail here rather than decode as half an image.
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                if min_size and img.format == "JPEG":
                    img.draft("RGB", (min_size, min_size))
                img.load()
                return _to_rgb8(img)
    except Image.DecompressionBombError as err:
        # A small file can claim billions of pixels (a 223 KB PNG of 14000 x 14000): decoding it could take
        # gigabytes, so it is skipped like any unreadable file, and says why.
        raise UnreadableImageError(f"{path}: too large to decode safely ({err})") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, MemoryError) as err:
        raise UnreadableImageError(f"{path}: {err}") from err


def _to_rgb8(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit PNGs: PIL's own convert("L") clips at 255, which turns most scans white.
        depth = 65535.0 if img.mode.startswith("I;16") or np.asarray(img).max() > 255 else 255.0
        scaled = np.asarray(img, dtype=np.float64) * (255.0 / depth)
        img = Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), mode="L")
    elif img.mode == "F":
        img = Image.fromarray(np.clip(np.asarray(img), 0, 255).astype(np.uint8), mode="L")
    elif img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return img if img.mode == "RGB" else img.convert("RGB")


def resize_array(img: Image.Image, size: int) -> np.ndarray:
    """Resize (squash, like keras.utils.image_dataset_from_directory) to size x size; uint8 RGB.

    Bilinear when enlarging, pixel-area averaging when shrinking (antialiased, as PIL's bilinear filter is).
    OpenCV rather than PIL: resizing was most of the decoding cost, and OpenCV's is several times faster,
    which is what lets decoding hide behind the forward pass on two cores.
    """
    import cv2  # imported here: a fully cached run never resizes an image

    pixels = np.asarray(img, dtype=np.uint8)
    if pixels.shape[:2] == (size, size):
        return pixels
    shrinking = pixels.shape[0] * pixels.shape[1] > size * size
    return cv2.resize(pixels, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
