"""Compressed frames, chunks and previews, built once and kept on disk beside the data."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from labelbay.config import Settings
from labelbay.media import frames as codec
from labelbay.media.models import Frame, TaskData
from labelbay.media.service import cache_path, raw_path

_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


def _cached(path: Path, build: Callable[[Path], None]) -> Path:
    """Returns ``path``, building it first (once, however many threads ask) if missing."""
    if path.exists():
        return path
    lock = _lock_for(path)
    with lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
            try:
                build(tmp)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
    with _locks_guard:
        _locks.pop(path, None)
    return path


def compressed_frame(settings: Settings, data: TaskData, frame: Frame) -> Path:
    key = f"q{data.image_quality}/frame-{frame.frame}.jpg"

    def build(tmp: Path) -> None:
        src = raw_path(settings, data, frame)
        tmp.write_bytes(codec.compress_image(src, quality=data.image_quality, name=frame.name))

    return _cached(cache_path(settings, data, key), build)


def chunk(
    settings: Settings, data: TaskData, frames: list[Frame], *, quality: str, key: str
) -> Path:
    """A zip of ``frames`` in order, named ``000000.ext``...; originals or JPEGs."""

    def build(tmp: Path) -> None:
        members: list[codec.ZipMember] = []
        for f in frames:
            if quality == "original":
                src = raw_path(settings, data, f)
                members.append((f"{f.frame:06d}{src.suffix.lower()}", src))
            else:
                members.append((f"{f.frame:06d}.jpg", compressed_frame(settings, data, f)))
        with open(tmp, "wb") as out:
            codec.write_zip_chunk(out, members)

    return _cached(cache_path(settings, data, f"q{data.image_quality}/{quality}-{key}.zip"), build)


def preview(settings: Settings, data: TaskData, frame: Frame) -> Path:
    def build(tmp: Path) -> None:
        src = raw_path(settings, data, frame)
        tmp.write_bytes(codec.make_preview(src, name=frame.name))

    return _cached(cache_path(settings, data, f"preview-{frame.frame}.jpg"), build)
