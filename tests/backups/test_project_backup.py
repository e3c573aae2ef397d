"""Project backups (spec 8.5): the project, its labels and every task in it round-trip through
``project.download_backup`` / ``client.projects.create_from_backup`` and through cvat-cli."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from cvat_sdk import Client
from cvat_sdk.core.proxies.projects import Project

from conftest import ADMIN, Server
from e2e.helpers import create_task, noise_images, original_frame, run_cli, sdk_client

from .helpers import (
    LABELS,
    Names,
    annotations,
    by_name,
    corrupt_member,
    label_shapes,
    project_ids,
    restore_via_http,
    task_ids,
    wait_request,
)


def _tasks(client: Client, api: httpx.Client, project: Project) -> list[dict[str, Any]]:
    out = []
    for task in sorted(project.get_tasks(), key=lambda t: t.name):
        meta = task.get_meta() if task.size else None
        found = api.get(f"/api/tasks/{task.id}/annotations/").json()
        out.append(
            {
                "name": task.name,
                "segment_size": task.segment_size,
                "chunk": task.data_chunk_size,
                "quality": task.image_quality,
                "size": task.size,
                "frames": [f.name for f in meta.frames] if meta else [],
                "originals": [original_frame(task, n) for n in range(task.size)],
                "annotations": by_name(found, Names(api, task.id)),
            }
        )
    return out


@pytest.fixture
def project(client: Client, api: httpx.Client, tmp_path: Path) -> Project:
    project = client.projects.create({"name": "backed up project", "labels": LABELS})
    five = noise_images(tmp_path / "one", [f"{c}.png" for c in "vwxyz"], size=(12, 10))
    first = create_task(
        client, five,
        name="first", project_id=project.id, segment_size=2,
        data_params={"image_quality": 60, "chunk_size": 2},
    )  # fmt: skip
    create_task(
        client, noise_images(tmp_path / "two", ["p.png", "q.png"], size=(10, 12), seed=4),
        name="second", project_id=project.id,
    )  # fmt: skip
    client.tasks.create({"name": "third, no data", "project_id": project.id, "labels": []})
    names = Names(api, first.id)
    payload = annotations(names)
    put = api.put(f"/api/tasks/{first.id}/annotations/", json=payload)
    assert put.status_code == 200, put.text
    return project


def test_sdk_round_trip_of_a_project(
    client: Client, api: httpx.Client, project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "project.zip"
    project.download_backup(path)
    restored = client.projects.create_from_backup(path)
    assert restored.id != project.id
    assert restored.name == project.name
    assert label_shapes(api, project_id=restored.id) == label_shapes(api, project_id=project.id)
    assert len(restored.get_tasks()) == 3
    assert _tasks(client, api, restored) == _tasks(client, api, project)
    for task in restored.get_tasks():
        assert task.project_id == restored.id


def test_cli_project_backup(
    server: Server, api: httpx.Client, project: Project, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    target = tmp_path / "cli_project.zip"
    run_cli(server, ADMIN, "project", "backup", str(project.id), str(target), home=home)
    made = run_cli(server, ADMIN, "project", "create-from-backup", str(target), home=home)
    new_id = int(made.stdout.strip().splitlines()[-1].split()[-1])
    assert new_id != project.id
    with sdk_client(server) as other:
        restored = other.projects.retrieve(new_id)
        assert _tasks(other, api, restored) == _tasks(other, api, project)


def test_a_task_backup_is_not_a_project_backup(
    client: Client, api: httpx.Client, project: Project, tmp_path: Path
) -> None:
    task = project.get_tasks()[0]
    path = tmp_path / "task.zip"
    client.tasks.retrieve(task.id).download_backup(path)
    before_projects, before_tasks = project_ids(api), task_ids(api)
    rq_id = restore_via_http(api, "projects", path.read_bytes(), "task.zip")
    done = wait_request(api, rq_id)
    assert done["status"] == "failed"
    assert "manifest.json: kind: this is a task backup, not a project backup" in done["message"]
    assert project_ids(api) == before_projects
    assert task_ids(api) == before_tasks


def test_a_task_of_a_project_restores_on_its_own(
    client: Client, api: httpx.Client, project: Project, tmp_path: Path
) -> None:
    task = next(t for t in project.get_tasks() if t.name == "first")
    path = tmp_path / "task.zip"
    client.tasks.retrieve(task.id).download_backup(path)
    restored = client.tasks.create_from_backup(path)
    assert restored.project_id is None
    assert label_shapes(api, restored.id) == label_shapes(api, task.id)
    found = api.get(f"/api/tasks/{restored.id}/annotations/").json()
    original = api.get(f"/api/tasks/{task.id}/annotations/").json()
    assert by_name(found, Names(api, restored.id)) == by_name(original, Names(api, task.id))


def test_a_broken_task_inside_a_project_leaves_no_project(
    client: Client, api: httpx.Client, project: Project, tmp_path: Path, server: Server
) -> None:
    path = tmp_path / "project.zip"
    project.download_backup(path)
    # The second task's image is damaged: the first task is made by then, and must go too.
    payload = corrupt_member(path.read_bytes(), "tasks/1/data/q.png")
    before_projects, before_tasks = project_ids(api), task_ids(api)
    stored = set((server.data_dir / "media" / "data").iterdir())
    rq_id = restore_via_http(api, "projects", payload, "project.zip")
    done = wait_request(api, rq_id)
    assert done["status"] == "failed"
    assert "tasks/1/data/q.png: damaged" in done["message"]
    assert project_ids(api) == before_projects
    assert task_ids(api) == before_tasks
    assert set((server.data_dir / "media" / "data").iterdir()) == stored
