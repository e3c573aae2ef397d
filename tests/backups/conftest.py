"""Fixtures of the backup tests: cvat-sdk and plain HTTP clients on the shared server, users to
assign work to, and a task with everything a backup must keep."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cvat_sdk import Client
from cvat_sdk.core.proxies.tasks import Task

from conftest import ADMIN, Server
from e2e.helpers import create_task, jobs_in_order, noise_images, sdk_client, token_http

from .helpers import LABELS, Names, Person, annotations


@pytest.fixture(scope="session")
def client(server: Server) -> Iterator[Client]:
    """The administrator's cvat-sdk client, polling every second."""
    with sdk_client(server, ADMIN) as signed_in:
        signed_in.config.status_check_period = 1
        yield signed_in


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with token_http(server, ADMIN) as http:
        yield http


@pytest.fixture(scope="module")
def people(server: Server) -> tuple[Person, Person]:
    """Two users to assign projects, tasks and jobs to."""
    found = []
    with token_http(server) as http:
        for username, _ in (server.create_user(), server.create_user()):
            listed = http.get("/api/users", params={"search": username}).json()["results"]
            found.append(
                next(Person(u["id"], username) for u in listed if u["username"] == username)
            )
    return found[0], found[1]


@pytest.fixture
def annotated(
    client: Client, api: httpx.Client, tmp_path: Path, people: tuple[Person, Person]
) -> Task:
    """Nine images in three jobs, labels with attributes and a skeleton, every kind of
    annotation, job stages, states and assignees changed, an assignee on the task and one
    frame deleted."""
    names = [f"img_{i}.png" for i in (3, 1, 10, 2, 7, 5, 4, 8, 6)]
    files = noise_images(tmp_path / "media", names, size=(20, 14), seed=3)
    task = create_task(
        client, files, name="backed up / task #1", labels=LABELS, segment_size=3, overlap=0,
        subset="train", bug_tracker="https://example.com/issue/1", assignee_id=people[0].id,
        data_params={"image_quality": 55, "chunk_size": 2, "sorting_method": "natural"},
    )  # fmt: skip
    put = api.put(f"/api/tasks/{task.id}/annotations/", json=annotations(Names(api, task.id)))
    assert put.status_code == 200, put.text
    jobs = jobs_in_order(task)
    done = api.patch(
        f"/api/jobs/{jobs[0].id}",
        json={"stage": "acceptance", "state": "completed", "assignee": people[1].id},
    )
    assert done.status_code == 200, done.text
    check = api.patch(
        f"/api/jobs/{jobs[1].id}",
        json={"stage": "validation", "state": "in progress", "assignee": people[0].id},
    )
    assert check.status_code == 200, check.text
    meta = api.patch(f"/api/tasks/{task.id}/data/meta", json={"deleted_frames": [4]})
    assert meta.status_code == 200, meta.text
    return task
