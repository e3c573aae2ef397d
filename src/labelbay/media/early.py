"""Compressed frames made while an upload is still arriving.

Re-encoding a 1080p image as the compressed JPEG the annotation view shows costs about
20 ms of CPU, and a task's annotators ask for its first frames the moment it exists. So
each image is compressed as soon as it has been checked on arrival, in the background, while
the rest of the upload is still on the wire: over a real network most of a task's compressed
frames are ready by the time Upload-Finish answers.

The result is a *sidecar* beside the staged image: ``raw/.q70/<frame path>.jpg``, exactly
the bytes a build from the image would give (same function, same quality). It travels with
the staged folder into the task's media; the compressed-frame build reads it instead of
encoding (see ``delivery.Artifacts``), and pre-generation removes the sidecars once the cache
holds them. The quality is the one the upload announced (cvat-sdk sends ``image_quality``
with every Upload-Multiple request), else CVAT's default, 70; a sidecar of another quality
than the task's is never read.

The work runs in a small pool of threads at a lower CPU priority (Linux lets a thread lower
its own), so uploads and frame requests come first; the queue is bounded and anything past
it is simply left to pre-generation. Nothing here is needed for correctness: a sidecar that
is missing, late or unwritable only means a build encodes the image itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from labelbay.media import codecpool
from labelbay.media import frames as codec
from labelbay.media.cache import lower_thread_priority
from labelbay.uploads import service as uploads_service

log = logging.getLogger(__name__)

DEFAULT_QUALITY = 70
"""The quality assumed when an upload did not say (CVAT's default ``image_quality``)."""
MAX_PENDING = 4096
"""Images waiting to be compressed at most; later arrivals are left to pre-generation."""
QUALITY_FILE = "early-quality"
"""In an upload area: the ``image_quality`` the upload announced."""


def sidecar_dir(raw_dir: Path, quality: int) -> Path:
    return raw_dir / f".q{quality}"


def sidecar(raw_dir: Path, frame_path: str, quality: int) -> Path:
    """Where the compressed copy of ``raw_dir/frame_path`` at ``quality`` is kept."""
    return sidecar_dir(raw_dir, quality) / f"{frame_path}.jpg"


def note_quality(area: Path, value: object) -> None:
    """Remembers the ``image_quality`` an upload request carried, if it is a valid one."""
    try:
        quality = int(str(value))
    except ValueError:
        return
    if 1 <= quality <= 100:
        with contextlib.suppress(OSError):
            (area / QUALITY_FILE).write_text(str(quality), encoding="ascii")


def announced_quality(area: Path) -> int:
    try:
        return int((area / QUALITY_FILE).read_text(encoding="ascii"))
    except (OSError, ValueError):
        return DEFAULT_QUALITY


class EarlyFrames:
    """A bounded background pool compressing arrived images into sidecars."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(
            workers, thread_name_prefix="early-frames", initializer=lower_thread_priority
        )
        self._lock = threading.Condition()
        self._pending = 0
        self._closed = False
        self._moves: dict[Path, tuple[Path, int]] = {}  # old -> (new, last job queued before)
        self._dropped: dict[Path, int] = {}  # folder -> last job number queued before
        self._queued = 0
        self._running: dict[Path, int] = {}

    def submit(self, raw_dir: Path, frame_path: str, quality: int) -> bool:
        """Queues one image; ``False`` if the queue is full (pre-generation will do it)."""
        with self._lock:
            if self._closed or self._pending >= MAX_PENDING:
                return False
            self._pending += 1
            self._queued += 1
            number = self._queued
        self._pool.submit(self._run, number, raw_dir, frame_path, quality)
        return True

    def moved(self, old: Path, new: Path) -> None:
        """A staged folder became a task's media folder: queued images follow it."""
        with self._lock:
            if self._pending:
                self._moves[old] = (new, self._queued)

    def forget_under(self, folder: Path) -> None:
        """``folder`` (an upload area) is about to be removed: its queued images are dropped,
        and this waits for those being compressed, so that no sidecar is written into it
        after the removal began."""
        with self._lock:
            self._dropped[folder] = self._queued
            while any(raw.is_relative_to(folder) for raw, n in self._running.items() if n):
                self._lock.wait(timeout=1.0)

    def _run(self, number: int, raw_dir: Path, frame_path: str, quality: int) -> None:
        with self._lock:
            skip = any(
                raw_dir.is_relative_to(folder) and number <= last
                for folder, last in self._dropped.items()
            )
            moved = self._moves.get(raw_dir)
            if moved is not None and number <= moved[1]:
                raw_dir = moved[0]
            if not skip:
                self._running[raw_dir] = self._running.get(raw_dir, 0) + 1
        try:
            if not skip:
                make_sidecar(raw_dir, frame_path, quality)
        finally:
            with self._lock:
                if not skip:
                    self._running[raw_dir] -= 1
                    if not self._running[raw_dir]:
                        del self._running[raw_dir]
                self._pending -= 1
                if not self._pending:
                    self._moves.clear()
                    self._dropped.clear()
                self._lock.notify_all()

    @property
    def pending(self) -> int:
        return self._pending

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_sidecar(raw_dir: Path, frame_path: str, quality: int) -> Path | None:
    """Writes the sidecar of one staged image; ``None`` if the image is gone (the upload
    was finished and moved, or discarded) or could not be read (the build will say why)."""
    source = raw_dir / frame_path
    target = sidecar(raw_dir, frame_path, quality)
    try:
        data = codecpool.run(codec.compress_image, source, quality=quality, name=frame_path)
        # Never parents=True from raw_dir up: a staged folder moved away meanwhile must not
        # be made again in the upload area.
        folder = sidecar_dir(raw_dir, quality)
        folder.mkdir(exist_ok=True)
        for part in Path(frame_path).parent.parts:
            folder = folder / part
            folder.mkdir(exist_ok=True)
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, target)
    except Exception:  # optional work: any failure leaves it to the build
        log.debug("no early compressed frame for %s", source, exc_info=True)
        return None
    return target


_instance: EarlyFrames | None = None
_instance_lock = threading.Lock()


def pool() -> EarlyFrames:
    """This process's pool (made on first use)."""
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = EarlyFrames()
        return _instance


def forget_under(folder: Path) -> None:
    """See :meth:`EarlyFrames.forget_under` (nothing to do if no image was ever queued)."""
    with _instance_lock:
        found = _instance
    if found is not None:
        found.forget_under(folder)


def close() -> None:
    global _instance
    with _instance_lock:
        found, _instance = _instance, None
    if found is not None:
        found.close()


uploads_service.on_clear(forget_under)
