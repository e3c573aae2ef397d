"""Moving between frames: F / D, the player's buttons, the slider, "Go to frame", and the help
overlay of the keyboard shortcuts."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from conftest import Server

from .helpers import Workspace, images, sdk_job, sign_in

FRAMES = 6


def test_keys_buttons_slider_and_go_to_frame_move_the_frame(
    page: Page, server: Server, tmp_path: Path
) -> None:
    user = server.create_user()
    _task, job = sdk_job(server, user, images(tmp_path, FRAMES, size=(320, 240)))
    sign_in(page, user)
    ws = Workspace(page).open(job)
    keys = page.keyboard

    keys.press("f")
    ws.expect_frame(1)
    keys.press("f")
    ws.expect_frame(2)
    keys.press("d")
    ws.expect_frame(1)

    ws.button("Next frame").click()
    ws.expect_frame(2)
    ws.button("Previous frame").click()
    ws.expect_frame(1)
    ws.button("Last frame").click()
    ws.expect_frame(FRAMES - 1)
    ws.unfocus()
    keys.press("f")  # past the last frame: stays there
    ws.expect_frame(FRAMES - 1)
    ws.button("First frame").click()
    ws.expect_frame(0)
    ws.unfocus()
    keys.press("d")  # before the first frame: stays there
    ws.expect_frame(0)

    slider = page.get_by_label("Frame", exact=True)
    expect(slider).to_have_value("0")
    slider.fill("3")
    ws.expect_frame(3)

    ws.go_to(4)
    expect(slider).to_have_value("4")
    keys.press("d")
    ws.expect_frame(3)
    expect(slider).to_have_value("3")

    # Keys typed into an input are not shortcuts.
    go_to = page.get_by_label("Go to frame", exact=True)
    go_to.focus()  # (a click in its middle may hit the number input's spin buttons)
    go_to.press("f")
    go_to.press("d")
    ws.expect_frame(3)
    ws.unfocus()


def test_question_mark_and_the_button_open_the_shortcuts_help(
    page: Page, server: Server, tmp_path: Path
) -> None:
    user = server.create_user()
    _task, job = sdk_job(server, user, images(tmp_path, 2, size=(320, 240)))
    sign_in(page, user)
    ws = Workspace(page).open(job)

    help_overlay = page.get_by_role("dialog")
    expect(help_overlay).to_have_count(0)
    page.keyboard.press("?")
    expect(help_overlay).to_be_visible()
    expect(help_overlay).to_contain_text("Ctrl+S")
    page.keyboard.press("Escape")
    expect(help_overlay).to_be_hidden()

    ws.button("Keyboard shortcuts").click()
    expect(help_overlay).to_be_visible()
    page.keyboard.press("Escape")
    expect(help_overlay).to_be_hidden()

    ws.unfocus()
    page.keyboard.press("F1")
    expect(help_overlay).to_be_visible()
