"""Tests for the video layer: indexing, exact random access, MP4 chunks.

Every test video is generated here with PyAV. Frame i shows the number i in binary as
black/white 16×16 blocks (plus a static texture so encoders use predicted frames), so a
frame can be recognised after lossy compression.
"""

from __future__ import annotations

import io
import logging
import random
import re
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import labelbay.media.video as video
from labelbay.errors import MediaError
from labelbay.media.video import (
    VideoIndex,
    decode_frame,
    decode_range,
    encode_mp4,
    index_video,
    is_video_name,
)

logger = logging.getLogger(__name__)

BLOCK = 16
BITS = 8  # two rows of four blocks at 64×48: frame numbers up to 255
BIG = 10**9


def pattern(number: int, width: int = 64, height: int = 48) -> np.ndarray:
    """RGB pixels showing `number`: bit k is block k (row-major) white when set."""
    yy, xx = np.mgrid[0:height, 0:width]
    texture = ((xx * 7 + yy * 3) % 64 + 96).astype(np.uint8)
    pixels = np.stack([texture, texture // 2 + 40, 255 - texture], axis=-1)
    columns = width // BLOCK
    for bit in range(BITS):
        row, col = divmod(bit, columns)
        value = 255 if number >> bit & 1 else 0
        pixels[row * BLOCK : (row + 1) * BLOCK, col * BLOCK : (col + 1) * BLOCK] = value
    return pixels


def read_number(image: Image.Image) -> int:
    """Inverse of `pattern`, tolerant of compression noise."""
    gray = np.asarray(image.convert("L"), dtype=np.float64)
    columns = gray.shape[1] // BLOCK
    number = 0
    for bit in range(BITS):
        row, col = divmod(bit, columns)
        y, x = row * BLOCK + 4, col * BLOCK + 4
        if gray[y : y + 8, x : x + 8].mean() > 128:
            number |= 1 << bit
    return number


def make_video(
    path: Path,
    codec: str,
    frames: int,
    *,
    size: tuple[int, int] = (64, 48),
    gop: int = 10,
    b_frames: int | None = None,
    pix_fmt: str = "yuv420p",
    options: dict[str, str] | None = None,
    container_format: str | None = None,
    rotation: int | None = None,
    content: int | None = None,
) -> Path:
    """Encode `frames` pattern frames; `content` fixes one picture for speed tests."""
    width, height = size
    opts = dict(options or {})
    if codec == "libx264":
        opts.setdefault("x264-params", f"scenecut=0:keyint={gop}:min-keyint={gop}")
        opts.setdefault("preset", "ultrafast" if b_frames == 0 else "veryfast")
    elif codec in ("mpeg4", "mjpeg"):
        opts.setdefault("sc_threshold", str(BIG))
    elif codec.startswith("libvpx"):
        opts.setdefault("deadline", "realtime")
        opts.setdefault("cpu-used", "8")
    with av.open(str(path), "w", format=container_format) as output:
        stream = output.add_stream(codec, rate=30, options=opts)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.gop_size = gop
        if b_frames is not None:
            stream.codec_context.max_b_frames = b_frames
        if rotation is not None:
            stream.set_display_rotation(rotation)
        fixed = None if content is None else pattern(content, width, height)
        for i in range(frames):
            pixels = fixed if fixed is not None else pattern(i % 256, width, height)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return path


def sequential(path: Path) -> list[Image.Image]:
    """The reference: every frame of a plain decode from the start, in order."""
    with av.open(str(path)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and np.array_equal(np.asarray(a), np.asarray(b))


def encoder_available(codec: str) -> bool:
    try:
        av.codec.Codec(codec, "w")
    except Exception:
        return False
    return True


# (file name, encoder, extra make_video arguments)
CASES: list[tuple[str, str, dict[str, object]]] = [
    ("h264.mp4", "libx264", {"b_frames": 2}),
    ("mpeg4.mp4", "mpeg4", {}),
    ("h264.m4v", "libx264", {"b_frames": 0, "container_format": "mp4"}),
    ("h264.mov", "libx264", {"b_frames": 3}),
    ("h264.mkv", "libx264", {"b_frames": 2}),
    ("vp8.webm", "libvpx", {}),
    ("vp9.webm", "libvpx-vp9", {}),
    ("mpeg4.avi", "mpeg4", {}),
    ("mpeg4-bframes.avi", "mpeg4", {"b_frames": 2}),
    ("mjpeg.avi", "mjpeg", {"pix_fmt": "yuvj420p"}),
    # AVI has no presentation timestamps: FFmpeg's guesses are wrong for H.264 B-frames.
    ("h264-bframes.avi", "libx264", {"b_frames": 2}),
]
CASE_IDS = [case[0] for case in CASES]


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    made: dict[str, Path] = {}
    for name, codec, kwargs in CASES:
        if encoder_available(codec):
            frames = 45 if "mjpeg" in name else 75
            made[name] = make_video(folder / name, codec, frames, **kwargs)  # type: ignore[arg-type]
    return made


def video_for(videos: dict[str, Path], name: str) -> Path:
    if name not in videos:
        pytest.skip(f"this PyAV build cannot encode {name}")
    return videos[name]


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.mp4", True),
        ("dir/B.WEBM", True),
        ("c.MkV", True),
        ("d.avi", True),
        ("e.mov", True),
        ("f.m4v", True),
        ("g.jpg", False),
        ("mp4", False),
        ("h.mp4.txt", False),
    ],
)
def test_is_video_name(name: str, expected: bool) -> None:
    assert is_video_name(name) is expected


# --------------------------------------------------------------------------- indexing


@pytest.mark.parametrize("case", CASE_IDS)
def test_index_counts_every_frame(videos: dict[str, Path], case: str) -> None:
    path = video_for(videos, case)
    reference = sequential(path)
    index = index_video(path, name=case, max_pixels=10**7)
    assert index.frame_count == len(reference) == (45 if "mjpeg" in case else 75)
    assert len(index.pts) == index.frame_count
    assert index.pts == sorted(index.pts)
    assert (index.width, index.height) == (64, 48)
    assert index.fps == pytest.approx(30, rel=0.01)
    assert index.keyframes[0] == 0
    assert index.keyframes == sorted(set(index.keyframes))
    if "mjpeg" not in case:  # intra-only codecs aside, seeking must matter
        assert 3 <= len(index.keyframes) <= index.frame_count // 5
    expected_timing = "count" if case == "h264-bframes.avi" else "pts"
    assert index.timing == expected_timing
    assert [read_number(img) for img in reference] == list(range(index.frame_count))


def test_index_codec_and_time_base(videos: dict[str, Path]) -> None:
    index = index_video(video_for(videos, "h264.mkv"), name="h264.mkv", max_pixels=10**7)
    assert index.codec == "h264"
    assert index.time_base == (1, 1000)  # Matroska counts milliseconds
    vp9 = index_video(video_for(videos, "vp9.webm"), name="vp9.webm", max_pixels=10**7)
    assert vp9.codec == "vp9"


def test_index_round_trips_through_bytes(videos: dict[str, Path]) -> None:
    index = index_video(video_for(videos, "h264.mp4"), name="h264.mp4", max_pixels=10**7)
    data = index.to_bytes()
    assert VideoIndex.from_bytes(data) == index
    count = VideoIndex.from_bytes(
        index_video(
            video_for(videos, "h264-bframes.avi"), name="h.avi", max_pixels=10**7
        ).to_bytes()
    )
    assert count.timing == "count"


def test_large_index_is_compact_and_loads_fast() -> None:
    frames = 100_000
    index = VideoIndex(
        width=1920,
        height=1080,
        frame_count=frames,
        fps=29.97,
        codec="h264",
        time_base=(1, 30000),
        pts=[i * 1001 for i in range(frames)],
        keyframes=list(range(0, frames, 250)),
    )
    data = index.to_bytes()
    assert len(data) < 50_000
    began = time.perf_counter()
    loaded = VideoIndex.from_bytes(data)
    elapsed = time.perf_counter() - began
    assert loaded == index
    assert elapsed < 0.2
    logger.info("index of %d frames: %d bytes, loaded in %.1f ms", frames, len(data), elapsed * 1e3)


@pytest.mark.parametrize("data", [b"", b"LBVX", b"nonsense" * 10, b"LBVX\x01\x05\x00\x00\x00{}"])
def test_damaged_index_bytes_raise_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        VideoIndex.from_bytes(data)


def test_keyframe_at_or_before() -> None:
    index = VideoIndex(64, 48, 30, 30.0, "h264", (1, 30), list(range(30)), [0, 10, 20])
    assert index.keyframe_at_or_before(0) == 0
    assert index.keyframe_at_or_before(9) == 0
    assert index.keyframe_at_or_before(10) == 10
    assert index.keyframe_at_or_before(29) == 20
    empty = VideoIndex(64, 48, 30, 30.0, "h264", (1, 30), list(range(30)), [5])
    assert empty.keyframe_at_or_before(4) is None


def test_rotation_is_applied(tmp_path: Path) -> None:
    path = make_video(tmp_path / "rotated.mp4", "libx264", 24, rotation=90)
    index = index_video(path, name="rotated.mp4", max_pixels=10**7)
    assert index.rotation == 90
    assert (index.width, index.height) == (48, 64)
    reference = sequential(path)
    for number in (0, 13, 23):
        image = decode_frame(path, index, number, name="rotated.mp4")
        assert image.size == (48, 64)
        upright = reference[number].transpose(Image.Transpose.ROTATE_90)
        assert same_pixels(image, upright)


def test_index_speed(tmp_path: Path) -> None:
    path = make_video(tmp_path / "speed.mp4", "libx264", 300, size=(640, 360), b_frames=0)
    began = time.perf_counter()
    index = index_video(path, name="speed.mp4", max_pixels=10**7)
    elapsed = time.perf_counter() - began
    assert index.frame_count == 300
    logger.info("indexed 300 frames of 640×360 H.264 in %.1f ms", elapsed * 1e3)
    assert elapsed < 1.0


def test_stream_starting_after_its_keyframe(videos: dict[str, Path], tmp_path: Path) -> None:
    """A cut that lost the first keyframe: the pictures before the next keyframe never
    come out of a decoder, so they are not frames; numbering starts at the first that does."""
    source = video_for(videos, "h264.mkv")
    path = tmp_path / "headless.mkv"
    with av.open(str(source)) as src, av.open(str(path), "w") as out:
        template = src.streams.video[0]
        stream = out.add_stream_from_template(template)
        for i, packet in enumerate(src.demux(template)):
            if i < 4 or packet.size == 0:
                continue
            packet.stream = stream
            out.mux(packet)
    reference = sequential(path)
    index = index_video(path, name="headless.mkv", max_pixels=10**7)
    assert index.frame_count == len(reference) < 75
    assert index.keyframes[0] == 0
    for number in (0, 1, 17, index.frame_count - 1):
        image = decode_frame(path, index, number, name="headless.mkv")
        assert same_pixels(image, reference[number])


# --------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("case", CASE_IDS)
def test_decode_frame_matches_sequential_decode(videos: dict[str, Path], case: str) -> None:
    path = video_for(videos, case)
    reference = sequential(path)
    index = index_video(path, name=case, max_pixels=10**7)
    last = index.frame_count - 1
    keyframes = index.keyframes
    around = {k + d for k in keyframes for d in (-1, 0, 1)}
    numbers = sorted({0, last, *random.Random(case).sample(range(last + 1), 12), *around})
    numbers = [n for n in numbers if 0 <= n <= last]
    if "mjpeg" not in case:  # every MJPEG frame is a keyframe
        assert any(n not in keyframes for n in numbers)
    for number in numbers:
        image = decode_frame(path, index, number, name=case)
        assert image.mode == "RGB"
        assert same_pixels(image, reference[number]), f"{case}: frame {number} differs"
        assert read_number(image) == number


@pytest.mark.parametrize("case", ["h264.mp4", "h264.mkv", "vp9.webm", "h264-bframes.avi"])
def test_every_frame_after_a_seek(videos: dict[str, Path], case: str) -> None:
    path = video_for(videos, case)
    reference = sequential(path)
    index = index_video(path, name=case, max_pixels=10**7)
    for number in reversed(range(index.frame_count)):
        assert same_pixels(decode_frame(path, index, number, name=case), reference[number])


@pytest.mark.parametrize("case", CASE_IDS)
def test_decode_range_with_step(videos: dict[str, Path], case: str) -> None:
    path = video_for(videos, case)
    reference = sequential(path)
    index = index_video(path, name=case, max_pixels=10**7)
    last = index.frame_count - 1
    for start, stop, step in [(0, last, 1), (13, 37, 3), (5, 5, 1), (last - 6, last, 4)]:
        got = list(decode_range(path, index, start, stop, name=case, step=step))
        assert [n for n, _ in got] == list(range(start, stop + 1, step))
        for number, image in got:
            assert same_pixels(image, reference[number]), f"{case}: frame {number}"


def test_decode_rejects_numbers_outside_the_video(videos: dict[str, Path]) -> None:
    path = video_for(videos, "h264.mp4")
    index = index_video(path, name="h264.mp4", max_pixels=10**7)
    with pytest.raises(ValueError):
        decode_frame(path, index, index.frame_count, name="h264.mp4")
    with pytest.raises(ValueError):
        decode_frame(path, index, -1, name="h264.mp4")
    with pytest.raises(ValueError):
        decode_range(path, index, 5, 4, name="h264.mp4")
    with pytest.raises(ValueError):
        decode_range(path, index, 0, 4, name="h264.mp4", step=0)


def test_decode_frame_that_is_not_there_raises_media_error(videos: dict[str, Path]) -> None:
    path = video_for(videos, "h264.mkv")
    index = index_video(path, name="h264.mkv", max_pixels=10**7)
    # An index that promises a frame the file does not have (e.g. a stale index).
    bogus = VideoIndex(
        width=64,
        height=48,
        frame_count=index.frame_count + 1,
        fps=index.fps,
        codec=index.codec,
        time_base=index.time_base,
        pts=[*index.pts, index.pts[-1] + 33],
        keyframes=index.keyframes,
    )
    with pytest.raises(MediaError, match=rf"frame {index.frame_count} could not be decoded"):
        decode_frame(path, bogus, index.frame_count, name="h264.mkv")


def test_decoding_a_vanished_file_raises_media_error(tmp_path: Path) -> None:
    path = make_video(tmp_path / "gone.mkv", "libx264", 12)
    index = index_video(path, name="gone.mkv", max_pixels=10**7)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(MediaError, match=re.escape("gone.mkv: frame 3 could not be decoded")):
        decode_frame(path, index, 3, name="gone.mkv")


# --------------------------------------------------------------------------- encoding


def decode_bytes(data: bytes) -> list[Image.Image]:
    with av.open(io.BytesIO(data)) as container:
        assert "mp4" in container.format.name
        return [frame.to_image() for frame in container.decode(video=0)]


@pytest.mark.parametrize("fps", [30.0, 29.97, 25.0, 7.5])
def test_encode_mp4_keeps_every_frame_in_order(fps: float) -> None:
    images = [Image.fromarray(pattern(i)) for i in range(40)]
    data = encode_mp4(images, fps=fps, quality=70)
    decoded = decode_bytes(data)
    assert [read_number(img) for img in decoded] == list(range(40))
    assert all(img.size == (64, 48) for img in decoded)
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == ("h264" if encoder_available("libx264") else "mpeg4")
        assert float(stream.average_rate) == pytest.approx(fps, rel=0.01)


def test_encode_mp4_from_decoded_range(videos: dict[str, Path]) -> None:
    path = video_for(videos, "vp8.webm")
    index = index_video(path, name="vp8.webm", max_pixels=10**7)
    frames = (image for _, image in decode_range(path, index, 10, 45, name="vp8.webm", step=5))
    decoded = decode_bytes(encode_mp4(frames, fps=index.fps, quality=80))
    assert [read_number(img) for img in decoded] == list(range(10, 46, 5))


def test_encode_mp4_pads_odd_sizes_with_the_edge() -> None:
    images = [Image.fromarray(pattern(i, 63, 47)) for i in range(5)]
    decoded = decode_bytes(encode_mp4(images, fps=10, quality=95))
    assert [img.size for img in decoded] == [(64, 48)] * 5
    assert [read_number(img) for img in decoded] == list(range(5))
    last_column = np.asarray(decoded[0], dtype=np.int16)[:47, 63]
    previous = np.asarray(decoded[0], dtype=np.int16)[:47, 62]
    assert np.abs(last_column - previous).mean() < 12


def test_encode_mp4_quality_changes_size() -> None:
    rng = np.random.default_rng(1)
    noise = [Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)) for _ in range(8)]
    small = encode_mp4(noise, fps=30, quality=10)
    large = encode_mp4(noise, fps=30, quality=95)
    assert len(small) < len(large)


def test_encode_mp4_without_libx264(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video, "_mp4_codec", lambda: "mpeg4")
    images = [Image.fromarray(pattern(i)).convert("L") for i in range(20)]  # any mode works
    data = encode_mp4(images, fps=30, quality=70)
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video[0].codec_context.name == "mpeg4"
    assert [read_number(img) for img in decode_bytes(data)] == list(range(20))


def test_encode_mp4_rejects_bad_arguments() -> None:
    frame = Image.new("RGB", (16, 16))
    with pytest.raises(ValueError):
        encode_mp4([], fps=30, quality=70)
    with pytest.raises(ValueError):
        encode_mp4([frame], fps=30, quality=0)
    with pytest.raises(ValueError):
        encode_mp4([frame], fps=0, quality=70)
    with pytest.raises(ValueError):
        encode_mp4([frame], fps=float("nan"), quality=70)
    with pytest.raises(ValueError, match="frame 1"):
        encode_mp4([frame, Image.new("RGB", (18, 16))], fps=30, quality=70)


# --------------------------------------------------------------------------- refusals


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(MediaError, match=re.escape("empty.mp4: is empty")) as info:
        index_video(path, name="empty.mp4", max_pixels=10**7)
    assert info.value.status == 400
    assert info.value.detail == {"file": "empty.mp4"}


def test_random_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(7).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError, match=re.escape("noise.mp4: is not")):
        index_video(path, name="noise.mp4", max_pixels=10**7)


def test_an_image_named_like_a_video_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "photo.mp4"
    Image.fromarray(pattern(3)).save(path, format="JPEG")
    with pytest.raises(MediaError, match=re.escape("photo.mp4: is not a supported video")):
        index_video(path, name="photo.mp4", max_pixels=10**7)


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w") as output:
        stream = output.add_stream("aac", rate=44100)
        samples = np.zeros((1, 1024), dtype=np.float32)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 44100
            frame.pts = i * 1024
            frame.time_base = Fraction(1, 44100)
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    with pytest.raises(MediaError, match=re.escape("sound.mp4: has no video stream")):
        index_video(path, name="sound.mp4", max_pixels=10**7)


def test_too_many_pixels_are_refused(videos: dict[str, Path]) -> None:
    path = video_for(videos, "h264.mp4")
    with pytest.raises(MediaError, match="64×48 = 3072 pixels per frame, over the limit of 3071"):
        index_video(path, name="h264.mp4", max_pixels=3071)
    index_video(path, name="h264.mp4", max_pixels=3072)


@pytest.mark.parametrize("case", ["h264.mp4", "h264.mov", "h264.mkv", "vp8.webm", "mpeg4.avi"])
def test_truncated_video(videos: dict[str, Path], case: str, tmp_path: Path) -> None:
    """Cut in half. MP4/MOV keep their index (moov) at the end, so they are refused.
    Matroska and WebM keep the frames that remain, and every one of those decodes. AVI does
    either: FFmpeg refuses it when the cut hits the first frame (as with these tiny files,
    whose first keyframe is a large part of the file), else it keeps what remains."""
    source = video_for(videos, case)
    data = source.read_bytes()
    path = tmp_path / f"cut-{case}"
    path.write_bytes(data[: len(data) // 2])
    try:
        index = index_video(path, name=path.name, max_pixels=10**7)
    except MediaError as exc:
        assert str(exc).startswith(f"{path.name}: is not a readable video")
        assert not case.endswith((".mkv", ".webm")), f"{case} should keep its frames"
        return
    assert not case.endswith((".mp4", ".mov"))
    assert 0 < index.frame_count < 75
    frames = list(decode_range(path, index, 0, index.frame_count - 1, name=path.name))
    assert [number for number, _ in frames] == list(range(index.frame_count))
    # The last frame may have lost part of its data; the others are intact.
    assert [read_number(image) for _, image in frames[:-1]] == list(range(index.frame_count - 1))
