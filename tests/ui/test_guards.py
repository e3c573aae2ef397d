"""What keeps work from being lost: the unsaved-changes warning and clear upload errors."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Dialog, Page, expect

from conftest import Server

from .helpers import Workspace, images, job_annotations, sdk_job, sign_in


def test_leaving_a_job_with_unsaved_changes_asks_first(
    page: Page, server: Server, tmp_path: Path
) -> None:
    user = server.create_user()
    _task, job = sdk_job(server, user, images(tmp_path, 2))
    sign_in(page, user)
    ws = Workspace(page).open(job)
    ws.draw_rectangle((50, 50), (150, 120))
    expect(ws.save_state).to_have_text("Unsaved changes")

    asked: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        asked.append(dialog.type)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.evaluate("location.hash = '#/tasks'")
    expect(page).to_have_url(re.compile(rf"#/jobs/{job}$"))
    assert asked == ["confirm"]
    ws.expect_objects(1)  # the drawing is still there
    expect(ws.save_state).to_have_text("Unsaved changes")

    # Saved, nothing to lose: leaving asks nothing.
    ws.save()
    page.once("dialog", lambda dialog: (asked.append("again"), dialog.dismiss()))
    page.evaluate("location.hash = '#/tasks'")
    expect(page).to_have_url(re.compile(r"#/tasks$"))
    assert asked == ["confirm"]
    assert len(job_annotations(server, job)["shapes"]) == 1


def test_a_bad_file_is_named_and_the_form_stays_usable(
    page: Page, server: Server, tmp_path: Path
) -> None:
    user = server.create_user()
    good = images(tmp_path, 2)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    sign_in(page, user)
    page.goto("/#/tasks/new")
    page.get_by_label("Name", exact=True).fill("with a broken file")
    names = page.get_by_label("Label name", exact=True)
    if names.count() == 0:
        page.get_by_role("button", name="Add label", exact=True).click()
    names.first.fill("thing")
    page.get_by_label("Files", exact=True).set_input_files([str(p) for p in [*good, bad]])
    page.get_by_role("button", name="Submit", exact=True).click()
    alert = page.get_by_role("alert").filter(has_text="broken.png")
    expect(alert).to_be_visible(timeout=30_000)
    # Still usable: the upload can be retried (without the bad file) or the task deleted.
    expect(page.get_by_role("button", name="Delete task").first).to_be_visible()
    expect(page.get_by_role("button", name="Submit", exact=True)).to_be_enabled()
