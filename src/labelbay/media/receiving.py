"""Work done on each data file as it arrives, so that finishing an upload is cheap.

A file that lands in an upload area's ``files/`` is checked at once: an image is probed and
moved into the area's ``raw/``; an archive is verified member by member and its images are
extracted into ``raw/`` and probed. Each frame candidate is appended to ``manifest.jsonl``
(name, width, height, bytes, MIME type). A bad file fails its own upload request with a 400
naming it, and leaves nothing behind. Upload-Finish then only sorts, selects and records.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import orjson

from labelbay.errors import Invalid, MediaError
from labelbay.media import archives, early, images, video
from labelbay.uploads.service import STAGED

MANIFEST = "manifest.jsonl"
UNSUPPORTED = (
    "is not a supported file; upload JPEG, PNG, BMP, TIFF or WebP images, a zip/tar archive "
    "of them, or one video (MP4, WebM, MKV, AVI, MOV)"
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An image (or a video) received for a task, before its frames are chosen."""

    name: str
    width: int
    height: int
    size: int
    mime: str
    frames: int = 1  # a video's frame count

    @property
    def is_video(self) -> bool:
        return self.mime.startswith("video/")


def index_key(video_name: str) -> str:
    """Where a video's frame index is kept, beside it in the staged (and later media) folder."""
    return f".index-{video_name}"


def staged_dir(area: Path) -> Path:
    return area / STAGED


def _probe(path: Path, frame_name: str, shown_as: str, max_pixels: int) -> bytes:
    info = images.probe_image(path, name=shown_as, max_pixels=max_pixels)
    size = path.stat().st_size
    return orjson.dumps([frame_name, info.width, info.height, size, info.mime]) + b"\n"


def _append(area: Path, lines: list[bytes]) -> None:
    # One write per file received: appends from concurrent requests never interleave.
    with open(area / MANIFEST, "ab") as out:
        out.write(b"".join(lines))


def _receive_image(area: Path, path: Path, max_pixels: int) -> None:
    name = path.name
    raw = staged_dir(area)
    raw.mkdir(exist_ok=True)
    target = raw / name
    if target.exists():
        path.unlink(missing_ok=True)
        raise MediaError("two files have this name", file=name)
    try:
        line = _probe(path, name, name, max_pixels)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    os.replace(path, target)
    _append(area, [line])
    early.pool().submit(raw, name, early.announced_quality(area))


def _receive_archive(area: Path, path: Path, max_pixels: int) -> None:
    name = path.name
    unpack = area / f"unpack-{secrets.token_hex(4)}"
    try:
        members = archives.extract_archive(path, unpack, archive_name=name)
        if not members:
            raise MediaError("the archive holds no supported images", file=name)
        # Frames are named by their path inside the archive.
        lines = [_probe(unpack / m, m, f"{name}:{m}", max_pixels) for m in members]
        raw = staged_dir(area)
        if not raw.exists():
            os.replace(unpack, raw)
        else:
            for member in members:
                if (raw / member).exists():
                    raise MediaError("two files have this name", file=member)
            for member in members:
                (raw / member).parent.mkdir(parents=True, exist_ok=True)
                os.replace(unpack / member, raw / member)
        _append(area, lines)
        quality = early.announced_quality(area)
        for member in members:
            early.pool().submit(raw, member, quality)
    finally:
        shutil.rmtree(unpack, ignore_errors=True)
        path.unlink(missing_ok=True)


def _receive_video(area: Path, path: Path, max_pixels: int) -> None:
    name = path.name
    raw = staged_dir(area)
    raw.mkdir(exist_ok=True)
    if (raw / name).exists():
        path.unlink(missing_ok=True)
        raise MediaError("two files have this name", file=name)
    try:
        index = video.index_video(path, name=name, max_pixels=max_pixels)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    (raw / index_key(name)).write_bytes(index.to_bytes())
    os.replace(path, raw / name)
    mime = VIDEO_MIME.get(Path(name).suffix.lower(), "video/mp4")
    size = (raw / name).stat().st_size
    line = [name, index.width, index.height, size, mime, index.frame_count]
    _append(area, [orjson.dumps(line) + b"\n"])


VIDEO_MIME = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
    ".mov": "video/quicktime",
}


def receive(area: Path, path: Path, *, max_pixels: int) -> None:
    """Checks and stages one file that arrived at ``path`` (inside ``area/files``)."""
    if archives.is_archive_name(path.name):
        _receive_archive(area, path, max_pixels)
    elif video.is_video_name(path.name):
        _receive_video(area, path, max_pixels)
    elif images.is_image_name(path.name):
        _receive_image(area, path, max_pixels)
    else:
        path.unlink(missing_ok=True)
        raise MediaError(UNSUPPORTED, file=path.name)


def candidates(area: Path) -> list[Candidate]:
    """Every image received in ``area`` so far, in arrival order."""
    manifest = area / MANIFEST
    if not manifest.exists():
        raise Invalid("no files were uploaded: send files between Upload-Start and Upload-Finish")
    found = [Candidate(*orjson.loads(line)) for line in manifest.read_bytes().splitlines()]
    seen: set[str] = set()
    for c in found:
        if c.name in seen:
            raise MediaError("two files have this name", file=c.name)
        seen.add(c.name)
    return found
