"""Tests for frame compression, previews and zip chunks."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from labelbay.errors import MediaError
from labelbay.media.frames import (
    apply_orientation,
    build_zip_chunk,
    compress_image,
    make_preview,
    to_rgb,
    write_zip_chunk,
)
from labelbay.media.images import probe_image

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def open_jpeg(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG"
    assert img.mode == "RGB"
    return img


def marked(size: tuple[int, int] = (80, 40)) -> Image.Image:
    """Blue image with a red block in its stored top-left corner."""
    img = Image.new("RGB", size, BLUE)
    img.paste(RED, (0, 0, size[0] // 4, size[1] // 4))
    return img


def red_corner(img: Image.Image) -> str:
    w, h = img.size
    corners = {"tl": (2, 2), "tr": (w - 3, 2), "bl": (2, h - 3), "br": (w - 3, h - 3)}
    reds = [k for k, xy in corners.items() if img.getpixel(xy)[0] > 200]
    assert len(reds) == 1, reds
    return reds[0]


def with_orientation(value: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif


@pytest.mark.parametrize(
    ("orientation", "size", "corner"),
    [
        (1, (80, 40), "tl"),
        (2, (80, 40), "tr"),
        (3, (80, 40), "br"),
        (4, (80, 40), "bl"),
        (5, (40, 80), "tl"),
        (6, (40, 80), "tr"),
        (7, (40, 80), "br"),
        (8, (40, 80), "bl"),
    ],
)
def test_compress_applies_exif_orientation(
    tmp_path: Path, orientation: int, size: tuple[int, int], corner: str
) -> None:
    path = tmp_path / "o.jpg"
    marked().save(path, exif=with_orientation(orientation), quality=95)
    out = open_jpeg(compress_image(path, quality=90))
    assert out.size == size
    assert red_corner(out) == corner
    info = probe_image(path, name="o.jpg", max_pixels=10**6)
    assert (info.width, info.height) == out.size


@pytest.mark.parametrize("compression", [None, "tiff_lzw"])
def test_compress_oriented_tiff_matches_probe(tmp_path: Path, compression: str | None) -> None:
    path = tmp_path / "o.tif"
    params: dict[str, object] = {"tiffinfo": {274: 6}}
    if compression:
        params["compression"] = compression
    marked().save(path, **params)
    out = open_jpeg(compress_image(path, quality=90))
    info = probe_image(path, name="o.tif", max_pixels=10**6)
    assert out.size == (info.width, info.height) == (40, 80)
    assert red_corner(out) == "tr"


@pytest.mark.parametrize(
    ("mode", "suffix"),
    [
        ("L", ".png"),
        ("LA", ".png"),
        ("P", ".png"),
        ("RGBA", ".png"),
        ("1", ".png"),
        ("1", ".bmp"),
        ("P", ".bmp"),
        ("CMYK", ".jpg"),
        ("CMYK", ".tif"),
        ("I", ".tif"),
        ("F", ".tif"),
        ("L", ".webp"),
    ],
)
def test_compress_handles_modes(tmp_path: Path, mode: str, suffix: str) -> None:
    path = tmp_path / f"m{suffix}"
    Image.new(mode, (33, 17)).save(path)
    out = open_jpeg(compress_image(path, quality=80))
    assert out.size == (33, 17)


def test_palette_with_transparency(tmp_path: Path) -> None:
    path = tmp_path / "t.png"
    Image.new("P", (9, 9)).save(path, transparency=0)
    with Image.open(path) as check:
        assert "transparency" in check.info
    assert open_jpeg(compress_image(path, quality=80)).size == (9, 9)


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    img = Image.new("I;16", (32, 16))
    for x in range(16):
        for y in range(16):
            img.putpixel((x, y), 0x8000)  # half intensity
            img.putpixel((x + 16, y), 0xFFFF)
    path = tmp_path / "deep.png"
    img.save(path)
    with Image.open(path) as check:
        assert check.mode.startswith("I")
    out = open_jpeg(compress_image(path, quality=95))
    half = out.getpixel((4, 8))
    full = out.getpixel((28, 8))
    assert all(120 <= c <= 136 for c in half), half
    assert all(c >= 250 for c in full), full


def test_wide_range_int_image_is_stretched() -> None:
    img = Image.new("I", (2, 1))
    img.putpixel((0, 0), -1000)
    img.putpixel((1, 0), 100_000)
    rgb = to_rgb(img)
    assert rgb.mode == "RGB"
    assert rgb.getpixel((0, 0)) == (0, 0, 0)
    assert rgb.getpixel((1, 0)) == (255, 255, 255)


def test_rgba_png_and_webp(tmp_path: Path) -> None:
    for suffix in (".png", ".webp"):
        path = tmp_path / f"alpha{suffix}"
        Image.new("RGBA", (20, 10), (10, 20, 30, 128)).save(path)
        assert open_jpeg(compress_image(path, quality=75)).size == (20, 10)


def test_quality_changes_size(tmp_path: Path) -> None:
    path = tmp_path / "q.png"
    Image.effect_noise((120, 120), 60).convert("RGB").save(path)
    small = compress_image(path, quality=10)
    large = compress_image(path, quality=95)
    assert len(small) < len(large)


@pytest.mark.parametrize("quality", [0, 101, -5])
def test_quality_bounds(tmp_path: Path, quality: int) -> None:
    path = tmp_path / "q.png"
    Image.new("RGB", (4, 4)).save(path)
    with pytest.raises(ValueError):
        compress_image(path, quality=quality)


def test_corrupt_file_is_a_media_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    Image.effect_noise((200, 200), 60).save(path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(MediaError) as caught:
        compress_image(path, quality=80, name="task/cut.png")
    assert caught.value.detail["file"] == "task/cut.png"
    with pytest.raises(MediaError):
        make_preview(path)


def test_preview_fits_max_side(tmp_path: Path) -> None:
    path = tmp_path / "p.jpg"
    marked((1000, 500)).save(path)
    out = open_jpeg(make_preview(path))
    assert out.size == (256, 128)
    out = open_jpeg(make_preview(path, max_side=64))
    assert out.size == (64, 32)


def test_preview_is_oriented(tmp_path: Path) -> None:
    path = tmp_path / "p.jpg"
    marked((400, 200)).save(path, exif=with_orientation(6), quality=95)
    out = open_jpeg(make_preview(path))
    assert out.size == (128, 256)
    assert red_corner(out) == "tr"


def test_preview_never_upscales(tmp_path: Path) -> None:
    path = tmp_path / "tiny.png"
    Image.new("L", (30, 20)).save(path)
    assert open_jpeg(make_preview(path)).size == (30, 20)


def test_apply_orientation_identity() -> None:
    img = marked()
    assert apply_orientation(img, 1) is img
    assert apply_orientation(img, 0) is img
    assert apply_orientation(img, 6).size == (40, 80)


def test_zip_chunk_order_names_and_storage(tmp_path: Path) -> None:
    file_member = tmp_path / "frame.jpg"
    file_member.write_bytes(b"\xff\xd8 from disk \xff\xd9")
    members: list[tuple[str, Path | bytes]] = [
        ("000002.jpg", b"second"),
        ("000000.jpg", file_member),
        ("000001.jpg", b""),
    ]
    data = build_zip_chunk(members)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == ["000002.jpg", "000000.jpg", "000001.jpg"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
        assert zf.read("000002.jpg") == b"second"
        assert zf.read("000000.jpg") == file_member.read_bytes()
        assert zf.read("000001.jpg") == b""
        assert zf.testzip() is None
    assert build_zip_chunk(members) == data  # deterministic


class NonSeekable(io.RawIOBase):
    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.buffer += b
        return len(b)


def test_zip_chunk_to_non_seekable_stream(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 3_000_000)
    out = NonSeekable()
    write_zip_chunk(out, [("000000.jpg", path), ("000001.jpg", b"yy")])
    with zipfile.ZipFile(io.BytesIO(bytes(out.buffer))) as zf:
        assert zf.read("000000.jpg") == b"x" * 3_000_000
        assert zf.read("000001.jpg") == b"yy"


def test_zip_chunk_accepts_a_generator() -> None:
    data = build_zip_chunk((f"{i:06d}.jpg", bytes([i])) for i in range(3))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == ["000000.jpg", "000001.jpg", "000002.jpg"]
