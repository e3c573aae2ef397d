"""Helpers of the delivery tests: numbered test videos made with PyAV, and HTTP shortcuts for
frames, chunks, previews and the pre-generation request of a task.

Frame ``n`` of every generated video shows ``n`` in binary as eight solid bars across the
top half (white = bit set), so that a frame can be recognised even after JPEG or H.264
compression; the bottom half is a texture that moves every frame, so encoders really
predict from earlier frames (P- and B-frames) instead of repeating one picture.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from PIL import Image

from conftest import ADMIN, Server
from e2e.helpers import login_key

BITS = 8
"""Bars per frame: frame numbers up to 255 can be shown."""
PREPARE = "prepare:chunks"
STATUS = "X-Cache-Status"


# ------------------------------------------------------------------------------------------
# Test videos


def numbered_picture(number: int, width: int, height: int) -> np.ndarray:
    """The RGB pixels (``height × width × 3``) of frame ``number``; see the module docstring."""
    rows, columns = np.mgrid[0:height, 0:width]
    wave = ((rows + columns + 3 * number) * 5 % 256).astype(np.uint8)
    picture = np.stack([wave, 255 - wave, np.full_like(wave, 90)], axis=-1)
    bar, top = width // BITS, height // 2
    for bit in range(BITS):
        picture[:top, bit * bar : (bit + 1) * bar] = 255 if number >> bit & 1 else 0
    return picture


def read_number(image: np.ndarray | Image.Image) -> int:
    """The number a (possibly lossy) copy of :func:`numbered_picture` shows."""
    gray = np.asarray(Image.fromarray(np.asarray(image)).convert("L"), dtype=np.float64)
    height, width = gray.shape
    bar, top = width // BITS, height // 2
    number = 0
    for bit in range(BITS):
        left = bit * bar
        centre = gray[top // 4 : 3 * top // 4, left + bar // 4 : left + 3 * bar // 4]
        if centre.mean() > 128:
            number |= 1 << bit
    return number


@dataclass(frozen=True)
class VideoSpec:
    """How to make one test video."""

    name: str
    codec: str
    frames: int
    size: tuple[int, int]
    b_frames: int | None = None
    container: str | None = None


def make_video(folder: Path, spec: VideoSpec, *, gop: int = 10) -> Path:
    """Encodes ``spec`` into ``folder / spec.name`` with a keyframe every ``gop`` frames."""
    path = folder / spec.name
    width, height = spec.size
    options: dict[str, str] = {}
    if spec.codec == "libx264":
        options = {"preset": "veryfast", "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}
    elif spec.codec.startswith("libvpx"):
        options = {"deadline": "realtime", "cpu-used": "8"}
    elif spec.codec == "mpeg4":
        options = {"sc_threshold": "1000000000"}
    with av.open(str(path), "w", format=spec.container) as output:
        stream = output.add_stream(spec.codec, rate=30, options=options)
        assert isinstance(stream, VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        if spec.b_frames is not None:
            stream.codec_context.max_b_frames = spec.b_frames
        for number in range(spec.frames):
            frame = VideoFrame.from_ndarray(numbered_picture(number, width, height), format="rgb24")
            frame.pts = number
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return path


def make_audio_only(path: Path, *, seconds: float = 0.5) -> Path:
    """A file with one AAC audio stream and no video (container from the suffix)."""
    rate = 22050
    with av.open(str(path), "w") as output:
        stream = output.add_stream("aac", rate=rate)
        assert isinstance(stream, AudioStream)
        stream.layout = "mono"
        done = 0
        total = int(rate * seconds)
        while done < total:
            count = min(1024, total - done)
            t = (np.arange(done, done + count) / rate).astype(np.float32)
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32).reshape(1, -1)
            frame = AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = done
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                output.mux(packet)
            done += count
        for packet in stream.encode(None):
            output.mux(packet)
    return path


def decode_all(source: Path | bytes) -> list[np.ndarray]:
    """Every frame of a plain sequential decode from the start, as RGB arrays."""
    handle: Any = str(source) if isinstance(source, Path) else io.BytesIO(source)
    with av.open(handle) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def keyframes(path: Path) -> list[int]:
    """Numbers (in presentation order) of the frames whose packets are keyframes."""
    return [i for i, (_, _, key) in enumerate(packets_in_order(path)) if key]


def packets_in_order(path: Path) -> list[tuple[int, int, bool]]:
    """``(file position, size, is keyframe)`` of every video packet, by presentation time."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        found = [
            (packet.pts, packet.pos, packet.size, packet.is_keyframe)
            for packet in container.demux(stream)
            if packet.size
        ]
    found.sort(key=lambda item: item[0] if item[0] is not None else -1)
    packets: list[tuple[int, int, bool]] = []
    for _, pos, size, key in found:
        assert pos is not None and pos >= 0, "the demuxer must know where each packet is"
        packets.append((pos, size, key))
    return packets


# ------------------------------------------------------------------------------------------
# HTTP


def data_params(kind: str, number: int | None = None, quality: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"type": kind}
    if number is not None:
        params["number"] = number
    if quality is not None:
        params["quality"] = quality
    return params


def task_data(
    http: httpx.Client,
    task_id: int,
    kind: str,
    number: int | None = None,
    quality: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """``GET /api/tasks/{id}/data/`` for a frame, chunk or preview."""
    return http.get(
        f"/api/tasks/{task_id}/data/",
        params=data_params(kind, number, quality),
        headers=headers or {},
    )


def ok_bytes(response: httpx.Response) -> bytes:
    assert response.status_code == 200, (response.request.url, response.text[:500])
    return response.content


def cache_status(response: httpx.Response) -> str:
    return response.headers.get(STATUS, "")


def prepare_request(http: httpx.Client, task_id: int) -> dict[str, Any]:
    """The task's ``prepare:chunks`` background request, as ``GET /api/requests`` lists it."""
    listed = http.get("/api/requests", params={"task_id": task_id, "page_size": 100})
    assert listed.status_code == 200, listed.text
    found = [r for r in listed.json()["results"] if r["operation"]["type"] == PREPARE]
    assert len(found) == 1, listed.json()
    request: dict[str, Any] = found[0]
    return request


def wait_prepared(
    http: httpx.Client, task_id: int, *, timeout: float = 45.0
) -> tuple[dict[str, Any], list[float]]:
    """Polls the task's pre-generation until it finishes; returns it and the progress seen."""
    rq_id = prepare_request(http, task_id)["id"]
    seen: list[float] = []
    deadline = time.monotonic() + timeout
    while True:
        response = http.get(f"/api/requests/{rq_id}")
        assert response.status_code == 200, response.text
        request: dict[str, Any] = response.json()
        if request["progress"] is not None:
            seen.append(float(request["progress"]))
        if request["status"] in ("finished", "failed"):
            return request, seen
        assert time.monotonic() < deadline, f"pre-generation still {request['status']}: {request}"
        time.sleep(0.05)


def burst(
    server: Server, calls: list[Callable[[httpx.Client], httpx.Response]]
) -> list[httpx.Response]:
    """Runs every call at the same moment, each on a connection of its own."""
    key = login_key(server, ADMIN)
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[httpx.Client], httpx.Response]) -> httpx.Response:
        headers = {"Authorization": f"Token {key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            http.get("/api/server/about")  # connect before the start line
            barrier.wait(timeout=30)
            return call(http)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def error_detail(response: httpx.Response) -> str:
    """The ``detail`` of a JSON error answer (which it must be)."""
    assert response.headers.get("content-type", "").startswith("application/json"), (
        response.status_code,
        response.headers,
        response.content[:200],
    )
    detail = response.json().get("detail")
    assert isinstance(detail, str), response.json()
    return detail


# ------------------------------------------------------------------------------------------
# Files on the server


def stored_video(server: Server, task_id: int, name: str) -> Path:
    """Where the server keeps the uploaded video of a task."""
    found = list((server.data_dir / "media" / "data").glob(f"{task_id}-*/raw/{name}"))
    assert len(found) == 1, found
    return found[0]


def cache_files(server: Server) -> dict[Path, int]:
    """Every file in the server's media cache with its size (temporary files included)."""
    root = server.data_dir / "cache"
    sizes: dict[Path, int] = {}
    for path in root.rglob("*"):
        try:
            if path.is_file():
                sizes[path] = path.stat().st_size
        except FileNotFoundError:
            continue  # evicted while listing
    return sizes
