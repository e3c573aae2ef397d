"""Video files as frame sources: a packet index, exact random access and MP4 chunks.

This is the pure video layer: paths go in, dataclasses, images and bytes come out.

* `index_video` demuxes the video stream once (reading packets, decoding at most a handful
  of frames) and records the timestamp of every frame and which frames are keyframes. The
  frame count is therefore exact even when the container header does not declare it
  (WebM, Matroska, AVI).
* `decode_frame` / `decode_range` seek to the last keyframe at or before the wanted frame
  and decode forward, identifying frames by their presentation timestamp, so frame N is
  always the N-th frame a sequential decode from the start would produce. (AVI streams
  with B-frames, whose timestamps FFmpeg invents wrongly, are detected while indexing and
  numbered by counting decoder output instead; see `VideoIndex.timing`.)
* `encode_mp4` turns a run of frames into the MP4 "video" chunk served to clients.

Frame numbering. A video's frames are numbered 0..frame_count-1 in presentation order. A
container packet that a decoder turns into a picture is one frame; packets the container
marks as discarded (e.g. cut away by an MP4 edit list), empty packets and pictures shown
before the first one the decoder returns (a stream cut after its first keyframe) are not.
Streams whose keyframes are not flagged are still served, but every access then decodes
from the start of the file.

Rotation. A display matrix in the stream (phones record portrait video as rotated
landscape) is honoured: `VideoIndex.width`/`height` are the displayed size and decoded
frames come out upright. Only the rotation part of the matrix, rounded to a multiple of
90°, is applied; mirroring is ignored. The sample aspect ratio is ignored too: frames are
served with their stored pixel size, as CVAT does.
"""

from __future__ import annotations

import bisect
import functools
import io
import logging
import math
import os
import struct
import zlib
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Final, Literal

import av
import av.container
import numpy as np
import orjson
from av.stream import Disposition
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from PIL import Image

from labelbay.errors import MediaError
from labelbay.media.frames import jpeg_bytes, to_rgb

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS: Final[frozenset[str]] = frozenset(
    {".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v"}
)
MAX_SIDE: Final[int] = 32768
"""Largest width or height accepted, whatever `max_pixels` allows."""

Timing = Literal["pts", "count"]

# The container is recognised from its first bytes and FFmpeg is told which demuxer to use,
# never left to guess: random access is verified on exactly these, and FFmpeg's other
# demuxers include playlists (HLS, concat) that would open further files or URLs named
# inside an upload. Top-level atoms that can start a QuickTime/MP4 file:
_MOV_ATOMS: Final[frozenset[bytes]] = frozenset(
    {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"junk", b"uuid"}
)
_EBML_MAGIC: Final[bytes] = b"\x1a\x45\xdf\xa3"
_SUPPORTED_LABEL: Final[str] = "MP4, MOV, MKV, WebM or AVI"
# AVI stores no presentation timestamps; FFmpeg invents them, and for codecs that reorder
# frames (B-frames) they can be wrong. For such streams this many frames are decoded while
# indexing to check that the decoder reproduces the timestamps in order.
_TIMING_CHECK_FRAMES: Final[int] = 64
# How many keyframes back a random access may restart from when the decoder does not
# return the wanted frame after a seek (a seek that landed late, an open GOP).
_SEEK_ATTEMPTS: Final[int] = 3

_INDEX_MAGIC: Final[bytes] = b"LBVX"
_INDEX_VERSION: Final[int] = 1
_INDEX_PREFIX: Final[struct.Struct] = struct.Struct("<4sBI")  # magic, version, header size

_TRANSPOSE: Final[dict[int, Image.Transpose]] = {
    90: Image.Transpose.ROTATE_90,  # Pillow's ROTATE_* turn counter-clockwise
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


def is_video_name(name: str) -> bool:
    """True when `name` has one of the supported video extensions (case-insensitive)."""
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True, slots=True)
class VideoIndex:
    """Everything needed to serve a video's frames, computed once by `index_video`."""

    width: int
    """Display width, i.e. after `rotation`."""
    height: int
    """Display height, i.e. after `rotation`."""
    frame_count: int
    fps: float
    """Average frame rate (frames per second)."""
    codec: str
    """FFmpeg's decoder name, e.g. "h264", "vp9", "mpeg4"."""
    time_base: tuple[int, int]
    """(numerator, denominator) of the stream time base in which `pts` are counted."""
    pts: list[int] = field(repr=False)
    """The timestamp of every frame, in presentation (= frame number) order."""
    keyframes: list[int] = field(repr=False)
    """Ascending frame numbers of the keyframes, where decoding can start."""
    rotation: int = 0
    """Counter-clockwise turn (0, 90, 180 or 270 degrees) applied to decoded pictures."""
    timing: Timing = "pts"
    """How decoded frames are identified: "pts" by their presentation timestamp; "count" by
    counting decoder output from a keyframe, for AVI streams whose invented timestamps the
    decoder does not reproduce (then `pts` holds the decode timestamps, which are also in
    frame order, and keyframes are assumed to start closed GOPs)."""

    def keyframe_at_or_before(self, number: int) -> int | None:
        """The last keyframe whose number is <= `number`, or None if there is none."""
        pos = bisect.bisect_right(self.keyframes, number)
        return self.keyframes[pos - 1] if pos else None

    def to_bytes(self) -> bytes:
        """A compact binary form: a small JSON header and zlib-compressed int64 deltas."""
        header = orjson.dumps(
            {
                "width": self.width,
                "height": self.height,
                "frame_count": self.frame_count,
                "fps": self.fps,
                "codec": self.codec,
                "time_base": list(self.time_base),
                "rotation": self.rotation,
                "timing": self.timing,
                "keyframe_count": len(self.keyframes),
            }
        )
        arrays = np.concatenate(
            [
                np.diff(np.asarray(self.pts, dtype="<i8"), prepend=0),
                np.diff(np.asarray(self.keyframes, dtype="<i8"), prepend=0),
            ]
        ).astype("<i8", copy=False)
        body = zlib.compress(arrays.tobytes(), 6)
        return _INDEX_PREFIX.pack(_INDEX_MAGIC, _INDEX_VERSION, len(header)) + header + body

    @classmethod
    def from_bytes(cls, data: bytes) -> VideoIndex:
        """Inverse of `to_bytes`; raises ValueError for anything it did not write."""
        if len(data) < _INDEX_PREFIX.size:
            raise ValueError("video index is too short")
        magic, version, header_size = _INDEX_PREFIX.unpack_from(data)
        if magic != _INDEX_MAGIC or version != _INDEX_VERSION:
            raise ValueError("not a video index (or written by an unknown version)")
        start = _INDEX_PREFIX.size
        try:
            header = orjson.loads(data[start : start + header_size])
            raw = zlib.decompress(data[start + header_size :])
            frame_count = int(header["frame_count"])
            keyframe_count = int(header["keyframe_count"])
            values = np.frombuffer(raw, dtype="<i8")
            if len(values) != frame_count + keyframe_count:
                raise ValueError("video index arrays have the wrong length")
            pts = np.cumsum(values[:frame_count]).tolist()
            keyframes = np.cumsum(values[frame_count:]).tolist()
            num, den = header["time_base"]
            timing = header["timing"]
            if timing not in ("pts", "count"):
                raise ValueError(f"unknown timing {timing!r}")
            return cls(
                width=int(header["width"]),
                height=int(header["height"]),
                frame_count=frame_count,
                fps=float(header["fps"]),
                codec=str(header["codec"]),
                time_base=(int(num), int(den)),
                pts=pts,
                keyframes=keyframes,
                rotation=int(header["rotation"]),
                timing=timing,
            )
        except (KeyError, TypeError, zlib.error, orjson.JSONDecodeError) as exc:
            raise ValueError(f"damaged video index: {exc}") from exc


# --------------------------------------------------------------------------- indexing


def index_video(path: Path, *, name: str, max_pixels: int) -> VideoIndex:
    """Index the frames of a video file without decoding it (but for its first frame).

    `name` is how the file is called in error messages. Raises `MediaError` for empty
    files, files that are not MP4/MOV, Matroska/WebM or AVI (judged by their content, not
    their name), files without a video stream or without frames, a codec that cannot be
    decoded, and frame sizes that are not positive, exceed `MAX_SIDE` on a side or
    `max_pixels` in area.

    Reads every packet of the video stream but decodes only the first frame (to prove the
    stream decodes and to read its rotation); for AVI with B-frames, whose timestamps
    FFmpeg has to invent, the first 64 frames are decoded to check them.

    A truncated file is indexed up to where its data ends (with a warning in the log) if
    its container can still be opened: Matroska, WebM and AVI keep their frames in file
    order, so the frames that remain are counted. An MP4/MOV whose index (moov) was lost
    is refused as unreadable.
    """
    if path.stat().st_size == 0:
        raise MediaError("is empty", file=name)
    demuxer = _sniff(path)
    if demuxer is None:
        raise MediaError(f"is not a supported video: it is not {_SUPPORTED_LABEL}", file=name)
    try:
        container = _open(path, demuxer)
    except av.FFmpegError as exc:
        raise MediaError(f"is not a readable video ({_reason(exc)})", file=name) from exc
    with container:
        return _index_container(container, name, max_pixels)


def _index_container(
    container: av.container.InputContainer, name: str, max_pixels: int
) -> VideoIndex:
    stream = _video_stream(container)
    if stream is None:
        raise MediaError("has no video stream", file=name)
    codec_context = stream.codec_context
    if codec_context is None:
        raise MediaError("uses a video codec this server cannot decode", file=name)
    codec = codec_context.name
    width, height = codec_context.width, codec_context.height
    _check_size(width, height, max_pixels, name)

    check_timing = container.format.name == "avi" and bool(codec_context.has_b_frames)
    wanted_frames = _TIMING_CHECK_FRAMES if check_timing else 1
    probe = _Probe(stream, wanted_frames)

    pts: list[int | None] = []
    dts: list[int | None] = []
    keys: list[bool] = []
    try:
        for packet in container.demux(stream):
            if packet.size == 0 or packet.is_discard:
                continue  # PyAV's end-of-stream marker, or data an edit list cuts away
            pts.append(packet.pts)
            dts.append(packet.dts)
            keys.append(packet.is_keyframe)
            if probe.active:
                probe.feed(packet)
    except av.FFmpegError as exc:
        if not pts:
            raise MediaError(f"is not a readable video ({_reason(exc)})", file=name) from exc
        logger.warning(
            "%s: video data ends early (%s); indexing the %d frames before that",
            name,
            _reason(exc),
            len(pts),
        )
    if not pts:
        raise MediaError("has no video frames", file=name)
    probe.finish()
    if probe.first is None:
        detail = f": {probe.error}" if probe.error else ""
        raise MediaError(f"could not be decoded ({codec}{detail})", file=name)

    timing: Timing = "pts"
    if None in pts or (check_timing and not probe.matches(pts)):
        timing = "count"
        logger.info("%s: timestamps are unreliable; numbering frames by decode order", name)
    if timing == "pts":
        order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
        frame_pts = np.asarray(pts, dtype=np.int64)[order].tolist()
        number_of_packet = np.empty(len(order), dtype=np.int64)
        number_of_packet[order] = np.arange(len(order))
        keyframes = sorted(number_of_packet[np.asarray(keys, dtype=bool)].tolist())
        first_pts = probe.first.pts
        unreachable = 0 if first_pts is None else bisect.bisect_left(frame_pts, first_pts)
        if unreachable:
            # Pictures shown before the first one a decoder returns (the stream starts
            # after its keyframe, or with leading pictures of an open GOP) never appear.
            logger.info("%s: skipping %d undecodable leading frames", name, unreachable)
            frame_pts = frame_pts[unreachable:]
            keyframes = [k - unreachable for k in keyframes if k >= unreachable]
    else:
        frame_pts = _decode_timestamps(dts)
        keyframes = [i for i, key in enumerate(keys) if key]

    rotation = _rotation_of(probe.first)
    if rotation in (90, 270):
        width, height = height, width
    tb = stream.time_base or Fraction(1, 1)
    return VideoIndex(
        width=width,
        height=height,
        frame_count=len(frame_pts),
        fps=_frame_rate(stream, frame_pts, tb),
        codec=codec,
        time_base=(tb.numerator, tb.denominator),
        pts=frame_pts,
        keyframes=keyframes,
        rotation=rotation,
        timing=timing,
    )


class _Probe:
    """Decodes the first few packets while indexing: proves the stream decodes at all,
    reads the rotation, and (for AVI with B-frames) collects output timestamps."""

    def __init__(self, stream: VideoStream, frames: int) -> None:
        self.stream = stream
        self.wanted = frames
        self.first: VideoFrame | None = None
        self.output_pts: list[int | None] = []
        self.error: str | None = None
        self.active = True

    def feed(self, packet: av.Packet) -> None:
        try:
            self._take(self.stream.decode(packet))
        except av.FFmpegError as exc:  # keep going: a later keyframe may decode
            self.error = _reason(exc)

    def finish(self) -> None:
        if not self.active:
            return
        try:
            self._take(self.stream.decode(None))
        except av.FFmpegError as exc:
            self.error = _reason(exc)
        self.active = False

    def matches(self, pts: list[int | None]) -> bool:
        """Whether the decoder returned the smallest timestamps, in ascending order."""
        expected = sorted(p for p in pts if p is not None)[: len(self.output_pts)]
        return self.output_pts == expected

    def _take(self, frames: list[VideoFrame]) -> None:
        for frame in frames:
            if self.first is None:
                self.first = frame
            self.output_pts.append(frame.pts)
            if len(self.output_pts) >= self.wanted:
                self.active = False
                return


def _decode_timestamps(dts: list[int | None]) -> list[int]:
    """Decode timestamps made non-decreasing (a missing one repeats its predecessor)."""
    result: list[int] = []
    last = 0
    for value in dts:
        if value is not None and value >= last:
            last = value
        result.append(last)
    return result


def _check_size(width: int, height: int, max_pixels: int, name: str) -> None:
    if width <= 0 or height <= 0:
        raise MediaError(f"is not a supported video: its frames are {width}×{height}", file=name)
    if width > MAX_SIDE or height > MAX_SIDE:
        raise MediaError(
            f"is {width}×{height}, over the limit of {MAX_SIDE} pixels per side", file=name
        )
    if width * height > max_pixels:
        raise MediaError(
            f"is {width}×{height} = {width * height} pixels per frame, over the limit of "
            f"{max_pixels}",
            file=name,
        )


def _frame_rate(stream: VideoStream, pts: list[int], tb: Fraction) -> float:
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate and rate > 0:
            return float(rate)
    span = (pts[-1] - pts[0]) * tb
    if len(pts) > 1 and span > 0:
        return float((len(pts) - 1) / span)
    return 25.0  # a single frame with no declared rate: any positive value will do


def _rotation_of(frame: VideoFrame) -> int:
    try:
        degrees = float(frame.rotation)
    except Exception:  # a malformed display matrix must not make the video fail
        logger.debug("ignoring unreadable display matrix", exc_info=True)
        return 0
    if not math.isfinite(degrees):
        return 0
    return round(degrees / 90.0) * 90 % 360


def _sniff(path: Path) -> str | None:
    """The FFmpeg demuxer for a video's first bytes, or None if it is none we accept."""
    with open(path, "rb") as fp:
        head = fp.read(12)
    if head[:4] == _EBML_MAGIC:
        return "matroska"  # also WebM
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[4:8] in _MOV_ATOMS:
        return "mov"  # also MP4 and M4V
    return None


def _open(path: Path, demuxer: str) -> av.container.InputContainer:
    # An absolute path, so that no part of a file name can be taken for a protocol.
    return av.open(os.fspath(path.absolute()), format=demuxer, metadata_errors="ignore")


def _video_stream(container: av.container.InputContainer) -> VideoStream | None:
    """The first video stream that is real video rather than cover art."""
    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:
            return stream
    return None


def _reason(exc: BaseException) -> str:
    strerror = getattr(exc, "strerror", None)
    return str(strerror or exc)


# --------------------------------------------------------------------------- decoding


def decode_frame(path: Path, index: VideoIndex, number: int, *, name: str) -> Image.Image:
    """Frame `number` of the video as an upright RGB image.

    Seeks to the last keyframe at or before the frame and decodes forward to it. Raises
    `MediaError` when the frame cannot be decoded and ValueError for a number outside
    0..frame_count-1.
    """
    frames = decode_range(path, index, number, number, name=name)
    try:
        for _, image in frames:
            return image
    finally:
        frames.close()
    raise MediaError(f"frame {number} could not be decoded", file=name)  # pragma: no cover


def decode_range(
    path: Path, index: VideoIndex, start: int, stop: int, *, name: str, step: int = 1
) -> Generator[tuple[int, Image.Image], None, None]:
    """Frames `start`, `start + step`, … up to `stop` (inclusive) as (number, RGB image).

    Uses one seek and decodes sequentially from there, which is far cheaper than a seek
    per frame. The work happens while iterating, so `MediaError` for a frame that cannot
    be decoded is raised then. Close the iterator (or exhaust it) to release the file.
    """
    if not 0 <= start <= stop < index.frame_count:
        raise ValueError(
            f"frames {start}..{stop} are outside the video's 0..{index.frame_count - 1}"
        )
    if step < 1:
        raise ValueError(f"step must be positive, not {step}")
    return _decode_range(path, index, start, stop, step, name)


class _Missing(Exception):
    """The decoder did not return frame `number` where it should have."""

    def __init__(self, number: int, reason: str) -> None:
        super().__init__(number, reason)
        self.number = number
        self.reason = reason


def _decode_range(
    path: Path, index: VideoIndex, start: int, stop: int, step: int, name: str
) -> Generator[tuple[int, Image.Image], None, None]:
    demuxer = _sniff(path)
    if demuxer is None:
        raise MediaError(
            f"frame {start} could not be decoded: the file is not {_SUPPORTED_LABEL}", file=name
        )
    starts = _restart_points(index, start)
    yielded = False
    for attempt, origin in enumerate(starts):
        try:
            with _open(path, demuxer) as container:
                stream = _video_stream(container)
                if stream is None or stream.codec_context is None:
                    raise MediaError("has no decodable video stream", file=name)
                stream.thread_type = "AUTO"
                walk = _walk(container, stream, index, origin, start, stop)
                for number, frame in walk:
                    if (number - start) % step == 0:
                        image = _to_image(frame, index.rotation)
                        yielded = True
                        yield number, image
            return
        except _Missing as missing:
            if yielded or attempt == len(starts) - 1:
                raise MediaError(
                    f"frame {missing.number} could not be decoded: {missing.reason}", file=name
                ) from None
            logger.debug(
                "%s: frame %d not found decoding from %s (%s); starting earlier",
                name,
                missing.number,
                origin,
                missing.reason,
            )
        except av.FFmpegError as exc:  # opening or seeking failed
            raise MediaError(
                f"frame {start} could not be decoded: {_reason(exc)}", file=name
            ) from exc


def _restart_points(index: VideoIndex, start: int) -> list[int | None]:
    """Keyframes to try decoding from, nearest first; None means the start of the file."""
    keyframe = index.keyframe_at_or_before(start)
    if keyframe is None:
        return [None]
    pos = bisect.bisect_left(index.keyframes, keyframe)
    earlier = index.keyframes[max(0, pos - _SEEK_ATTEMPTS + 1) : pos + 1]
    return list(reversed(earlier))


def _walk(
    container: av.container.InputContainer,
    stream: VideoStream,
    index: VideoIndex,
    origin: int | None,
    start: int,
    stop: int,
) -> Iterator[tuple[int, VideoFrame]]:
    """Decode from keyframe `origin` (None: from the beginning) and yield frames
    start..stop with their numbers; raises `_Missing` for one the decoder skips."""
    seeking = False
    if origin is not None and origin > 0:
        seeking = True
        container.seek(index.pts[origin], stream=stream, backward=True, any_frame=False)
    decoder = _Decoder(container, stream)
    if index.timing == "pts":
        yield from _match_pts(decoder, index, origin or 0, start, stop)
    else:
        yield from _match_count(decoder, index, seeking, start, stop)


def _match_pts(
    decoder: _Decoder, index: VideoIndex, origin: int, start: int, stop: int
) -> Iterator[tuple[int, VideoFrame]]:
    """Number decoded frames by finding their presentation timestamps in the index.

    Frames before the expected timestamp (where the seek landed early, leading pictures
    of an open GOP) are passed over; a timestamp beyond it means the expected frame was
    never returned.
    """
    pts = index.pts
    expected = origin
    for frame in decoder.frames():
        value = frame.pts
        if value is None:
            continue
        while pts[expected] < value:
            if expected >= start:
                raise _Missing(expected, decoder.reason("the decoder skipped it"))
            expected += 1
        if pts[expected] == value:
            if expected >= start:
                yield expected, frame
            expected += 1
            if expected > stop:
                return
    raise _Missing(max(start, expected), decoder.reason("the video data ends before it"))


def _match_count(
    decoder: _Decoder, index: VideoIndex, seeking: bool, start: int, stop: int
) -> Iterator[tuple[int, VideoFrame]]:
    """Number decoded frames by counting them from the keyframe the seek landed on."""
    number: int | None = None if seeking else 0
    for frame in decoder.frames():
        if number is None:
            if decoder.first_dts is None:
                raise _Missing(start, "seeking failed")
            number = bisect.bisect_left(index.pts, decoder.first_dts)
            if number > start:
                raise _Missing(start, "the seek went past it")
        if number >= start:
            yield number, frame
        number += 1
        if number > stop:
            return
    raise _Missing(max(start, number or 0), decoder.reason("the video data ends before it"))


class _Decoder:
    """Decoded frames of one stream from the current position, tolerating damage: a
    packet that fails to decode or data that ends early only stops the frames coming."""

    def __init__(self, container: av.container.InputContainer, stream: VideoStream) -> None:
        self.container = container
        self.stream = stream
        self.first_dts: int | None = None
        self.error: str | None = None

    def frames(self) -> Iterator[VideoFrame]:
        seen_packet = False
        try:
            for packet in self.container.demux(self.stream):
                if packet.size == 0:
                    continue  # PyAV's end-of-stream marker; the decoder is flushed below
                if not seen_packet and not packet.is_discard:
                    seen_packet = True
                    self.first_dts = packet.dts
                try:
                    decoded = self.stream.decode(packet)
                except av.FFmpegError as exc:
                    self.error = _reason(exc)
                    continue
                yield from decoded
        except av.FFmpegError as exc:
            self.error = _reason(exc)
        try:
            decoded = self.stream.decode(None)
        except av.FFmpegError as exc:
            self.error = _reason(exc)
            return
        yield from decoded

    def reason(self, default: str) -> str:
        return f"{default} ({self.error})" if self.error else default


def _to_image(frame: VideoFrame, rotation: int) -> Image.Image:
    image = frame.to_image()
    if image.mode != "RGB":
        image = image.convert("RGB")
    method = _TRANSPOSE.get(rotation)
    return image if method is None else image.transpose(method)


# --------------------------------------------------------------------------- encoding


def build_compressed_chunk(
    path: Path, index: bytes, start: int, stop: int, *, step: int, quality: int, name: str,
    fps: float = 25.0,
) -> tuple[bytes, list[bytes]]:  # fmt: skip
    """A compressed video chunk (MP4 of frames ``start..stop`` by ``step``) and each frame's
    JPEG at ``quality``, from one decoding pass; made to run in a codec process
    (media.codecpool), so its arguments and results are plain data. Fewer JPEGs than
    frames means the video ended early (the MP4 holds the frames that were decoded); no
    frame at all raises ``ValueError``."""
    jpegs: list[bytes] = []

    def frames() -> Iterator[Image.Image]:
        for _, image in decode_range(
            path, VideoIndex.from_bytes(index), start, stop, step=step, name=name
        ):
            jpegs.append(jpeg_bytes(image, quality))
            yield image

    return encode_mp4(frames(), fps=fps, quality=quality), jpegs


def encode_mp4(frames: Iterable[Image.Image], *, fps: float, quality: int) -> bytes:
    """Encode `frames` (all the same size) as an MP4 with one video frame per image.

    H.264 (libx264, yuv420p) is used when this PyAV build has it, MPEG-4 Part 2 otherwise.
    Frames get consecutive timestamps at `fps`, so none is dropped or repeated. `quality`
    1..100 maps linearly onto x264 CRF 51..10 (70, CVAT's default image quality, gives
    x264's default CRF 22-23), or onto an MPEG-4 quantiser 31..1. As 4:2:0 video needs even
    sides, an odd width or height is padded by repeating the last column or row, so such
    frames come back one pixel wider or taller.
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be within 1..100, not {quality}")
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, not {fps}")
    rate = Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        rate = Fraction(1, 1001)
    images = iter(frames)
    first = next(images, None)
    if first is None:
        raise ValueError("there are no frames to encode")
    size = first.size
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as output:
        pixels = _even_rgb(first)
        stream = _add_video_stream(output, rate, pixels.shape[1], pixels.shape[0], quality)
        count = 0
        while True:
            frame = VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = count
            count += 1
            for packet in stream.encode(frame):
                output.mux(packet)
            image = next(images, None)
            if image is None:
                break
            if image.size != size:
                raise ValueError(f"frame {count} is {image.size}, not {size} like the first")
            pixels = _even_rgb(image)
        for packet in stream.encode(None):
            output.mux(packet)
    return buffer.getvalue()


@functools.cache
def _mp4_codec() -> str:
    """libx264 when this FFmpeg build has the encoder, else FFmpeg's own MPEG-4 encoder."""
    try:
        av.codec.Codec("libx264", "w")
    except (av.FFmpegError, ValueError):
        logger.info("libx264 is not available; video chunks will be MPEG-4 Part 2")
        return "mpeg4"
    return "libx264"


def _add_video_stream(
    output: av.container.OutputContainer, rate: Fraction, width: int, height: int, quality: int
) -> VideoStream:
    codec = _mp4_codec()
    worse = (100 - quality) / 99  # 0.0 for the best quality, 1.0 for the worst
    if codec == "libx264":
        # One thread per encoder (chunks are encoded side by side already) and no lookahead
        # or B-frames ("zerolatency"): at 1080p that halves the encoder's memory (~100 MB
        # instead of ~200 MB per chunk being built) for files about 1.6x larger.
        options = {
            "crf": str(round(10 + 41 * worse)),
            "preset": "veryfast",
            "tune": "zerolatency",
            "threads": "1",
        }
    else:  # a fixed quantiser; the square keeps the useful range (2..8) for most qualities
        qscale = str(round(1 + 30 * worse**2))
        options = {"qmin": qscale, "qmax": qscale}
    stream = output.add_stream(codec, rate=rate, options=options)
    if not isinstance(stream, VideoStream):  # pragma: no cover - both codecs are video
        raise TypeError(f"{codec} did not give a video stream")
    stream.width = width
    stream.height = height
    stream.pix_fmt = "yuv420p"
    stream.codec_context.time_base = 1 / rate
    return stream


def _even_rgb(image: Image.Image) -> np.ndarray:
    """RGB pixels with even sides, padding by repeating the last column/row if needed."""
    pixels = np.asarray(to_rgb(image))
    pad_rows, pad_columns = pixels.shape[0] % 2, pixels.shape[1] % 2
    if pad_rows or pad_columns:
        pixels = np.pad(pixels, ((0, pad_rows), (0, pad_columns), (0, 0)), mode="edge")
    return np.ascontiguousarray(pixels)
