"""What a backup keeps beyond frames and annotations, end to end over HTTP: assignees (restored
by username when the user exists, else left empty), every field the manifest records (a
restored task or project backs up to the same manifest), and CVAT's ``lightweight`` flag, which
changes nothing here because a Labelbay task always owns its media."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from cvat_sdk import Client
from cvat_sdk.core.proxies.tasks import Task

from e2e.helpers import create_task, jobs_in_order, noise_images

from .helpers import (
    LABELS,
    Names,
    Person,
    annotations,
    assert_same_task,
    manifest_of,
    restore_via_http,
    wait_request,
    with_manifest,
)


def _backup(api: httpx.Client, collection: str, obj_id: int, **params: str) -> bytes:
    started = api.post(f"/api/{collection}/{obj_id}/backup/export", params=params)
    assert started.status_code == 202, started.text
    done = wait_request(api, started.json()["rq_id"])
    assert done["status"] == "finished", done
    response = api.get(done["result_url"])
    assert response.status_code == 200, response.text
    return response.content


def _restore(api: httpx.Client, collection: str, payload: bytes) -> int:
    done = wait_request(api, restore_via_http(api, collection, payload, "backup.zip"))
    assert done["status"] == "finished", done
    result = done["result_id"]
    assert isinstance(result, int)
    return result


def _jobs(api: httpx.Client, task_id: int) -> list[tuple[int, str, str, str | None]]:
    response = api.get("/api/jobs", params={"task_id": task_id, "page_size": 100})
    assert response.status_code == 200, response.text
    return [
        (j["start_frame"], j["stage"], j["state"], (j["assignee"] or {}).get("username"))
        for j in sorted(response.json()["results"], key=lambda j: j["start_frame"])
    ]


def _assignee(api: httpx.Client, path: str) -> str | None:
    response = api.get(path)
    assert response.status_code == 200, response.text
    found: dict[str, Any] | None = response.json()["assignee"]
    return found["username"] if found else None


def test_the_manifest_records_every_setting(
    api: httpx.Client, annotated: Task, people: tuple[Person, Person]
) -> None:
    manifest = manifest_of(_backup(api, "tasks", annotated.id))
    task = manifest["task"]
    assert (task["name"], task["subset"], task["bug_tracker"]) == (
        "backed up / task #1", "train", "https://example.com/issue/1",
    )  # fmt: skip
    assert (task["segment_size"], task["overlap"]) == (3, 0)
    assert task["assignee"] == people[0].username
    assert [(j["start_frame"], j["stop_frame"], j["stage"], j["state"], j["assignee"])
            for j in task["jobs"]] == [
        (0, 2, "acceptance", "completed", people[1].username),
        (3, 5, "validation", "in progress", people[0].username),
        (6, 8, "annotation", "new", None),
    ]  # fmt: skip
    data = task["data"]
    assert (data["sorting_method"], data["image_quality"], data["chunk_size"]) == (
        "natural", 55, 2,
    )  # fmt: skip
    assert data["deleted_frames"] == [4]
    person = next(label for label in manifest["labels"] if label["name"] == "person")
    assert person["attributes"] == [
        {"name": "age", "mutable": False, "input_type": "number", "default_value": "30",
         "values": ["0", "120", "1"]},
    ]  # fmt: skip


def test_a_restored_task_backs_up_to_the_same_manifest(
    client: Client, api: httpx.Client, annotated: Task
) -> None:
    """Every field the export writes comes back from a restore: nothing is dropped on the way
    in (a field lost there would differ in the second backup)."""
    first = _backup(api, "tasks", annotated.id)
    restored = _restore(api, "tasks", first)
    assert restored != annotated.id
    assert manifest_of(_backup(api, "tasks", restored)) == manifest_of(first)
    assert_same_task(api, annotated, client.tasks.retrieve(restored))


def test_assignees_are_restored_by_username_or_left_empty(
    api: httpx.Client, annotated: Task, people: tuple[Person, Person]
) -> None:
    def strangers(manifest: dict[str, Any]) -> None:
        manifest["task"]["assignee"] = "nobody-on-this-server"
        manifest["task"]["jobs"][0]["assignee"] = "nobody-on-this-server"

    payload = with_manifest(_backup(api, "tasks", annotated.id), strangers)
    restored = _restore(api, "tasks", payload)
    assert _assignee(api, f"/api/tasks/{restored}") is None
    assert _jobs(api, restored) == [
        (0, "acceptance", "completed", None),
        (3, "validation", "in progress", people[0].username),
        (6, "annotation", "new", None),
    ]
    assert _assignee(api, f"/api/tasks/{annotated.id}") == people[0].username


@pytest.mark.parametrize("value", ["true", "True", "false"])
def test_lightweight_is_accepted_and_the_media_stay_in(
    client: Client, api: httpx.Client, annotated: Task, value: str
) -> None:
    payload = _backup(api, "tasks", annotated.id, lightweight=value)
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        media = [name for name in archive.namelist() if name.startswith("data/")]
    assert len(media) == 9
    restored = client.tasks.retrieve(_restore(api, "tasks", payload))
    assert_same_task(api, annotated, restored)


def test_lightweight_must_be_a_boolean(api: httpx.Client, annotated: Task) -> None:
    response = api.post(
        f"/api/tasks/{annotated.id}/backup/export", params={"lightweight": "sometimes"}
    )
    assert response.status_code == 400, response.text
    assert "lightweight" in response.json()["detail"]


def test_a_restored_project_backs_up_to_the_same_manifest(
    client: Client, api: httpx.Client, tmp_path: Path, people: tuple[Person, Person]
) -> None:
    project = client.projects.create(
        {"name": "project fields", "labels": LABELS, "assignee_id": people[1].id,
         "bug_tracker": "https://example.com/p/2"}
    )  # fmt: skip
    task = create_task(
        client, noise_images(tmp_path, [f"f{i}.png" for i in range(5)], size=(12, 9)),
        name="in project", project_id=project.id, segment_size=2, overlap=1, subset="val",
        bug_tracker="https://example.com/t/3", assignee_id=people[0].id,
        data_params={"image_quality": 40, "chunk_size": 3, "sorting_method": "predefined"},
    )  # fmt: skip
    put = api.put(f"/api/tasks/{task.id}/annotations/", json=annotations(Names(api, task.id)))
    assert put.status_code == 200, put.text
    last = jobs_in_order(task)[-1]
    assigned = api.patch(
        f"/api/jobs/{last.id}", json={"assignee": people[1].id, "state": "rejected"}
    )
    assert assigned.status_code == 200, assigned.text
    client.tasks.create({"name": "empty in project", "project_id": project.id, "subset": "test"})

    first = _backup(api, "projects", project.id)
    manifest = manifest_of(first)
    assert manifest["project"]["assignee"] == people[1].username
    assert [t["subset"] for t in manifest["tasks"]] == ["val", "test"]
    assert manifest["tasks"][0]["jobs"][-1]["assignee"] == people[1].username
    restored = _restore(api, "projects", first)
    assert restored != project.id
    assert _assignee(api, f"/api/projects/{restored}") == people[1].username
    assert manifest_of(_backup(api, "projects", restored)) == manifest
