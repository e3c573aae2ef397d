"""Benchmark: creating a task from uploaded images, from the end of the upload to listed jobs.

Cases (each against a ``labelbay serve`` this script starts itself):

* 100 generated 1920×1080 JPEGs, as 100 files and as one zip, through the real cvat-sdk
  (``create_from_data`` then ``task.get_jobs()``): the time from the moment the client got
  the answer to its last data-carrying request (the Upload-Multiple POST, or a TUS PATCH)
  until ``get_jobs()`` returns a non-empty list. Target: 50 ms.
* 100,000 small images, as files (Upload-Multiple batches) and as one zip (TUS), with plain
  httpx: the duration of the Upload-Finish request (the ingest, transfer excluded) and the
  peak RSS of the server process. Targets: 30 s and 1 GB.

Run ``python bench/create_task.py --help`` for the options; see bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import io
import logging
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
from _common import (
    RssSampler,
    Server,
    Stats,
    Table,
    add_run_options,
    database_kind,
    fmt_bytes,
    fmt_seconds,
    load_average,
    machine_info,
    probe_file_creation,
    redacted,
    server_for,
    setup_logging,
    write_json,
)
from PIL import Image

log = logging.getLogger("bench.create_task")

PHOTO_COUNT = 100
PHOTO_SIZE = (1920, 1080)
PHOTO_QUALITY = 90
SMALL_SIZE = (64, 48)
SMALL_QUALITY = 85
LABELS = [{"name": "car"}]
DATA_PARAMS = {"image_quality": 70}

TARGET_JOBS_LISTED_S = 0.050
TARGET_INGEST_S = 30.0
TARGET_PEAK_RSS_BYTES = 1_000_000_000
# Measured on this machine against a real CVAT 2.73 with the real cvat-sdk: seconds from the
# end of the upload until task.get_jobs() is non-empty, 100 1080p images.
CVAT_VERSION = "2.73"
CVAT_REFERENCE_S = {"files": 2.6, "zip": 2.2}


# --- Inputs -----------------------------------------------------------------------------------


def _photo(index: int, rng: np.random.Generator) -> bytes:
    """A 1080p JPEG that compresses like a photo: smooth gradients, blotches and sensor-like
    grain. Sizes vary between about 300 and 800 KB with the index."""
    width, height = PHOTO_SIZE
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    phase = rng.uniform(0.0, 1.0, 3).astype(np.float32)
    waves = 0.5 + 0.25 * np.sin(2 * np.pi * (x * (1 + index % 3) + y * (2 - index % 2) + phase))
    coarse = (8, 16, 30)[index % 3]
    cells = rng.integers(0, 256, (height // coarse, width // coarse, 3), dtype=np.uint8)
    blotches = np.asarray(
        Image.fromarray(cells).resize((width, height), Image.Resampling.BILINEAR),
        dtype=np.float32,
    )
    grain = rng.normal(0.0, 2.0 + index % 5, (height, width, 1)).astype(np.float32)
    pixels = np.clip(127.5 * waves + 0.5 * blotches + grain, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=PHOTO_QUALITY)
    return out.getvalue()


def ensure_photos(cache_dir: Path) -> tuple[list[Path], Path]:
    """The 100 1080p JPEGs and a zip of them, generated once and kept in ``cache_dir``."""
    folder = cache_dir / f"photos-{PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}-{PHOTO_COUNT}"
    archive = folder / "zip" / "photos.zip"
    images = folder / "images"
    marker = folder / ".complete"
    if not marker.exists():
        log.info("generating %d %dx%d JPEGs in %s", PHOTO_COUNT, *PHOTO_SIZE, folder)
        shutil.rmtree(folder, ignore_errors=True)
        images.mkdir(parents=True)
        archive.parent.mkdir()
        rng = np.random.default_rng(20_260_101)
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
            for index in range(PHOTO_COUNT):
                name = f"street_{index:03d}.jpg"
                data = _photo(index, rng)
                (images / name).write_bytes(data)
                zf.writestr(name, data)
        marker.touch()
    return sorted(images.glob("*.jpg")), archive


def _small_images(count: int, seed: int = 7) -> Iterator[tuple[str, bytes]]:
    """``count`` distinct 64×48 JPEGs: blurred random colour cells, the first cell holding the
    index in its three channels so that no two images are equal."""
    width, height = SMALL_SIZE
    rng = np.random.default_rng(seed)
    batch = 1000
    for first in range(0, count, batch):
        n = min(batch, count - first)
        cells = rng.integers(0, 256, (n, 6, 8, 3), dtype=np.uint8)
        index = np.arange(first, first + n, dtype=np.uint32)
        cells[:, 0, 0, 0] = index & 0xFF
        cells[:, 0, 0, 1] = (index >> 8) & 0xFF
        cells[:, 0, 0, 2] = (index >> 16) & 0xFF
        for j in range(n):
            img = Image.fromarray(cells[j]).resize((width, height), Image.Resampling.BILINEAR)
            out = io.BytesIO()
            img.save(out, "JPEG", quality=SMALL_QUALITY)
            yield f"s{first + j:06d}.jpg", out.getvalue()


def ensure_small(cache_dir: Path, count: int) -> tuple[list[Path], Path]:
    """``count`` small JPEGs as files and as one zip, generated once and kept in ``cache_dir``."""
    folder = cache_dir / f"small-{SMALL_SIZE[0]}x{SMALL_SIZE[1]}-{count}"
    images = folder / "images"
    archive = folder / "zip" / "small.zip"
    marker = folder / ".complete"
    if not marker.exists():
        log.info("generating %d %dx%d JPEGs in %s", count, *SMALL_SIZE, folder)
        started = time.perf_counter()
        shutil.rmtree(folder, ignore_errors=True)
        images.mkdir(parents=True)
        archive.parent.mkdir()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
            for name, data in _small_images(count):
                (images / name).write_bytes(data)
                zf.writestr(name, data)
        marker.touch()
        log.info("generated in %.1f s", time.perf_counter() - started)
    files = sorted(images.iterdir())
    if len(files) != count:
        raise SystemExit(f"{images}: expected {count} files, found {len(files)}; delete it")
    return files, archive


# --- The 1080p cases through cvat-sdk ---------------------------------------------------------


class TransferClock:
    """Timestamps the SDK's HTTP exchanges by wrapping its urllib3 pool manager's ``request``.

    A data transfer is a POST carrying ``Upload-Multiple`` or a TUS ``PATCH``; the finishing
    request carries ``Upload-Finish``. Times are ``time.perf_counter()`` values taken when the
    response (body included: the SDK preloads it) was back in the client.
    """

    def __init__(self) -> None:
        self.transfers = 0
        self.last_transfer_end: float | None = None
        self.finish_start: float | None = None
        self.finish_end: float | None = None
        self.trace: list[tuple[str, str, int, float, float]] = []
        """(method, path, status, start, end) of every request since the last reset."""

    def reset(self) -> None:
        self.transfers = 0
        self.last_transfer_end = self.finish_start = self.finish_end = None
        self.trace = []

    def trace_since(self, origin: float) -> list[dict[str, Any]]:
        """The requests as JSON-friendly dicts, times in ms from ``origin``."""
        return [
            {"method": method, "path": path, "status": status,
             "start_ms": round((start - origin) * 1000, 2),
             "duration_ms": round((end - start) * 1000, 2)}
            for method, path, status, start, end in self.trace
        ]  # fmt: skip

    def install(self, client: Any) -> None:
        pool = client.api_client.rest_client.pool_manager
        original: Callable[..., Any] = pool.request

        def timed(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            headers = {k.lower() for k in (kwargs.get("headers") or {})}
            started = time.perf_counter()
            response = original(method, url, *args, **kwargs)
            ended = time.perf_counter()
            verb = method.upper()
            path = urlsplit(url).path
            self.trace.append((verb, path, getattr(response, "status", 0), started, ended))
            if (verb == "POST" and "upload-multiple" in headers) or verb == "PATCH":
                self.transfers += 1
                self.last_transfer_end = ended
            elif verb == "POST" and "upload-finish" in headers:
                self.finish_start, self.finish_end = started, ended
            return response

        pool.request = timed


@dataclass
class SdkRun:
    task_id: int
    frames: int
    jobs: int
    transfer_requests: int
    total_s: float
    """From calling create_from_data (task creation included) until jobs are listed."""
    upload_end_to_jobs_s: float
    """From the answer to the last data transfer until get_jobs() returned jobs."""
    finish_request_s: float
    """The Upload-Finish request alone, as the client saw it."""
    finish_to_jobs_s: float
    """From the answer to Upload-Finish until jobs are listed (status poll, fetch, jobs)."""
    get_jobs_calls: int
    requests: list[dict[str, Any]]
    """Every request the SDK made in this run: method, path, status, start and duration."""


def run_sdk_case(
    server: Server, resources: list[Path], *, name: str, repeat: int, period: float
) -> list[SdkRun]:
    from cvat_sdk import make_client
    from cvat_sdk.core.proxies.tasks import ResourceType

    runs: list[SdkRun] = []
    with make_client(
        "http://127.0.0.1", port=server.port, credentials=(server.username, server.password)
    ) as client:
        clock = TransferClock()
        clock.install(client)
        for attempt in range(1, repeat + 1):
            clock.reset()
            started = time.perf_counter()
            task = client.tasks.create_from_data(
                spec={"name": f"{name} #{attempt}", "labels": LABELS},
                resource_type=ResourceType.LOCAL,
                resources=resources,
                data_params=DATA_PARAMS,
                status_check_period=period,
            )
            jobs = task.get_jobs()
            calls = 1
            deadline = time.perf_counter() + 600
            while not jobs:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"task {task.id}: no jobs 600 s after the upload")
                time.sleep(0.005)
                jobs = task.get_jobs()
                calls += 1
            listed = time.perf_counter()
            if clock.last_transfer_end is None or clock.finish_end is None:
                raise RuntimeError("the SDK's upload requests were not seen; did it change?")
            assert clock.finish_start is not None
            run = SdkRun(
                task_id=task.id,
                frames=task.size,
                jobs=len(jobs),
                transfer_requests=clock.transfers,
                total_s=listed - started,
                upload_end_to_jobs_s=listed - clock.last_transfer_end,
                finish_request_s=clock.finish_end - clock.finish_start,
                finish_to_jobs_s=listed - clock.finish_end,
                get_jobs_calls=calls,
                requests=clock.trace_since(started),
            )
            if run.frames != PHOTO_COUNT:
                raise RuntimeError(f"task {task.id} has {run.frames} frames, not {PHOTO_COUNT}")
            log.info(
                "%s run %d/%d: upload end → jobs %s (Upload-Finish %s), total %s",
                name, attempt, repeat, fmt_seconds(run.upload_end_to_jobs_s),
                fmt_seconds(run.finish_request_s), fmt_seconds(run.total_s),
            )  # fmt: skip
            runs.append(run)
    return runs


# --- The 100,000-image cases over plain HTTP -------------------------------------------------


@dataclass
class IngestRun:
    variant: str
    images: int
    upload_bytes: int
    transfer_requests: int
    transfer_s: float
    ingest_s: float
    """The Upload-Finish request: the server's whole ingest, transfer excluded."""
    upload_end_to_jobs_s: float
    jobs: int
    frames: int
    rss_before_finish_bytes: int | None
    peak_rss_before_finish_bytes: int | None
    """VmHWM just before Upload-Finish: start-up, sign-in and the transfer."""
    peak_rss_ingest_bytes: int | None
    """VmHWM reset right before Upload-Finish and read right after (or the sampled peak if
    that is higher: VmHWM is updated lazily); None where VmHWM cannot be reset."""
    peak_rss_sampled_bytes: int
    """The largest VmRSS seen by a 50 ms sampler during Upload-Finish."""
    rss_samples: int
    peak_rss_server_bytes: int | None
    """The server process's peak RSS over its whole life."""
    extra: dict[str, Any] = field(default_factory=dict)


def _create_task(http: httpx.Client, name: str) -> int:
    reply = http.post("/api/tasks", json={"name": name, "labels": LABELS})
    reply.raise_for_status()
    task_id: int = reply.json()["id"]
    return task_id


def _expect(reply: httpx.Response, status: int, what: str) -> httpx.Response:
    if reply.status_code != status:
        raise RuntimeError(f"{what}: HTTP {reply.status_code}, expected {status}: {reply.text}")
    return reply


def _send_files(
    http: httpx.Client, url: str, files: list[Path], batch: int, *, image_quality: int = 70
) -> tuple[int, int]:
    """Upload-Multiple POSTs of ``batch`` files each, with ``image_quality`` as a form field
    as cvat-sdk sends it; returns (requests, bytes)."""
    requests = sent = 0
    for first in range(0, len(files), batch):
        parts = []
        for i, path in enumerate(files[first : first + batch]):
            data = path.read_bytes()
            sent += len(data)
            parts.append((f"client_files[{i}]", (path.name, data, "image/jpeg")))
        reply = http.post(
            url,
            headers={"Upload-Multiple": ""},
            data={"image_quality": str(image_quality)},
            files=parts,
        )
        _expect(reply, 200, "Upload-Multiple")
        requests += 1
    return requests, sent


def _send_tus(http: httpx.Client, url: str, archive: Path, chunk: int) -> tuple[int, int]:
    """One TUS upload of ``archive`` in ``chunk``-byte PATCHes; returns (requests, bytes)."""
    length = archive.stat().st_size
    name = base64.b64encode(archive.name.encode()).decode()
    created = _expect(
        http.post(
            url,
            headers={
                "Tus-Resumable": "1.0.0",
                "Upload-Length": str(length),
                "Upload-Metadata": f"filename {name}",
            },
        ),
        201,
        "TUS create",
    )
    location = created.headers["Location"]
    requests, offset = 1, 0
    with open(archive, "rb") as source:
        while offset < length:
            source.seek(offset)
            body = source.read(chunk)
            reply = _expect(
                http.patch(
                    location,
                    content=body,
                    headers={
                        "Tus-Resumable": "1.0.0",
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                    },
                ),
                204,
                "TUS PATCH",
            )
            requests += 1
            offset = int(reply.headers["Upload-Offset"])
    return requests, length


def _list_jobs(http: httpx.Client, task_id: int) -> int:
    reply = _expect(
        http.get("/api/jobs", params={"task_id": task_id, "page_size": 100}), 200, "jobs"
    )
    count: int = reply.json()["count"]
    return count


def run_ingest_case(
    server: Server,
    *,
    variant: str,
    files: list[Path],
    archive: Path,
    batch: int,
    chunk: int,
) -> IngestRun:
    with server.client() as http:
        task_id = _create_task(http, f"{len(files)} small images ({variant})")
        url = f"/api/tasks/{task_id}/data/"
        _expect(http.post(url, headers={"Upload-Start": ""}), 202, "Upload-Start")
        log.info("%s: transferring %d images ...", variant, len(files))
        started = time.perf_counter()
        if variant == "files":
            requests, sent = _send_files(http, url, files, batch)
        else:
            requests, sent = _send_tus(http, url, archive, chunk)
        transferred = time.perf_counter()
        log.info(
            "%s: %d requests, %s in %s; Upload-Finish ...",
            variant, requests, fmt_bytes(sent), fmt_seconds(transferred - started),
        )  # fmt: skip
        rss_before = server.rss_bytes()
        hwm_before = server.peak_rss_bytes()
        reset = server.reset_peak_rss()
        with RssSampler(server.pid) as sampler:
            finish_start = time.perf_counter()
            reply = http.post(url, headers={"Upload-Finish": ""}, json=DATA_PARAMS)
            finish_end = time.perf_counter()
        _expect(reply, 202, "Upload-Finish")
        hwm_after = server.peak_rss_bytes()
        jobs = _list_jobs(http, task_id)
        deadline = time.perf_counter() + 600
        while not jobs:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"task {task_id}: no jobs 600 s after the upload")
            time.sleep(0.005)
            jobs = _list_jobs(http, task_id)
        listed = time.perf_counter()
        task = _expect(http.get(f"/api/tasks/{task_id}"), 200, "task").json()
    if task["size"] != len(files):
        raise RuntimeError(f"task {task_id} has {task['size']} frames, not {len(files)}")
    peaks = [p for p in (hwm_before, hwm_after, sampler.peak_bytes) if p]
    run = IngestRun(
        variant=variant,
        images=len(files),
        upload_bytes=sent,
        transfer_requests=requests,
        transfer_s=transferred - started,
        ingest_s=finish_end - finish_start,
        upload_end_to_jobs_s=listed - transferred,
        jobs=jobs,
        frames=task["size"],
        rss_before_finish_bytes=rss_before,
        peak_rss_before_finish_bytes=hwm_before,
        peak_rss_ingest_bytes=max(hwm_after, sampler.peak_bytes) if reset and hwm_after else None,
        peak_rss_sampled_bytes=sampler.peak_bytes,
        rss_samples=sampler.samples,
        peak_rss_server_bytes=max(peaks) if peaks else None,
        extra={"task_id": task_id, "vmhwm_reset": reset},
    )
    log.info(
        "%s: Upload-Finish %s, jobs listed %s after the upload's end, peak RSS %s "
        "(during ingest %s)",
        variant, fmt_seconds(run.ingest_s), fmt_seconds(run.upload_end_to_jobs_s),
        fmt_bytes(run.peak_rss_server_bytes),
        fmt_bytes(run.peak_rss_ingest_bytes or run.peak_rss_sampled_bytes),
    )  # fmt: skip
    return run


# --- Report -----------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def build_report(
    photos: dict[str, list[SdkRun]], small: list[IngestRun]
) -> tuple[Table, dict[str, Any], bool]:
    table = Table(
        "create_task: upload end → jobs listed, and ingest of many small images",
        ["case", "metric", "runs", "median", "min", "max", "target", "result",
         f"CVAT {CVAT_VERSION}", "vs CVAT"],
        right={2, 3, 4, 5, 8, 9},
    )  # fmt: skip
    cases: dict[str, Any] = {}
    passed = True
    for key, title in (
        ("files", f"{PHOTO_COUNT} × 1080p JPEG files (sdk)"),
        ("zip", f"{PHOTO_COUNT} × 1080p JPEG in 1 zip (sdk)"),
    ):
        ref = CVAT_REFERENCE_S[key]
        runs = photos.get(key)
        if not runs:
            continue
        latency = Stats.of([r.upload_end_to_jobs_s for r in runs])
        total = Stats.of([r.total_s for r in runs])
        finish = Stats.of([r.finish_request_s for r in runs])
        ok = latency.median <= TARGET_JOBS_LISTED_S
        passed &= ok
        table.add(
            title, "upload end → jobs listed", str(latency.runs), fmt_seconds(latency.median),
            fmt_seconds(latency.min), fmt_seconds(latency.max),
            f"≤ {fmt_seconds(TARGET_JOBS_LISTED_S)}", _verdict(ok), fmt_seconds(ref),
            f"{ref / latency.median:.0f}× faster" if latency.median > 0 else "-",
        )  # fmt: skip
        table.add(
            "", "  of which Upload-Finish", str(finish.runs), fmt_seconds(finish.median),
            fmt_seconds(finish.min), fmt_seconds(finish.max), "", "", "", "",
        )  # fmt: skip
        table.add(
            "", "total create + get_jobs", str(total.runs), fmt_seconds(total.median),
            fmt_seconds(total.min), fmt_seconds(total.max), "", "", "", "",
        )  # fmt: skip
        cases[f"photos_{key}"] = {
            "description": title,
            "upload_end_to_jobs_s": latency.as_dict(),
            "finish_request_s": finish.as_dict(),
            "total_s": total.as_dict(),
            "target_s": TARGET_JOBS_LISTED_S,
            "passed": ok,
            "cvat_reference_s": ref,
            "speedup_vs_cvat": ref / latency.median if latency.median > 0 else None,
            "runs": [asdict(r) for r in runs],
        }
    for run in small:
        title = f"{run.images:,} small images, " + (
            "files (Upload-Multiple)" if run.variant == "files" else "1 zip (TUS)"
        )
        ingest_ok = run.ingest_s <= TARGET_INGEST_S
        rss_ok = (
            run.peak_rss_server_bytes is not None
            and run.peak_rss_server_bytes < TARGET_PEAK_RSS_BYTES
        )
        passed &= ingest_ok and rss_ok
        during = run.peak_rss_ingest_bytes or run.peak_rss_sampled_bytes
        table.add(
            title, "Upload-Finish (ingest)", "1", fmt_seconds(run.ingest_s), "", "",
            f"≤ {fmt_seconds(TARGET_INGEST_S)}", _verdict(ingest_ok), "", "",
        )  # fmt: skip
        table.add(
            "", "server peak RSS", "1", fmt_bytes(run.peak_rss_server_bytes), "", "",
            f"< {fmt_bytes(TARGET_PEAK_RSS_BYTES)}", _verdict(rss_ok), "", "",
        )  # fmt: skip
        table.add("", "  peak RSS during ingest", "1", fmt_bytes(during), "", "", "", "", "", "")
        table.add(
            "", "upload end → jobs listed", "1", fmt_seconds(run.upload_end_to_jobs_s), "",
            "", "", "", "", "",
        )  # fmt: skip
        table.add(
            "", f"transfer ({run.transfer_requests} requests)", "1",
            fmt_seconds(run.transfer_s), "", "", "", "", "", "",
        )  # fmt: skip
        cases[f"small_{run.variant}"] = {
            "description": title,
            "target_ingest_s": TARGET_INGEST_S,
            "target_peak_rss_bytes": TARGET_PEAK_RSS_BYTES,
            "passed": ingest_ok and rss_ok,
            **asdict(run),
        }
    return table, cases, passed


# --- Main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time task creation on a labelbay server this script starts itself.",
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs of each 1080p case (default 5)")
    parser.add_argument(
        "--small-count", type=int, default=100_000,
        help="images in the many-small-images case (default 100000)",
    )  # fmt: skip
    parser.add_argument("--skip-small", action="store_true", help="only the 1080p cases")
    parser.add_argument("--skip-photos", action="store_true", help="only the small-image case")
    parser.add_argument(
        "--small-batch", type=int, default=2000,
        help="files per Upload-Multiple request in the small-image case (default 2000)",
    )  # fmt: skip
    parser.add_argument(
        "--tus-chunk-mib", type=int, default=10, help="TUS PATCH size in MiB (default 10)"
    )
    parser.add_argument(
        "--status-check-period", type=float, default=0.1,
        help="seconds the SDK waits between polls of a request that is not finished",
    )  # fmt: skip
    add_run_options(parser, "create_task.json", cache="generated images")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.small_count < 1 or args.small_batch < 1 or args.tus_chunk_mib < 1:
        parser.error("counts and sizes must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    photos: dict[str, list[SdkRun]] = {}
    small: list[IngestRun] = []
    photos_peak_rss: int | None = None
    began = time.perf_counter()
    machine = machine_info()
    if machine["load_average"] and machine["load_average"][0] > 0.5:
        log.warning("the machine is busy (load %s): results will be noisy", machine["load_average"])
    create_s = probe_file_creation(args.data_root)
    log.info(
        "creating a file in %s takes %s", args.data_root or tempfile.gettempdir(),
        fmt_seconds(create_s),
    )  # fmt: skip
    if create_s > 0.0002:
        log.warning(
            "file creation is slow here: ingest creates one file per image, so expect the "
            "results to reflect the file system (try --data-root on another file system)"
        )

    if not args.skip_photos:
        images, archive = ensure_photos(args.cache_dir)
        size = sum(p.stat().st_size for p in images)
        log.info(
            "1080p inputs: %d files, %s (mean %s), zip %s",
            len(images), fmt_bytes(size), fmt_bytes(size / len(images)),
            fmt_bytes(archive.stat().st_size),
        )  # fmt: skip
        with server_for(args, "photos") as server:
            for key, resources in (("files", images), ("zip", [archive])):
                photos[key] = run_sdk_case(
                    server, resources, name=f"1080p {key}", repeat=args.repeat,
                    period=args.status_check_period,
                )  # fmt: skip
            photos_peak_rss = server.peak_rss_bytes()

    if not args.skip_small:
        files, zip_path = ensure_small(args.cache_dir, args.small_count)
        for variant in ("files", "zip"):
            # A fresh server for each variant, so that its peak RSS is this case's alone.
            with server_for(args, f"small-{variant}") as server:
                small.append(
                    run_ingest_case(
                        server,
                        variant=variant,
                        files=files,
                        archive=zip_path,
                        batch=args.small_batch,
                        chunk=args.tus_chunk_mib * 1024 * 1024,
                    )
                )

    if not photos and not small:
        log.warning("nothing was run (--skip-photos and --skip-small)")
        return 0
    table, cases, passed = build_report(photos, small)
    print()
    table.show()
    print()
    print(f"database: {database_kind(args.database_url)}; all targets met: {passed}")
    write_json(
        args.json,
        {
            "benchmark": "create_task",
            "machine": machine,
            "load_average_at_end": load_average(),
            "config": {
                "database": database_kind(args.database_url),
                "database_url": redacted(args.database_url),
                "repeat": args.repeat,
                "small_count": args.small_count,
                "small_batch": args.small_batch,
                "tus_chunk_bytes": args.tus_chunk_mib * 1024 * 1024,
                "status_check_period_s": args.status_check_period,
                "data_root": str(args.data_root or tempfile.gettempdir()),
                "data_root_file_create_s": create_s,
                "photo": {"count": PHOTO_COUNT, "size": PHOTO_SIZE, "quality": PHOTO_QUALITY},
                "small": {"size": SMALL_SIZE, "quality": SMALL_QUALITY},
                "data_params": DATA_PARAMS,
            },
            "targets": {
                "upload_end_to_jobs_s": TARGET_JOBS_LISTED_S,
                "ingest_s": TARGET_INGEST_S,
                "peak_rss_bytes": TARGET_PEAK_RSS_BYTES,
            },
            "cvat_reference": {"version": CVAT_VERSION, "upload_end_to_jobs_s": CVAT_REFERENCE_S},
            "cases": cases,
            "photos_server_peak_rss_bytes": photos_peak_rss,
            "all_targets_met": passed,
            "wall_s": time.perf_counter() - began,
        },
    )
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
