"""Turning stored images into what the frame endpoints serve: JPEGs, previews, zip chunks."""

from __future__ import annotations

import io
import logging
import os
import shutil
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Final

from PIL import Image

from labelbay.errors import MediaError
from labelbay.media.images import exif_orientation

logger = logging.getLogger(__name__)

_TRANSPOSE: Final[dict[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIXTEEN_BIT_MODES: Final[frozenset[str]] = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_ZIP_EPOCH: Final[tuple[int, int, int, int, int, int]] = (1980, 1, 1, 0, 0, 0)
_COPY_CHUNK: Final[int] = 1024 * 1024

ZipMember = tuple[str, Path | bytes]


def compress_image(path: Path, *, quality: int, name: str | None = None) -> bytes:
    """Decode an image, apply its EXIF orientation and re-encode it as an RGB JPEG.

    The result has the display size that `probe_image` reports. `name` is used in error
    messages (defaults to the file name); undecodable files raise `MediaError`.
    """
    _check_quality(quality)
    img = _decode_upright(path, name or path.name, draft_side=None)
    return _encode_jpeg(img, quality)


def make_preview(
    path: Path, *, max_side: int = 256, quality: int = 85, name: str | None = None
) -> bytes:
    """A JPEG thumbnail no larger than `max_side` on either side, EXIF-oriented."""
    _check_quality(quality)
    if max_side < 1:
        raise ValueError(f"max_side must be positive, not {max_side}")
    img = _decode_upright(path, name or path.name, draft_side=max_side)
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return _encode_jpeg(img, quality)


def _decode_upright(path: Path, label: str, *, draft_side: int | None) -> Image.Image:
    """Fully decode the first frame as upright 8-bit RGB; failures become `MediaError`."""
    try:
        with Image.open(path) as img:
            orientation = exif_orientation(img)
            if draft_side is not None and img.format in ("JPEG", "MPO"):
                img.draft("RGB", (draft_side, draft_side))  # libjpeg decodes at 1/2..1/8
            img.load()
            if img.format == "TIFF":
                # Recent Pillow rotates TIFFs itself while loading and then drops the tag;
                # whatever orientation is still present is what remains to be applied.
                orientation = exif_orientation(img)
            rgb = to_rgb(img)
        return apply_orientation(rgb, orientation)
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(f"could not be decoded ({exc})", file=label) from exc


def apply_orientation(img: Image.Image, orientation: int) -> Image.Image:
    """Rotate/flip `img` so that it displays upright for the given EXIF orientation."""
    method = _TRANSPOSE.get(orientation)
    return img if method is None else img.transpose(method)


def to_rgb(img: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of any Pillow mode, scaling 16-bit and float data to 0..255."""
    mode = img.mode
    if mode == "RGB":
        img.load()
        return img
    if mode in _SIXTEEN_BIT_MODES:
        return img.convert("I").point(lambda v: v * (1 / 256)).convert("L").convert("RGB")
    if mode in ("I", "F"):
        low, high = img.getextrema()
        if low < 0 or high > 255:
            span = float(high - low) or 1.0
            scale = 255.0 / span
            offset = -float(low) * scale
            scaled = img.convert("F").point(lambda v: v * scale + offset)
            return scaled.convert("L").convert("RGB")
        return img.convert("L").convert("RGB")
    try:
        return img.convert("RGB")
    except ValueError:  # exotic modes without a direct path (e.g. "La")
        return img.convert("RGBA").convert("RGB")


def write_zip_chunk(out: IO[bytes], members: Iterable[ZipMember]) -> None:
    """Write an uncompressed (ZIP_STORED) zip of `members` to `out`, in the given order.

    Each member is (name inside the zip, file path or bytes). Timestamps are fixed so the
    same input always yields the same bytes. `out` may be non-seekable.
    """
    with zipfile.ZipFile(out, mode="w", compression=zipfile.ZIP_STORED) as zf:
        for arcname, source in members:
            info = zipfile.ZipInfo(arcname, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o100644 << 16
            if isinstance(source, bytes):
                zf.writestr(info, source)
                continue
            info.file_size = os.stat(source).st_size
            with open(source, "rb") as src, zf.open(info, mode="w") as dst:
                shutil.copyfileobj(src, dst, _COPY_CHUNK)


def build_zip_chunk(members: Iterable[ZipMember]) -> bytes:
    """`write_zip_chunk` into memory."""
    buffer = io.BytesIO()
    write_zip_chunk(buffer, members)
    return buffer.getvalue()


def jpeg_bytes(image: Image.Image, quality: int) -> bytes:
    """Any decoded image (a video frame...) as an RGB JPEG at ``quality``."""
    return _encode_jpeg(image.convert("RGB"), quality)


def _encode_jpeg(img: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _check_quality(quality: int) -> None:
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be within 1..100, not {quality}")
