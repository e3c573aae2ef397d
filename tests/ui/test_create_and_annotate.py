"""A new user's first session: sign in, create a task through the form, annotate, save."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from conftest import Server

from .helpers import (
    Workspace,
    admin_http,
    assert_close,
    attribute_ids,
    attribute_input,
    job_annotations,
    job_id_from_url,
    label_ids,
    sign_in,
    task_id_from_url,
    wait_until,
)


def make_files(folder: Path) -> list[Path]:
    """Two PNGs and two JPEGs of 640×480 (different content each)."""
    from e2e.helpers import noise, save_image

    names = ["a.png", "b.jpg", "c.png", "d.jpg"]
    return [save_image(folder / n, noise(640, 480, seed=i)) for i, n in enumerate(names)]


def fill_task_form(page: Page, files: list[Path]) -> None:
    page.get_by_label("Name", exact=True).fill("UI-made task")
    # Labels: "car" with a select attribute "color", then "person".
    label_names = page.get_by_label("Label name", exact=True)
    if label_names.count() == 0:
        page.get_by_role("button", name="Add label", exact=True).click()
    expect(label_names).to_have_count(1)
    label_names.first.fill("car")
    page.get_by_role("button", name="Add attribute", exact=True).first.click()
    page.get_by_label("Attribute name", exact=True).first.fill("color")
    page.get_by_label("Attribute type", exact=True).first.select_option("select")
    values = page.get_by_label("Attribute values", exact=True).first
    multiline = values.evaluate("e => e.tagName === 'TEXTAREA'")
    values.fill("red\nblue\ngreen" if multiline else "red, blue, green")
    page.get_by_role("button", name="Add label", exact=True).click()
    expect(label_names).to_have_count(2)
    label_names.nth(1).fill("person")
    page.get_by_label("Segment size", exact=True).fill("2")
    page.get_by_label("Files", exact=True).set_input_files([str(f) for f in files])


def test_new_user_creates_task_draws_sets_attribute_saves_and_reloads(
    page: Page, server: Server, tmp_path: Path
) -> None:
    user = server.create_user()
    files = make_files(tmp_path)
    sign_in(page, user)

    page.goto("/#/tasks")
    create = page.get_by_role("link", name="Create task", exact=True).or_(
        page.get_by_role("button", name="Create task", exact=True)
    )
    create.first.click()
    fill_task_form(page, files)
    page.get_by_role("button", name="Submit", exact=True).click()

    # The task page, with its two jobs (4 frames, segments of 2).
    expect(page).to_have_url(re.compile(r"#/tasks/\d+$"), timeout=30_000)
    task_id = task_id_from_url(page)
    open_job = page.get_by_role("link", name="Open job", exact=True)
    expect(open_job).to_have_count(2, timeout=20_000)
    open_job.first.click()
    expect(page).to_have_url(re.compile(r"#/jobs/\d+$"))
    job_id = job_id_from_url(page)

    ws = Workspace(page)
    ws.wait_ready()
    expect(ws.save_state).to_have_text("Saved")
    ws.expect_objects(0)

    # Choose "car" in the toolbar's current-label select (after "person": a real choice).
    current_label = page.get_by_role("combobox", name="Label", exact=True)
    current_label.select_option(label="person")
    current_label.select_option(label="car")
    ws.unfocus()

    # A rectangle, then its "color" set in the sidebar while it is the only object.
    rectangle = ws.draw_rectangle((100, 80), (300, 220))
    ws.expect_objects(1)
    expect(ws.save_state).to_have_text("Unsaved changes")
    color = attribute_input(ws.objects, "color")
    expect(color).to_have_count(1)
    if color.evaluate("e => e.tagName === 'SELECT'"):
        color.select_option("blue")
    else:
        color.fill("blue")
        color.press("Enter")
    expect(color).to_have_value("blue")
    ws.unfocus()

    polygon = ws.draw_polygon([(400, 100), (520, 120), (480, 260), (380, 220)])
    ws.expect_objects(2)
    ws.save()

    page.reload()
    ws.wait_ready()
    ws.expect_objects(2)
    expect(ws.save_state).to_have_text("Saved")
    # The rectangle, selected by a click inside it, shows its stored "color".
    ws.tool("Select")
    ws.click_points([(200, 150)])
    colors = attribute_input(ws.objects, "color")
    wait_until(lambda: "blue" in colors.evaluate_all("els => els.map(e => e.value)"))

    with admin_http(server) as http:
        task = http.get(f"/api/tasks/{task_id}").json()
    assert task["size"] == len(files), task
    assert task["segment_size"] == 2, task

    data = job_annotations(server, job_id)
    shapes = {shape["type"]: shape for shape in data["shapes"]}
    assert sorted(shapes) == ["polygon", "rectangle"], data["shapes"]
    assert_close(shapes["rectangle"]["points"], rectangle)
    assert_close(shapes["polygon"]["points"], polygon)
    assert shapes["rectangle"]["frame"] == shapes["polygon"]["frame"] == 0
    car = label_ids(server, task_id)["car"]
    assert shapes["rectangle"]["label_id"] == shapes["polygon"]["label_id"] == car
    spec = attribute_ids(server, task_id)["car.color"]
    values = {a["spec_id"]: a["value"] for a in shapes["rectangle"]["attributes"]}
    assert values.get(spec) == "blue", shapes["rectangle"]
