"""Undo and redo of drawing, by keys and by buttons; what is saved is what is shown."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

from conftest import Server

from .helpers import Workspace, assert_close, images, job_annotations, sdk_job, sign_in


def test_undo_removes_a_drawn_shape_and_redo_restores_it(
    page: Page, server: Server, tmp_path: Path
) -> None:
    user = server.create_user()
    _task, job = sdk_job(server, user, images(tmp_path, 2))
    sign_in(page, user)
    ws = Workspace(page).open(job)
    keys = page.keyboard

    drawn = ws.draw_rectangle((60, 50), (220, 170))
    ws.expect_objects(1)

    keys.press("Control+z")
    ws.expect_objects(0)
    keys.press("Control+Shift+z")
    ws.expect_objects(1)

    ws.button("Undo").click()
    ws.expect_objects(0)
    ws.button("Redo").click()
    ws.expect_objects(1)

    ws.unfocus()
    keys.press("Control+z")
    ws.expect_objects(0)
    keys.press("Control+y")
    ws.expect_objects(1)

    # A second shape, undone: only the first one is saved.
    ws.draw_rectangle((300, 200), (400, 300))
    ws.expect_objects(2)
    keys.press("Control+z")
    ws.expect_objects(1)

    ws.save(keyboard=True)
    shapes = job_annotations(server, job)["shapes"]
    assert [s["type"] for s in shapes] == ["rectangle"], shapes
    assert_close(shapes[0]["points"], drawn)
