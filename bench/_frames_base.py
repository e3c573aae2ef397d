"""Shared pieces of bench/frames.py: constants, samples and the HTTP steps."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import create_task
import httpx
import numpy as np
from _common import (
    MB,
    Server,
    fmt_seconds,
)
from _pyspy import Profile

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
