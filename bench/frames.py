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
import logging
import math
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import create_task
import httpx
from _common import (
    Server,
    add_run_options,
    database_kind,
    fmt_bytes,
    fmt_seconds,
    load_average,
    machine_info,
    redacted,
    server_for,
    setup_logging,
    write_json,
)
from _frames_base import (
    CHUNK_ROUNDS,
    COLD_CHUNKS,
    COLD_FRAMES,
    CVAT_COLD_CHUNK_S,
    CVAT_LOAD,
    CVAT_VERSION,
    CVAT_WARM_FRAME_S,
    DATA_PARAMS,
    FRAME_COUNT,
    FRAME_SEED,
    QUALITIES,
    TARGET_CHUNK_P50_S,
    TARGET_LOAD_FPS,
    TARGET_LOAD_MAX_S,
    TARGET_LOAD_P99_S,
    TARGET_RSS_BYTES,
    TARGET_WARM_FRAME_P50_S,
    VIDEO_CHUNKS,
    VIDEO_COLD,
    VIDEO_CRF,
    VIDEO_FPS,
    VIDEO_FRAMES,
    VIDEO_GOP,
    VIDEO_SIZE,
    VIDEO_WARM,
    WARM_REQUESTS,
    Created,
    PrepareTrace,
    Series,
    VideoResult,
    _http,
    _token,
    _wait_for_workers,
    chunk_url,
    frame_url,
    list_jobs,
    run_series,
    task_info,
    upload_task,
    wait_prepared,
)
from _frames_inputs import disk_usage, ensure_frames, ensure_video
from _frames_load import LoadResult, TreeSampler, run_load
from _frames_report import build_report
from _pyspy import Profiler, print_profile

log = logging.getLogger("bench.frames")


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
