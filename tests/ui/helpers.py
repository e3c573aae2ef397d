"""Helpers of the browser tests: signing in, and a thin driver of the job workspace that only
uses the accessible names and test hooks of docs/ui.md.

Image coordinates map to the page as docs/ui.md promises: the workspace root (the element
with ``data-zoom``) exposes ``data-zoom``, ``data-offset-x`` and ``data-offset-y``; an image
point ``(x, y)`` is shown at ``frame canvas box + offset + zoom × (x, y)`` in CSS pixels.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

from conftest import ADMIN, Server

DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM = Path(os.environ.get("LABELBAY_CHROMIUM", str(DEBIAN_CHROMIUM)))

Credentials = tuple[str, str]
Point = tuple[float, float]


def chromium_missing_message() -> str:
    return (
        f"The browser tests need Debian's Chromium at {CHROMIUM}, which is missing. Install "
        "it with `apt-get update && apt-get install -y chromium` (.ci/run does this), or point "
        "$LABELBAY_CHROMIUM at a Chromium binary. Playwright's own browser download is not used."
    )


# ------------------------------------------------------------------------------------------
# Pages


def sign_in(page: Page, credentials: Credentials) -> None:
    """Signs in through the sign-in form and waits for the header's "Sign out"."""
    page.goto("/#/login")
    page.get_by_label("Username", exact=True).fill(credentials[0])
    page.get_by_label("Password", exact=True).fill(credentials[1])
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()


def job_id_from_url(page: Page) -> int:
    found = re.search(r"#/jobs/(\d+)", page.url)
    assert found, f"not a job URL: {page.url}"
    return int(found.group(1))


def task_id_from_url(page: Page) -> int:
    found = re.search(r"#/tasks/(\d+)", page.url)
    assert found, f"not a task URL: {page.url}"
    return int(found.group(1))


def admin_http(server: Server) -> httpx.Client:
    """A token-authenticated HTTP client of the administrator (close it after use)."""
    key = httpx.post(
        f"{server.url}/api/auth/login",
        json={"username": ADMIN[0], "password": ADMIN[1]},
        timeout=30,
    )
    key.raise_for_status()
    headers = {"Authorization": f"Token {key.json()['key']}"}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


def job_annotations(server: Server, job_id: int) -> dict[str, Any]:
    with admin_http(server) as http:
        reply = http.get(f"/api/jobs/{job_id}/annotations")
        assert reply.status_code == 200, reply.text
        data: dict[str, Any] = reply.json()
        return data


def label_ids(server: Server, task_id: int) -> dict[str, int]:
    """``{label name: id}`` of a task's labels."""
    with admin_http(server) as http:
        reply = http.get("/api/labels", params={"task_id": task_id, "page_size": 100})
        assert reply.status_code == 200, reply.text
        return {label["name"]: label["id"] for label in reply.json()["results"]}


def attribute_ids(server: Server, task_id: int) -> dict[str, int]:
    """``{"<label>.<attribute>": spec id}`` of a task's labels."""
    with admin_http(server) as http:
        reply = http.get("/api/labels", params={"task_id": task_id, "page_size": 100})
        assert reply.status_code == 200, reply.text
        return {
            f"{label['name']}.{spec['name']}": spec["id"]
            for label in reply.json()["results"]
            for spec in label.get("attributes", [])
        }


# ------------------------------------------------------------------------------------------
# The job workspace


@dataclass(frozen=True)
class Geometry:
    """Where the image is on the page: the frame canvas's box and the view's zoom and offset."""

    left: float
    top: float
    zoom: float
    offset_x: float
    offset_y: float

    def to_screen(self, point: Point) -> Point:
        return (
            self.left + self.offset_x + self.zoom * point[0],
            self.top + self.offset_y + self.zoom * point[1],
        )

    def to_image(self, point: Point) -> Point:
        return (
            (point[0] - self.left - self.offset_x) / self.zoom,
            (point[1] - self.top - self.offset_y) / self.zoom,
        )

    def pixel(self, point: Point) -> tuple[int, int]:
        """The whole CSS pixel nearest to the image point: where the mouse really goes."""
        x, y = self.to_screen(point)
        return round(x), round(y)


class Workspace:
    """The job workspace of one page."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.root = page.locator("[data-zoom]").first
        self.canvas = page.get_by_test_id("frame-canvas")
        self.save_state = page.get_by_test_id("save-state")
        self.objects = page.get_by_role("list", name="Objects", exact=True)

    # --- opening and frames ---------------------------------------------------------------

    def open(self, job_id: int) -> Workspace:
        self.page.goto(f"/#/jobs/{job_id}")
        self.wait_ready()
        return self

    def wait_ready(self, frame: int = 0) -> None:
        self.expect_frame(frame)
        expect(self.root).to_have_attribute("data-zoom", re.compile(r"^\d*\.?\d+(e-?\d+)?$"))

    def expect_frame(self, number: int) -> None:
        expect(self.canvas).to_have_attribute("data-frame", str(number))

    def frame(self) -> int:
        return int(self.canvas.get_attribute("data-frame") or "-1")

    def go_to(self, number: int) -> None:
        box = self.page.get_by_label("Go to frame", exact=True)
        box.fill(str(number))
        box.press("Enter")
        self.expect_frame(number)
        self.unfocus()

    def unfocus(self) -> None:
        """Leaves any input, so that the next key goes to the workspace's shortcuts."""
        self.page.evaluate("() => document.activeElement && document.activeElement.blur()")

    # --- controls ---------------------------------------------------------------------------

    def button(self, name: str) -> Locator:
        return self.page.get_by_role("button", name=name, exact=True)

    def tool(self, name: str) -> None:
        self.button(name).click()

    def items(self) -> Locator:
        return self.objects.get_by_role("listitem")

    def expect_objects(self, count: int) -> None:
        expect(self.items()).to_have_count(count)

    def save(self, *, keyboard: bool = False) -> None:
        expect(self.save_state).to_have_text("Unsaved changes")
        if keyboard:
            self.unfocus()
            self.page.keyboard.press("Control+s")
        else:
            self.button("Save").click()
        expect(self.save_state).to_have_text("Saved")

    # --- geometry and the mouse ---------------------------------------------------------------

    def geometry(self) -> Geometry:
        box = self.canvas.bounding_box()
        assert box is not None, "the frame canvas is not shown"
        values = self.root.evaluate("e => [e.dataset.zoom, e.dataset.offsetX, e.dataset.offsetY]")
        zoom, off_x, off_y = (float(v) for v in values)
        assert zoom > 0, values
        return Geometry(box["x"], box["y"], zoom, off_x, off_y)

    def drag(self, start: Point, end: Point, *, steps: int = 8) -> tuple[Point, Point]:
        """Drags the mouse from image point ``start`` to ``end`` (on whole CSS pixels); answers
        the image points the mouse really pressed and released at."""
        geometry = self.geometry()
        a, b = geometry.pixel(start), geometry.pixel(end)
        mouse = self.page.mouse
        mouse.move(*a)
        mouse.down()
        mouse.move(*b, steps=steps)
        mouse.up()
        return geometry.to_image(a), geometry.to_image(b)

    def click_points(self, points: Sequence[Point]) -> list[Point]:
        """Clicks at each image point (whole CSS pixels); answers the image points clicked."""
        geometry = self.geometry()
        done: list[Point] = []
        for point in points:
            pixel = geometry.pixel(point)
            self.page.mouse.click(*pixel)
            done.append(geometry.to_image(pixel))
        return done

    def draw_rectangle(self, start: Point, end: Point) -> list[float]:
        """Draws a rectangle with the "Rectangle" tool; answers its expected CVAT points."""
        self.tool("Rectangle")
        (x1, y1), (x2, y2) = self.drag(start, end)
        return [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]

    def draw_polygon(self, points: Sequence[Point]) -> list[float]:
        """Draws a polygon with the "Polygon" tool (clicks, then Enter); answers its points."""
        self.tool("Polygon")
        clicked = self.click_points(points)
        self.page.keyboard.press("Enter")
        return [c for point in clicked for c in point]

    # --- handles of the selected shape --------------------------------------------------------

    def handle_centres(self) -> list[Point]:
        """Image coordinates of the centres of the selected shape's handles (the small circles
        or squares of the workspace's SVG overlay)."""
        geometry = self.geometry()
        boxes = self.root.evaluate(
            """root => [...root.querySelectorAll('svg circle, svg rect')]
                .filter(e => e.closest('svg') && e.getBoundingClientRect().width > 0)
                .map(e => { const r = e.getBoundingClientRect();
                            return [r.x + r.width / 2, r.y + r.height / 2, r.width, r.height]; })"""
        )
        return [geometry.to_image((x, y)) for x, y, _w, _h in boxes]


def assert_close(got: Sequence[float], want: Sequence[float], tolerance: float = 0.5) -> None:
    assert len(got) == len(want), (got, want)
    worst = max(abs(g - w) for g, w in zip(got, want, strict=True))
    assert worst <= tolerance, f"got {list(got)}, want {list(want)} (off by {worst:.3f})"


# ------------------------------------------------------------------------------------------
# Tasks made through the API (the SDK), for the tests that start in the workspace


def sdk_job(
    server: Server,
    credentials: Credentials,
    files: Sequence[Path],
    *,
    labels: list[dict[str, Any]] | None = None,
    name: str = "ui task",
) -> tuple[int, int]:
    """Creates a task of ``files`` as ``credentials`` with cvat-sdk; answers (task id, id of
    its first job)."""
    from e2e.helpers import create_task, jobs_in_order, sdk_client

    with sdk_client(server, credentials) as client:
        task = create_task(client, files, name=name, labels=labels, status_check_period=0.1)
        jobs = jobs_in_order(task)
        return int(task.id), int(jobs[0].id)


def images(folder: Path, count: int, *, size: tuple[int, int] = (640, 480)) -> list[Path]:
    from e2e.helpers import noise_images

    return noise_images(folder, [f"frame{i:03d}.png" for i in range(count)], size=size)


def wait_until(condition: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Polls ``condition`` every 50 ms until it is true; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {what or condition}")
        time.sleep(0.05)


def attribute_input(scope: Locator, name: str) -> Locator:
    """The sidebar's input of attribute ``name`` (accessible name = the attribute's name):
    a select, a text or number input, or a checkbox. (``get_by_label`` would not do: a label
    that wraps a select also holds the options' text.)"""
    roles = ("combobox", "textbox", "spinbutton", "checkbox")
    found = scope.get_by_role(roles[0], name=name, exact=True)
    for role in roles[1:]:
        found = found.or_(scope.get_by_role(role, name=name, exact=True))  # type: ignore[arg-type]
    return found
