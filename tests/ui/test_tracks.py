"""A track drawn over video frames: keyframes where it was edited, interpolation between."""

from __future__ import annotations

import math
from pathlib import Path

from playwright.sync_api import Page, expect

from conftest import Server

from .helpers import (
    Point,
    Workspace,
    assert_close,
    job_annotations,
    sdk_job,
    sign_in,
    wait_until,
)


def corners(box: list[float]) -> list[Point]:
    x1, y1, x2, y2 = box
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]


def test_track_keyframes_at_edited_frames_and_interpolates_between(
    page: Page, server: Server, tmp_path: Path
) -> None:
    from delivery.helpers import VideoSpec, make_video

    video = make_video(tmp_path, VideoSpec("clip.mp4", "libx264", 10, (640, 480)))
    user = server.create_user()
    _task, job = sdk_job(server, user, [video])
    sign_in(page, user)
    ws = Workspace(page).open(job)

    track = page.get_by_role("button", name="Track", exact=True).or_(
        page.get_by_role("checkbox", name="Track", exact=True)
    )
    track.click()
    start = ws.draw_rectangle((100, 100), (200, 180))
    ws.expect_objects(1)

    for frame in range(1, 5):
        ws.unfocus()
        page.keyboard.press("f")
        ws.expect_frame(frame)
    ws.expect_objects(1)

    # Move it on frame 4: select it with a click, then drag it by its inside.
    ws.tool("Select")
    ws.click_points([(150, 140)])
    geometry = ws.geometry()
    (ax, ay), (bx, by) = ws.drag((150, 140), (230, 180))
    dx, dy = bx - ax, by - ay
    moved = [start[0] + dx, start[1] + dy, start[2] + dx, start[3] + dy]
    assert geometry == ws.geometry(), "moving a shape must not pan the view"
    ws.save(keyboard=True)

    tracks = job_annotations(server, job)["tracks"]
    assert len(tracks) == 1, tracks
    assert tracks[0]["frame"] == 0
    keyframes = {shape["frame"]: shape for shape in tracks[0]["shapes"]}
    assert {0, 4} <= set(keyframes), sorted(keyframes)
    assert set(keyframes) - {0, 4} <= {f for f, s in keyframes.items() if s["outside"]}
    assert not keyframes[0]["outside"] and not keyframes[4]["outside"]
    assert keyframes[0]["type"] == keyframes[4]["type"] == "rectangle"
    assert_close(keyframes[0]["points"], start)
    assert_close(keyframes[4]["points"], moved)

    # Frame 2, halfway: the selected track's handles sit on the interpolated corners.
    ws.go_to(2)
    halfway = [(a + b) / 2 for a, b in zip(start, moved, strict=True)]
    centre = ((halfway[0] + halfway[2]) / 2, (halfway[1] + halfway[3]) / 2)
    ws.tool("Select")
    ws.click_points([centre])

    def handles_on_corners() -> bool:
        handles = ws.handle_centres()
        return bool(handles) and all(
            min(math.dist(corner, h) for h in handles) <= 1.0 for corner in corners(halfway)
        )

    wait_until(handles_on_corners, what=f"handles on the corners of {halfway}")
    keyframe = page.get_by_role("button", name="Keyframe", exact=True)
    expect(keyframe).to_have_attribute("aria-pressed", "false")
    ws.go_to(4)
    expect(keyframe).to_have_attribute("aria-pressed", "true")
