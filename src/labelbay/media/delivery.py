"""Compressed frames, chunks and previews: built once per data version, kept in the media cache.

Every artifact has a cache key that names the data and its version (``chunks_updated_date``),
so changed data never serves stale bytes and old versions simply age out of the LRU cache.
A request that finds its artifact missing builds it inline (single-flight, bounded pool);
the background pre-generation fills the cache right after ingest with the same functions.
"""

from __future__ import annotations

import io
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache, partial
from pathlib import Path
from typing import ParamSpec, TypeVar

from PIL import Image

from labelbay.config import Settings, get_settings
from labelbay.errors import MediaError
from labelbay.media import codecpool, early, video
from labelbay.media import frames as codec
from labelbay.media.cache import Built, CacheEntry, MediaCache
from labelbay.media.models import Frame, TaskData
from labelbay.media.receiving import index_key
from labelbay.storage import Storage, make_storage

ORIGINAL, COMPRESSED = "original", "compressed"
P = ParamSpec("P")
T = TypeVar("T")

_runtime: tuple[Settings, MediaCache] | None = None
_runtime_lock = threading.Lock()


def configure(settings: Settings, cache: MediaCache) -> None:
    """Sets the settings and cache this process builds artifacts with (server, worker)."""
    global _runtime
    _runtime = (settings, cache)
    codecpool.configure(settings.codec_processes)


def runtime() -> tuple[Settings, MediaCache]:
    """This process's settings and cache; a worker process makes them from its environment."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            settings = get_settings()
            _runtime = (settings, make_cache(settings))
            codecpool.configure(settings.codec_processes)
        return _runtime


def make_cache(settings: Settings) -> MediaCache:
    return MediaCache(
        settings.data_dir / "cache",
        max_bytes=settings.cache_max_bytes,
        build_timeout=settings.build_timeout_seconds,
    )


@lru_cache(maxsize=8)
def _storage_at(root: Path) -> Storage:
    return make_storage(root)


def media_storage(settings: Settings) -> Storage:
    """Where task media lives (keys ``data/<task>-<random>/raw/<frame file>``)."""
    return _storage_at(settings.media_dir)


def raw_key(data: TaskData, name: str) -> str:
    return f"{data.path}/raw/{name}"


def raw_path(settings: Settings, data: TaskData, frame: Frame) -> Path:
    """The frame's file on this machine (the HTTP layer serves it directly)."""
    path = media_storage(settings).local_path(raw_key(data, frame.path))
    if path is None:
        raise NotImplementedError("frames are served from local storage only for now")
    return path


def raw_dir(settings: Settings, data: TaskData) -> Path:
    """The folder of the task's stored files on this machine."""
    path = media_storage(settings).local_path(f"{data.path}/raw")
    if path is None:
        raise NotImplementedError("frames are served from local storage only for now")
    return path


def version(data: TaskData) -> str:
    """The key prefix of a task's chunks: deleting frames changes the chunks (a new version)."""
    stamp = int(data.chunks_updated_date.timestamp() * 1_000_000)
    return f"d{data.id}.v{stamp}.q{data.image_quality}"


def frames_version(data: TaskData) -> str:
    """The key prefix of single frames and previews: a frame's pixels never change (deleting
    it only marks it), so its compressed copy stays valid across chunk versions."""
    return f"d{data.id}.q{data.image_quality}"


def snapshot(data: TaskData) -> TaskData:
    """A copy attached to no session, safe to keep between requests (read-only use)."""
    return TaskData(**{c.key: getattr(data, c.key) for c in TaskData.__table__.columns})


def is_video(data: TaskData) -> bool:
    return data.media_type == "video"


class Artifacts:
    """The cached artifacts of one task's data, built on demand."""

    def __init__(
        self, settings: Settings, cache: MediaCache, data: TaskData, *, background: bool = False
    ) -> None:
        """``background``: builds for pre-generation (a pool of their own, lower priority)."""
        self.settings, self.cache, self.data = settings, cache, data
        self.background = background
        self.prefix = version(data)
        self.frames_prefix = frames_version(data)

    # -- cache keys (the request fast path looks entries up by these) -------------------------

    def frame_key(self, number: int, quality: str) -> str:
        kind = "cf" if quality == COMPRESSED else "of"
        return f"{self.frames_prefix}.{kind}{number}"

    def preview_key(self, number: int) -> str:
        return f"{self.frames_prefix}.pv{number}"

    def chunk_key(self, lo: int, hi: int, quality: str) -> str:
        return f"{self.prefix}.{'oc' if quality == ORIGINAL else 'cc'}{lo}-{hi}"

    # -- video access -------------------------------------------------------------------------

    def _video(self, frame: Frame) -> tuple[Path, video.VideoIndex]:
        storage = media_storage(self.settings)
        index = video.VideoIndex.from_bytes(
            storage.read_bytes(raw_key(self.data, index_key(frame.path)))
        )
        return raw_path(self.settings, self.data, frame), index

    def _video_number(self, task_frame: int) -> int:
        return self.data.start_frame + task_frame * self.data.frame_step

    def _decode(self, frame: Frame) -> Image.Image:
        path, index = self._video(frame)
        return video.decode_frame(path, index, self._video_number(frame.frame), name=frame.path)

    def _decode_range(self, frames: Sequence[Frame]) -> Iterator[Image.Image]:
        path, index = self._video(frames[0])
        start = self._video_number(frames[0].frame)
        stop = self._video_number(frames[-1].frame)
        for _, image in video.decode_range(
            path, index, start, stop, step=self.data.frame_step, name=frames[0].path
        ):
            yield image

    # -- single frames --------------------------------------------------------------------------

    def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """CPU-heavy work: pre-generation's goes to the codec processes (which run at a lower
        priority), a request's runs right here, first in line for the CPU."""
        if self.background:
            return codecpool.run(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    def _get(self, key: str, build: Callable[[], Built]) -> tuple[CacheEntry, str]:
        return self.cache.get_or_build(key, build, background=self.background)

    def original_video_frame(self, frame: Frame) -> tuple[CacheEntry, str]:
        """A video frame as decoded, losslessly (PNG)."""
        key = self.frame_key(frame.frame, ORIGINAL)
        return self._get(key, lambda: _png(self._decode(frame)))

    def compressed_frame(self, frame: Frame) -> tuple[CacheEntry, str]:
        key = self.frame_key(frame.frame, COMPRESSED)
        return self._get(key, self._compress_builder(frame))

    def _compress_builder(self, frame: Frame) -> Callable[[], bytes]:
        quality = self.data.image_quality
        if is_video(self.data):
            return lambda: _jpeg(self._decode(frame), quality)
        src = raw_path(self.settings, self.data, frame)
        made_early = early.sidecar(raw_dir(self.settings, self.data), frame.path, quality)

        def build() -> bytes:
            try:
                return made_early.read_bytes()  # compressed while the upload arrived
            except OSError:
                return self._run(codec.compress_image, src, quality=quality, name=frame.name)

        return build

    def drop_early_frames(self) -> None:
        """Removes the sidecars made on arrival (media.early), once the cache holds their
        frames."""
        for folder in raw_dir(self.settings, self.data).glob(".q*"):
            shutil.rmtree(folder, ignore_errors=True)

    def preview(self, frame: Frame) -> tuple[CacheEntry, str]:
        def build() -> bytes:
            if is_video(self.data):
                image = self._decode(frame)
                image.thumbnail((256, 256))
                return _jpeg(image, 85)
            src = raw_path(self.settings, self.data, frame)
            return self._run(codec.make_preview, src, name=frame.name)

        return self._get(self.preview_key(frame.frame), build)

    # -- chunks ---------------------------------------------------------------------------------

    def chunk(self, frames: Sequence[Frame], quality: str) -> tuple[CacheEntry, str]:
        key = self.chunk_key(frames[0].frame, frames[-1].frame, quality)
        return self._get(key, lambda: self._build_chunk(frames, quality))

    def _inline(self, full: str, build: Callable[[], bytes]) -> bytes:
        """An artifact needed while building another: read it, or build it here (not in the
        build pool, whose workers may all be busy with chunks waiting for their frames)."""
        entry = self.cache.get(full)
        if entry is not None:
            try:
                return entry.path.read_bytes()
            except FileNotFoundError:  # evicted by another process just now
                pass
        data = build()
        self.cache.put(full, data)
        return data

    def _build_chunk(self, frames: Sequence[Frame], quality: str) -> Built:
        if is_video(self.data):
            return self._build_video_chunk(frames, quality)
        if quality == ORIGINAL:
            originals: list[codec.ZipMember] = [
                (
                    f"{f.frame:06d}{Path(f.path).suffix.lower()}",
                    raw_path(self.settings, self.data, f),
                )
                for f in frames
            ]
            return self._zip_file(originals)
        return self._zip_file(
            (
                f"{f.frame:06d}.jpg",
                self._inline(self.frame_key(f.frame, COMPRESSED), self._compress_builder(f)),
            )
            for f in frames
        )

    def _raw(self, frame: Frame) -> Path:
        return raw_path(self.settings, self.data, frame)

    def _zip_file(self, members: Iterable[codec.ZipMember]) -> Path:
        """Writes a zip chunk into a scratch file of the cache, one member at a time."""
        target = self.cache.scratch_file()
        try:
            with open(target, "wb") as out:
                codec.write_zip_chunk(out, members)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return target

    def _build_video_chunk(self, frames: Sequence[Frame], quality: str) -> Built:
        """Decodes the range once. The compressed chunk is made in a codec process, which
        gives the MP4 and each frame's JPEG (cached here too); the original chunk streams
        each frame's PNG into the zip file as it is decoded (and caches it)."""
        if quality == ORIGINAL:
            decoded = 0

            def passing() -> Iterator[codec.ZipMember]:
                nonlocal decoded
                for f, image in zip(frames, self._decode_range(frames), strict=False):
                    decoded += 1
                    key = self.frame_key(f.frame, ORIGINAL)
                    yield f"{f.frame:06d}.png", self._inline(key, partial(_png, image))

            built = self._zip_file(passing())
            if decoded < len(frames):
                built.unlink(missing_ok=True)
                self._missing(frames, decoded)
            return built
        path, index = self._video(frames[0])
        try:
            mp4, jpegs = self._run(
                video.build_compressed_chunk, path, index.to_bytes(),
                self._video_number(frames[0].frame), self._video_number(frames[-1].frame),
                step=self.data.frame_step, quality=self.data.image_quality, name=frames[0].path,
            )  # fmt: skip
        except ValueError:
            self._missing(frames, 0)  # nothing decoded: say which frames, not "empty input"
            raise
        for f, jpeg in zip(frames, jpegs, strict=False):
            key = self.frame_key(f.frame, COMPRESSED)
            if self.cache.get(key) is None:
                self.cache.put(key, jpeg)
        if len(jpegs) < len(frames):
            self._missing(frames, len(jpegs))
        return mp4

    def _missing(self, frames: Sequence[Frame], decoded: int) -> None:
        raise MediaError(
            f"frames {frames[decoded].frame}-{frames[-1].frame} could not be decoded",
            file=frames[0].path,
        )


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


_jpeg = codec.jpeg_bytes
