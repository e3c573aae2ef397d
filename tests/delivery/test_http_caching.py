"""HTTP caching of frames, chunks and previews: validators, revalidation (304) and Range.

Everything is asked of the real server over HTTP, after the task's pre-generation finished
(so that no background build replaces an entry between two requests of a test).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cvat_sdk import Client

from conftest import Server
from e2e.helpers import create_task, jobs_in_order, noise_images, token_http

from .helpers import VideoSpec, cache_status, make_video, ok_bytes, wait_prepared

FRAMES = 5
SIZE = (64, 48)


@dataclass(frozen=True)
class Tasks:
    image_id: int
    image_files: list[Path]
    image_job_ids: list[int]
    video_id: int


@pytest.fixture(scope="module")
def tasks(client: Client, server: Server, tmp_path_factory: pytest.TempPathFactory) -> Tasks:
    folder = tmp_path_factory.mktemp("caching")
    files = noise_images(folder, [f"img_{i}.png" for i in range(FRAMES)], size=SIZE, seed=7)
    image = create_task(
        client, files, name="http caching", segment_size=3, data_params={"chunk_size": 2}
    )
    clip = make_video(folder, VideoSpec("clip.mp4", "libx264", 24, (96, 64)))
    video = create_task(client, [clip], name="http caching video", data_params={"chunk_size": 8})
    with token_http(server) as http:
        for task_id in (image.id, video.id):
            request, _ = wait_prepared(http, task_id)
            assert request["status"] == "finished", request
    return Tasks(image.id, files, [job.id for job in jobs_in_order(image)], video.id)


@dataclass(frozen=True)
class Resource:
    name: str
    path: str
    params: dict[str, Any]
    content_type: str


def resources(tasks: Tasks) -> dict[str, Resource]:
    data = f"/api/tasks/{tasks.image_id}/data/"
    video = f"/api/tasks/{tasks.video_id}/data/"
    job = tasks.image_job_ids[1]
    found = [
        Resource("compressed frame", data, {"type": "frame", "number": 1, "quality": "compressed"},
                 "image/jpeg"),
        Resource("original frame", data, {"type": "frame", "number": 1, "quality": "original"},
                 "image/png"),
        Resource("compressed chunk", data, {"type": "chunk", "number": 1, "quality": "compressed"},
                 "application/zip"),
        Resource("original chunk", data, {"type": "chunk", "number": 1, "quality": "original"},
                 "application/zip"),
        Resource("data preview", data, {"type": "preview"}, "image/jpeg"),
        Resource("task preview", f"/api/tasks/{tasks.image_id}/preview", {}, "image/jpeg"),
        Resource("job preview", f"/api/jobs/{job}/preview", {}, "image/jpeg"),
        Resource("job frame", f"/api/jobs/{job}/data",
                 {"type": "frame", "number": 3, "quality": "compressed"}, "image/jpeg"),
        Resource("job chunk", f"/api/jobs/{job}/data",
                 {"type": "chunk", "index": 0, "quality": "compressed"}, "application/zip"),
        Resource("video original frame", video,
                 {"type": "frame", "number": 13, "quality": "original"}, "image/png"),
        Resource("video compressed frame", video,
                 {"type": "frame", "number": 13, "quality": "compressed"}, "image/jpeg"),
        Resource("video compressed chunk", video,
                 {"type": "chunk", "number": 1, "quality": "compressed"}, "video/mp4"),
        Resource("video original chunk", video,
                 {"type": "chunk", "number": 2, "quality": "original"}, "application/zip"),
    ]  # fmt: skip
    return {resource.name: resource for resource in found}


NAMES = [
    "compressed frame",
    "original frame",
    "compressed chunk",
    "original chunk",
    "data preview",
    "task preview",
    "job preview",
    "job frame",
    "job chunk",
    "video original frame",
    "video compressed frame",
    "video compressed chunk",
    "video original chunk",
]


@pytest.fixture(params=NAMES)
def resource(request: pytest.FixtureRequest, tasks: Tasks) -> Resource:
    found = resources(tasks)
    assert set(found) == set(NAMES)
    return found[request.param]


def fetch(
    http: httpx.Client, resource: Resource, headers: dict[str, str] | None = None
) -> httpx.Response:
    return http.get(resource.path, params=resource.params, headers=headers or {})


def http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


# ------------------------------------------------------------------------------------------
# Validators


def test_responses_carry_validators(http: httpx.Client, resource: Resource) -> None:
    first = fetch(http, resource)
    body = ok_bytes(first)
    assert body
    assert first.headers["content-type"].split(";")[0] == resource.content_type
    etag = first.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2, etag
    modified = parsedate_to_datetime(first.headers["Last-Modified"])
    assert modified <= datetime.now(UTC) + timedelta(seconds=2)
    cache_control = first.headers["Cache-Control"]
    assert "max-age=" in cache_control, cache_control
    assert int(first.headers["Content-Length"]) == len(body)
    # Built (if it was not pre-generated) and kept: the same bytes and validators again.
    again = fetch(http, resource)
    assert ok_bytes(again) == body
    assert again.headers["ETag"] == etag
    assert again.headers["Last-Modified"] == first.headers["Last-Modified"]
    assert cache_status(again) in ("hit", "file"), again.headers


def test_different_content_has_different_etags(http: httpx.Client, tasks: Tasks) -> None:
    found = resources(tasks)
    etags = {name: fetch(http, found[name]).headers["ETag"] for name in NAMES}
    # The data preview and the task preview are the same picture (frame 0), perhaps one entry.
    others = [name for name in NAMES if name != "data preview"]
    assert len({etags[name] for name in others}) == len(others), etags


# ------------------------------------------------------------------------------------------
# Revalidation


def test_if_none_match_with_the_current_etag_is_not_modified(
    http: httpx.Client, resource: Resource
) -> None:
    etag = fetch(http, resource).headers["ETag"]
    response = fetch(http, resource, {"If-None-Match": etag})
    assert response.status_code == 304, response.text
    assert response.content == b""
    assert response.headers["ETag"] == etag
    assert "max-age=" in response.headers.get("Cache-Control", "")


@pytest.mark.parametrize("form", ["weak", "list", "star"])
def test_if_none_match_forms(http: httpx.Client, tasks: Tasks, form: str) -> None:
    resource = resources(tasks)["compressed frame"]
    etag = fetch(http, resource).headers["ETag"]
    header = {"weak": f"W/{etag}", "list": f'"something-else", {etag}', "star": "*"}[form]
    response = fetch(http, resource, {"If-None-Match": header})
    assert response.status_code == 304, (header, response.status_code)
    assert response.content == b""


def test_a_stale_etag_gets_the_content(http: httpx.Client, resource: Resource) -> None:
    current = fetch(http, resource)
    body = ok_bytes(current)
    stale = '"0123456789abcdef0123456789abcdef"'
    assert stale != current.headers["ETag"]
    response = fetch(http, resource, {"If-None-Match": stale})
    assert ok_bytes(response) == body
    assert response.headers["ETag"] == current.headers["ETag"]


def test_if_modified_since(http: httpx.Client, resource: Resource) -> None:
    current = fetch(http, resource)
    body = ok_bytes(current)
    modified = current.headers["Last-Modified"]
    same = fetch(http, resource, {"If-Modified-Since": modified})
    assert same.status_code == 304, same.text
    assert same.content == b""
    earlier = http_date(parsedate_to_datetime(modified) - timedelta(hours=1))
    assert ok_bytes(fetch(http, resource, {"If-Modified-Since": earlier})) == body
    # Nonsense dates are ignored, not errors.
    assert ok_bytes(fetch(http, resource, {"If-Modified-Since": "yesterday-ish"})) == body


def test_if_none_match_takes_precedence_over_if_modified_since(
    http: httpx.Client, tasks: Tasks
) -> None:
    """RFC 9110 13.1.3: a recipient must ignore If-Modified-Since when If-None-Match is sent."""
    resource = resources(tasks)["compressed chunk"]
    current = fetch(http, resource)
    headers = {"If-None-Match": '"stale"', "If-Modified-Since": current.headers["Last-Modified"]}
    assert ok_bytes(fetch(http, resource, headers)) == current.content


# ------------------------------------------------------------------------------------------
# Range


def original(tasks: Tasks) -> tuple[Resource, bytes]:
    resource = resources(tasks)["original frame"]
    return resource, tasks.image_files[1].read_bytes()


def test_range_of_an_original_frame(http: httpx.Client, tasks: Tasks) -> None:
    resource, stored = original(tasks)
    assert len(stored) > 200
    response = fetch(http, resource, {"Range": "bytes=0-99"})
    assert response.status_code == 206, response.text[:200]
    assert response.content == stored[:100]
    assert response.headers["Content-Range"] == f"bytes 0-99/{len(stored)}"
    assert response.headers["Content-Length"] == "100"
    assert response.headers["content-type"].startswith("image/png")
    assert "ETag" in response.headers


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [("bytes=100-", 100, None), ("bytes=-50", None, 50), ("bytes=10-10", 10, 10)],
)
def test_other_byte_ranges(
    http: httpx.Client, tasks: Tasks, spec: str, first: int | None, last: int | None
) -> None:
    resource, stored = original(tasks)
    size = len(stored)
    response = fetch(http, resource, {"Range": spec})
    assert response.status_code == 206, (spec, response.status_code)
    if first is None:
        assert last is not None
        start, end = size - last, size - 1
    else:
        start, end = first, size - 1 if last is None else last
    assert response.content == stored[start : end + 1]
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{size}"


def test_range_past_the_end_is_not_satisfiable(http: httpx.Client, tasks: Tasks) -> None:
    resource, stored = original(tasks)
    size = len(stored)
    response = fetch(http, resource, {"Range": f"bytes={size + 10}-{size + 20}"})
    assert response.status_code == 416, (response.status_code, response.content[:100])
    assert response.headers.get("Content-Range") == f"bytes */{size}"


def test_range_of_a_cached_artifact(http: httpx.Client, tasks: Tasks) -> None:
    for name in ("video original frame", "compressed chunk"):
        resource = resources(tasks)[name]
        whole = ok_bytes(fetch(http, resource))
        response = fetch(http, resource, {"Range": "bytes=0-99"})
        assert response.status_code == 206, (name, response.status_code)
        assert response.content == whole[:100]
        assert response.headers["Content-Range"] == f"bytes 0-99/{len(whole)}"


def test_range_with_a_matching_etag_is_not_modified(http: httpx.Client, tasks: Tasks) -> None:
    resource, _ = original(tasks)
    etag = fetch(http, resource).headers["ETag"]
    response = fetch(http, resource, {"Range": "bytes=0-99", "If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""


def test_if_range(http: httpx.Client, tasks: Tasks) -> None:
    """RFC 9110 13.1.5: the range only while the validator still matches, else everything."""
    resource, stored = original(tasks)
    etag = fetch(http, resource).headers["ETag"]
    current = fetch(http, resource, {"Range": "bytes=0-99", "If-Range": etag})
    assert current.status_code == 206
    assert current.content == stored[:100]
    changed = fetch(http, resource, {"Range": "bytes=0-99", "If-Range": '"changed"'})
    assert changed.status_code == 200
    assert changed.content == stored
