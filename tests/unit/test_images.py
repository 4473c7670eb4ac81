"""Every kind of file a real folder holds decodes to 8-bit RGB, or fails with UnreadableImageError."""
import numpy as np
import pytest
from PIL import Image

from recommender.data.images import UnreadableImageError, load_rgb, resize_array

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


def test_resize_squashes_to_square_uint8_array(tmp_path):
    img = load_rgb(write_image(tmp_path / "r.png", (255, 0, 0), size=(50, 20)))
    arr = resize_array(img, 32)
    assert arr.shape == (32, 32, 3) and arr.dtype == np.uint8 and arr[..., 0].mean() > 200


def test_shrinking_averages_pixels_instead_of_dropping_them():
    # A one-pixel checkerboard shrunk 3x: each output pixel averages a 3x3 block (4/9 or 5/9 white); point
    # sampling or plain bilinear interpolation would land on single pixels, black or white.
    board = (np.indices((96, 96)).sum(axis=0) % 2 * 255).astype(np.uint8)
    arr = resize_array(Image.fromarray(np.stack([board] * 3, axis=-1)), 32)
    assert np.all((arr >= 255 * 4 // 9 - 1) & (arr <= 255 * 5 // 9 + 1))


def test_enlarging_interpolates_between_pixels():
    ramp = np.array([[0, 100, 200]], np.uint8).repeat(3, axis=0)
    arr = resize_array(Image.fromarray(np.stack([ramp] * 3, axis=-1)), 6)[0, :, 0].astype(int)
    assert arr[0] == 0 and arr[-1] == 200 and np.all(np.diff(arr) > 0)
