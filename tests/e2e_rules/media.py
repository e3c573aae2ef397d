"""Media for the end-to-end rule tests: small images, damaged files and hostile archives.

Everything is built in memory and is deterministic (seeded noise), so a failure reproduces.
"""

from __future__ import annotations

import io
import json
import random
import struct
import tarfile
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

RGB = tuple[int, int, int]

# Distinct colours for the frames of good uploads; frame i gets COLORS[i].
COLORS: tuple[RGB, ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
)


def png(width: int = 16, height: int = 12, color: RGB = COLORS[0]) -> bytes:
    """A single-colour RGB PNG."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def _noise(width: int, height: int, seed: int) -> Image.Image:
    rng = random.Random(seed)
    return Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))


def noisy_png(width: int = 64, height: int = 48, seed: int = 1) -> bytes:
    """A PNG of random pixels: its compressed data is large, so cutting it leaves a header."""
    out = io.BytesIO()
    _noise(width, height, seed).save(out, format="PNG")
    return out.getvalue()


def noisy_jpeg(width: int = 64, height: int = 48, seed: int = 2) -> bytes:
    out = io.BytesIO()
    _noise(width, height, seed).save(out, format="JPEG", quality=90)
    return out.getvalue()


def huge_png(width: int, height: int) -> bytes:
    """A bilevel single-colour PNG: many pixels, a few kilobytes, cheap to build."""
    out = io.BytesIO()
    Image.new("1", (width, height), 1).save(out, format="PNG")
    return out.getvalue()


def gif(width: int = 16, height: int = 12) -> bytes:
    """A GIF: a real image, but not a format the server takes."""
    out = io.BytesIO()
    Image.new("P", (width, height), 1).save(out, format="GIF")
    return out.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width``×``height`` (a decompression bomb's header).

    The IHDR chunk is rewritten with a correct CRC, so only the size is a lie.
    """
    data = bytearray(png())
    # Signature (8), IHDR length (4) and type (4), then width and height.
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    with Image.open(io.BytesIO(bytes(data))) as img:
        assert img.size == (width, height)
    return bytes(data)


def random_bytes(size: int, seed: int = 3) -> bytes:
    return random.Random(seed).randbytes(size)


def first_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def good_images(count: int, *, prefix: str = "good") -> dict[str, bytes]:
    """``count`` small PNGs named so that lexicographic order is frame order."""
    return {f"{prefix}_{i}.png": png(color=COLORS[i % len(COLORS)]) for i in range(count)}


def zip_archive(
    members: Iterable[tuple[str, bytes]], *, compression: int = zipfile.ZIP_DEFLATED
) -> bytes:
    """A zip with the members under exactly the given names (no normalisation)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as zf, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Duplicate name", UserWarning)  # wanted sometimes
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = compression
            zf.writestr(info, data)
    return out.getvalue()


def _central_entries(data: bytes) -> list[int]:
    """Offsets of the central directory entries of a zip without a comment."""
    end = data.rindex(b"PK\x05\x06")
    count, _size, start = struct.unpack_from("<HII", data, end + 10)
    offsets = []
    pos = start
    for _ in range(count):
        assert data[pos : pos + 4] == b"PK\x01\x02"
        offsets.append(pos)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, pos + 28)
        pos += 46 + name_len + extra_len + comment_len
    return offsets


def patch_zip_member(
    data: bytes, member: str, *, flags: int = 0, method: int | None = None
) -> bytes:
    """Sets general-purpose ``flags`` bits and/or the compression ``method`` of ``member`` in
    both its local header and its central directory entry (the data stays as it is)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
    index = next(i for i, info in enumerate(infos) if info.filename == member)
    raw = bytearray(data)
    local = infos[index].header_offset
    central = _central_entries(data)[index]
    for flag_at, method_at in ((local + 6, local + 8), (central + 8, central + 10)):
        (old_flags,) = struct.unpack_from("<H", raw, flag_at)
        struct.pack_into("<H", raw, flag_at, old_flags | flags)
        if method is not None:
            struct.pack_into("<H", raw, method_at, method)
    return bytes(raw)


def tar_gz(files: Sequence[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tf:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def zip_names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.namelist()


def damage_zip_member(data: bytes, member: str) -> bytes:
    """Flips bytes in the middle of ``member``'s compressed data (its CRC no longer matches).

    The central directory stays intact, so the archive opens and only reading that member
    fails.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(member)
    raw = bytearray(data)
    # Local file header: 30 fixed bytes, then the name and the extra field.
    name_len = int.from_bytes(raw[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    middle = start + info.compress_size // 2
    for i in range(middle, middle + 8):
        raw[i] ^= 0xFF
    damaged = bytes(raw)
    assert _member_is_unreadable(damaged, member), "damaging the member did not break it"
    return damaged


def _member_is_unreadable(data: bytes, member: str) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            zf.read(member)
    except Exception:
        return True
    return False


def tar_archive(
    files: Sequence[tuple[str, bytes]], *, symlinks: Sequence[tuple[str, str]] = ()
) -> bytes:
    """An uncompressed tar with regular ``files`` and ``(name, target)`` symbolic links."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
        for name, target in symlinks:
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            info.mtime = 1_700_000_000
            tf.addfile(info)
    return out.getvalue()


def write_files(folder: Path, files: dict[str, bytes]) -> list[Path]:
    """Writes ``files`` into ``folder``; returns their paths in the given order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def task_media_folders(data_dir: Path, task_id: int) -> list[Path]:
    """The server's media folders of a task: ``<data dir>/media/data/<task id>-<random>``."""
    root = data_dir / "media" / "data"
    if not root.is_dir():
        return []
    return sorted(root.glob(f"{task_id}-*"))


def task_upload_area(data_dir: Path, task_id: int) -> Path:
    """Where the server keeps a task's uploaded files until Upload-Finish."""
    return data_dir / "uploads" / "task-data" / str(task_id)


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def json_body(raw: bytes | str | None) -> dict[str, Any]:
    """An error body as a dict; fails the test with the raw text if it is not a JSON object."""
    assert raw, "the error response has no body"
    text = raw.decode() if isinstance(raw, bytes) else raw
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise AssertionError(f"the error body is not JSON: {text!r}") from exc
    assert isinstance(value, dict), f"the error body is not a JSON object: {text!r}"
    return value
