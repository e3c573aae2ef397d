"""Benchmark: the job workspace in headless Chromium with a heavy frame.

Against a ``labelbay serve`` this script starts itself (see bench/README.md):

* a task of ``--frames`` (3) generated 1920×1080 JPEGs; ``--polygons`` (2,000) polygons of
  ``--vertices`` (20) points each are PUT on frame 0 through the API;
* the job is opened in headless Chromium (Debian's ``/usr/bin/chromium`` through Playwright);
* **pan**: middle-button mouse drags (circles) for ``--duration`` (5) seconds; **zoom**:
  wheel events over the image for as long. In the page, every ``requestAnimationFrame``
  callback is timestamped (the frame rate the user sees) and every redraw of the frame canvas
  is counted (a wrapper around ``CanvasRenderingContext2D.clearRect``, which the workspace
  calls once per redraw of a canvas). Target: ≥ 30 frames/s;
* **frame switch**: ``F`` (frame 0 → 1) and ``D`` (1 → 0, the frame with the polygons), both
  frames already fetched: time from the ``keydown`` (a capturing listener in the page) until
  the frame canvas's ``data-frame`` changes, and until the first animation frame after that
  (the workspace draws its shapes in that animation frame's callbacks). Target: median
  ≤ 50 ms.

Run ``python bench/ui.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import io
import itertools
import logging
import math
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import create_task
import numpy as np
from _common import (
    Server,
    Table,
    add_run_options,
    database_kind,
    fmt_seconds,
    load_average,
    machine_info,
    server_for,
    setup_logging,
    write_json,
)
from PIL import Image

log = logging.getLogger("bench.ui")

IMAGE_SIZE = (1920, 1080)
LABELS = [{"name": n} for n in ("car", "person", "bicycle", "tree")]
TARGET_FPS = 30.0
TARGET_SWITCH_S = 0.050
DEFAULT_CHROMIUM = "/usr/bin/chromium"

# Installed in the page once the workspace is shown: timestamps of animation frames and of
# canvas redraws while recording, and the timing of one frame switch at a time.
PROBE_JS = r"""
() => {
  if (window.__uiBench) return;
  const b = window.__uiBench = {
    recording: false, raf: [], redraws: 0, otherClears: 0, switch: null,
  };
  const tick = () => {
    if (b.recording) b.raf.push(performance.now());
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  const frameCanvas = document.querySelector('[data-testid="frame-canvas"]');
  const clear = CanvasRenderingContext2D.prototype.clearRect;
  CanvasRenderingContext2D.prototype.clearRect = function (...args) {
    if (b.recording) {
      if (this.canvas === frameCanvas) b.redraws += 1; else b.otherClears += 1;
    }
    return clear.apply(this, args);
  };
  b.start = () => { b.raf = []; b.redraws = 0; b.otherClears = 0; b.recording = true; };
  b.stop = () => {
    b.recording = false;
    return { raf: b.raf, redraws: b.redraws, otherClears: b.otherClears };
  };
  window.addEventListener('keydown', (e) => {
    if (b.switch && b.switch.key === null) b.switch.key = performance.now();
  }, { capture: true });
  new MutationObserver(() => {
    const s = b.switch;
    if (!s || s.key === null || s.frame !== null) return;
    if (frameCanvas.dataset.frame !== s.want) return;
    s.frame = performance.now();
    requestAnimationFrame(() => {
      s.drawn = performance.now();
      // After the timestamp: were the shapes there by then? (Any ink in the middle of the
      // other canvases of the stage, where the shapes are drawn.)
      s.inked = [...frameCanvas.parentElement.querySelectorAll('canvas')]
        .filter((c) => c !== frameCanvas && c.width > 0 && c.height > 0)
        .some((c) => {
          const w = Math.min(160, c.width), h = Math.min(160, c.height);
          const data = c.getContext('2d').getImageData(
            (c.width - w) >> 1, (c.height - h) >> 1, w, h).data;
          for (let i = 3; i < data.length; i += 4) if (data[i]) return true;
          return false;
        });
    });
  }).observe(frameCanvas, { attributes: true, attributeFilter: ['data-frame'] });
  b.arm = (want) => {
    b.switch = { want: String(want), key: null, frame: null, drawn: null, inked: null };
  };
}
"""


# --- Inputs -----------------------------------------------------------------------------------


def make_image(index: int) -> bytes:
    """A 1080p JPEG: smooth colour gradients with grain, different for each index."""
    width, height = IMAGE_SIZE
    rng = np.random.default_rng(1000 + index)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 128 + 100 * np.sin(xs / (180 + 40 * index))
    green = 128 + 100 * np.cos(ys / (140 + 30 * index))
    blue = 128 + 80 * np.sin((xs + ys) / 260)
    picture = np.stack([red, green, blue], axis=-1) + rng.normal(0, 12, (height, width, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8)).save(
        buffer, format="JPEG", quality=90
    )
    return buffer.getvalue()


def make_polygons(
    count: int, vertices: int, label_ids: Sequence[int], seed: int = 7
) -> list[dict[str, Any]]:
    """``count`` star-shaped polygons of ``vertices`` points spread over the image."""
    rng = random.Random(seed)
    width, height = IMAGE_SIZE
    shapes = []
    for i in range(count):
        radius = rng.uniform(12, 60)
        cx = rng.uniform(radius, width - radius)
        cy = rng.uniform(radius, height - radius)
        points: list[float] = []
        for k in range(vertices):
            angle = 2 * math.pi * k / vertices
            r = radius * rng.uniform(0.55, 1.0)
            points += [round(cx + r * math.cos(angle), 2), round(cy + r * math.sin(angle), 2)]
        shapes.append(
            {
                "type": "polygon",
                "frame": 0,
                "label_id": label_ids[i % len(label_ids)],
                "points": points,
                "occluded": False,
                "z_order": 0,
                "group": 0,
                "source": "manual",
                "attributes": [],
            }
        )
    return shapes


@dataclass
class Prepared:
    task_id: int
    job_id: int
    frames: int
    polygons: int
    vertices: int
    put_s: float


def prepare(server: Server, folder: Path, frames: int, polygons: int, vertices: int) -> Prepared:
    files = []
    for i in range(frames):
        path = folder / f"frame{i:03d}.jpg"
        path.write_bytes(make_image(i))
        files.append(path)
    with server.client() as http:
        reply = create_task._expect(
            http.post("/api/tasks", json={"name": "ui bench", "labels": LABELS}), 201, "task"
        )
        task_id = int(reply.json()["id"])
        url = f"/api/tasks/{task_id}/data/"
        create_task._expect(http.post(url, headers={"Upload-Start": ""}), 202, "Upload-Start")
        create_task._send_files(http, url, files, len(files), image_quality=70)
        finish = http.post(url, headers={"Upload-Finish": ""}, json={"image_quality": 70})
        create_task._expect(finish, 202, "Upload-Finish")
        jobs: list[dict[str, Any]] = []
        deadline = time.monotonic() + 120
        while not jobs and time.monotonic() < deadline:
            jobs = http.get("/api/jobs", params={"task_id": task_id}).json()["results"]
            time.sleep(0.05)
        if not jobs:
            raise RuntimeError(f"task {task_id} has no jobs after 120 s")
        job_id = int(jobs[0]["id"])
        labels = http.get("/api/labels", params={"task_id": task_id, "page_size": 100})
        label_ids = [int(label["id"]) for label in labels.json()["results"]]
        body = {
            "version": 0,
            "tags": [],
            "tracks": [],
            "shapes": make_polygons(polygons, vertices, label_ids),
        }
        started = time.perf_counter()
        put = http.put(f"/api/jobs/{job_id}/annotations", json=body)
        put_s = time.perf_counter() - started
        create_task._expect(put, 200, "PUT annotations")
    return Prepared(task_id, job_id, frames, polygons, vertices, put_s)


# --- Measuring in the browser -----------------------------------------------------------------


@dataclass
class Motion:
    """Frame rate while the view moves."""

    name: str
    seconds: float
    inputs: int
    """Mouse events sent (moves, or wheel ticks)."""
    animation_frames: int
    fps: float
    redraws: int
    redraws_per_s: float
    frame_p50_ms: float
    frame_p95_ms: float
    frame_max_ms: float

    @classmethod
    def of(cls, name: str, inputs: int, sample: dict[str, Any]) -> Motion:
        ticks: list[float] = sample["raf"]
        if len(ticks) < 2:
            raise RuntimeError(f"{name}: {len(ticks)} animation frames recorded")
        span_ms = ticks[-1] - ticks[0]
        gaps = sorted(b - a for a, b in itertools.pairwise(ticks))
        return cls(
            name=name,
            seconds=span_ms / 1000,
            inputs=inputs,
            animation_frames=len(ticks),
            fps=(len(ticks) - 1) / (span_ms / 1000),
            redraws=int(sample["redraws"]),
            redraws_per_s=sample["redraws"] / (span_ms / 1000),
            frame_p50_ms=statistics.median(gaps),
            frame_p95_ms=gaps[min(len(gaps) - 1, int(0.95 * len(gaps)))],
            frame_max_ms=gaps[-1],
        )


@dataclass
class Switch:
    key: str
    to_frame: int
    key_to_frame_ms: list[float]
    key_to_drawn_ms: list[float]
    shapes_drawn: list[bool]
    """Whether the shapes canvas had ink in its middle at the "drawn" time, per switch."""

    def median_drawn_s(self) -> float:
        return statistics.median(self.key_to_drawn_ms) / 1000


def _stage_box(page: Any) -> dict[str, float]:
    box = page.get_by_test_id("frame-canvas").bounding_box()
    if not box:
        raise RuntimeError("the frame canvas is not shown")
    return dict(box)


def measure_pan(page: Any, seconds: float) -> Motion:
    """Drags the view around in circles with the middle button (which pans wherever it is
    pressed, on shapes too, without editing them) for ``seconds``, at the "Fit" zoom: every
    polygon is on screen."""
    page.get_by_role("button", name="Fit", exact=True).click()
    box = _stage_box(page)
    radius = 80.0
    x0, y0 = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    mouse = page.mouse
    inputs = 0
    page.evaluate("() => window.__uiBench.start()")
    deadline = time.monotonic() + seconds
    angle = 0.0
    while time.monotonic() < deadline:
        mouse.move(x0 + radius, y0)
        mouse.down(button="middle")
        for _ in range(48):
            angle += 2 * math.pi / 48
            mouse.move(x0 + radius * math.cos(angle), y0 + radius * math.sin(angle))
            inputs += 1
            if time.monotonic() > deadline:
                break
        mouse.up(button="middle")
    sample = page.evaluate("() => window.__uiBench.stop()")
    return Motion.of("pan (middle-button drags)", inputs, sample)


def measure_zoom(page: Any, seconds: float) -> Motion:
    """Wheel ticks over the image, 12 in then 12 out, for ``seconds``."""
    page.get_by_role("button", name="Fit", exact=True).click()
    box = _stage_box(page)
    mouse = page.mouse
    mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.55)
    inputs = 0
    page.evaluate("() => window.__uiBench.start()")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for delta in (-60,) * 12 + (60,) * 12:
            mouse.wheel(0, delta)
            inputs += 1
            if time.monotonic() > deadline:
                break
    sample = page.evaluate("() => window.__uiBench.stop()")
    return Motion.of("zoom (wheel)", inputs, sample)


def measure_switches(page: Any, rounds: int) -> list[Switch]:
    page.get_by_role("button", name="Fit", exact=True).click()
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    canvas = page.get_by_test_id("frame-canvas")
    results = {
        "f": Switch("F", 1, [], [], []),
        "d": Switch("D", 0, [], [], []),
    }
    for index in range(rounds + 1):  # the first round warms up and is not counted
        for key, want in (("f", 1), ("d", 0)):
            page.evaluate("want => window.__uiBench.arm(want)", want)
            page.keyboard.press(key)
            done = page.wait_for_function(
                "() => { const s = window.__uiBench.switch; return s.drawn !== null && s; }",
                timeout=10_000,
                polling="raf",
            ).json_value()
            if canvas.get_attribute("data-frame") != str(want):
                raise RuntimeError(f"{key}: frame {canvas.get_attribute('data-frame')}")
            if index:
                results[key].key_to_frame_ms.append(done["frame"] - done["key"])
                results[key].key_to_drawn_ms.append(done["drawn"] - done["key"])
                results[key].shapes_drawn.append(bool(done["inked"]))
            time.sleep(0.15)
    return list(results.values())


class CpuProfile:
    """The page's JavaScript CPU profile (Chrome DevTools Protocol ``Profiler``) over a case:
    the functions with the most self time, to tell where a slow frame goes."""

    def __init__(self, page: Any, enabled: bool) -> None:
        self.session = page.context.new_cdp_session(page) if enabled else None
        if self.session:
            self.session.send("Profiler.enable")
            self.session.send("Profiler.setSamplingInterval", {"interval": 200})

    def __enter__(self) -> CpuProfile:
        if self.session:
            self.session.send("Profiler.start")
        self.top: list[dict[str, Any]] = []
        return self

    def __exit__(self, *_exc: object) -> None:
        if not self.session:
            return
        profile = self.session.send("Profiler.stop")["profile"]
        nodes = {node["id"]: node for node in profile["nodes"]}
        deltas = profile.get("timeDeltas", [])
        self_ms: dict[str, float] = {}
        for sample, delta in zip(profile.get("samples", []), [*deltas[1:], 0], strict=False):
            frame = nodes[sample]["callFrame"]
            where = frame["url"].rsplit("/", 1)[-1]
            name = f"{frame['functionName'] or '(anonymous)'} {where}:{frame['lineNumber'] + 1}"
            if not frame["url"]:
                name = frame["functionName"] or "(native)"
            self_ms[name] = self_ms.get(name, 0.0) + delta / 1000
        total = sum(self_ms.values()) or 1.0
        self.top = [
            {"function": name, "self_ms": ms, "share": ms / total}
            for name, ms in sorted(self_ms.items(), key=lambda kv: -kv[1])[:12]
        ]


@dataclass
class BrowserRun:
    open_s: float
    objects_listed: int | None
    pan: Motion
    zoom: Motion
    switches: list[Switch]
    unsaved_after: bool
    """Whether the workspace said "Unsaved changes" afterwards: moving the view must not edit."""
    chromium: str
    profiles: dict[str, list[dict[str, Any]]]


def run_browser(server: Server, prepared: Prepared, args: argparse.Namespace) -> BrowserRun:
    from playwright.sync_api import sync_playwright

    width, height = (int(v) for v in args.viewport.lower().split("x"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=args.chromium,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-dev-shm-usage",
                *(["--disable-gpu"] if args.canvas == "software" else []),
                *args.browser_arg,
            ],
        )
        try:
            context = browser.new_context(
                base_url=server.url, viewport={"width": width, "height": height}
            )
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            login = page.request.post(
                "/api/auth/login", data={"username": server.username, "password": server.password}
            )
            if not login.ok:
                raise RuntimeError(f"sign in: HTTP {login.status}")
            page.goto("/")
            started = time.perf_counter()
            page.goto(f"/#/jobs/{prepared.job_id}")
            canvas = page.get_by_test_id("frame-canvas")
            canvas.wait_for(timeout=60_000)
            page.wait_for_function(
                "() => document.querySelector('[data-testid=frame-canvas]')?.dataset.frame === '0'",
                timeout=60_000,
            )
            # The sidebar lists a few hundred objects and counts them all in its heading.
            heading = page.get_by_role("heading", name=re.compile(r"^Objects \(\d+\)$"))
            listed: int | None = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                found = re.search(r"\((\d+)\)", heading.text_content() or "")
                listed = int(found.group(1)) if found else None
                if listed is not None and listed >= prepared.polygons:
                    break
                time.sleep(0.02)
            open_s = time.perf_counter() - started
            log.info("job open in %s (%s objects listed)", fmt_seconds(open_s), listed)
            time.sleep(1.0)  # let the prefetch of the next frames finish
            page.evaluate(PROBE_JS)
            profiles: dict[str, list[dict[str, Any]]] = {}
            with CpuProfile(page, args.profile) as profile:
                pan = measure_pan(page, args.duration)
            profiles["pan"] = profile.top
            log.info("pan: %.1f fps, %.1f redraws/s", pan.fps, pan.redraws_per_s)
            with CpuProfile(page, args.profile) as profile:
                zoom = measure_zoom(page, args.duration)
            profiles["zoom"] = profile.top
            log.info("zoom: %.1f fps, %.1f redraws/s", zoom.fps, zoom.redraws_per_s)
            with CpuProfile(page, args.profile) as profile:
                switches = measure_switches(page, args.switches)
            profiles["switch"] = profile.top
            state = page.get_by_test_id("save-state").text_content() or ""
            if errors:
                log.warning("page errors: %s", errors[:5])
            return BrowserRun(
                open_s,
                listed,
                pan,
                zoom,
                switches,
                "Unsaved" in state,
                browser.version,
                profiles,
            )
        finally:
            browser.close()


# --- Report -----------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _ms(value: float) -> str:
    return f"{value:.1f} ms"


def build_report(run: BrowserRun, prepared: Prepared, canvas: str) -> tuple[Table, bool]:
    table = Table(
        f"ui: workspace with {prepared.polygons:,} polygons × {prepared.vertices} points on "
        f"a 1920×1080 frame (headless Chromium, {canvas} canvas)",
        ["case", "metric", "value", "p50 / p95 / max", "target", "result"],
        right={2},
    )
    passed = True
    table.add(
        "open the job", "until frame 0 and every object listed", fmt_seconds(run.open_s),
        f"{run.objects_listed} listed", "", "",
    )  # fmt: skip
    for motion in (run.pan, run.zoom):
        ok = motion.fps >= TARGET_FPS
        passed &= ok
        table.add(
            motion.name, "animation frames/s", f"{motion.fps:.1f}",
            " / ".join(_ms(v) for v in
                       (motion.frame_p50_ms, motion.frame_p95_ms, motion.frame_max_ms)),
            f"≥ {TARGET_FPS:.0f}", _verdict(ok),
        )  # fmt: skip
        table.add(
            "", "frame canvas redraws/s", f"{motion.redraws_per_s:.1f}",
            f"{motion.inputs} inputs in {motion.seconds:.1f} s", "", "",
        )  # fmt: skip
    for switch in run.switches:
        drawn = sorted(switch.key_to_drawn_ms)
        shown = sorted(switch.key_to_frame_ms)
        ok = switch.median_drawn_s() <= TARGET_SWITCH_S
        passed &= ok
        case = f"{switch.key}: to frame {switch.to_frame} (fetched)"
        table.add(
            case, "keydown → data-frame", _ms(statistics.median(shown)),
            " / ".join(_ms(v) for v in (shown[len(shown) // 2], _p95(shown), shown[-1])),
            "", "",
        )  # fmt: skip
        table.add(
            f"  shapes shown then: {sum(switch.shapes_drawn)}/{len(switch.shapes_drawn)}",
            "keydown → drawn", _ms(statistics.median(drawn)),
            " / ".join(_ms(v) for v in (drawn[len(drawn) // 2], _p95(drawn), drawn[-1])),
            f"median ≤ {TARGET_SWITCH_S * 1000:.0f} ms", _verdict(ok),
        )  # fmt: skip
    return table, passed


def _p95(values: Sequence[float]) -> float:
    return values[min(len(values) - 1, int(0.95 * len(values)))]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Frame rate and frame switching of the browser workspace (headless Chromium)."
    )
    parser.add_argument("--polygons", type=int, default=2000, help="polygons on frame 0 (2000)")
    parser.add_argument("--vertices", type=int, default=20, help="points per polygon (20)")
    parser.add_argument(
        "--frames", type=int, default=3, help="1920×1080 images in the task (3; at least 2)"
    )
    parser.add_argument(
        "--duration", type=float, default=5.0, help="seconds of panning, then of zooming (5)"
    )
    parser.add_argument(
        "--switches", type=int, default=20, help="timed F/D frame switches of each kind (20)"
    )
    parser.add_argument(
        "--viewport", default="1600x900", help="browser window size in CSS pixels (1600x900)"
    )
    parser.add_argument(
        "--chromium", default=os.environ.get("LABELBAY_CHROMIUM", DEFAULT_CHROMIUM),
        help=f"the Chromium binary (default {DEFAULT_CHROMIUM}, or $LABELBAY_CHROMIUM)",
    )  # fmt: skip
    parser.add_argument(
        "--canvas", choices=("software", "swiftshader"), default="software",
        help="how headless Chromium draws canvases without a GPU: 'software' (--disable-gpu: "
        "Skia on the CPU; the default) or 'swiftshader' (Chromium's own default: GPU "
        "rasterization emulated on the CPU)",
    )  # fmt: skip
    parser.add_argument(
        "--browser-arg", action="append", default=[], metavar="ARG",
        help="an extra Chromium command-line switch, e.g. --browser-arg=--disable-gpu "
        "(repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", action="store_true",
        help="record the page's JavaScript CPU profile of each case and show the functions "
        "with the most self time (slows the page down a little)",
    )  # fmt: skip
    add_run_options(parser, "ui.json")
    args = parser.parse_args(argv)
    if args.frames < 2:
        parser.error("--frames: at least 2 (frame switching needs a second frame)")
    if args.polygons < 1 or args.vertices < 3 or args.duration <= 0 or args.switches < 1:
        parser.error("counts and durations must be positive (and --vertices at least 3)")
    if not Path(args.chromium).exists():
        parser.error(f"no Chromium at {args.chromium}: apt-get install -y chromium")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    machine = machine_info()
    if machine["load_average"] and machine["load_average"][0] > 0.5:
        log.warning("the machine is busy (load %s): results will be noisy", machine["load_average"])
    began = time.perf_counter()
    with server_for(args, "ui") as server:
        with tempfile.TemporaryDirectory(prefix="labelbay-bench-ui-") as folder:
            prepared = prepare(server, Path(folder), args.frames, args.polygons, args.vertices)
        log.info(
            "task %d, job %d: %d polygons PUT in %s",
            prepared.task_id, prepared.job_id, prepared.polygons, fmt_seconds(prepared.put_s),
        )  # fmt: skip
        run = run_browser(server, prepared, args)
    table, passed = build_report(run, prepared, args.canvas)
    print()
    table.show()
    print()
    for case, top in run.profiles.items():
        if top:
            print(f"JavaScript self time during {case} (top {len(top)}):")
            for entry in top:
                print(f"  {entry['self_ms']:8.1f} ms  {entry['share']:5.1%}  {entry['function']}")
    if run.unsaved_after:
        print("warning: the workspace showed unsaved changes after the run (a drag edited?)")
    print(f"database: {database_kind(args.database_url)}; all targets met: {passed}")
    write_json(
        args.json,
        {
            "benchmark": "ui",
            "machine": machine,
            "load_average_at_end": load_average(),
            "config": {
                "database": database_kind(args.database_url),
                "image_size": IMAGE_SIZE,
                "frames": args.frames,
                "polygons": args.polygons,
                "vertices": args.vertices,
                "duration_s": args.duration,
                "switch_rounds": args.switches,
                "viewport": args.viewport,
                "chromium": args.chromium,
                "chromium_version": run.chromium,
                "canvas": args.canvas,
                "browser_args": args.browser_arg,
            },
            "targets": {"fps": TARGET_FPS, "switch_median_s": TARGET_SWITCH_S},
            "prepared": asdict(prepared),
            "open_job_s": run.open_s,
            "objects_listed": run.objects_listed,
            "pan": asdict(run.pan),
            "zoom": asdict(run.zoom),
            "switches": [asdict(s) for s in run.switches],
            "unsaved_after": run.unsaved_after,
            "profiles": run.profiles,
            "all_targets_met": passed,
            "wall_s": time.perf_counter() - began,
        },
    )
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
