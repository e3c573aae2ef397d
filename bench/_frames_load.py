"""The 16-annotator load of bench/frames.py: a client process, samplers, the result."""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import resource
import threading
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from _common import (
    Server,
    cpu_seconds,
    read_status_kib,
)
from _frames_base import (
    FRAME_COUNT,
    Dist,
    PrepareTrace,
    Sample,
    _dist_dict,
    _http,
    list_jobs,
    prepare_operation,
    upload_task,
    wait_prepared,
)
from _pyspy import Profile, Profiler

log = logging.getLogger("bench.frames")


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
