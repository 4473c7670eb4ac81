"""Every kind of file a real folder holds decodes to 8-bit RGB, or fails with UnreadableImageError."""
import numpy as np
import pytest
from PIL import Image

from recommender.images import UnreadableImageError, load_rgb, resize_array

from conftest import write_image


@pytest.mark.parametrize("mode, fmt, suffix", [("RGB", "JPEG", "jpg"), ("L", "PNG", "png"), ("RGBA", "PNG", "png"),
                                               ("P", "PNG", "png"), ("RGB", "BMP", "bmp"), ("P", "GIF", "gif"),
                                               ("LA", "PNG", "png"), ("CMYK", "JPEG", "jpg")])
def test_modes_and_formats_decode_to_rgb(tmp_path, mode, fmt, suffix):
    path = write_image(tmp_path / f"x.{suffix}", (200, 100, 50), mode=mode, fmt=fmt)
    img = load_rgb(path)
    assert img.mode == "RGB" and img.size == (40, 30)


def test_palette_png_with_transparency(tmp_path):
    img = Image.new("P", (8, 8), 1)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.info["transparency"] = 0
    img.save(tmp_path / "t.png", transparency=0)
    assert np.asarray(load_rgb(tmp_path / "t.png"))[0, 0].tolist() == [255, 0, 0]


def test_16_bit_png_keeps_its_contrast(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 8).reshape(8, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    arr = np.asarray(load_rgb(tmp_path / "deep.png"))
    assert arr.shape == (8, 64, 3)
    assert arr.min() == 0 and arr.max() == 255  # not clipped to white
    assert 100 < arr[:, 32, 0].mean() < 155


def test_corrupt_truncated_and_non_image_files_raise(tmp_path):
    good = write_image(tmp_path / "good.jpg", (10, 20, 30), size=(64, 64), fmt="JPEG")
    (tmp_path / "truncated.jpg").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"nonsense" * 10)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "empty.jpg").write_bytes(b"")
    for name in ("truncated.jpg", "garbage.png", "notes.txt", "empty.jpg"):
        with pytest.raises(UnreadableImageError, match=name):
            load_rgb(tmp_path / name)


def test_resize_squashes_to_square_float_array(tmp_path):
    img = load_rgb(write_image(tmp_path / "r.png", (255, 0, 0), size=(50, 20)))
    arr = resize_array(img, 32)
    assert arr.shape == (32, 32, 3) and arr.dtype == np.uint8 and arr[..., 0].mean() > 200
