"""The inputs of bench/frames.py: generated 1080p JPEGs and an H.264 video, cached."""

from __future__ import annotations

import logging
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import create_task
import numpy as np
from _common import (
    fmt_bytes,
)
from _frames_base import (
    FRAME_COUNT,
    FRAME_SEED,
    VIDEO_CRF,
    VIDEO_FPS,
    VIDEO_FRAMES,
    VIDEO_GOP,
    VIDEO_NOISE,
    VIDEO_SIZE,
)

log = logging.getLogger("bench.frames")


def _write_photo(index: int, folder: str) -> None:
    """One 1080p JPEG from create_task's generator, with a random generator of its own so
    that the images can be made in parallel and still be the same every time."""
    rng = np.random.default_rng([FRAME_SEED, index])
    data = create_task._photo(index, rng)
    (Path(folder) / f"frame_{index:04d}.jpg").write_bytes(data)


def ensure_frames(cache_dir: Path) -> list[Path]:
    """The 500 1080p JPEGs (0.3–0.7 MB each), generated once and kept in ``cache_dir``."""
    width, height = create_task.PHOTO_SIZE
    folder = cache_dir / f"frames-{width}x{height}-{FRAME_COUNT}"
    images = folder / "images"
    marker = folder / ".complete"
    if not marker.exists():
        log.info("generating %d %dx%d JPEGs in %s", FRAME_COUNT, width, height, folder)
        started = time.perf_counter()
        shutil.rmtree(folder, ignore_errors=True)
        images.mkdir(parents=True)
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(_write_photo, range(FRAME_COUNT), [str(images)] * FRAME_COUNT))
        marker.touch()
        log.info("generated in %.1f s", time.perf_counter() - started)
    files = sorted(images.glob("*.jpg"))
    if len(files) != FRAME_COUNT:
        raise SystemExit(f"{images}: expected {FRAME_COUNT} files, found {len(files)}; delete it")
    return files


def _video_planes() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """Luma and chroma planes twice as wide as a frame (a frame is a sliding window over
    them), and a bank of grain to add to the luma."""
    from PIL import Image

    width, height = VIDEO_SIZE
    rng = np.random.default_rng(FRAME_SEED)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 2.0, 2 * width, dtype=np.float32)[None, :]
    cells = rng.integers(0, 256, (height // 12, 2 * width // 12), dtype=np.uint8)
    texture = np.asarray(
        Image.fromarray(cells).resize((2 * width, height), Image.Resampling.BILINEAR),
        dtype=np.float32,
    )
    luma = np.clip(100 + 70 * np.sin(2 * np.pi * (x + 0.6 * y)) + 0.25 * texture, 0, 230)
    xs, ys = x[:, ::2], y[::2]
    u = np.clip(128 + 60 * np.sin(2 * np.pi * (xs + 1.2 * ys)), 0, 240)
    v = np.clip(128 + 60 * np.cos(2 * np.pi * (0.5 * xs - 0.9 * ys)), 0, 240)
    grain = [rng.integers(0, VIDEO_NOISE, (height, width), dtype=np.uint8) for _ in range(8)]
    return luma.astype(np.uint8), u.astype(np.uint8), v.astype(np.uint8), grain


def ensure_video(cache_dir: Path) -> Path:
    """A 3,000-frame 1080p H.264 MP4 (keyframe every 50 frames), generated once.

    A textured gradient slides sideways with grain on top and a bright square moves across
    it: the encoder has real motion and detail to code (about 15 kB a frame).
    """
    import av

    width, height = VIDEO_SIZE
    folder = cache_dir / f"video-{width}x{height}-{VIDEO_FRAMES}-gop{VIDEO_GOP}"
    path = folder / "clip.mp4"
    if path.exists():
        return path
    log.info("generating a %d-frame %dx%d H.264 video in %s", VIDEO_FRAMES, width, height, folder)
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / "clip.partial.mp4"
    luma, u, v, grain = _video_planes()
    frame = np.empty((height * 3 // 2, width), dtype=np.uint8)
    with av.open(str(partial), "w") as container:
        stream = container.add_stream("libx264", rate=VIDEO_FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = VIDEO_GOP
        stream.options = {
            "preset": "veryfast",
            "crf": str(VIDEO_CRF),
            "x264-params": f"keyint={VIDEO_GOP}:min-keyint={VIDEO_GOP}:scenecut=0",
        }
        for i in range(VIDEO_FRAMES):
            shift = (4 * i) % width
            np.add(luma[:, shift : shift + width], grain[i % len(grain)], out=frame[:height])
            bx, by = (7 * i) % (width - 200), (3 * i) % (height - 200)
            frame[by : by + 200, bx : bx + 200] = 235
            half = shift // 2
            frame[height : height + height // 4] = u[:, half : half + width // 2].reshape(
                height // 4, width
            )
            frame[height + height // 4 :] = v[:, half : half + width // 2].reshape(
                height // 4, width
            )
            picture = av.VideoFrame.from_ndarray(frame, format="yuv420p")
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.replace(path)
    log.info(
        "generated in %.1f s: %s", time.perf_counter() - started, fmt_bytes(path.stat().st_size)
    )
    return path


# --- Talking to the server ------------------------------------------------------------------


def disk_usage(folder: Path) -> int:
    """Bytes in the files under ``folder`` (the server's data dir: media, cache, database)."""
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total
