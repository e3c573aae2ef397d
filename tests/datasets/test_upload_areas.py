"""Upload areas go with their owner, end to end: an upload started on a task, a job or a project
(Upload-Start and part of a TUS upload) leaves no folder behind once the owner is deleted, or
once the import it fed has finished or failed, or once it has been abandoned for longer than
the request TTL."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cvat_sdk import Client
from cvat_sdk.core.proxies.tasks import Task

from conftest import ADMIN, Server
from e2e.helpers import create_task, jobs_in_order, noise_images, sdk_client

IMPORTER = "CVAT 1.1"
EXPORTER = "CVAT for images 1.1"
TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[Client]:
    with sdk_client(server, ADMIN) as signed_in:
        signed_in.config.status_check_period = 1
        yield signed_in


def _area(server: Server, kind: str, owner: int | str) -> Path:
    return server.data_dir / "uploads" / kind / str(owner)


def _tus_create(http: httpx.Client, url: str, name: str, length: int) -> str:
    meta = f"filename {base64.b64encode(name.encode()).decode()}"
    created = http.post(url, headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": meta})
    assert created.status_code == 201, created.text
    return created.headers["Location"]


def _tus_send(http: httpx.Client, location: str, chunk: bytes, offset: int = 0) -> None:
    sent = http.patch(
        location, content=chunk,
        headers={**TUS, "Upload-Offset": str(offset),
                 "Content-Type": "application/offset+octet-stream"},
    )  # fmt: skip
    assert sent.status_code == 204, sent.text


def _half_upload(http: httpx.Client, url: str, params: dict[str, str] | None = None) -> str:
    """Upload-Start and the first 10 of 100 bytes; returns the upload's URL."""
    started = http.post(url, params=params, headers={"Upload-Start": ""})
    assert started.status_code == 202, started.text
    location = _tus_create(http, url, "annotations.xml", 100)
    _tus_send(http, location, b"<" * 10)
    assert http.head(location, headers=TUS).headers["Upload-Offset"] == "10"
    return location


def _full_upload(
    http: httpx.Client, url: str, payload: bytes, name: str, fmt: str
) -> dict[str, Any]:
    """The whole CVAT upload protocol; returns the finished (or failed) request."""
    assert http.post(url, params={"format": fmt}, headers={"Upload-Start": ""}).status_code == 202
    location = _tus_create(http, url, name, len(payload))
    _tus_send(http, location, payload)
    stored = http.head(location, headers=TUS)
    assert stored.status_code == 404  # complete: no longer a pending upload
    finished = http.post(url, params={"format": fmt}, headers={"Upload-Finish": ""})
    assert finished.status_code == 202, finished.text
    return _wait(http, finished.json()["rq_id"])


def _wait(http: httpx.Client, rq_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        body: dict[str, Any] = http.get(f"/api/requests/{rq_id}").json()
        if body["status"] in ("finished", "failed"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def _task(client: Client, tmp_path: Path, name: str, **spec: Any) -> Task:
    images = noise_images(tmp_path / name, [f"{name}_{i}.png" for i in range(4)], size=(16, 12))
    return create_task(client, images, name=name, segment_size=2, **spec)


def _partial_files(folder: Path) -> list[Path]:
    return sorted((folder / "partial").iterdir())


def test_deleting_a_task_clears_its_and_its_jobs_upload_areas(
    server: Server, http: httpx.Client, client: Client, tmp_path: Path
) -> None:
    task = _task(client, tmp_path, "doomed")
    jobs = jobs_in_order(task)
    assert len(jobs) == 2
    _half_upload(http, f"/api/tasks/{task.id}/annotations/", {"format": IMPORTER})
    for job in jobs:
        _half_upload(http, f"/api/jobs/{job.id}/annotations/", {"format": IMPORTER})
    areas = [_area(server, "task-annotations", task.id)] + [
        _area(server, "job-annotations", job.id) for job in jobs
    ]
    for folder in areas:
        assert len(_partial_files(folder)) == 1, folder
    empty = client.tasks.create({"name": "no data yet", "labels": [{"name": "car"}]})
    location = _half_upload(http, f"/api/tasks/{empty.id}/data/")
    assert _partial_files(_area(server, "task-data", empty.id))

    assert http.delete(f"/api/tasks/{task.id}").status_code == 204
    for folder in areas:
        assert not folder.exists(), folder
    assert _partial_files(_area(server, "task-data", empty.id))  # another task's: kept
    assert http.head(location, headers=TUS).status_code == 200
    assert http.delete(f"/api/tasks/{empty.id}").status_code == 204
    assert not _area(server, "task-data", empty.id).exists()


def test_deleting_a_project_clears_its_tasks_jobs_and_dataset_areas(
    server: Server, http: httpx.Client, client: Client, tmp_path: Path
) -> None:
    project = client.projects.create({"name": "doomed project", "labels": [{"name": "car"}]})
    task = _task(client, tmp_path, "in_project", project_id=project.id)
    job = jobs_in_order(task)[1]
    _half_upload(http, f"/api/projects/{project.id}/dataset/", {"format": IMPORTER})
    _half_upload(http, f"/api/tasks/{task.id}/annotations/", {"format": IMPORTER})
    _half_upload(http, f"/api/jobs/{job.id}/annotations/", {"format": IMPORTER})
    areas = [
        _area(server, "project-dataset", project.id),
        _area(server, "task-annotations", task.id),
        _area(server, "job-annotations", job.id),
    ]
    for folder in areas:
        assert _partial_files(folder), folder

    assert http.delete(f"/api/projects/{project.id}").status_code == 204
    for folder in areas:
        assert not folder.exists(), folder


def test_finished_and_failed_imports_leave_no_area(
    server: Server, http: httpx.Client, client: Client, tmp_path: Path
) -> None:
    task = _task(client, tmp_path, "imports")
    job = jobs_in_order(task)[0]
    label = task.get_labels()[0].id
    task.set_annotations(
        {"shapes": [{"type": "rectangle", "frame": 0, "label_id": label, "points": [1, 1, 5, 5]}]}
    )
    exported = tmp_path / "export.zip"
    task.export_dataset(EXPORTER, exported, include_images=False)
    good = exported.read_bytes()
    imports = server.data_dir / "imports"

    for url, area in (
        (f"/api/tasks/{task.id}/annotations/", _area(server, "task-annotations", task.id)),
        (f"/api/jobs/{job.id}/annotations/", _area(server, "job-annotations", job.id)),
    ):
        done = _full_upload(http, url, good, "good.zip", IMPORTER)
        assert done["status"] == "finished", done
        assert not area.exists(), area
        assert not (imports / done["id"]).exists()
        failed = _full_upload(http, url, b"not a zip at all", "bad.zip", IMPORTER)
        assert failed["status"] == "failed", failed
        assert "bad.zip" in failed["message"]
        assert not area.exists(), area
        assert not (imports / failed["id"]).exists()

    project = client.projects.create({"name": "import target", "labels": [{"name": "car"}]})
    url = f"/api/projects/{project.id}/dataset/"
    failed = _full_upload(http, url, b"no images in here", "dataset.zip", IMPORTER)
    assert failed["status"] == "failed", failed
    assert not _area(server, "project-dataset", project.id).exists()
    assert not _area(server, "project-dataset", failed["id"]).exists()
    assert not (imports / failed["id"]).exists()


def _age(folder: Path, seconds: float) -> None:
    """Makes everything in the folder look untouched for ``seconds``."""
    when = time.time() - seconds
    for path in [*folder.rglob("*"), folder]:
        os.utime(path, (when, when))


def test_an_abandoned_upload_is_cleared_by_a_later_upload_start(
    server: Server, http: httpx.Client, client: Client, tmp_path: Path
) -> None:
    left = _task(client, tmp_path, "left")
    recent = _task(client, tmp_path, "recent")
    other = _task(client, tmp_path, "other")
    abandoned = _half_upload(http, f"/api/tasks/{left.id}/annotations/", {"format": IMPORTER})
    waiting = _half_upload(http, f"/api/tasks/{recent.id}/annotations/", {"format": IMPORTER})
    _age(_area(server, "task-annotations", left.id), 2 * 24 * 3600)  # TTL is 24 hours
    _age(_area(server, "task-annotations", recent.id), 3600)

    _half_upload(http, f"/api/tasks/{other.id}/annotations/", {"format": IMPORTER})
    assert not _area(server, "task-annotations", left.id).exists()
    assert http.head(abandoned, headers=TUS).status_code == 404
    assert _partial_files(_area(server, "task-annotations", recent.id))
    assert http.head(waiting, headers=TUS).headers["Upload-Offset"] == "10"


def test_a_stale_backup_upload_goes_at_the_users_next_upload_start(
    server: Server, http: httpx.Client
) -> None:
    """A user's restores share one area: Upload-Start removes only what went stale in it."""
    me = http.get("/api/users/self")
    assert me.status_code == 200, me.text
    area = _area(server, "task-backup", me.json()["id"])
    url = "/api/tasks/backup/"
    assert http.post(url, headers={"Upload-Start": ""}).status_code == 202
    old = _tus_create(http, url, "old.zip", 100)
    _tus_send(http, old, b"PK" * 5)
    fresh = _tus_create(http, url, "fresh.zip", 100)
    _tus_send(http, fresh, b"PK" * 5)
    stale = next(p for p in _partial_files(area) if old.endswith(p.name))
    _age(stale, 2 * 24 * 3600)

    assert http.post(url, headers={"Upload-Start": ""}).status_code == 202
    assert not stale.exists()
    assert http.head(old, headers=TUS).status_code == 404
    assert http.head(fresh, headers=TUS).headers["Upload-Offset"] == "10"
