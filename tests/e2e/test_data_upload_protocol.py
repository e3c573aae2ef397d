"""The data upload protocol on ``/api/tasks/{id}/data/``, driven directly over HTTP.

The SDK only uses TUS for files over 100 MiB, so the TUS path is exercised here by hand with
the exact headers the client sends (spec 3.4-3.7).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cvat_sdk import Client
from cvat_sdk.core import uploading

from conftest import Server

from .helpers import create_task, frame_names, noise_image, noise_images, original_frame

TUS = {"Tus-Resumable": "1.0.0"}


def _new_task(http: httpx.Client, name: str) -> int:
    response = http.post("/api/tasks", json={"name": name, "labels": [{"name": "thing"}]})
    assert response.status_code == 201, response.text
    task_id = response.json()["id"]
    assert isinstance(task_id, int)
    return task_id


def _tus_create(http: httpx.Client, task_id: int, name: str, length: int) -> httpx.Response:
    encoded = base64.b64encode(name.encode()).decode()
    return http.post(
        f"/api/tasks/{task_id}/data/",
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": f"filename {encoded}",
                 "Content-Type": "application/json"},
    )  # fmt: skip


def _patch(
    http: httpx.Client, location: str, offset: int, chunk: bytes, **headers: str
) -> httpx.Response:
    return http.patch(
        location,
        content=chunk,
        headers={**TUS, "Content-Type": "application/offset+octet-stream",
                 "Upload-Offset": str(offset), **headers},
    )  # fmt: skip


def _finish(http: httpx.Client, task_id: int, params: dict[str, Any]) -> httpx.Response:
    return http.post(f"/api/tasks/{task_id}/data/", headers={"Upload-Finish": ""}, json=params)


def _frame(http: httpx.Client, task_id: int, number: int) -> bytes:
    response = http.get(
        f"/api/tasks/{task_id}/data/",
        params={"type": "frame", "number": number, "quality": "original"},
    )
    assert response.status_code == 200
    return response.content


def _send(http: httpx.Client, task_id: int, path: Path) -> httpx.Response:
    """One ``Upload-Multiple`` request carrying ``path``."""
    return http.post(
        f"/api/tasks/{task_id}/data/",
        headers={"Upload-Multiple": ""},
        files={"client_files[0]": (path.name, path.read_bytes(), "image/png")},
    )


def _sha1(chunk: bytes) -> str:
    return "sha1 " + base64.b64encode(hashlib.sha1(chunk).digest()).decode()


def test_tus_and_multipart_upload_then_finish(
    http: httpx.Client, server: Server, tmp_path: Path
) -> None:
    big = noise_image(tmp_path / "a_big.png", size=(160, 120), seed=11)
    [small] = noise_images(tmp_path, ["b_small.png"], seed=12)
    payload = big.read_bytes()
    task_id = _new_task(http, "tus upload")

    start = http.post(
        f"/api/tasks/{task_id}/data/",
        headers={"Upload-Start": "", "Content-Type": "application/json"},
    )
    assert start.status_code == 202

    created = _tus_create(http, task_id, big.name, len(payload))
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert location.startswith(f"{server.url}/api/tasks/{task_id}/data/")
    assert location.rsplit("/", 1)[1]
    assert created.headers["Upload-Filename"] == big.name

    step = 16 * 1024
    first = _patch(http, location, 0, payload[:step])
    assert first.status_code == 204, first.text
    assert first.headers["Upload-Offset"] == str(step)

    head = http.head(location, headers=TUS)
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == str(step)
    assert head.headers["Upload-Length"] == str(len(payload))

    # Offset mismatch: 409, and the stored offset comes back so that the client can resume.
    stale = _patch(http, location, 0, payload[:step])
    assert stale.status_code == 409
    assert stale.headers["Upload-Offset"] == str(step)

    # A checksum that does not match the chunk: 460, nothing written.
    wrong = _patch(http, location, step, payload[step : 2 * step],
                   **{"Upload-Checksum": _sha1(b"something else")})  # fmt: skip
    assert wrong.status_code == 460
    assert http.head(location, headers=TUS).headers["Upload-Offset"] == str(step)

    offset = step
    while offset < len(payload):
        chunk = payload[offset : offset + step]
        sent = _patch(http, location, offset, chunk, **{"Upload-Checksum": _sha1(chunk)})
        assert sent.status_code == 204, sent.text
        new_offset = int(sent.headers["Upload-Offset"])
        assert new_offset == offset + len(chunk)
        offset = new_offset
    assert offset == len(payload)

    multiple = http.post(
        f"/api/tasks/{task_id}/data/",
        headers={"Upload-Multiple": ""},
        data={"image_quality": "70"},
        files={"client_files[0]": (str(small), small.read_bytes(), "image/png")},
    )
    assert multiple.status_code == 200, multiple.text

    finished = _finish(http, task_id, {"image_quality": 80, "sorting_method": "lexicographical"})
    assert finished.status_code == 202, finished.text
    rq_id = finished.json()["rq_id"]
    assert isinstance(rq_id, str) and rq_id

    request = http.get(f"/api/requests/{quote(rq_id, safe='')}")
    assert request.status_code == 200
    body = request.json()
    assert body["status"] == "finished"
    assert body["id"] == rq_id
    assert body["message"] == ""
    assert "result_url" in body and "result_id" in body
    assert isinstance(body["operation"]["type"], str)
    assert body["operation"]["target"] == "task"
    assert body["owner"]["username"]
    assert 0 <= (body["progress"] if body["progress"] is not None else 0) <= 1

    task = http.get(f"/api/tasks/{task_id}").json()
    assert task["size"] == 2
    assert task["image_quality"] == 80
    meta = http.get(f"/api/tasks/{task_id}/data/meta").json()
    assert [f["name"] for f in meta["frames"]] == ["a_big.png", "b_small.png"]
    assert _frame(http, task_id, 0) == payload
    assert _frame(http, task_id, 1) == small.read_bytes()
    jobs = http.get("/api/jobs", params={"task_id": task_id}).json()
    assert jobs["count"] == 1


def test_completed_and_unknown_uploads(http: httpx.Client, tmp_path: Path) -> None:
    path = noise_image(tmp_path / "one.png", seed=21)
    payload = path.read_bytes()
    task_id = _new_task(http, "tus edges")
    assert http.post(f"/api/tasks/{task_id}/data/", headers={"Upload-Start": ""}).status_code == 202

    location = _tus_create(http, task_id, path.name, len(payload)).headers["Location"]
    done = _patch(http, location, 0, payload)
    assert done.status_code == 204
    assert done.headers["Upload-Offset"] == str(len(payload))
    # The finished upload is forgotten (CVAT: 404), and unknown ids are 404 too.
    assert http.head(location, headers=TUS).status_code == 404
    unknown = f"/api/tasks/{task_id}/data/1_{'0' * 32}"
    assert http.head(unknown, headers=TUS).status_code == 404
    assert _patch(http, unknown, 0, b"x").status_code == 404

    # The same name twice in one upload session is a conflict.
    assert _tus_create(http, task_id, path.name, len(payload)).status_code == 409

    finished = _finish(http, task_id, {"image_quality": 70})
    assert finished.status_code == 202
    assert _frame(http, task_id, 0) == payload


def test_chunk_longer_than_declared_is_refused(http: httpx.Client) -> None:
    task_id = _new_task(http, "tus too long")
    assert http.post(f"/api/tasks/{task_id}/data/", headers={"Upload-Start": ""}).status_code == 202
    location = _tus_create(http, task_id, "x.png", 10).headers["Location"]
    response = _patch(http, location, 0, b"y" * 11)
    assert 400 <= response.status_code < 500
    assert response.status_code != 409  # not retryable by the client


def test_tus_create_needs_a_file_name(http: httpx.Client) -> None:
    task_id = _new_task(http, "tus no name")
    response = http.post(f"/api/tasks/{task_id}/data/", headers={**TUS, "Upload-Length": "10"})
    assert response.status_code == 400


def test_one_shot_multipart_post(http: httpx.Client, tmp_path: Path) -> None:
    files = noise_images(tmp_path, ["z1.png", "z0.png"], seed=31)
    task_id = _new_task(http, "one shot")

    response = http.post(
        f"/api/tasks/{task_id}/data/",
        data={"image_quality": "75", "sorting_method": "lexicographical"},
        files={f"client_files[{i}]": (path.name, path.read_bytes(), "image/png")
               for i, path in enumerate(files)},
    )  # fmt: skip

    assert response.status_code == 202, response.text
    rq_id = response.json()["rq_id"]
    assert http.get(f"/api/requests/{rq_id}").json()["status"] == "finished"
    meta = http.get(f"/api/tasks/{task_id}/data/meta").json()
    assert [f["name"] for f in meta["frames"]] == ["z0.png", "z1.png"]
    assert meta["image_quality"] == 75
    assert _frame(http, task_id, 0) == files[1].read_bytes()


def test_finish_without_files_fails_cleanly(http: httpx.Client) -> None:
    task_id = _new_task(http, "no files")
    assert http.post(f"/api/tasks/{task_id}/data/", headers={"Upload-Start": ""}).status_code == 202
    response = _finish(http, task_id, {"image_quality": 70})
    if response.status_code == 202:
        status = http.get(f"/api/requests/{response.json()['rq_id']}").json()
        assert status["status"] == "failed"
        assert status["message"]
    else:
        assert response.status_code == 400
    assert http.get(f"/api/tasks/{task_id}").json()["size"] == 0


def test_second_upload_to_a_task_with_data_is_refused(http: httpx.Client, tmp_path: Path) -> None:
    [path] = noise_images(tmp_path, ["once.png"], seed=41)
    task_id = _new_task(http, "data once")
    for attempt in range(2):
        assert (
            http.post(f"/api/tasks/{task_id}/data/", headers={"Upload-Start": ""}).status_code
            == 202
        )
        assert _send(http, task_id, path).status_code == 200
        finished = _finish(http, task_id, {"image_quality": 70})
        if attempt == 0:
            assert finished.status_code == 202
        else:
            assert 400 <= finished.status_code < 500
    assert http.get(f"/api/tasks/{task_id}").json()["size"] == 1


BAD_PARAMS: list[dict[str, Any]] = [
    {"image_quality": 0},
    {"image_quality": "high"},
    {"sorting_method": "by-size"},
    {"frame_filter": "every=2"},
]


@pytest.mark.parametrize("bad", BAD_PARAMS)
def test_bad_data_parameters_are_a_400(
    http: httpx.Client, tmp_path: Path, bad: dict[str, Any]
) -> None:
    [path] = noise_images(tmp_path, ["p.png"], seed=51)
    task_id = _new_task(http, "bad params")
    assert http.post(f"/api/tasks/{task_id}/data/", headers={"Upload-Start": ""}).status_code == 202
    assert _send(http, task_id, path).status_code == 200
    response = _finish(http, task_id, {"image_quality": 70, **bad})
    assert response.status_code == 400, response.text
    assert http.get(f"/api/tasks/{task_id}").json()["size"] == 0


def test_zero_length_tus_upload(http: httpx.Client) -> None:
    """The client sends one empty PATCH for an empty file; that completes the upload, and
    the file is checked at once: an empty image cannot become a frame, so the PATCH that
    completes it is refused, naming the file, and a finish has nothing to ingest."""
    task_id = _new_task(http, "tus empty")
    assert http.post(f"/api/tasks/{task_id}/data/", headers={"Upload-Start": ""}).status_code == 202
    created = _tus_create(http, task_id, "empty.png", 0)
    assert created.status_code == 201
    done = _patch(http, created.headers["Location"], 0, b"")
    assert done.status_code == 400
    assert "empty.png" in done.json()["detail"]
    finished = _finish(http, task_id, {"image_quality": 70})
    assert finished.status_code == 400
    assert "no files were uploaded" in finished.json()["detail"]


def test_upload_start_forgets_an_earlier_attempt(http: httpx.Client, tmp_path: Path) -> None:
    first, second = noise_images(tmp_path, ["stale.png", "fresh.png"], seed=61)
    task_id = _new_task(http, "restart")
    url = f"/api/tasks/{task_id}/data/"
    assert http.post(url, headers={"Upload-Start": ""}).status_code == 202
    assert _send(http, task_id, first).status_code == 200
    partial = _tus_create(http, task_id, "half.png", 100).headers["Location"]
    assert _patch(http, partial, 0, b"x" * 10).status_code == 204

    assert http.post(url, headers={"Upload-Start": ""}).status_code == 202
    assert _send(http, task_id, second).status_code == 200
    assert http.head(partial, headers=TUS).status_code == 404

    assert _finish(http, task_id, {"image_quality": 70}).status_code == 202
    meta = http.get(f"/api/tasks/{task_id}/data/meta").json()
    assert [f["name"] for f in meta["frames"]] == ["fresh.png"]


def test_uploads_belong_to_their_task(http: httpx.Client, tmp_path: Path) -> None:
    one, other = _new_task(http, "owner one"), _new_task(http, "owner two")
    for task_id in (one, other):
        assert (
            http.post(f"/api/tasks/{task_id}/data/", headers={"Upload-Start": ""}).status_code
            == 202
        )
    location = _tus_create(http, one, "mine.png", 10).headers["Location"]
    upload_id = location.rsplit("/", 1)[1]
    foreign = f"/api/tasks/{other}/data/{upload_id}"
    assert _patch(http, foreign, 0, b"0123456789").status_code == 404
    assert http.head(location, headers=TUS).headers["Upload-Offset"] == "0"


def test_sdk_tus_path(client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real SDK's TUS code (normally only for files over 100 MiB), made to kick in early."""
    real_init = uploading.DataUploader.__init__

    def small_requests(self: uploading.DataUploader, owner: Client, **_: Any) -> None:
        real_init(self, owner, max_request_size=20_000)

    monkeypatch.setattr(uploading.DataUploader, "__init__", small_requests)
    monkeypatch.setattr(uploading, "TUS_CHUNK_SIZE", 8 * 1024)
    big = [noise_image(tmp_path / f"big{i}.png", size=(100, 80), seed=70 + i) for i in range(2)]
    small = noise_images(tmp_path, ["small0.png", "small1.png"], seed=80)
    assert all(p.stat().st_size > 20_000 for p in big)

    task = create_task(client, [*big, *small], name="sdk tus")

    names = ["big0.png", "big1.png", "small0.png", "small1.png"]
    assert frame_names(task) == names
    by_name = {p.name: p for p in [*big, *small]}
    for number, name in enumerate(names):
        assert original_frame(task, number) == by_name[name].read_bytes()


def test_predefined_order_comes_from_upload_file_order(http: httpx.Client, tmp_path: Path) -> None:
    files = {p.name: p for p in noise_images(tmp_path, ["a.png", "b.png", "c.png", "d.png"])}
    task_id = _new_task(http, "predefined by hand")
    assert http.post(f"/api/tasks/{task_id}/data/", headers={"Upload-Start": ""}).status_code == 202
    for path in files.values():  # sent in a, b, c, d order
        assert _send(http, task_id, path).status_code == 200

    wanted = ["c.png", "a.png", "d.png", "b.png"]
    incomplete = _finish(http, task_id, {"image_quality": 70, "sorting_method": "predefined",
                                         "upload_file_order": wanted[:3]})  # fmt: skip
    assert incomplete.status_code == 400
    assert "b.png" in incomplete.text

    assert http.post(f"/api/tasks/{task_id}/data/", headers={"Upload-Start": ""}).status_code == 202
    for path in files.values():
        assert _send(http, task_id, path).status_code == 200
    finished = _finish(http, task_id, {"image_quality": 70, "sorting_method": "predefined",
                                       "upload_file_order": wanted})  # fmt: skip
    assert finished.status_code == 202, finished.text
    meta = http.get(f"/api/tasks/{task_id}/data/meta").json()
    assert [f["name"] for f in meta["frames"]] == wanted
    for number, name in enumerate(wanted):
        assert _frame(http, task_id, number) == files[name].read_bytes()
