"""Export scopes (job, project) and the lifetime of export results, end to end."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from cvat_sdk import Client

from conftest import ADMIN, Server, launch_server
from e2e.helpers import create_task, login_key, noise_images, sdk_client

CVAT_EXPORT = "CVAT for images 1.1"
NAMES = [f"s_{i}.png" for i in range(6)]


def _need_cvat(http: httpx.Client) -> None:
    names = {f["name"] for f in http.get("/api/server/annotation/formats").json()["exporters"]}
    assert CVAT_EXPORT in names, f"{CVAT_EXPORT!r} is not listed"


def _wait(http: httpx.Client, rq_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        body: dict[str, Any] = http.get(f"/api/requests/{rq_id}").json()
        if body["status"] in ("finished", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def _export(http: httpx.Client, path: str, **params: str) -> dict[str, Any]:
    started = http.post(path, params={"format": CVAT_EXPORT, **params})
    assert started.status_code == 202, started.text
    return _wait(http, started.json()["rq_id"])


def test_job_export_has_only_its_frames(client: Client, http: httpx.Client, tmp_path: Path) -> None:
    _need_cvat(http)
    images = noise_images(tmp_path, NAMES)
    task = create_task(client, images, name="job scope", segment_size=3)
    label = task.get_labels()[0].id
    task.set_annotations({"shapes": [
        {"type": "rectangle", "frame": f, "label_id": label, "points": [1, 1, 5, 5]}
        for f in range(6)
    ]})  # fmt: skip
    job = sorted(task.get_jobs(), key=lambda j: j.start_frame)[1]
    out = tmp_path / "job.zip"
    job.export_dataset(CVAT_EXPORT, out, include_images=True)
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        xml = archive.read("annotations.xml").decode()
    pictures = sorted(Path(n).name for n in names if n.endswith(".png"))
    assert pictures == NAMES[3:]
    assert xml.count("<box") == 3


def test_project_export_combines_tasks(client: Client, http: httpx.Client, tmp_path: Path) -> None:
    _need_cvat(http)
    project = client.projects.create({"name": "p export", "labels": [{"name": "car"}]})
    label = project.get_labels()[0].id
    for i in range(2):
        images = noise_images(tmp_path / f"t{i}", [f"t{i}_{n}" for n in NAMES[:2]], seed=i)
        task = create_task(client, images, name=f"part {i}", project_id=project.id)
        task.set_annotations({"shapes": [
            {"type": "rectangle", "frame": 1, "label_id": label, "points": [2, 2, 9, 9]},
        ]})  # fmt: skip
    body = _export(http, f"/api/projects/{project.id}/dataset/export", save_images="true")
    assert body["status"] == "finished", body
    response = http.get(body["result_url"])
    assert response.status_code == 200
    assert 'filename="project_p export_dataset_' in response.headers["content-disposition"]
    out = tmp_path / "project.zip"
    out.write_bytes(response.content)
    with zipfile.ZipFile(out) as archive:
        pictures = [n for n in archive.namelist() if n.endswith(".png")]
        xml = archive.read("annotations.xml").decode()
    assert len(pictures) == 4
    assert xml.count("<box") == 2


def test_results_expire_and_are_swept(tmp_path: Path) -> None:
    """With a TTL of 0 hours a finished export is expired at once: its result is 404, and the
    next export removes its file."""
    with launch_server(tmp_path, {"LABELBAY_REQUEST_TTL_HOURS": "0"}, db_suffix="_ttl") as srv:
        headers = {"Authorization": f"Token {login_key(srv)}"}
        with httpx.Client(base_url=srv.url, headers=headers, timeout=60) as http:
            _need_cvat(http)
            with sdk_client(srv, ADMIN) as client:
                task = create_task(client, noise_images(tmp_path / "img", NAMES[:2]))
            path = f"/api/tasks/{task.id}/dataset/export"
            first = _export(http, path)
            assert first["status"] == "finished", first
            assert http.get(f"/api/requests/{first['id']}/result").status_code == 404
            assert (tmp_path / "exports" / first["id"]).is_dir()
            second = _export(http, path, save_images="true")
            assert second["status"] == "finished"
            assert not (tmp_path / "exports" / first["id"]).exists()


def test_project_from_dataset(
    server: Server, client: Client, http: httpx.Client, tmp_path: Path
) -> None:
    """``create_from_dataset``: a task with the archive's images and annotations appears in the
    new project; a dataset with a label the project lacks fails and adds no task."""
    _need_cvat(http)
    images = noise_images(tmp_path / "img", NAMES[:3])
    source = create_task(client, images, name="dataset source", labels=[{"name": "car"}])
    label = source.get_labels()[0].id
    source.set_annotations({"shapes": [
        {"type": "rectangle", "frame": 2, "label_id": label, "points": [1, 2, 8, 9]},
    ]})  # fmt: skip
    archive = tmp_path / "with_images.zip"
    source.export_dataset(CVAT_EXPORT, archive, include_images=True)

    project = client.projects.create_from_dataset(
        {"name": "from dataset", "labels": [{"name": "car"}]},
        dataset_path=str(archive), dataset_format="CVAT 1.1",
    )  # fmt: skip
    tasks = project.get_tasks()
    assert len(tasks) == 1
    task = client.tasks.retrieve(tasks[0].id)
    assert [f.name for f in task.get_meta().frames] == NAMES[:3]
    shapes = task.get_annotations().shapes
    assert [(s.frame, s.type.value, s.points) for s in shapes] == [(2, "rectangle", [1, 2, 8, 9])]

    other = client.projects.create({"name": "wrong labels", "labels": [{"name": "dog"}]})
    media = server.data_dir / "media" / "data"
    stored = set(media.iterdir())
    with pytest.raises(Exception) as caught:
        other.import_dataset("CVAT 1.1", archive)
    assert "car" in str(caught.value)
    assert other.get_tasks() == []
    assert set(media.iterdir()) == stored  # the frames it had stored are gone again
