"""Benchmark: dataset export and annotation import of a large task.

One ``labelbay serve`` (started here): a task of ``--frames`` (10,000) small PNG frames uploaded
as one zip by TUS, ``--shapes`` (100,000) rectangles and polygons with attributes added by
``PATCH .../annotations?action=create`` in batches; then, per format (COCO 1.0 and CVAT for
images 1.1), an export without images (POST to ``finished``, then the download) and an import
of that file back into the task (``Upload-Start``, TUS, ``Upload-Finish`` to ``finished``; the
import replaces the task's annotations, so the count is checked after it). Peak server RSS is
the server's VmHWM, reset before each step. Targets: export ≤ 10 s, import ≤ 20 s, RSS ≤ 500 MB.

Run ``python bench/export.py --help``; see bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import io
import logging
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
from _common import (
    RssSampler,
    Server,
    Table,
    add_run_options,
    database_kind,
    fmt_bytes,
    fmt_seconds,
    machine_info,
    reset_peak_rss,
    server_for,
    setup_logging,
    write_json,
)
from PIL import Image

log = logging.getLogger("bench.export")

TARGET_EXPORT_S = 10.0
TARGET_IMPORT_S = 20.0
TARGET_RSS_BYTES = 500_000_000
FORMATS = [("COCO 1.0", "COCO 1.0"), ("CVAT for images 1.1", "CVAT 1.1")]
LABELS = [
    {"name": "car", "attributes": [
        {"name": "color", "mutable": False, "input_type": "select", "values": ["red", "blue"]},
    ]},
    {"name": "person", "attributes": []},
]  # fmt: skip
CHUNK = 10 * 1024 * 1024


def frames_zip(count: int) -> bytes:
    """``count`` 32x24 PNGs, each a different flat colour, in a stored zip."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for i in range(count):
            image = Image.new("RGB", (32, 24), (i % 256, (i // 256) % 256, 128))
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            archive.writestr(f"frame_{i:06d}.png", buffer.getvalue())
    return out.getvalue()


def tus_upload(http: httpx.Client, url: str, name: str, data: bytes) -> str:
    """Sends ``data`` by TUS to ``url`` (with a trailing slash); returns Upload-Filename."""
    meta = "filename " + base64.b64encode(name.encode()).decode()
    created = http.post(
        url, headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
                      "Upload-Metadata": meta},
    )  # fmt: skip
    created.raise_for_status()
    location = created.headers["Location"]
    for offset in range(0, max(len(data), 1), CHUNK):
        reply = http.patch(
            location, content=data[offset : offset + CHUNK],
            headers={"Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
                     "Content-Type": "application/offset+octet-stream"},
        )  # fmt: skip
        reply.raise_for_status()
    return str(created.headers["Upload-Filename"])


def wait(http: httpx.Client, rq_id: str, timeout: float = 600.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = http.get(f"/api/requests/{rq_id}").json()
        if body["status"] in ("finished", "failed"):
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"request {rq_id} still {body['status']} after {timeout} s")
        time.sleep(0.05)


def wait_idle(http: httpx.Client, timeout: float = 600.0) -> None:
    """Waits until no background request runs (chunk pre-generation after the upload)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = http.get("/api/requests", params={"page_size": 100}).json()["results"]
        if all(r["status"] in ("finished", "failed") for r in listed):
            return
        time.sleep(0.5)
    log.warning("background requests still running after %s s", timeout)


def make_task(http: httpx.Client, frames: int, shapes: int, batch: int) -> tuple[int, float]:
    task = http.post("/api/tasks", json={"name": "export bench", "labels": LABELS})
    task.raise_for_status()
    task_id = int(task.json()["id"])
    started = time.perf_counter()
    archive = frames_zip(frames)
    url = f"/api/tasks/{task_id}/data/"
    http.post(url, headers={"Upload-Start": ""}).raise_for_status()
    tus_upload(http, url, "frames.zip", archive)
    http.post(url, json={"image_quality": 70}, headers={"Upload-Finish": ""}).raise_for_status()
    log.info("task %d: %d frames in %.1f s", task_id, frames, time.perf_counter() - started)
    labels = {lb["name"]: lb for lb in http.get("/api/labels", params={"task_id": task_id,
              "page_size": 100}).json()["results"]}  # fmt: skip
    car, person = labels["car"]["id"], labels["person"]["id"]
    color = labels["car"]["attributes"][0]["id"]
    started = time.perf_counter()
    for low in range(0, shapes, batch):
        items = []
        for i in range(low, min(low + batch, shapes)):
            frame = i % frames
            x = float(i % 20)
            if i % 2:
                items.append({"type": "rectangle", "frame": frame, "label_id": car,
                              "points": [x, 1.5, x + 8, 12.25],
                              "attributes": [{"spec_id": color, "value": "blue"}]})  # fmt: skip
            else:
                items.append({"type": "polygon", "frame": frame, "label_id": person,
                              "points": [x, 2, x + 6, 3, x + 3, 15]})  # fmt: skip
        reply = http.patch(
            f"/api/tasks/{task_id}/annotations", params={"action": "create"},
            json={"shapes": items},
        )  # fmt: skip
        reply.raise_for_status()
    log.info("task %d: %d shapes in %.1f s", task_id, shapes, time.perf_counter() - started)
    return task_id, time.perf_counter() - started


def measure(server: Server, step: Any) -> tuple[Any, float, int, int]:
    """Runs ``step()``; returns its result, seconds, and the server's peak RSS meanwhile: the
    summed VmHWM of the server's processes (the codec pool's included), reset first (else the
    sampled VmRSS peak of the main process), and the main process's own VmHWM."""
    reset = all(reset_peak_rss(pid) for pid in server.pids())
    with RssSampler(server.pid) as sampler:
        started = time.perf_counter()
        result = step()
        seconds = time.perf_counter() - started
    peak = server.tree_peak_rss_bytes() if reset else sampler.peak_bytes
    main = server.peak_rss_bytes() if reset else None
    return result, seconds, max(peak, sampler.peak_bytes), main or sampler.peak_bytes


def run_format(
    server: Server, http: httpx.Client, task_id: int, exporter: str, importer: str, shapes: int,
    folder: Path,
) -> dict[str, Any]:  # fmt: skip
    def export() -> dict[str, Any]:
        reply = http.post(f"/api/tasks/{task_id}/dataset/export",
                          params={"format": exporter, "save_images": "false"})  # fmt: skip
        reply.raise_for_status()
        return wait(http, reply.json()["rq_id"])

    body, export_s, export_rss, export_main = measure(server, export)
    if body["status"] != "finished":
        raise RuntimeError(f"export {exporter} failed: {body['message']}")
    started = time.perf_counter()
    file = folder / f"{exporter.replace(' ', '_')}.zip"
    with http.stream("GET", body["result_url"]) as response, file.open("wb") as out:
        response.raise_for_status()
        for piece in response.iter_bytes(1 << 20):
            out.write(piece)
    download_s = time.perf_counter() - started
    size = file.stat().st_size
    log.info("%s: export %.2f s (+ download %.2f s, %s)", exporter, export_s, download_s,
             fmt_bytes(size))  # fmt: skip

    def import_back() -> dict[str, Any]:
        url = f"/api/tasks/{task_id}/annotations/"
        params = {"format": importer}
        http.post(url, params=params, headers={"Upload-Start": ""}).raise_for_status()
        stored = tus_upload(http, url, file.name, file.read_bytes())
        reply = http.post(url, params={**params, "filename": stored},
                          headers={"Upload-Finish": ""})  # fmt: skip
        reply.raise_for_status()
        return wait(http, reply.json()["rq_id"])

    body, import_s, import_rss, import_main = measure(server, import_back)
    if body["status"] != "finished":
        raise RuntimeError(f"import {importer} failed: {body['message']}")
    count = len(http.get(f"/api/tasks/{task_id}/annotations").json()["shapes"])
    log.info("%s: import %.2f s, %d shapes back", importer, import_s, count)
    return {
        "exporter": exporter, "importer": importer, "export_s": export_s,
        "download_s": download_s, "file_bytes": size, "export_peak_rss_bytes": export_rss,
        "export_peak_rss_main_bytes": export_main, "import_peak_rss_main_bytes": import_main,
        "import_s": import_s, "import_peak_rss_bytes": import_rss, "shapes_after_import": count,
        "shapes_expected": shapes,
        "ok": export_s <= TARGET_EXPORT_S and import_s <= TARGET_IMPORT_S
        and max(export_rss, import_rss) <= TARGET_RSS_BYTES and count == shapes,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--shapes", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000, help="shapes per PATCH")
    add_run_options(parser, "export.json")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    results = []
    with server_for(args, "export") as server, server.client() as http:  # fmt: skip
        task_id, fill_s = make_task(http, args.frames, args.shapes, args.batch)
        wait_idle(http)
        for exporter, importer in FORMATS:
            results.append(
                run_format(server, http, task_id, exporter, importer, args.shapes, server.data_dir)
            )
    table = Table(
        f"export/import: {args.frames} frames, {args.shapes} shapes "
        f"({database_kind(args.database_url)})",
        ["format", "export", "download", "file", "import", "peak RSS", "main process", "ok"],
        right={1, 2, 3, 4, 5, 6},
    )
    for r in results:
        table.add(
            r["exporter"], fmt_seconds(r["export_s"]), fmt_seconds(r["download_s"]),
            fmt_bytes(r["file_bytes"]), fmt_seconds(r["import_s"]),
            fmt_bytes(max(r["export_peak_rss_bytes"], r["import_peak_rss_bytes"])),
            fmt_bytes(max(r["export_peak_rss_main_bytes"], r["import_peak_rss_main_bytes"])),
            "yes" if r["ok"] else "NO",
        )  # fmt: skip
    table.show()
    write_json(args.json, {
        "benchmark": "export",
        "targets": {"export_s": TARGET_EXPORT_S, "import_s": TARGET_IMPORT_S,
                    "peak_rss_bytes": TARGET_RSS_BYTES},
        "config": {"frames": args.frames, "shapes": args.shapes, "batch": args.batch,
                   "database": database_kind(args.database_url), "fill_s": fill_s},
        "results": results,
        "machine": machine_info(),
    })  # fmt: skip
    return 1 if args.check and not all(r["ok"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
