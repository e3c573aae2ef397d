"""Tests for header-only image probing."""

from __future__ import annotations

import os
import random
import struct
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import Image

from labelbay.errors import MediaError
from labelbay.media.images import (
    SUPPORTED_IMAGE_EXTENSIONS,
    ImageInfo,
    display_size,
    is_image_name,
    orientation_from_exif_bytes,
    probe_image,
)

LIMIT = 100_000_000


def noisy(size: tuple[int, int], mode: str = "RGB", seed: int = 1) -> Image.Image:
    """An image of random pixels, so compressed files are large and cut points land in data."""
    bands = len(mode)
    data = random.Random(seed).randbytes(size[0] * size[1] * bands)
    return Image.frombytes(mode, size, data)


def save(img: Image.Image, path: Path, **params: object) -> Path:
    img.save(path, **params)
    return path


def exif_with_orientation(value: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif


def probe(path: Path, max_pixels: int = LIMIT) -> ImageInfo:
    return probe_image(path, name=path.name, max_pixels=max_pixels)


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# --- names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["a.jpg", "A.JPG", "b.jpeg", "c.JPE", "d.png", "e.bmp", "f.tif", "g.TIFF", "dir/h.webp"],
)
def test_image_names_are_recognised_case_insensitively(name: str) -> None:
    assert is_image_name(name)


@pytest.mark.parametrize("name", ["a.gif", "b.txt", "png", "c.jpg.zip", "d", ".png.bak", "e.svg"])
def test_other_names_are_not_images(name: str) -> None:
    assert not is_image_name(name)


def test_extension_set_is_lowercase_with_dots() -> None:
    assert {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".tif", ".tiff", ".webp"} == set(
        SUPPORTED_IMAGE_EXTENSIONS
    )


# --- supported formats ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "fmt", "mime"),
    [
        (".jpg", "JPEG", "image/jpeg"),
        (".png", "PNG", "image/png"),
        (".bmp", "BMP", "image/bmp"),
        (".tif", "TIFF", "image/tiff"),
        (".webp", "WEBP", "image/webp"),
    ],
)
def test_every_supported_format_is_probed(tmp_path: Path, suffix: str, fmt: str, mime: str) -> None:
    path = save(noisy((64, 48)), tmp_path / f"img{suffix}")
    assert probe(path) == ImageInfo(width=64, height=48, format=fmt, mime=mime, orientation=1)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "1"])
def test_png_modes(tmp_path: Path, mode: str) -> None:
    path = save(Image.new(mode, (7, 5)), tmp_path / "m.png")
    info = probe(path)
    assert (info.width, info.height, info.format) == (7, 5, "PNG")


def test_compressed_and_tiled_tiff(tmp_path: Path) -> None:
    path = save(noisy((50, 30)), tmp_path / "c.tiff", compression="tiff_lzw")
    assert probe(path).format == "TIFF"


def test_mpo_counts_as_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "stereo.jpg"
    first, second = noisy((40, 30), seed=1), noisy((40, 30), seed=2)
    first.save(path, format="MPO", save_all=True, append_images=[second])
    with Image.open(path) as check:
        assert check.format == "MPO"
    info = probe(path)
    assert (info.format, info.mime, info.width, info.height) == ("JPEG", "image/jpeg", 40, 30)


def test_the_content_decides_not_the_extension(tmp_path: Path) -> None:
    path = save(noisy((10, 20)), tmp_path / "really_a_png.jpg", format="PNG")
    assert probe(path).format == "PNG"


# --- EXIF orientation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "expected"),
    [*((o, (64, 48)) for o in (1, 2, 3, 4)), *((o, (48, 64)) for o in (5, 6, 7, 8))],
)
def test_jpeg_exif_orientation_gives_display_size(
    tmp_path: Path, orientation: int, expected: tuple[int, int]
) -> None:
    path = save(noisy((64, 48)), tmp_path / "r.jpg", exif=exif_with_orientation(orientation))
    info = probe(path)
    assert (info.width, info.height) == expected
    assert info.orientation == orientation


def test_png_and_webp_exif_orientation(tmp_path: Path) -> None:
    for suffix in (".png", ".webp"):
        path = save(noisy((30, 10)), tmp_path / f"r{suffix}", exif=exif_with_orientation(6))
        info = probe(path)
        assert (info.width, info.height, info.orientation) == (10, 30, 6), suffix


def test_tiff_orientation_tag(tmp_path: Path) -> None:
    path = save(noisy((30, 10)), tmp_path / "r.tif", tiffinfo={274: 8})
    info = probe(path)
    assert (info.width, info.height, info.orientation) == (10, 30, 8)


def test_out_of_range_orientation_is_ignored(tmp_path: Path) -> None:
    path = save(noisy((30, 10)), tmp_path / "r.jpg", exif=exif_with_orientation(42))
    info = probe(path)
    assert (info.width, info.height, info.orientation) == (30, 10, 1)


def test_orientation_parser_handles_both_byte_orders_and_garbage() -> None:
    little = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x0112, 3, 1, 6)
    big = b"MM\x00*" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 3, 0)
    assert orientation_from_exif_bytes(little) == 6
    assert orientation_from_exif_bytes(b"Exif\x00\x00" + little) == 6
    assert orientation_from_exif_bytes(big) == 3
    assert orientation_from_exif_bytes(None) == 1
    assert orientation_from_exif_bytes(b"junk") == 1
    assert orientation_from_exif_bytes(b"II*\x00\xff\xff\xff\x00") == 1  # offset past the end
    assert orientation_from_exif_bytes(little[:14]) == 1  # entry cut off


def test_display_size() -> None:
    assert display_size(4, 3, 1) == (4, 3)
    assert display_size(4, 3, 6) == (3, 4)
    assert display_size(4, 3, 3) == (4, 3)


# --- rejections -----------------------------------------------------------------------


def assert_media_error(path: Path, *fragments: str, max_pixels: int = LIMIT) -> MediaError:
    with pytest.raises(MediaError) as caught:
        probe_image(path, name=f"upload/{path.name}", max_pixels=max_pixels)
    error = caught.value
    assert error.detail["file"] == f"upload/{path.name}"
    assert error.message.startswith(f"upload/{path.name}: ")
    assert error.status == 400
    for fragment in fragments:
        assert fragment in error.message
    return error


def test_zero_length_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert_media_error(path, "is empty")


def test_text_file_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("hello, this is not an image\n" * 20)
    assert_media_error(path, "is not a supported image")


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.png"
    path.write_bytes(os.urandom(5000))
    assert_media_error(path, "is not a supported image")


@pytest.mark.parametrize(("fmt", "suffix"), [("GIF", ".gif"), ("PPM", ".ppm"), ("ICO", ".ico")])
def test_other_pillow_formats_are_refused_by_name(tmp_path: Path, fmt: str, suffix: str) -> None:
    path = save(noisy((16, 16)), tmp_path / f"x{suffix}", format=fmt)
    assert_media_error(path, "is not a supported image", fmt)


def test_pixel_limit(tmp_path: Path) -> None:
    path = save(noisy((64, 48)), tmp_path / "big.png")
    assert_media_error(path, "is 64×48 = 3072 pixels, over the limit of 3071", max_pixels=3071)
    assert probe(path, max_pixels=3072).width == 64


def fake_png(path: Path, width: int, height: int) -> Path:
    """A structurally valid PNG header for a huge image, with a token IDAT."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)
    return path


def test_pillow_decompression_bomb_guard_does_not_interfere(tmp_path: Path) -> None:
    path = fake_png(tmp_path / "huge.png", 30_000, 30_000)  # 900 Mpx: Pillow would raise
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = probe(path, max_pixels=10**9)
        assert (info.width, info.height) == (30_000, 30_000)
        assert_media_error(path, "30000×30000 = 900000000 pixels", max_pixels=10**8)


def test_truncated_jpeg(tmp_path: Path) -> None:
    path = truncate(save(noisy((300, 200)), tmp_path / "cut.jpg", quality=90))
    assert_media_error(path, "truncated")


def test_truncated_progressive_jpeg(tmp_path: Path) -> None:
    img = noisy((300, 200))
    path = truncate(save(img, tmp_path / "cut.jpg", progressive=True), keep=0.8)
    assert_media_error(path, "truncated")


def test_jpeg_with_padding_after_eoi_is_fine(tmp_path: Path) -> None:
    path = save(noisy((64, 48)), tmp_path / "padded.jpg")
    with path.open("ab") as fp:
        fp.write(b"\x00" * 3000 + b"\r\n  ")
    assert probe(path).width == 64


def test_jpeg_with_vendor_trailer_is_fine(tmp_path: Path) -> None:
    # Phones append videos or vendor blocks after the image; the marker walk finds the EOI.
    for progressive in (False, True):
        path = save(noisy((64, 48)), tmp_path / "trailer.jpg", progressive=progressive)
        with path.open("ab") as fp:
            fp.write(b"ftypmp42" + os.urandom(20_000))
        assert probe(path).format == "JPEG"


def test_jpeg_cut_right_before_eoi(tmp_path: Path) -> None:
    path = save(noisy((64, 48)), tmp_path / "cut.jpg")
    path.write_bytes(path.read_bytes()[:-2])
    assert_media_error(path, "truncated")


def test_truncated_png(tmp_path: Path) -> None:
    path = truncate(save(noisy((200, 150)), tmp_path / "cut.png"))
    assert_media_error(path, "truncated")


def test_png_missing_only_iend(tmp_path: Path) -> None:
    path = save(noisy((20, 20)), tmp_path / "cut.png")
    path.write_bytes(path.read_bytes()[:-12])
    assert_media_error(path, "IEND")


def test_png_with_data_after_iend_is_fine(tmp_path: Path) -> None:
    path = save(noisy((20, 20)), tmp_path / "extra.png")
    with path.open("ab") as fp:
        fp.write(b"trailing garbage")
    assert probe(path).format == "PNG"


@pytest.mark.parametrize("suffix", [".bmp", ".webp", ".tif"])
def test_other_truncated_formats(tmp_path: Path, suffix: str) -> None:
    path = truncate(save(noisy((120, 90)), tmp_path / f"cut{suffix}"), keep=0.7)
    assert_media_error(path, "truncated")


def test_missing_file_is_not_a_media_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        probe(tmp_path / "nope.png")
