"""The media fast path: ready frames and chunks answered from a route's view, no database.

The first request of a user for a job's (or task's) media goes through the route, which
leaves a view; later requests for ready artifacts are answered from it (they carry
``X-Media-Path: fast``). These tests check that both answer the same bytes and headers, that
anything the fast path cannot answer falls through to the route, and that a write (a job
handed to someone else, a logout, deleted frames) is seen by the very next request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cvat_sdk import Client

from conftest import Server
from e2e.helpers import create_task, jobs_in_order, login_key, noise_images, token_http
from labelbay.media.fastpath import FAST_HEADER, View, Views

from .helpers import wait_prepared

SAME_HEADERS = ("content-type", "etag", "last-modified", "cache-control")


@dataclass(frozen=True)
class Fixture:
    task_id: int
    job_ids: list[int]


@pytest.fixture(scope="module")
def task(client: Client, server: Server, tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    folder = tmp_path_factory.mktemp("fast-path")
    files = noise_images(folder, [f"f{i}.png" for i in range(8)], size=(40, 30), seed=3)
    created = create_task(
        client, files, name="fast path", segment_size=4, data_params={"chunk_size": 3}
    )
    with token_http(server) as http:
        request, _ = wait_prepared(http, created.id)
        assert request["status"] == "finished", request
    return Fixture(created.id, [job.id for job in jobs_in_order(created)])


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with token_http(server) as signed_in:
        yield signed_in


def _twice(http: httpx.Client, url: str, params: dict[str, object]) -> tuple[httpx.Response, ...]:
    first, second = http.get(url, params=params), http.get(url, params=params)
    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    return first, second


CASES = {
    "task compressed frame": ("tasks", {"type": "frame", "number": 5, "quality": "compressed"}),
    "task original frame": ("tasks", {"type": "frame", "number": 5, "quality": "original"}),
    "task compressed chunk": ("tasks", {"type": "chunk", "number": 1, "quality": "compressed"}),
    "task original chunk": ("tasks", {"type": "chunk", "number": 2, "quality": "original"}),
    "job compressed frame": ("jobs", {"type": "frame", "number": 6, "quality": "compressed"}),
    "job original frame": ("jobs", {"type": "frame", "number": 6, "quality": "original"}),
    "job chunk by index": ("jobs", {"type": "chunk", "index": 1, "quality": "compressed"}),
    "job chunk by number": ("jobs", {"type": "chunk", "number": 1, "quality": "original"}),
}


@pytest.mark.parametrize("case", CASES)
def test_the_fast_answer_is_the_routes_answer(http: httpx.Client, task: Fixture, case: str) -> None:
    kind, params = CASES[case]
    target = task.task_id if kind == "tasks" else task.job_ids[1]
    # A fresh view: a write request (this PATCH of nothing) invalidates every view.
    http.patch(f"/api/jobs/{task.job_ids[1]}", json={})
    route, fast = _twice(http, f"/api/{kind}/{target}/data", params)
    assert FAST_HEADER.lower() not in route.headers
    assert fast.headers[FAST_HEADER] == "fast"
    assert fast.content == route.content
    for name in SAME_HEADERS:
        assert fast.headers.get(name) == route.headers.get(name), name
    # A job's own chunks (not aligned with the task's) are built by their first request.
    assert route.headers["x-cache-status"] in ("hit", "file", "built")
    assert fast.headers["x-cache-status"] == ("file" if "original frame" in case else "hit")


def test_revalidation_and_range_on_the_fast_path(http: httpx.Client, task: Fixture) -> None:
    url = f"/api/jobs/{task.job_ids[0]}/data"
    params = {"type": "frame", "number": 1, "quality": "compressed"}
    _, fast = _twice(http, url, params)
    assert fast.headers[FAST_HEADER] == "fast"
    again = http.get(url, params=params, headers={"If-None-Match": fast.headers["etag"]})
    assert again.status_code == 304
    assert again.headers[FAST_HEADER] == "fast"
    assert again.content == b""
    ranged = http.get(url, params=params, headers={"Range": "bytes=2-9"})
    assert ranged.status_code == 206  # answered by the route
    assert FAST_HEADER.lower() not in ranged.headers
    assert ranged.content == fast.content[2:10]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"type": "frame", "number": 7, "quality": "compressed"}, "number"),  # not this job's
        ({"type": "frame", "number": "x"}, "number"),
        ({"type": "chunk", "index": 9}, "index"),
        ({"type": "chunk", "index": 0, "number": 0}, "index"),
        ({"type": "frame", "number": 1, "quality": "best"}, "quality"),
    ],
)
def test_bad_parameters_get_the_routes_error(
    http: httpx.Client, task: Fixture, params: dict[str, object], field: str
) -> None:
    url = f"/api/jobs/{task.job_ids[0]}/data"
    _twice(http, url, {"type": "frame", "number": 1})  # the view exists
    response = http.get(url, params=params)
    assert response.status_code == 400, response.text
    assert field in response.text


def test_an_evicted_artifact_is_built_again(
    http: httpx.Client, server: Server, task: Fixture
) -> None:
    url = f"/api/tasks/{task.task_id}/data"
    params = {"type": "chunk", "number": 0, "quality": "compressed"}
    _, fast = _twice(http, url, params)
    assert fast.headers[FAST_HEADER] == "fast"
    for path in (server.data_dir / "cache").rglob("*"):
        if path.is_file():
            path.unlink()
    rebuilt = http.get(url, params=params)
    assert rebuilt.status_code == 200
    assert FAST_HEADER.lower() not in rebuilt.headers
    assert rebuilt.headers["x-cache-status"] == "built"
    assert rebuilt.content == fast.content


def test_a_job_handed_over_is_gone_at_the_next_request(
    client: Client, server: Server, http: httpx.Client, task: Fixture
) -> None:
    username, password = server.create_user()
    user = http.get("/api/users", params={"search": username}).json()["results"][0]
    job = task.job_ids[0]
    assert http.patch(f"/api/jobs/{job}", json={"assignee": user["id"]}).status_code == 200
    with token_http(server, (username, password)) as annotator:
        url, params = f"/api/jobs/{job}/data", {"type": "frame", "number": 2}
        _, fast = _twice(annotator, url, params)
        assert fast.headers[FAST_HEADER] == "fast"
        assert http.patch(f"/api/jobs/{job}", json={"assignee": None}).status_code == 200
        assert annotator.get(url, params=params).status_code == 404


def test_a_signed_out_key_is_refused_at_the_next_request(server: Server, task: Fixture) -> None:
    username, password = server.create_user()
    key = login_key(server, (username, password))
    with token_http(server) as admin:
        user = admin.get("/api/users", params={"search": username}).json()["results"][0]
        job = task.job_ids[1]
        assert admin.patch(f"/api/jobs/{job}", json={"assignee": user["id"]}).status_code == 200
    headers = {"Authorization": f"Token {key}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as annotator:
        url, params = f"/api/jobs/{job}/data", {"type": "frame", "number": 5}
        _, fast = _twice(annotator, url, params)
        assert fast.headers[FAST_HEADER] == "fast"
        assert annotator.post("/api/auth/logout").status_code == 200
        assert annotator.get(url, params=params).status_code == 401


def test_deleted_frames_change_the_chunk_at_the_next_request(
    http: httpx.Client, task: Fixture
) -> None:
    url = f"/api/tasks/{task.task_id}/data"
    params = {"type": "chunk", "number": 1, "quality": "compressed"}
    _, before = _twice(http, url, params)
    assert before.headers[FAST_HEADER] == "fast"
    meta = f"/api/tasks/{task.task_id}/data/meta"
    assert http.patch(meta, json={"deleted_frames": [4]}).status_code == 200
    try:
        after = http.get(url, params=params)
        assert after.status_code == 200
        assert FAST_HEADER.lower() not in after.headers
        assert after.headers["etag"] != before.headers["etag"]
    finally:
        assert http.patch(meta, json={"deleted_frames": []}).status_code == 200


def test_a_write_in_another_process_invalidates_views(tmp_path: Path) -> None:
    # Two processes sharing a data dir: each has its own Views over the same stamp file.
    here, there = Views(tmp_path / "views.stamp"), Views(tmp_path / "views.stamp")
    stamp = here.stamp()
    here.remember(1, "jobs", 1, _view(stamp))
    assert here.find(1, "jobs", 1) is not None
    there.invalidate()
    assert here.find(1, "jobs", 1) is None
    # A view made under the new stamp is used again.
    here.remember(1, "jobs", 1, _view(here.stamp()))
    assert here.find(1, "jobs", 1) is not None


def _view(stamp: tuple[int, int]) -> View:
    return View(artifacts=None, lo=0, hi=1, for_job=True, stamp=stamp,  # type: ignore[arg-type]
                expires=time.monotonic() + 60)  # fmt: skip
