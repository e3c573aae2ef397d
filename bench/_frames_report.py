"""The table bench/frames.py prints."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from _common import (
    Table,
    fmt_bytes,
    fmt_seconds,
)
from _frames_base import (
    CVAT_COLD_CHUNK_S,
    CVAT_LOAD,
    CVAT_VERSION,
    CVAT_WARM_FRAME_S,
    FRAME_COUNT,
    QUALITIES,
    TARGET_CHUNK_P50_S,
    TARGET_LOAD_FPS,
    TARGET_LOAD_MAX_S,
    TARGET_LOAD_P99_S,
    TARGET_RSS_BYTES,
    TARGET_WARM_FRAME_P50_S,
    Dist,
    Series,
    VideoResult,
)
from _frames_load import LoadResult

log = logging.getLogger("bench.frames")


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
