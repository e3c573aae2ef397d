"""Fast, header-only probing of image files.

`probe_image` is run for every uploaded image, so it must stay cheap: it reads the
header through Pillow (no pixel decoding) plus a small tail of the file to catch
truncated uploads, and reports the display size after EXIF orientation.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from PIL import Image, UnidentifiedImageError

from labelbay.errors import MediaError

logger = logging.getLogger(__name__)

# We enforce our own pixel limit (`max_pixels`) before anything is decoded, so Pillow's
# decompression-bomb guard (a warning above ~89 Mpx, an exception above twice that) must
# never fire first and surface as a 500.
Image.MAX_IMAGE_PIXELS = None

SUPPORTED_IMAGE_EXTENSIONS: Final[frozenset[str]] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".tif", ".tiff", ".webp"}
)

# Pillow format name -> (reported format, MIME type). MPO (multi-picture JPEG from
# stereo cameras and some phones) is a JPEG whose first frame is what we show.
_FORMATS: Final[Mapping[str, tuple[str, str]]] = {
    "JPEG": ("JPEG", "image/jpeg"),
    "MPO": ("JPEG", "image/jpeg"),
    "PNG": ("PNG", "image/png"),
    "BMP": ("BMP", "image/bmp"),
    "TIFF": ("TIFF", "image/tiff"),
    "WEBP": ("WEBP", "image/webp"),
}
# Plugins Pillow may try when probing; restricting them keeps `Image.open` quick and
# stops it from accepting look-alike formats (e.g. DIB, CUR) that we would reject anyway.
_OPEN_FORMATS: Final[tuple[str, ...]] = ("JPEG", "PNG", "BMP", "TIFF", "WEBP")
_SUPPORTED_LABEL: Final[str] = "JPEG, PNG, BMP, TIFF or WebP"

_TAIL_BYTES: Final[int] = 8192
_PADDING: Final[bytes] = b"\x00 \t\r\n"
_JPEG_EOI: Final[bytes] = b"\xff\xd9"
_PNG_SIGNATURE: Final[bytes] = b"\x89PNG\r\n\x1a\n"
_PNG_IEND: Final[bytes] = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_EXIF_PREFIX: Final[bytes] = b"Exif\x00\x00"
_ORIENTATION_TAG: Final[int] = 0x0112
_SWAPPING_ORIENTATIONS: Final[frozenset[int]] = frozenset({5, 6, 7, 8})


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the server needs to know about an image without decoding it."""

    width: int
    """Display width, i.e. after applying the EXIF orientation."""
    height: int
    """Display height, i.e. after applying the EXIF orientation."""
    format: str
    """Pillow format name: JPEG (also for MPO), PNG, BMP, TIFF or WEBP."""
    mime: str
    orientation: int
    """EXIF orientation 1..8; 1 when the file has none."""


def is_image_name(name: str) -> bool:
    """True when `name` has one of the supported image extensions (case-insensitive)."""
    return os.path.splitext(name)[1].lower() in SUPPORTED_IMAGE_EXTENSIONS


def orientation_from_exif_bytes(data: bytes | None) -> int:
    """Read the orientation tag from raw EXIF bytes (with or without the "Exif" prefix).

    Only IFD0 is looked at, which is where cameras put the orientation. Anything malformed
    yields 1, the identity orientation.
    """
    if not data:
        return 1
    if data.startswith(_EXIF_PREFIX):
        data = data[len(_EXIF_PREFIX) :]
    try:
        if data[:4] == b"II*\x00":
            endian = "<"
        elif data[:4] == b"MM\x00*":
            endian = ">"
        else:
            return 1
        (ifd_offset,) = struct.unpack_from(endian + "I", data, 4)
        (count,) = struct.unpack_from(endian + "H", data, ifd_offset)
        entry = ifd_offset + 2
        for _ in range(count):
            tag, field_type = struct.unpack_from(endian + "HH", data, entry)
            if tag == _ORIENTATION_TAG:
                if field_type == 3:  # SHORT
                    (value,) = struct.unpack_from(endian + "H", data, entry + 8)
                elif field_type == 4:  # LONG
                    (value,) = struct.unpack_from(endian + "I", data, entry + 8)
                else:
                    return 1
                return value if 1 <= value <= 8 else 1
            entry += 12
    except struct.error:
        return 1
    return 1


def exif_orientation(img: Image.Image) -> int:
    """The EXIF orientation (1..8) of an opened, not necessarily loaded, image.

    Uses only data Pillow collected while reading the header, so it never triggers a decode.
    """
    try:
        raw = img.info.get("exif")
        if isinstance(raw, bytes):
            return orientation_from_exif_bytes(raw)
        if img.format == "TIFF":
            tags = getattr(img, "tag_v2", None)
            value = tags.get(_ORIENTATION_TAG) if tags is not None else None
            if isinstance(value, int) and 1 <= value <= 8:
                return value
    except Exception:  # a damaged tag must not make an otherwise good image fail
        logger.debug("ignoring unreadable EXIF orientation", exc_info=True)
    return 1


def stored_size(img: Image.Image) -> tuple[int, int]:
    """The size of the pixel data as stored, before any EXIF orientation.

    Recent Pillow versions report TIFF sizes already oriented (and rotate TIFFs while
    loading them), so for TIFF the size is read from the image directory instead.
    """
    if img.format == "TIFF":
        tags = getattr(img, "tag_v2", None)
        if tags is not None:
            width, height = tags.get(256), tags.get(257)  # ImageWidth, ImageLength
            if isinstance(width, int) and isinstance(height, int):
                return width, height
    return img.size


def display_size(width: int, height: int, orientation: int) -> tuple[int, int]:
    """Size of a `width`×`height` image once the EXIF orientation has been applied."""
    if orientation in _SWAPPING_ORIENTATIONS:
        return height, width
    return width, height


def probe_image(path: Path, *, name: str, max_pixels: int) -> ImageInfo:
    """Identify an image from its header and reject anything we cannot serve.

    `name` is how the file is called in error messages (the uploaded name or archive
    member). Raises `MediaError` for empty, unrecognised, unsupported, oversized or
    visibly truncated files.
    """
    with open(path, "rb") as fp:
        size = os.fstat(fp.fileno()).st_size
        if size == 0:
            raise MediaError("is empty", file=name)
        head = fp.read(12)
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and _riff_end(head) > size:
            # Pillow's WebP reader parses the whole container while opening; say why.
            raise MediaError("is truncated: the WebP file is shorter than declared", file=name)
        fp.seek(0)
        img = _open_header(fp, name)
        pillow_format = img.format or ""
        known = _FORMATS.get(pillow_format)
        if known is None:
            raise MediaError(
                f"is not a supported image: {pillow_format or 'its'} format is not "
                f"{_SUPPORTED_LABEL}",
                file=name,
            )
        width, height = stored_size(img)
        pixels = width * height
        if pixels > max_pixels:
            raise MediaError(
                f"is {width}×{height} = {pixels} pixels, over the limit of {max_pixels}",
                file=name,
            )
        if width <= 0 or height <= 0:
            raise MediaError(f"is not a supported image: it is {width}×{height}", file=name)
        orientation = exif_orientation(img)
        _check_complete(fp, size, known[0], img, name)
    shown_width, shown_height = display_size(width, height, orientation)
    return ImageInfo(
        width=shown_width,
        height=shown_height,
        format=known[0],
        mime=known[1],
        orientation=orientation,
    )


def _open_header(fp: BinaryIO, name: str) -> Image.Image:
    try:
        return Image.open(fp, formats=_OPEN_FORMATS)
    except UnidentifiedImageError:
        pass
    except Image.DecompressionBombError as exc:  # only if someone re-enabled the guard
        raise MediaError(f"is too large to process ({exc})", file=name) from exc
    except Exception as exc:  # Pillow plugins raise a zoo of types for bad headers
        raise MediaError(f"is not a supported image ({exc})", file=name) from exc
    # Slow path, failures only: find out what it is to give a precise message.
    try:
        fp.seek(0)
        other = Image.open(fp)
    except Exception as exc:
        raise MediaError("is not a supported image", file=name) from exc
    return other


def _check_complete(fp: BinaryIO, size: int, fmt: str, img: Image.Image, name: str) -> None:
    """Cheap structural checks that catch a file cut off during upload or copy."""
    if fmt == "JPEG":
        if not _tail_endswith(fp, size, _JPEG_EOI) and not _jpeg_has_eoi(fp):
            raise MediaError("is truncated or corrupt: the JPEG end marker is missing", file=name)
    elif fmt == "PNG":
        if not _tail_endswith(fp, size, _PNG_IEND) and not _png_has_iend(fp, size):
            raise MediaError("is truncated or corrupt: the PNG IEND chunk is missing", file=name)
    elif fmt == "BMP":
        if _bmp_needs(fp) > size:
            raise MediaError("is truncated: the BMP pixel data is incomplete", file=name)
    elif fmt == "TIFF" and _tiff_needs(img) > size:
        raise MediaError("is truncated: the TIFF image data is incomplete", file=name)


def _riff_end(head: bytes) -> int:
    """File size a RIFF header declares (its size field counts from byte 8)."""
    return struct.unpack_from("<I", head, 4)[0] + 8


def _tail_endswith(fp: BinaryIO, size: int, marker: bytes) -> bool:
    fp.seek(max(0, size - _TAIL_BYTES))
    tail = fp.read(_TAIL_BYTES).rstrip(_PADDING)
    return tail.endswith(marker)


def _jpeg_has_eoi(fp: BinaryIO) -> bool:
    """Walk the JPEG marker structure looking for the EOI that ends the primary image.

    Only used when the file does not simply end with FF D9, e.g. phones that append a
    video or vendor trailer after the JPEG. Reads sequentially, never decodes.
    """
    fp.seek(0)
    data = fp.read()
    n = len(data)
    pos = 2  # after SOI
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return False
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            return True
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # standalone markers
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        pos += 2 + length
        if marker == 0xDA:  # start of scan: skip entropy-coded data up to the next marker
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= n:
                    return False
                following = data[pos + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    pos += 1 if following == 0xFF else 2
                    continue
                break
    return pos + 2 <= n and data[pos : pos + 2] == _JPEG_EOI


def _png_has_iend(fp: BinaryIO, size: int) -> bool:
    """Follow the PNG chunk lengths (seeking over the data) until IEND or the end of file."""
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= size:
        fp.seek(pos)
        header = fp.read(8)
        if len(header) < 8:
            return False
        length, chunk_type = struct.unpack(">I4s", header)
        if chunk_type == b"IEND":
            return True
        pos += 12 + length
    return False


def _bmp_needs(fp: BinaryIO) -> int:
    """Minimum file size implied by an uncompressed BMP header (0 when unknown)."""
    fp.seek(0)
    header = fp.read(34)
    if len(header) < 26:
        return 0
    (pixel_offset,) = struct.unpack_from("<I", header, 10)
    (dib_size,) = struct.unpack_from("<I", header, 14)
    if dib_size == 12:  # OS/2 BITMAPCOREHEADER
        width, height, _planes, bits = struct.unpack_from("<HHHH", header, 18)
        compression = 0
    elif len(header) >= 34:
        width, height, _planes, bits, compression = struct.unpack_from("<iiHHI", header, 18)
    else:
        return 0
    if compression not in (0, 3, 6):  # BI_RGB, BI_BITFIELDS, BI_ALPHABITFIELDS
        return 0
    stride = (abs(width) * bits + 31) // 32 * 4
    return pixel_offset + stride * abs(height)


def _tiff_needs(img: Image.Image) -> int:
    """End of the first image's strips/tiles according to its own directory (0 if unknown)."""
    tags = getattr(img, "tag_v2", None)
    if tags is None:
        return 0
    try:
        offsets = tags.get(273) or tags.get(324)  # StripOffsets / TileOffsets
        counts = tags.get(279) or tags.get(325)  # StripByteCounts / TileByteCounts
        if not offsets or not counts:
            return 0
        if isinstance(offsets, int):
            offsets = (offsets,)
        if isinstance(counts, int):
            counts = (counts,)
        return max(int(o) + int(c) for o, c in zip(offsets, counts, strict=False))
    except (TypeError, ValueError):
        return 0
