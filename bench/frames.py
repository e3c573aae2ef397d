"""Benchmark: serving frames and chunks, alone and to 16 annotators at once.

Everything goes through plain HTTP, as a browser or cvat-sdk would, against a
``labelbay serve`` this script starts itself (see bench/README.md):

* a task of 500 generated 1920×1080 JPEGs in 16 jobs (``segment_size`` 32):
  - 16 annotators, each walking its own job's compressed frames in order and looping, for
    ``--duration`` seconds, starting the moment Upload-Finish answered (while the server
    pre-generates the task's chunks in the background). Load client in its own process
    (asyncio + httpx); its CPU use is reported. Targets: ≥ 400 frames/s, p99 ≤ 100 ms,
    worst ≤ 1 s, no errors;
  - single frames, warm (cached; 200 requests on one keep-alive connection per quality):
    target p50 ≤ 5 ms; and cold (a second task, asked right after its Upload-Finish for
    frames that pre-generation reaches last; ``X-Cache-Status`` tells how many were really
    built for the request);
  - chunks once pre-generated (target p50 ≤ 100 ms) and cold;
  - the server's RSS (target ≤ 400 MB).
* a task of one 3,000-frame 1080p H.264 video: the time from Upload-Finish until all chunks
  are ready (the ``prepare:chunks`` operation finished), and random-access frames, cold and
  warm, in both qualities.

Run ``python bench/frames.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import create_task
import httpx
import numpy as np
from _common import (
    MB,
    Server,
    Table,
    add_run_options,
    cpu_seconds,
    database_kind,
    fmt_bytes,
    fmt_seconds,
    load_average,
    machine_info,
    read_status_kib,
    redacted,
    server_for,
    setup_logging,
    write_json,
)
from _pyspy import Profile, Profiler, print_profile

log = logging.getLogger("bench.frames")

FRAME_COUNT = 500
FRAME_SEED = 20_261_123
UPLOAD_BATCH = 25
"""Files per Upload-Multiple request."""
DATA_PARAMS = {"image_quality": 70}
LABELS = [{"name": "car"}]
QUALITIES = ("compressed", "original")

WARM_REQUESTS = 200
COLD_FRAMES = 30
"""Cold single frames per quality (from the end of a fresh task)."""
COLD_CHUNKS = 2
"""Cold chunks per quality."""
CHUNK_ROUNDS = 3
"""Requests of every chunk of the task, per quality, once pre-generated."""

VIDEO_FRAMES = 3000
VIDEO_SIZE = (1920, 1080)
VIDEO_FPS = 25
VIDEO_GOP = 50
VIDEO_CRF = 23
VIDEO_NOISE = 12
"""Grain amplitude (luma levels): with CRF 23 it gives about 3 Mbit/s, like web video."""
VIDEO_COLD = 20
"""Cold random frames per quality."""
VIDEO_WARM = 200
"""Random frames per quality once the chunks are ready (each asked twice)."""
VIDEO_CHUNKS = 10
"""Random chunks per quality once the chunks are ready (each asked twice)."""

TARGET_WARM_FRAME_P50_S = 0.005
TARGET_CHUNK_P50_S = 0.100
TARGET_LOAD_FPS = 400.0
TARGET_LOAD_P99_S = 0.100
TARGET_LOAD_MAX_S = 1.0
TARGET_RSS_BYTES = 400 * MB

# Measured on this machine against a real CVAT 2.73 (plain HTTP, same client machine).
CVAT_VERSION = "2.73"
CVAT_WARM_FRAME_S = {"compressed": 0.088, "original": 0.138}
CVAT_COLD_CHUNK_S = 1.5
"""A cold compressed chunk of 36 1080p frames."""
CVAT_LOAD = {"frames_per_s": 18.9, "p99_s": 7.5, "max_s": 34.0}


# --- Numbers ----------------------------------------------------------------------------------


@dataclass
class Dist:
    """A latency distribution in seconds (linear-interpolated percentiles)."""

    n: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Dist | None:
        if not values:
            return None
        arr = np.asarray(values, dtype=np.float64)
        p50, p95, p99 = (float(v) for v in np.percentile(arr, [50, 95, 99]))
        return cls(len(arr), p50, p95, p99, float(arr.max()), float(arr.mean()))


@dataclass
class Sample:
    """One request: when it started (monotonic clock), how long it took, what came back."""

    start: float
    latency: float
    status: int
    """HTTP status; 0 when no response came (see ``error``)."""
    cache: str
    """The X-Cache-Status header ("file", "hit", "built", "joined"), "" if absent."""
    size: int
    error: str = ""


def _dist_dict(dist: Dist | None) -> dict[str, Any] | None:
    return None if dist is None else asdict(dist)


def _ms(values: Sequence[float]) -> list[float]:
    return [round(v * 1000, 3) for v in values]


# --- Inputs -----------------------------------------------------------------------------------


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


def _token(server: Server) -> str:
    reply = httpx.post(
        f"{server.url}/api/auth/login",
        json={"username": server.username, "password": server.password},
        timeout=60,
    )
    reply.raise_for_status()
    key: str = reply.json()["key"]
    return key


@contextmanager
def _http(server: Server, token: str) -> Iterator[httpx.Client]:
    """One keep-alive connection, signed in."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Token {token}"},
        timeout=600,
        limits=limits,
    ) as http:
        yield http


def _wait_for_workers(server: Server) -> None:
    """With ``--workers N`` the first answer may come before every worker is up."""
    if server.workers <= 1:
        return
    deadline = time.monotonic() + 60
    while len(server.pids()) < server.workers + 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for _ in range(10 * server.workers):
            http.get("/api/server/about").raise_for_status()
    time.sleep(1.0)


@dataclass
class Created:
    task_id: int
    upload_bytes: int
    transfer_s: float
    finish_s: float
    """The Upload-Finish request."""
    finished_at: float
    """time.monotonic() when the Upload-Finish answer was back."""


def upload_task(
    http: httpx.Client,
    files: list[Path],
    *,
    name: str,
    segment_size: int = 0,
) -> Created:
    """Creates a task and sends ``files`` (Upload-Start, Upload-Multiple, Upload-Finish)."""
    body: dict[str, Any] = {"name": name, "labels": LABELS}
    if segment_size:
        body["segment_size"] = segment_size
    reply = create_task._expect(http.post("/api/tasks", json=body), 201, "create task")
    task_id: int = reply.json()["id"]
    url = f"/api/tasks/{task_id}/data/"
    create_task._expect(http.post(url, headers={"Upload-Start": ""}), 202, "Upload-Start")
    started = time.perf_counter()
    _, sent = create_task._send_files(
        http, url, files, UPLOAD_BATCH, image_quality=DATA_PARAMS["image_quality"]
    )
    transfer_s = time.perf_counter() - started
    started = time.perf_counter()
    reply = http.post(url, headers={"Upload-Finish": ""}, json=DATA_PARAMS)
    finished_at = time.monotonic()
    finish_s = time.perf_counter() - started
    create_task._expect(reply, 202, "Upload-Finish")
    return Created(task_id, sent, transfer_s, finish_s, finished_at)


def list_jobs(http: httpx.Client, task_id: int) -> list[dict[str, Any]]:
    reply = create_task._expect(
        http.get("/api/jobs", params={"task_id": task_id, "page_size": 1000}), 200, "jobs"
    )
    jobs: list[dict[str, Any]] = reply.json()["results"]
    return sorted(jobs, key=lambda job: job["start_frame"])


def task_info(http: httpx.Client, task_id: int) -> dict[str, Any]:
    info: dict[str, Any] = create_task._expect(
        http.get(f"/api/tasks/{task_id}"), 200, "task"
    ).json()
    return info


def prepare_operation(http: httpx.Client, task_id: int) -> dict[str, Any] | None:
    """The task's ``prepare:chunks`` operation (the background pre-generation), if any."""
    reply = create_task._expect(
        http.get("/api/requests", params={"task_id": task_id, "page_size": 100}), 200, "requests"
    )
    for op in reply.json()["results"]:
        if op["operation"]["type"] == "prepare:chunks":
            found: dict[str, Any] = op
            return found
    return None


@dataclass
class PrepareTrace:
    """The pre-generation of a task, as seen by polling its operation."""

    status: str = "unknown"
    ready_s: float | None = None
    """From the Upload-Finish answer until the operation was seen finished."""
    server_s: float | None = None
    """The operation's own started_date → finished_date, if the server reported both."""
    progress: list[tuple[float, float, str]] = field(default_factory=list)
    """(seconds since Upload-Finish, progress, status) at each poll."""
    message: str = ""

    def observe(self, op: dict[str, Any] | None, since: float) -> bool:
        """Records one poll; True once the operation is over (finished or failed)."""
        now = time.monotonic() - since
        if op is None:
            self.progress.append((round(now, 3), 0.0, "missing"))
            return False
        self.status = op["status"]
        self.message = op.get("message") or ""
        self.progress.append((round(now, 3), float(op.get("progress") or 0.0), self.status))
        if self.status in ("finished", "failed"):
            if self.status == "finished":
                self.ready_s = now
            self.server_s = _duration(op.get("started_date"), op.get("finished_date"))
            return True
        return False


def _duration(start: str | None, end: str | None) -> float | None:
    from datetime import datetime

    if not start or not end:
        return None
    try:
        began = datetime.fromisoformat(start.replace("Z", "+00:00"))
        ended = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (ended - began).total_seconds()


def wait_prepared(
    http: httpx.Client,
    task_id: int,
    since: float,
    *,
    timeout: float,
    period: float = 0.25,
    trace: PrepareTrace | None = None,
    warn: bool = True,
) -> PrepareTrace:
    """Polls the task's pre-generation until it is over or ``timeout`` seconds passed."""
    trace = trace or PrepareTrace()
    if trace.status in ("finished", "failed"):
        return trace
    deadline = time.monotonic() + timeout
    while True:
        if trace.observe(prepare_operation(http, task_id), since):
            return trace
        if time.monotonic() > deadline:
            if warn:
                log.warning("task %d: pre-generation not over after %.0f s", task_id, timeout)
                trace.status = f"timeout ({trace.status})"
            return trace
        time.sleep(period)


def timed_get(http: httpx.Client, url: str, headers: dict[str, str] | None = None) -> Sample:
    """A GET, its whole body read; the latency is until the last byte was in."""
    began = time.monotonic()
    started = time.perf_counter()
    reply = http.get(url, headers=headers)
    latency = time.perf_counter() - started
    return Sample(
        began, latency, reply.status_code, reply.headers.get("x-cache-status", ""),
        len(reply.content),
    )  # fmt: skip


def frame_url(task_id: int, number: int, quality: str) -> str:
    return f"/api/tasks/{task_id}/data/?type=frame&number={number}&quality={quality}"


def chunk_url(task_id: int, number: int, quality: str) -> str:
    return f"/api/tasks/{task_id}/data/?type=chunk&number={number}&quality={quality}"


@dataclass
class Series:
    """Requests of one kind, e.g. warm compressed frames."""

    name: str
    samples: list[Sample] = field(default_factory=list)

    def ok(self) -> list[Sample]:
        return [s for s in self.samples if 200 <= s.status < 400]

    def dist(self, *, cache: Sequence[str] | None = None) -> Dist | None:
        chosen = [s for s in self.ok() if cache is None or s.cache in cache]
        return Dist.of([s.latency for s in chosen])

    def caches(self) -> dict[str, int]:
        return dict(Counter(s.cache or "-" for s in self.samples))

    def statuses(self) -> dict[str, int]:
        return dict(Counter(str(s.status) for s in self.samples))

    def errors(self) -> int:
        return sum(1 for s in self.samples if not 200 <= s.status < 400)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": len(self.samples),
            "latency_s": _dist_dict(self.dist()),
            "cache_status": self.caches(),
            "http_status": self.statuses(),
            "mean_bytes": (
                sum(s.size for s in self.samples) / len(self.samples) if self.samples else None
            ),
            "latencies_ms": _ms([s.latency for s in self.samples]),
            "cache_per_request": [s.cache for s in self.samples],
        }


def run_series(http: httpx.Client, name: str, urls: Sequence[str], **kw: Any) -> Series:
    series = Series(name)
    for url in urls:
        series.samples.append(timed_get(http, url, **kw))
    d = series.dist()
    log.info(
        "%s: %d requests, p50 %s, p95 %s, cache %s, status %s", name, len(series.samples),
        fmt_seconds(d.p50 if d else None), fmt_seconds(d.p95 if d else None),
        series.caches(), series.statuses(),
    )  # fmt: skip
    return series


# --- The load client (a process of its own) -------------------------------------------------


@dataclass
class LoadPlan:
    url: str
    token: str
    duration: float
    annotators: int
    timeout: float
    quality: str = "compressed"


def load_process(conn: Connection, plan: LoadPlan) -> None:
    """Entry point of the load process: says "ready", waits for the jobs, runs, reports."""
    try:
        conn.send(("ready", os.getpid()))
        kind, jobs = conn.recv()
        if kind != "go":
            return
        conn.send(("result", _run_load(plan, jobs)))
    except Exception as exc:  # reported to the parent, which raises
        import traceback

        conn.send(("error", f"{exc!r}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def _run_load(plan: LoadPlan, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    factory: Any = None
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        pass
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    go = time.monotonic()
    with asyncio.Runner(loop_factory=factory) as runner:
        lanes = runner.run(_annotate_all(plan, jobs, go))
    ended = time.monotonic()
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "go": go,
        "ended": ended,
        "event_loop": "uvloop" if factory else "asyncio",
        "client_cpu_user_s": usage_after.ru_utime - usage_before.ru_utime,
        "client_cpu_system_s": usage_after.ru_stime - usage_before.ru_stime,
        "lanes": lanes,
    }


async def _annotate_all(
    plan: LoadPlan, jobs: list[dict[str, Any]], go: float
) -> list[list[tuple[float, float, int, str, int, str]]]:
    stop_at = go + plan.duration
    lanes: list[list[tuple[float, float, int, str, int, str]]] = [
        [] for _ in range(plan.annotators)
    ]
    await asyncio.gather(
        *(_annotate(plan, jobs[i % len(jobs)], stop_at, lanes[i]) for i in range(plan.annotators))
    )
    return lanes


async def _annotate(
    plan: LoadPlan,
    job: dict[str, Any],
    stop_at: float,
    out: list[tuple[float, float, int, str, int, str]],
) -> None:
    """One annotator: the job's frames in order, looping, each right after the last."""
    urls = [
        f"/api/jobs/{job['id']}/data?type=frame&number={n}&quality={plan.quality}"
        for n in range(job["start_frame"], job["stop_frame"] + 1)
    ]
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(
        base_url=plan.url,
        headers={"Authorization": f"Token {plan.token}"},
        timeout=plan.timeout,
        limits=limits,
    ) as client:
        i = 0
        while time.monotonic() < stop_at:
            started = time.monotonic()
            status, cache, size, error = 0, "", 0, ""
            try:
                reply = await client.get(urls[i % len(urls)])
                status = reply.status_code
                cache = reply.headers.get("x-cache-status", "")
                size = len(reply.content)
            except httpx.TimeoutException:
                error = "timeout"
            except httpx.TransportError as exc:
                error = type(exc).__name__
            out.append((started, time.monotonic() - started, status, cache, size, error))
            i += 1


# --- The 16-annotator load ------------------------------------------------------------------


class TreeSampler:
    """Samples the summed VmRSS of the server's processes every ``period`` seconds."""

    def __init__(self, server: Server, period: float = 0.1) -> None:
        self.server = server
        self.period = period
        self.pids = server.pids()
        self.peak_bytes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-tree", daemon=True)

    def _read(self) -> int:
        # The tree is read again each time: codec worker processes start on first use.
        self.pids = self.server.pids()
        return sum((read_status_kib(pid, "VmRSS") or 0) * 1024 for pid in self.pids)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.peak_bytes = max(self.peak_bytes, self._read())
            self.samples += 1

    def __enter__(self) -> TreeSampler:
        self.peak_bytes = self._read()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._read())


def connections_by_process(server: Server) -> dict[int, int]:
    """How many established TCP connections to the server's port each of its processes
    holds (uvicorn's workers share the listening socket; a connection stays with the worker
    that accepted it)."""
    established: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as rows:
                next(rows)
                for row in rows:
                    cols = row.split()
                    port = int(cols[1].rsplit(":", 1)[1], 16)
                    if port == server.port and cols[3] == "01":  # 01: ESTABLISHED
                        established.add(cols[9])  # the socket's inode
        except (OSError, StopIteration, ValueError, IndexError):
            continue
    counts: dict[int, int] = {}
    for pid in server.pids():
        held = 0
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in established:
                held += 1
        counts[pid] = held
    return counts


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return float(total - idle), float(total)


@dataclass
class LoadResult:
    task_id: int
    annotators: int
    jobs: int
    duration_s: float
    wall_s: float
    start_delay_s: float
    """From the Upload-Finish answer until the load's first request."""
    requests: int
    ok: int
    frames_per_s: float
    latency: Dist | None
    errors: dict[str, int]
    cache_status: dict[str, int]
    mean_frame_bytes: float | None
    client_cpu_s: float
    """CPU time of the load process from its start signal to its last answer (wall_s)."""
    server_cpu_s: float
    """CPU time of the server's processes over cpu_window_s, the parent's view of the run."""
    cpu_window_s: float
    server_cores_by_process: dict[int, float]
    """Cores used by each server process over cpu_window_s (the supervisor first)."""
    connections_by_process: dict[int, int]
    """Established connections each server process held 5 s into the load."""
    machine_busy_cores: float
    """Busy cores of the whole machine (from /proc/stat) over cpu_window_s."""
    server_peak_rss_bytes: int
    phases: dict[str, Any]
    timeline: list[dict[str, Any]]
    per_annotator: list[dict[str, Any]]
    prepare: PrepareTrace
    profile: Profile | None
    event_loop: str


def _phase(samples: list[Sample], lo: float, hi: float) -> dict[str, Any] | None:
    chosen = [s for s in samples if lo <= s.start < hi]
    if not chosen or hi <= lo:
        return None
    ok = [s for s in chosen if 200 <= s.status < 400]
    return {
        "from_s": lo,
        "to_s": hi,
        "requests": len(chosen),
        "frames_per_s": len(ok) / (hi - lo),
        "latency_s": _dist_dict(Dist.of([s.latency for s in ok])),
        "errors": sum(1 for s in chosen if not 200 <= s.status < 400),
        "cache_status": dict(Counter(s.cache or "-" for s in chosen)),
    }


def run_load(
    server: Server,
    token: str,
    files: list[Path],
    *,
    annotators: int,
    duration: float,
    profile_s: float,
    profile_path: Path,
) -> LoadResult:
    """Creates the task, then runs the annotators from the moment Upload-Finish answers."""
    segment = math.ceil(FRAME_COUNT / annotators)
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    plan = LoadPlan(server.url, token, duration, annotators, timeout=max(30.0, duration))
    process = ctx.Process(target=load_process, args=(child, plan), name="load-client")
    process.start()
    child.close()
    try:
        if not parent.poll(60):
            raise RuntimeError("the load process did not start within 60 s")
        _, client_pid = parent.recv()
        with _http(server, token) as http:
            log.info("load: uploading %d images (segment_size %d) ...", len(files), segment)
            created = upload_task(http, files, name="annotators", segment_size=segment)
            jobs = [
                {"id": j["id"], "start_frame": j["start_frame"], "stop_frame": j["stop_frame"]}
                for j in list_jobs(http, created.task_id)
            ]
            cpu_before = server.tree_cpu_seconds()
            cpu_by_pid = {pid: cpu_seconds(pid) or 0.0 for pid in server.pids()}
            machine_before = _machine_cpu()
            window_start = time.monotonic()
            parent.send(("go", jobs))
            log.info(
                "load: task %d, %d jobs; %d annotators for %.0f s (client pid %d)",
                created.task_id, len(jobs), annotators, duration, client_pid,
            )  # fmt: skip
            trace = PrepareTrace()
            connections: dict[int, int] = {}
            count_at = time.monotonic() + min(5.0, duration / 2)
            profiler = Profiler(server, profile_path, profile_s) if profile_s > 0 else None
            profile_at = time.monotonic() + max(0.0, min(20.0, duration - profile_s))
            with TreeSampler(server) as sampler:
                message: Any = None
                deadline = time.monotonic() + duration + plan.timeout + 120
                while message is None:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the load process did not report in time")
                    if (
                        profiler is not None
                        and profiler.process is None
                        and (time.monotonic() >= profile_at)
                    ):
                        profiler.start()
                        if profiler.process is None:
                            log.warning("no profile: %s", profiler.error)
                            profiler = None
                    if not connections and time.monotonic() >= count_at:
                        connections = connections_by_process(server)
                    if trace.status not in ("finished", "failed"):
                        trace.observe(prepare_operation(http, created.task_id), created.finished_at)
                    if parent.poll(0.5):
                        message = parent.recv()
                        if message[0] == "error":
                            raise RuntimeError(f"the load process failed:\n{message[1]}")
            server_cpu = server.tree_cpu_seconds() - cpu_before
            machine_after = _machine_cpu()
            window = time.monotonic() - window_start
            process_cores = {
                pid: ((cpu_seconds(pid) or 0.0) - before) / window
                for pid, before in cpu_by_pid.items()
            }
            profile = profiler.finish() if profiler is not None else None
            log.info("load: done; waiting for the pre-generation to finish")
            wait_prepared(http, created.task_id, created.finished_at, timeout=900, trace=trace)
    finally:
        process.join(timeout=30)
        if process.is_alive():
            process.terminate()
            process.join()
    result: dict[str, Any] = message[1]
    go, ended = result["go"], result["ended"]
    lanes = result["lanes"]
    samples: list[Sample] = []
    per_annotator = []
    for i, lane in enumerate(lanes):
        lane_samples = [Sample(t - go, lat, st, ca, sz, er) for t, lat, st, ca, sz, er in lane]
        samples.extend(lane_samples)
        lat = Dist.of([s.latency for s in lane_samples if 200 <= s.status < 400])
        per_annotator.append(
            {"job_id": jobs[i % len(jobs)]["id"], "requests": len(lane_samples),
             "p50_s": lat.p50 if lat else None, "max_s": lat.max if lat else None}
        )  # fmt: skip
    wall = ended - go
    ok = [s for s in samples if 200 <= s.status < 400]
    errors = Counter((s.error or f"HTTP {s.status}") for s in samples if not 200 <= s.status < 400)
    timeline = []
    for second in range(math.ceil(wall)):
        part = [s for s in samples if second <= s.start < second + 1]
        good = [s.latency for s in part if 200 <= s.status < 400]
        d = Dist.of(good)
        timeline.append(
            {"t": second, "frames": len(good), "errors": len(part) - len(good),
             "p50_ms": round(d.p50 * 1000, 2) if d else None,
             "p99_ms": round(d.p99 * 1000, 2) if d else None,
             "max_ms": round(d.max * 1000, 2) if d else None,
             "built": sum(1 for s in part if s.cache == "built"),
             "joined": sum(1 for s in part if s.cache == "joined")}
        )  # fmt: skip
    # Split at the moment the pre-generation was seen finished (times since the load's start).
    phases: dict[str, Any] = {}
    if trace.ready_s is not None:
        split = max(0.0, trace.ready_s - (go - created.finished_at))
        phases["during_pregeneration"] = _phase(samples, 0.0, min(split, wall))
        phases["after_pregeneration"] = _phase(samples, min(split, wall), wall)
    busy = machine_after[0] - machine_before[0]
    total = machine_after[1] - machine_before[1]
    cores = os.cpu_count() or 1
    return LoadResult(
        task_id=created.task_id,
        annotators=annotators,
        jobs=len(jobs),
        duration_s=duration,
        wall_s=wall,
        start_delay_s=go - created.finished_at,
        requests=len(samples),
        ok=len(ok),
        frames_per_s=len(ok) / wall if wall > 0 else 0.0,
        latency=Dist.of([s.latency for s in ok]),
        errors=dict(errors),
        cache_status=dict(Counter(s.cache or "-" for s in samples)),
        mean_frame_bytes=sum(s.size for s in ok) / len(ok) if ok else None,
        client_cpu_s=result["client_cpu_user_s"] + result["client_cpu_system_s"],
        server_cpu_s=server_cpu,
        cpu_window_s=window,
        server_cores_by_process=process_cores,
        connections_by_process=connections,
        machine_busy_cores=cores * busy / total if total else 0.0,
        server_peak_rss_bytes=sampler.peak_bytes,
        phases=phases,
        timeline=timeline,
        per_annotator=per_annotator,
        prepare=trace,
        profile=profile,
        event_loop=result["event_loop"],
    )


# --- Single frames and chunks ---------------------------------------------------------------


def measure_warm(http: httpx.Client, task_id: int, size: int, chunk_size: int) -> dict[str, Series]:
    """Frames and chunks of a task whose pre-generation is over: everything is cached."""
    out: dict[str, Series] = {}
    numbers = [i % size for i in range(WARM_REQUESTS)]
    for quality in QUALITIES:
        urls = [frame_url(task_id, n, quality) for n in numbers]
        out[f"frame_{quality}_warm"] = run_series(http, f"warm {quality} frames", urls)
    # Revalidation: the ETag a browser kept, sent back (If-None-Match) → 304 without a body.
    first = http.get(frame_url(task_id, 0, "compressed"))
    etag = first.headers.get("etag", "")
    out["frame_compressed_304"] = run_series(
        http, "revalidated frames (304)",
        [frame_url(task_id, 0, "compressed")] * WARM_REQUESTS,
        headers={"If-None-Match": etag},
    )  # fmt: skip
    chunks = (size - 1) // chunk_size + 1
    for quality in QUALITIES:
        urls = [chunk_url(task_id, k, quality) for _ in range(CHUNK_ROUNDS) for k in range(chunks)]
        out[f"chunk_{quality}_warm"] = run_series(http, f"pre-generated {quality} chunks", urls)
    return out


def reverse_walk(jobs: Sequence[tuple[int, int]], skip: set[int]) -> list[int]:
    """Frame numbers in the reverse of the order annotators reach them: the last offset of
    every job (last job first), then the one before, and so on; ``skip`` left out.

    Pre-generation reaches these last whether it goes chunk by chunk through the task or
    frame by frame across the jobs (frame k of every job before frame k + 1).
    """
    longest = max((stop - start + 1 for start, stop in jobs), default=0)
    order: list[int] = []
    for offset in range(longest - 1, -1, -1):
        for start, stop in reversed(jobs):
            number = start + offset
            if number <= stop and number not in skip and number not in order:
                order.append(number)
    return order


def measure_cold(
    server: Server, token: str, files: list[Path], *, segment: int, chunk_size: int,
    timeout: float,
) -> tuple[dict[str, Series], Created, PrepareTrace]:  # fmt: skip
    """A fresh task (the same images again); right after its Upload-Finish, first requests.

    Right away: the task's last ``COLD_CHUNKS`` compressed chunks, then the ``COLD_CHUNKS``
    original chunks below them. Then single frames in the reverse of the annotators' walk
    (see ``reverse_walk``), leaving out the frames of the compressed chunks just built (a
    chunk build caches its frames): compressed, then original. A chunk build also reuses
    any of its frames that pre-generation built meanwhile; X-Cache-Status says whether
    each answer was built for the request ("built"), joined a build under way ("joined"),
    or was already there ("hit"; "file" for an original stored as uploaded).
    """
    out: dict[str, Series] = {}
    size = len(files)
    last = (size - 1) // chunk_size
    compressed_chunks = list(range(last, last - COLD_CHUNKS, -1))
    original_chunks = list(range(last - COLD_CHUNKS, last - 2 * COLD_CHUNKS, -1))
    with _http(server, token) as http:
        log.info("cold: uploading a second task of %d images ...", len(files))
        created = upload_task(http, files, name="cold", segment_size=segment)
        task_id = created.task_id
        out["chunk_compressed_cold"] = run_series(
            http, "cold compressed chunks",
            [chunk_url(task_id, k, "compressed") for k in compressed_chunks],
        )  # fmt: skip
        out["chunk_original_cold"] = run_series(
            http, "cold original chunks",
            [chunk_url(task_id, k, "original") for k in original_chunks],
        )  # fmt: skip
        jobs = [(j["start_frame"], j["stop_frame"]) for j in list_jobs(http, task_id)]
        built = set(range(min(compressed_chunks) * chunk_size, size))
        order = reverse_walk(jobs, built)
        compressed, original = order[:COLD_FRAMES], order[COLD_FRAMES : 2 * COLD_FRAMES]
        out["frame_compressed_cold"] = run_series(
            http, "cold compressed frames",
            [frame_url(task_id, n, "compressed") for n in compressed],
        )  # fmt: skip
        out["frame_original_cold"] = run_series(
            http, "cold original frames", [frame_url(task_id, n, "original") for n in original]
        )
        log.info("cold: waiting for the second task's pre-generation to finish")
        trace = wait_prepared(http, task_id, created.finished_at, timeout=timeout)
    return out, created, trace


# --- Video ------------------------------------------------------------------------------------


@dataclass
class VideoResult:
    video_bytes: int
    frames: int
    chunk_size: int
    finish_s: float
    transfer_s: float
    prepare: PrepareTrace
    series: dict[str, Series]
    profile: Profile | None
    prepare_peak_rss_bytes: int
    """The largest summed VmRSS sampled (every 0.5 s) while the first task pre-generated."""
    server_peak_rss_bytes: int
    """The summed VmHWM of the server's processes at the end of the video case."""
    server_cpu_s: float
    """Server CPU time from the first upload until its chunks were ready."""
    data_dir_bytes: int
    """The server's data dir once the first task's chunks were ready."""


def run_video(
    server: Server, token: str, video: Path, *, timeout: float, profile_s: float, profile_path: Path
) -> VideoResult:
    """Video task 1: Upload-Finish → all chunks ready; then random frames and chunks, each
    asked twice (the first request after pre-generation, then the same again, cached).
    Video task 2 (the same file): cold random frames right after its Upload-Finish, while
    its own pre-generation runs."""
    rng = random.Random(FRAME_SEED)
    series: dict[str, Series] = {}
    with _http(server, token) as http:
        log.info("video: uploading %s ...", fmt_bytes(video.stat().st_size))
        cpu_before = server.tree_cpu_seconds()
        created = upload_task(http, [video], name="video")
        info = task_info(http, created.task_id)
        frames, chunk_size = int(info["size"]), int(info["data_chunk_size"])
        log.info(
            "video: task %d, %d frames, chunk size %d, Upload-Finish %s; waiting until all "
            "chunks are ready (at most %.0f s)", created.task_id, frames, chunk_size,
            fmt_seconds(created.finish_s), timeout,
        )  # fmt: skip
        profiler = Profiler(server, profile_path, profile_s) if profile_s > 0 else None
        trace = PrepareTrace()
        if profiler is not None:
            trace = wait_prepared(
                http, created.task_id, created.finished_at, timeout=5.0, warn=False
            )
            if trace.status not in ("finished", "failed"):
                profiler.start()
        with TreeSampler(server, period=0.5) as sampler:
            trace = wait_prepared(
                http, created.task_id, created.finished_at, timeout=timeout, period=0.5,
                trace=trace,
            )  # fmt: skip
        profile = profiler.finish() if profiler is not None and profiler.process else None
        server_cpu = server.tree_cpu_seconds() - cpu_before
        data_dir_bytes = disk_usage(server.data_dir)
        log.info(
            "video: pre-generation %s after %s (server's own account %s)", trace.status,
            fmt_seconds(trace.ready_s), fmt_seconds(trace.server_s),
        )  # fmt: skip
        picked_frames = rng.sample(range(frames), min(frames, VIDEO_WARM))
        chunks = (frames - 1) // chunk_size + 1
        picked_chunks = rng.sample(range(chunks), min(chunks, VIDEO_CHUNKS))
        for kind, urls in (
            ("frame", lambda q: [frame_url(created.task_id, n, q) for n in picked_frames]),
            ("chunk", lambda q: [chunk_url(created.task_id, k, q) for k in picked_chunks]),
        ):
            for quality in QUALITIES:
                for when, title in (("first", "first request"), ("warm", "again")):
                    series[f"{kind}_{quality}_{when}"] = run_series(
                        http, f"video: random {quality} {kind}s, {title}", urls(quality)
                    )

        log.info("video: a second task of the same video, for cold random access")
        again = upload_task(http, [video], name="video cold")
        # Far from the start, where the pre-generation begins; no two in one chunk.
        lanes = rng.sample(range(chunks // 4, chunks), 2 * VIDEO_COLD)
        numbers = [k * chunk_size + rng.randrange(chunk_size) for k in lanes]
        numbers = [min(n, frames - 1) for n in numbers]
        series["frame_compressed_cold"] = run_series(
            http, "video: cold random compressed frames",
            [frame_url(again.task_id, n, "compressed") for n in numbers[:VIDEO_COLD]],
        )  # fmt: skip
        series["frame_original_cold"] = run_series(
            http, "video: cold random original frames",
            [frame_url(again.task_id, n, "original") for n in numbers[VIDEO_COLD:]],
        )  # fmt: skip
    return VideoResult(
        video_bytes=video.stat().st_size,
        frames=frames,
        chunk_size=chunk_size,
        finish_s=created.finish_s,
        transfer_s=created.transfer_s,
        prepare=trace,
        series=series,
        profile=profile,
        prepare_peak_rss_bytes=sampler.peak_bytes,
        server_peak_rss_bytes=max(sampler.peak_bytes, server.tree_peak_rss_bytes()),
        server_cpu_s=server_cpu,
        data_dir_bytes=data_dir_bytes,
    )


# --- Report -----------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _faster(reference: float, value: float | None) -> str:
    if value is None or value <= 0:
        return "-"
    ratio = reference / value
    return f"{ratio:,.0f}× faster" if ratio >= 1 else f"{1 / ratio:.1f}× slower"


def _cells(d: Dist | None) -> list[str]:
    if d is None:
        return ["0", "-", "-", "-", "-"]
    return [str(d.n), fmt_seconds(d.p50), fmt_seconds(d.p95), fmt_seconds(d.p99),
            fmt_seconds(d.max)]  # fmt: skip


def _cache_note(series: Series, fresh: Sequence[str]) -> str:
    counts = series.caches()
    built = sum(counts.get(c, 0) for c in fresh)
    return f"{built}/{len(series.samples)} built for the request"


@dataclass
class Report:
    table: Table
    passed: bool = True
    checks: dict[str, bool] = field(default_factory=dict)

    def row(self, *cells: str) -> None:
        self.table.add(*cells)

    def judge(self, key: str, ok: bool) -> str:
        self.checks[key] = ok
        self.passed &= ok
        return _verdict(ok)


def build_report(
    images: dict[str, Any] | None, video: VideoResult | None, annotators: int, duration: float
) -> Report:
    report = Report(
        Table(
            "frames: frame and chunk delivery over HTTP",
            [
                "case",
                "metric",
                "n",
                "p50 / value",
                "p95",
                "p99",
                "max",
                "target",
                "result",
                f"CVAT {CVAT_VERSION}",
                "vs CVAT",
            ],
            right={2, 3, 4, 5, 6, 9, 10},
        )
    )
    if images is not None:
        series: dict[str, Series] = images["series"]
        case = f"{FRAME_COUNT} × 1080p JPEG"
        for quality in QUALITIES:
            d = series[f"frame_{quality}_warm"].dist()
            ok = d is not None and d.p50 <= TARGET_WARM_FRAME_P50_S
            report.row(
                case, f"frame, {quality}, warm", *_cells(d),
                f"p50 ≤ {fmt_seconds(TARGET_WARM_FRAME_P50_S)}",
                report.judge(f"warm_frame_{quality}", ok),
                fmt_seconds(CVAT_WARM_FRAME_S[quality]),
                _faster(CVAT_WARM_FRAME_S[quality], d.p50 if d else None),
            )  # fmt: skip
            case = ""
        report.row(
            "", "frame, compressed, If-None-Match → 304",
            *_cells(series["frame_compressed_304"].dist()), "", "", "", "",
        )  # fmt: skip
        cold_c = series["frame_compressed_cold"]
        built = cold_c.dist(cache=("built",))
        report.row(
            "", f"frame, compressed, cold ({_cache_note(cold_c, ('built',))})",
            *_cells(built), "", "", "", "",
        )  # fmt: skip
        cold_o = series["frame_original_cold"]
        report.row(
            "", f"frame, original, first request ({cold_o.caches()})",
            *_cells(cold_o.dist()), "", "", "", "",
        )  # fmt: skip
        for quality in QUALITIES:
            d = series[f"chunk_{quality}_warm"].dist()
            ok = d is not None and d.p50 <= TARGET_CHUNK_P50_S
            report.row(
                "", f"chunk, {quality}, pre-generated", *_cells(d),
                f"p50 ≤ {fmt_seconds(TARGET_CHUNK_P50_S)}",
                report.judge(f"pregenerated_chunk_{quality}", ok), "", "",
            )  # fmt: skip
        for quality in QUALITIES:
            cold = series[f"chunk_{quality}_cold"]
            d = cold.dist(cache=("built",))
            ref = CVAT_COLD_CHUNK_S if quality == "compressed" else None
            report.row(
                "", f"chunk, {quality}, cold ({_cache_note(cold, ('built',))})", *_cells(d),
                "", "", fmt_seconds(ref), _faster(ref, d.p50 if d else None) if ref else "",
            )  # fmt: skip
        load: LoadResult = images["load"]
        lat = load.latency
        case = f"{annotators} annotators × {duration:.0f} s"
        fps_ok = load.frames_per_s >= TARGET_LOAD_FPS
        report.row(
            case, "frames/s (from Upload-Finish)", str(load.ok), f"{load.frames_per_s:,.1f}",
            "", "", "", f"≥ {TARGET_LOAD_FPS:.0f}", report.judge("load_fps", fps_ok),
            f"{CVAT_LOAD['frames_per_s']}",
            f"{load.frames_per_s / CVAT_LOAD['frames_per_s']:,.0f}× more",
        )  # fmt: skip
        p99_ok = lat is not None and lat.p99 <= TARGET_LOAD_P99_S
        max_ok = lat is not None and lat.max <= TARGET_LOAD_MAX_S
        report.row(
            "", "frame latency", *_cells(lat),
            f"p99 ≤ {fmt_seconds(TARGET_LOAD_P99_S)}", report.judge("load_p99", p99_ok),
            fmt_seconds(CVAT_LOAD["p99_s"]) + " (p99)",
            _faster(CVAT_LOAD["p99_s"], lat.p99 if lat else None),
        )  # fmt: skip
        report.row(
            "", "worst frame", "", fmt_seconds(lat.max if lat else None), "", "", "",
            f"≤ {fmt_seconds(TARGET_LOAD_MAX_S)}", report.judge("load_max", max_ok),
            fmt_seconds(CVAT_LOAD["max_s"]), _faster(CVAT_LOAD["max_s"], lat.max if lat else None),
        )  # fmt: skip
        errors = sum(load.errors.values())
        report.row(
            "", "errors " + (str(load.errors) if load.errors else ""), str(load.requests),
            str(errors), "", "", "", "0", report.judge("load_errors", errors == 0), "", "",
        )  # fmt: skip
        for key, title in (
            ("during_pregeneration", "while pre-generating"),
            ("after_pregeneration", "after pre-generation"),
        ):
            phase = load.phases.get(key)
            if not phase:
                continue
            d = Dist(**phase["latency_s"]) if phase["latency_s"] else None
            report.row(
                "", f"  {title} ({phase['from_s']:.0f}–{phase['to_s']:.0f} s), "
                f"{phase['frames_per_s']:,.0f} frames/s", *_cells(d), "", "", "", "",
            )  # fmt: skip
        report.row(
            "", f"  cache status {load.cache_status}", "", "", "", "", "", "", "", "", "",
        )  # fmt: skip
        server_cores = load.server_cpu_s / load.cpu_window_s
        client_cores = load.client_cpu_s / load.wall_s
        others = max(0.0, load.machine_busy_cores - server_cores - client_cores)
        report.row(
            "", f"  CPU cores: server / load client / rest of the machine (of {os.cpu_count()})",
            "", f"{server_cores:.2f} / {client_cores:.2f} / {others:.2f}",
            "", "", "", "", "", "", "",
        )  # fmt: skip
        if len(load.server_cores_by_process) > 1:
            per = [
                f"{load.server_cores_by_process[pid]:.2f}"
                f" ({load.connections_by_process.get(pid, 0)} conn.)"
                for pid in load.server_cores_by_process
            ]
            report.row(
                "", "  cores (connections) by server process, supervisor first", "",
                " / ".join(per), "", "", "", "", "", "", "",
            )  # fmt: skip
        report.row(
            "", "  first request after Upload-Finish", "", fmt_seconds(load.start_delay_s),
            "", "", "", "", "", "", "",
        )  # fmt: skip
        for title, trace in (
            ("all chunks ready, under the load", load.prepare),
            ("all chunks ready, second task", images["cold_prepare"]),
        ):
            report.row(
                "", f"Upload-Finish → {title}", "", fmt_seconds(trace.ready_s), "", "", "",
                "", trace.status if trace.status != "finished" else "", "", "",
            )  # fmt: skip
        report.row(
            "", "data dir on disk (2 tasks, all chunks ready)", "",
            fmt_bytes(images["data_dir_bytes"]), "", "", "", "", "", "", "",
        )  # fmt: skip
        rss = images["peak_rss_bytes"]
        report.row(
            "", "server peak RSS", "", fmt_bytes(rss), "", "", "",
            f"≤ {fmt_bytes(TARGET_RSS_BYTES)}", report.judge("rss_images", rss <= TARGET_RSS_BYTES),
            "", "",
        )  # fmt: skip
    if video is not None:
        case = f"{video.frames:,}-frame 1080p H.264"
        trace = video.prepare
        report.row(
            case, "Upload-Finish (indexing)", "", fmt_seconds(video.finish_s), "", "", "",
            "", "", "", "",
        )  # fmt: skip
        report.row(
            "", f"Upload-Finish → all {math.ceil(video.frames / video.chunk_size)} chunks ready",
            "", fmt_seconds(trace.ready_s), "", "", "", "",
            trace.status if trace.status != "finished" else "", "", "",
        )  # fmt: skip
        for quality in QUALITIES:
            cold = video.series[f"frame_{quality}_cold"]
            report.row(
                "", f"random frame, {quality}, cold ({_cache_note(cold, ('built', 'joined'))})",
                *_cells(cold.dist()), "", "", "", "",
            )  # fmt: skip
        for kind in ("frame", "chunk"):
            for quality in QUALITIES:
                for when, title in (("first", "first request once ready"), ("warm", "again")):
                    got = video.series[f"{kind}_{quality}_{when}"]
                    size = sum(x.size for x in got.samples) / max(1, len(got.samples))
                    report.row(
                        "", f"random {kind}, {quality}, {title} ({fmt_bytes(size)}, "
                        f"{got.caches()})", *_cells(got.dist()), "", "", "", "",
                    )  # fmt: skip
        report.row(
            "", "data dir on disk once ready", "", fmt_bytes(video.data_dir_bytes), "", "", "",
            "", "", "", "",
        )  # fmt: skip
        report.row(
            "", "server peak RSS during pre-generation", "",
            fmt_bytes(video.prepare_peak_rss_bytes), "", "", "", "", "", "", "",
        )  # fmt: skip
        rss = video.server_peak_rss_bytes
        report.row(
            "", "server peak RSS (whole video case)", "", fmt_bytes(rss), "", "", "",
            f"≤ {fmt_bytes(TARGET_RSS_BYTES)}", report.judge("rss_video", rss <= TARGET_RSS_BYTES),
            "", "",
        )  # fmt: skip
    return report


# --- Main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time frame and chunk delivery on a labelbay server this script starts.",
    )
    parser.add_argument(
        "--duration", type=float, default=60.0,
        help="seconds the annotators browse (default 60)",
    )  # fmt: skip
    parser.add_argument(
        "--annotators", type=int, default=16,
        help="concurrent annotators, each with a job of its own (default 16)",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes (labelbay serve --workers)"
    )
    parser.add_argument("--skip-video", action="store_true", help="only the image task")
    parser.add_argument("--skip-images", action="store_true", help="only the video task")
    parser.add_argument(
        "--profile", type=float, default=10.0, metavar="SECONDS",
        help="py-spy the server this long under the load and during the video's "
        "pre-generation (default 10; 0: no profile)",
    )  # fmt: skip
    parser.add_argument(
        "--video-timeout", type=float, default=1800.0, metavar="SECONDS",
        help="longest wait for the video's chunks to be ready (default 1800)",
    )  # fmt: skip
    add_run_options(parser, "frames.json", cache="generated images and the video")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.annotators < 1 or args.workers < 1:
        parser.error("--duration, --annotators and --workers must be positive")
    if args.profile < 0 or args.video_timeout <= 0:
        parser.error("--profile must be 0 or more and --video-timeout positive")
    if args.skip_images and args.skip_video:
        parser.error("nothing to run")
    return args


def run_images(args: argparse.Namespace, files: list[Path], stem: str) -> dict[str, Any]:
    with server_for(args, "frames", workers=args.workers) as server:  # fmt: skip
        _wait_for_workers(server)
        token = _token(server)
        load = run_load(
            server, token, files, annotators=args.annotators, duration=args.duration,
            profile_s=args.profile, profile_path=args.json.with_name(f"{stem}-load.profile.txt"),
        )  # fmt: skip
        lat = load.latency
        log.info(
            "load: %.1f frames/s, p50 %s, p99 %s, max %s, errors %s, client CPU %.0f%% of a "
            "core, server %.2f cores",
            load.frames_per_s, fmt_seconds(lat.p50 if lat else None),
            fmt_seconds(lat.p99 if lat else None), fmt_seconds(lat.max if lat else None),
            load.errors or 0, 100 * load.client_cpu_s / load.wall_s,
            load.server_cpu_s / load.cpu_window_s,
        )  # fmt: skip
        with _http(server, token) as http:
            info = task_info(http, load.task_id)
            series = measure_warm(
                http, load.task_id, int(info["size"]), int(info["data_chunk_size"])
            )
        cold, _, cold_trace = measure_cold(
            server, token, files, segment=math.ceil(FRAME_COUNT / args.annotators),
            chunk_size=int(info["data_chunk_size"]), timeout=900,
        )  # fmt: skip
        series.update(cold)
        peak = server.tree_peak_rss_bytes()
        data_dir_bytes = disk_usage(server.data_dir)
    return {
        "data_dir_bytes": data_dir_bytes,
        "series": series,
        "load": load,
        "cold_prepare": cold_trace,
        "peak_rss_bytes": max(peak, load.server_peak_rss_bytes),
    }


def run_video_case(args: argparse.Namespace, video: Path, stem: str) -> VideoResult:
    with server_for(args, "video", workers=args.workers) as server:  # fmt: skip
        _wait_for_workers(server)
        token = _token(server)
        return run_video(
            server, token, video, timeout=args.video_timeout, profile_s=args.profile,
            profile_path=args.json.with_name(f"{stem}-video.profile.txt"),
        )  # fmt: skip


def _load_dict(load: LoadResult) -> dict[str, Any]:
    out = asdict(load)
    out["latency_s"] = out.pop("latency")
    out["target"] = {
        "frames_per_s": TARGET_LOAD_FPS, "p99_s": TARGET_LOAD_P99_S,
        "max_s": TARGET_LOAD_MAX_S, "errors": 0,
    }  # fmt: skip
    out["cvat_reference"] = CVAT_LOAD
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    began = time.perf_counter()
    machine = machine_info()
    if machine["load_average"] and machine["load_average"][0] > 0.5:
        log.warning("the machine is busy (load %s): results will be noisy", machine["load_average"])
    stem = args.json.with_suffix("").name
    images: dict[str, Any] | None = None
    video: VideoResult | None = None
    if not args.skip_images:
        files = ensure_frames(args.cache_dir)
        size = sum(p.stat().st_size for p in files)
        log.info("images: %d files, %s (mean %s)", len(files), fmt_bytes(size),
                 fmt_bytes(size / len(files)))  # fmt: skip
        images = run_images(args, files, stem)
    if not args.skip_video:
        clip = ensure_video(args.cache_dir)
        video = run_video_case(args, clip, stem)

    report = build_report(images, video, args.annotators, args.duration)
    print()
    report.table.show()
    print()
    print(
        f"database: {database_kind(args.database_url)}; server processes: {args.workers}; "
        f"all targets met: {report.passed}"
    )
    if images is not None:
        print_profile("server under the load", images["load"].profile)
    if video is not None:
        print_profile("server pre-generating the video", video.profile)

    payload: dict[str, Any] = {
        "benchmark": "frames",
        "machine": machine,
        "load_average_at_end": load_average(),
        "config": {
            "database": database_kind(args.database_url),
            "database_url": redacted(args.database_url),
            "workers": args.workers,
            "annotators": args.annotators,
            "duration_s": args.duration,
            "frames": FRAME_COUNT,
            "frame_size": list(create_task.PHOTO_SIZE),
            "data_params": DATA_PARAMS,
            "warm_requests": WARM_REQUESTS,
            "cold_frames": COLD_FRAMES,
            "cold_chunks": COLD_CHUNKS,
            "chunk_rounds": CHUNK_ROUNDS,
            "video": {
                "frames": VIDEO_FRAMES,
                "size": list(VIDEO_SIZE),
                "fps": VIDEO_FPS,
                "gop": VIDEO_GOP,
                "crf": VIDEO_CRF,
                "cold": VIDEO_COLD,
                "warm": VIDEO_WARM,
            },
            "profile_s": args.profile,
            "data_root": str(args.data_root or tempfile.gettempdir()),
        },
        "targets": {
            "warm_frame_p50_s": TARGET_WARM_FRAME_P50_S,
            "pregenerated_chunk_p50_s": TARGET_CHUNK_P50_S,
            "load_frames_per_s": TARGET_LOAD_FPS,
            "load_p99_s": TARGET_LOAD_P99_S,
            "load_max_s": TARGET_LOAD_MAX_S,
            "server_rss_bytes": TARGET_RSS_BYTES,
        },
        "cvat_reference": {
            "version": CVAT_VERSION,
            "warm_frame_p50_s": CVAT_WARM_FRAME_S,
            "cold_compressed_chunk_s": CVAT_COLD_CHUNK_S,
            "load": CVAT_LOAD,
        },
        "checks": report.checks,
        "all_targets_met": report.passed,
        "wall_s": time.perf_counter() - began,
    }
    if images is not None:
        payload["images"] = {
            "series": {k: v.as_dict() for k, v in images["series"].items()},
            "load": _load_dict(images["load"]),
            "cold_prepare": asdict(images["cold_prepare"]),
            "data_dir_bytes": images["data_dir_bytes"],
            "server_peak_rss_bytes": images["peak_rss_bytes"],
        }
    if video is not None:
        payload["video"] = {
            **{k: v for k, v in asdict(video).items() if k != "series"},
            "series": {k: v.as_dict() for k, v in video.series.items()},
        }
    write_json(args.json, payload)
    return 1 if args.check and not report.passed else 0


if __name__ == "__main__":
    sys.exit(main())
