"""End-to-end rules for bad input, through the real cvat-sdk against ``labelbay serve``.

Every bad upload must be refused with a 4xx whose JSON ``detail`` names the file, archive
member or field at fault; the task must be left exactly as it was (no frames, no jobs, no
media on disk, no leftover uploaded files); and uploading good files to the same task right
afterwards must work.
"""

from __future__ import annotations

import base64
import functools
import secrets
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cvat_sdk import Client, make_client
from cvat_sdk.api_client import exceptions
from cvat_sdk.core.proxies.tasks import ResourceType, Task
from cvat_sdk.core.uploading import DataUploader

from media import (
    COLORS,
    damage_zip_member,
    files_in,
    first_half,
    gif,
    good_images,
    huge_png,
    json_body,
    noisy_jpeg,
    noisy_png,
    patch_zip_member,
    png,
    png_claiming_size,
    random_bytes,
    tar_archive,
    tar_gz,
    task_media_folders,
    task_upload_area,
    write_files,
    zip_archive,
    zip_names,
)

if TYPE_CHECKING:
    from conftest import Server

LABELS = [{"name": "thing"}]
TUS = {"Tus-Resumable": "1.0.0"}


@dataclass
class Account:
    username: str
    sdk: Client
    http: httpx.Client
    """Signed in with the login token."""


@pytest.fixture(scope="module")
def user(server: Server) -> Iterator[Account]:
    username, password = server.create_user()
    with ExitStack() as stack:
        sdk = stack.enter_context(
            make_client(server.host, port=server.port, credentials=(username, password))
        )
        http = stack.enter_context(httpx.Client(base_url=server.url, timeout=60))
        login = http.post("/api/auth/login", json={"username": username, "password": password})
        login.raise_for_status()
        http.headers["Authorization"] = f"Token {login.json()['key']}"
        yield Account(username, sdk, http)


@pytest.fixture
def task(user: Account) -> Task:
    return user.sdk.tasks.create({"name": f"bad-input-{secrets.token_hex(4)}", "labels": LABELS})


def data_url(sdk: Client, task_id: int) -> str:
    endpoint = sdk.api_client.tasks_api.create_data_endpoint
    return sdk.api_map.make_endpoint_url(endpoint.path, kwsub={"id": task_id})


def refused(call: Callable[[], object]) -> tuple[int, dict[str, Any]]:
    """Runs an SDK call that must fail with a 4xx; returns the status and the JSON body."""
    with pytest.raises(exceptions.ApiException) as caught:
        call()
    error = caught.value
    assert error.status is not None and 400 <= error.status < 500, str(error)
    body = json_body(error.body)
    assert isinstance(body.get("detail"), str) and body["detail"], body
    return error.status, body


def upload_refused(
    user: Account, task: Task, paths: list[Path], *, params: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """``task.upload_data`` (Upload-Start, Upload-Multiple, Upload-Finish) that must fail."""
    return refused(
        lambda: task.upload_data(
            resources=paths, resource_type=ResourceType.LOCAL, params=params,
            status_check_period=1,
        )
    )  # fmt: skip


def assert_no_data(
    server: Server, user: Account, task: Task, *, uploads_cleared: bool = True
) -> None:
    """The task is as it was created: no frames, no jobs, no media on disk and (unless told
    otherwise) no uploaded files waiting for another Upload-Finish."""
    task.fetch()
    assert task.size == 0
    assert task.data_chunk_size is None
    jobs = user.http.get("/api/jobs", params={"task_id": task.id})
    assert jobs.status_code == 200, jobs.text
    assert jobs.json()["count"] == 0, jobs.json()
    assert task.jobs.count == 0
    meta = user.http.get(f"/api/tasks/{task.id}/data/meta")
    assert 400 <= meta.status_code < 500, meta.text
    frame = user.http.get(
        f"/api/tasks/{task.id}/data/", params={"type": "frame", "number": 0, "quality": "original"}
    )
    assert 400 <= frame.status_code < 500, frame.text
    assert task_media_folders(server.data_dir, task.id) == []
    if uploads_cleared:
        assert files_in(task_upload_area(server.data_dir, task.id)) == []


def assert_frames(server: Server, user: Account, task: Task, files: dict[str, bytes]) -> None:
    """The task's frames are ``files`` in name order, byte for byte."""
    task.fetch()
    names = sorted(files)
    assert task.size == len(names)
    assert [frame.name for frame in task.get_meta().frames] == names
    for number, name in enumerate(names):
        assert task.get_frame(number, quality="original").read() == files[name], name
    jobs = user.http.get("/api/jobs", params={"task_id": task.id}).json()
    assert jobs["count"] >= 1
    assert len(task_media_folders(server.data_dir, task.id)) == 1


def assert_recovers(server: Server, user: Account, task: Task, folder: Path) -> None:
    """Good files uploaded to the same task afterwards become its frames."""
    good = good_images(3, prefix="retry")
    task.upload_data(
        resources=write_files(folder / "retry", good),
        resource_type=ResourceType.LOCAL,
        status_check_period=1,
    )
    assert_frames(server, user, task, good)


# --- bad files ----------------------------------------------------------------------------------


@functools.cache
def huge_image() -> bytes:
    return huge_png(8000, 7000)  # 56 megapixels, over the server's 50


def corrupt_zip() -> bytes:
    members = [("a.png", png()), ("sub/b.png", noisy_png(seed=7)), ("c.png", png())]
    return damage_zip_member(zip_archive(members), "sub/b.png")


def windows_zip() -> bytes:
    data = zip_archive([("ok.png", png()), ("..\\..\\evil.png", png())])
    assert "..\\..\\evil.png" in zip_names(data)
    return data


def absolute_zip() -> bytes:
    data = zip_archive([("ok.png", png()), ("/etc/x.png", png())])
    assert "/etc/x.png" in zip_names(data)
    return data


@dataclass(frozen=True)
class BadUpload:
    files: Callable[[], dict[str, bytes]]
    named: tuple[str, ...]
    """What ``detail`` must mention."""


BAD_UPLOADS: dict[str, BadUpload] = {
    "random-bytes-as-jpeg": BadUpload(lambda: {"x.jpg": random_bytes(4096)}, ("x.jpg",)),
    "truncated-jpeg": BadUpload(lambda: {"cut.jpg": first_half(noisy_jpeg())}, ("cut.jpg",)),
    "truncated-png": BadUpload(lambda: {"cut.png": first_half(noisy_png())}, ("cut.png",)),
    "empty-file": BadUpload(lambda: {"empty.png": b""}, ("empty.png",)),
    "text-file": BadUpload(lambda: {"notes.txt": b"not an image\n"}, ("notes.txt",)),
    "junk-video": BadUpload(lambda: {"video.mp4": random_bytes(2048)}, ("video.mp4",)),
    "png-named-jpeg-cut": BadUpload(
        lambda: {"photo.jpeg": first_half(noisy_png(seed=5))}, ("photo.jpeg",)
    ),
    "zip-member-bad-crc": BadUpload(lambda: {"pack.zip": corrupt_zip()}, ("pack.zip", "sub/b.png")),
    "truncated-zip": BadUpload(
        lambda: {"pack.zip": first_half(zip_archive([("a.png", noisy_png()), ("b.png", png())]))},
        ("pack.zip",),
    ),
    "zip-member-parent-dir": BadUpload(
        lambda: {"pack.zip": zip_archive([("ok.png", png()), ("../escape.png", png())])},
        ("../escape.png",),
    ),
    "zip-member-absolute": BadUpload(lambda: {"pack.zip": absolute_zip()}, ("/etc/x.png",)),
    "zip-member-windows-parent": BadUpload(
        lambda: {"pack.zip": windows_zip()}, ("..\\..\\evil.png",)
    ),
    "tar-symlink": BadUpload(
        lambda: {"pack.tar": tar_archive([("a.png", png())], symlinks=[("link.png", "a.png")])},
        ("link.png",),
    ),
    "tar-symlink-outside": BadUpload(
        lambda: {"pack.tar": tar_archive([("a.png", png())], symlinks=[("pw.png", "/etc/passwd")])},
        ("pw.png",),
    ),
    "zip-holds-no-images": BadUpload(
        lambda: {"pack.zip": zip_archive([("readme.txt", b"hello")])}, ("pack.zip",)
    ),
    "name-twice-file-and-member": BadUpload(
        lambda: {"a.png": png(), "pack.zip": zip_archive([("a.png", png(color=COLORS[1]))])},
        ("a.png",),
    ),
    "over-50-megapixels": BadUpload(lambda: {"big.png": huge_image()}, ("big.png",)),
    "header-claims-81-megapixels": BadUpload(
        lambda: {"bomb.png": png_claiming_size(9_000, 9_000)}, ("bomb.png",)
    ),
    "gif-named-png": BadUpload(lambda: {"anim.png": gif()}, ("anim.png",)),
    "zip-member-twice": BadUpload(
        lambda: {"pack.zip": zip_archive([("a.png", png()), ("a.png", png(color=COLORS[1]))])},
        ("a.png",),
    ),
    "zip-member-encrypted": BadUpload(
        lambda: {
            "pack.zip": patch_zip_member(
                zip_archive([("a.png", png()), ("locked.png", png())]), "locked.png", flags=0x1
            )
        },
        ("locked.png",),
    ),
    "zip-member-unknown-compression": BadUpload(
        lambda: {
            "pack.zip": patch_zip_member(
                zip_archive([("a.png", png()), ("odd.png", png())], compression=zipfile.ZIP_STORED),
                "odd.png",
                method=97,
            )
        },
        ("odd.png",),
    ),
    "truncated-tar-gz": BadUpload(
        lambda: {"pack.tar.gz": first_half(tar_gz([("a.png", noisy_png()), ("b.png", png())]))},
        ("pack.tar.gz",),
    ),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS), ids=list(BAD_UPLOADS))
def test_bad_file_is_refused_and_leaves_the_task_empty(
    case: str, server: Server, user: Account, task: Task, tmp_path: Path
) -> None:
    bad = BAD_UPLOADS[case]
    # A good image goes along, so that the failure is the bad file's and nothing half-done
    # stays behind.
    files = {"0_good.png": png(color=COLORS[2]), **bad.files()}
    status, body = upload_refused(user, task, write_files(tmp_path / "bad", files))

    assert status == 400, body
    for name in bad.named:
        assert name in body["detail"], body
    assert_no_data(server, user, task)
    # Nothing escaped into the server's own folders (other tests' frames live in the ``raw``
    # folders of their tasks), and no link was created anywhere.
    everything = list(server.data_dir.rglob("*"))
    outside_frames = [p for p in everything if "raw" not in p.relative_to(server.data_dir).parts]
    assert not [p for p in outside_frames if p.name in ("escape.png", "evil.png", "x.png")]
    assert not [p for p in everything if p.is_symlink()]
    assert not Path("/etc/x.png").exists()

    assert_recovers(server, user, task, tmp_path)


# --- bad data parameters ------------------------------------------------------------------------

BAD_PARAMS: dict[str, tuple[dict[str, Any], str]] = {
    "image-quality-word": ({"image_quality": "high"}, "image_quality"),
    "image-quality-over-100": ({"image_quality": 101}, "image_quality"),
    "chunk-size-negative": ({"chunk_size": -1}, "chunk_size"),
    "sorting-method-unknown": ({"sorting_method": "by-size"}, "sorting_method"),
    "start-frame-past-the-files": ({"start_frame": 3}, "start_frame"),
    "stop-frame-before-start": ({"start_frame": 2, "stop_frame": 1}, "stop_frame"),
    "frame-step-zero": ({"frame_step": 0}, "frame_filter"),
}


@pytest.mark.parametrize("case", list(BAD_PARAMS), ids=list(BAD_PARAMS))
def test_bad_data_parameter_is_refused(
    case: str, server: Server, user: Account, task: Task, tmp_path: Path
) -> None:
    params, field = BAD_PARAMS[case]
    paths = write_files(tmp_path / "files", good_images(3))
    status, body = upload_refused(user, task, paths, params=params)
    assert status == 400, body
    assert field in body["detail"], body
    # Whether the uploaded files stay for a corrected Upload-Finish is checked separately.
    assert_no_data(server, user, task, uploads_cleared=False)
    assert_recovers(server, user, task, tmp_path)


BAD_FINISH_FIELDS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "frame-filter-every": ({"frame_filter": "every=2"}, ("frame_filter",)),
    "frame-filter-step-empty": ({"frame_filter": "step="}, ("frame_filter",)),
    "frame-filter-step-negative": ({"frame_filter": "step=-1"}, ("frame_filter",)),
    "frame-filter-step-word": ({"frame_filter": "step=two"}, ("frame_filter",)),
    "predefined-order-misses-a-file": (
        {"sorting_method": "predefined", "upload_file_order": ["good_0.png", "good_1.png"]},
        ("upload_file_order", "good_2.png"),
    ),
    "predefined-order-names-a-stranger": (
        {
            "sorting_method": "predefined",
            "upload_file_order": ["good_0.png", "good_1.png", "good_2.png", "ghost.png"],
        },
        ("upload_file_order", "ghost.png"),
    ),
    "use-cache-word": ({"use_cache": "maybe"}, ("use_cache",)),
    "server-files": ({"server_files": ["good_0.png"]}, ("server_files",)),
    "job-file-mapping": ({"job_file_mapping": [["good_0.png"]]}, ("job_file_mapping",)),
}


@pytest.mark.parametrize("case", list(BAD_FINISH_FIELDS), ids=list(BAD_FINISH_FIELDS))
def test_bad_upload_finish_field_is_refused(
    case: str, server: Server, user: Account, task: Task, tmp_path: Path
) -> None:
    """Fields ``task.upload_data`` cannot send as given go through the SDK's own uploader."""
    fields, named = BAD_FINISH_FIELDS[case]
    paths = write_files(tmp_path / "files", good_images(3))
    uploader = DataUploader(user.sdk)
    url = data_url(user.sdk, task.id)
    status, body = refused(lambda: uploader.upload_files(url, paths, image_quality=70, **fields))
    assert status == 400, body
    for name in named:
        assert name in body["detail"], body
    assert_no_data(server, user, task, uploads_cleared=False)
    assert_recovers(server, user, task, tmp_path)


@pytest.mark.parametrize(
    "raw", [b"{not json", b"[70]", b'"image_quality"'], ids=["broken", "array", "string"]
)
def test_upload_finish_body_that_is_not_a_json_object_is_refused(
    raw: bytes, server: Server, user: Account, task: Task, tmp_path: Path
) -> None:
    upload_start(user, task)
    multiple = user.http.post(
        f"/api/tasks/{task.id}/data/",
        headers={"Upload-Multiple": ""},
        files={"client_files[0]": ("/home/someone/good_0.png", png(), "image/png")},
    )
    assert multiple.status_code == 200, multiple.text
    finished = user.http.post(
        f"/api/tasks/{task.id}/data/",
        headers={"Upload-Finish": "", "Content-Type": "application/json"},
        content=raw,
    )
    assert finished.status_code == 400, finished.text
    assert "body" in json_body(finished.content)["detail"]
    assert_no_data(server, user, task, uploads_cleared=False)
    assert_recovers(server, user, task, tmp_path)


def test_frame_step_keeps_every_nth_file(
    server: Server, user: Account, task: Task, tmp_path: Path
) -> None:
    """The valid counterpart of the above: ``frame_step`` becomes ``frame_filter=step=N``."""
    files = good_images(5)
    task.upload_data(
        resources=write_files(tmp_path, files), resource_type=ResourceType.LOCAL,
        params={"frame_step": 2}, status_check_period=1,
    )  # fmt: skip
    kept = {name: files[name] for name in sorted(files)[::2]}
    assert_frames(server, user, task, kept)
    assert task.get_meta().frame_filter == "step=2"


# --- TUS uploads ------------------------------------------------------------------------------


def tus_create(user: Account, task: Task, name: str, length: int) -> str:
    """Starts a TUS upload of ``name`` to the task; returns its absolute Location."""
    created = user.http.post(
        f"/api/tasks/{task.id}/data/",
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": f"filename {base64.b64encode(name.encode()).decode()}",
        },
    )
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert location.startswith("http://"), location
    assert created.headers["Upload-Filename"] == name
    return location


def tus_patch(user: Account, location: str, offset: int, chunk: bytes) -> httpx.Response:
    return user.http.patch(
        location,
        content=chunk,
        headers={
            **TUS,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        },
    )


def upload_start(user: Account, task: Task) -> None:
    started = user.http.post(f"/api/tasks/{task.id}/data/", headers={"Upload-Start": ""})
    assert started.status_code == 202, started.text


def upload_finish(user: Account, task: Task, params: dict[str, Any]) -> httpx.Response:
    return user.http.post(f"/api/tasks/{task.id}/data/", headers={"Upload-Finish": ""}, json=params)


def stored_offset(user: Account, location: str) -> int:
    head = user.http.head(location, headers=TUS)
    assert head.status_code == 200, head.headers
    return int(head.headers["Upload-Offset"])


def test_tus_upload_longer_than_declared_is_refused_and_can_be_restarted(
    server: Server, user: Account, task: Task, tmp_path: Path
) -> None:
    upload_start(user, task)
    location = tus_create(user, task, "tiny.png", 10)
    too_long = tus_patch(user, location, 0, b"0123456789" * 2)
    assert too_long.status_code == 413, too_long.text
    assert "tiny.png" in json_body(too_long.content)["detail"]
    assert stored_offset(user, location) == 0
    # The upload stays open (it may be resumed), so its partial file is still there.
    assert_no_data(server, user, task, uploads_cleared=False)

    # Starting over with the SDK works and forgets the abandoned upload.
    assert_recovers(server, user, task, tmp_path)
    gone = tus_patch(user, location, 0, b"0123456789")
    assert gone.status_code == 404, gone.text


def test_tus_upload_longer_than_declared_can_be_resumed(
    server: Server, user: Account, task: Task
) -> None:
    data = png(color=COLORS[4])
    upload_start(user, task)
    location = tus_create(user, task, "frame.png", len(data))
    too_long = tus_patch(user, location, 0, data + b"trailing garbage")
    assert too_long.status_code == 413, too_long.text
    assert "frame.png" in json_body(too_long.content)["detail"]

    # The same upload takes the right bytes afterwards.
    fixed = tus_patch(user, location, 0, data)
    assert fixed.status_code == 204, fixed.text
    assert int(fixed.headers["Upload-Offset"]) == len(data)
    finished = upload_finish(user, task, {"image_quality": 70})
    assert finished.status_code == 202, finished.text
    assert_frames(server, user, task, {"frame.png": data})


def test_tus_offset_mismatch_is_a_conflict_and_resumes_from_the_stored_offset(
    server: Server, user: Account, task: Task
) -> None:
    data = noisy_png(seed=11)
    half = len(data) // 2
    upload_start(user, task)
    location = tus_create(user, task, "resumed.png", len(data))

    ahead = tus_patch(user, location, 5, data[5:])
    assert ahead.status_code == 409, ahead.text
    assert ahead.headers.get("Upload-Offset") == "0"
    assert "resumed.png" in json_body(ahead.content)["detail"]

    first = tus_patch(user, location, 0, data[:half])
    assert first.status_code == 204, first.text
    assert first.headers["Upload-Offset"] == str(half)

    replayed = tus_patch(user, location, 0, data[:half])
    assert replayed.status_code == 409, replayed.text
    assert replayed.headers.get("Upload-Offset") == str(half)
    assert stored_offset(user, location) == half

    # Finishing with a half-uploaded file must not make a frame of it.
    early = upload_finish(user, task, {"image_quality": 70})
    assert 400 <= early.status_code < 500, early.text
    assert_no_data(server, user, task)

    upload_start(user, task)
    location = tus_create(user, task, "resumed.png", len(data))
    assert tus_patch(user, location, 0, data[:half]).status_code == 204
    rest = tus_patch(user, location, half, data[half:])
    assert rest.status_code == 204, rest.text
    assert rest.headers["Upload-Offset"] == str(len(data))
    finished = upload_finish(user, task, {"image_quality": 70})
    assert finished.status_code == 202, finished.text
    assert_frames(server, user, task, {"resumed.png": data})


def test_uploaded_file_names_cannot_leave_the_upload_folder(
    server: Server, user: Account, task: Task
) -> None:
    """Clients send local paths as file names (TUS metadata, multipart parts): only the base
    name may count, whatever the separators."""
    tus_data, unix_data, windows_data = png(color=COLORS[0]), png(color=COLORS[1]), png()
    upload_start(user, task)
    created = user.http.post(
        f"/api/tasks/{task.id}/data/",
        headers={
            **TUS,
            "Upload-Length": str(len(tus_data)),
            "Upload-Metadata": "filename " + base64.b64encode(b"../../tus-out.png").decode(),
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["Upload-Filename"] == "tus-out.png"
    assert tus_patch(user, created.headers["Location"], 0, tus_data).status_code == 204
    multiple = user.http.post(
        f"/api/tasks/{task.id}/data/",
        headers={"Upload-Multiple": ""},
        files=[
            ("client_files[0]", ("../../../unix-out.png", unix_data, "image/png")),
            ("client_files[1]", ("C:\\Users\\me\\..\\win-out.png", windows_data, "image/png")),
        ],
    )
    assert multiple.status_code == 200, multiple.text
    finished = upload_finish(user, task, {"image_quality": 70})
    assert finished.status_code == 202, finished.text

    assert_frames(
        server, user, task,
        {"tus-out.png": tus_data, "unix-out.png": unix_data, "win-out.png": windows_data},
    )  # fmt: skip
    outside = [p for p in server.data_dir.parent.rglob("*-out.png") if "media" not in p.parts]
    assert outside == []


# --- tasks that already have data --------------------------------------------------------------


def test_data_for_a_task_that_has_data_is_refused_and_frames_stay(
    server: Server, user: Account, task: Task, tmp_path: Path
) -> None:
    original = good_images(2, prefix="first")
    task.upload_data(
        resources=write_files(tmp_path / "first", original),
        resource_type=ResourceType.LOCAL,
        status_check_period=1,
    )
    before_frame = task.get_frame(0, quality="original").read()
    before_jobs = user.http.get("/api/jobs", params={"task_id": task.id}).json()["results"]
    before_folders = task_media_folders(server.data_dir, task.id)

    other = {"first_0.png": png(color=COLORS[5]), "more.png": png(color=COLORS[3])}
    status, body = upload_refused(user, task, write_files(tmp_path / "second", other))
    assert status in (400, 409), body
    assert str(task.id) in body["detail"], body

    task.fetch()
    assert task.size == 2
    assert task.get_frame(0, quality="original").read() == before_frame == original["first_0.png"]
    assert_frames(server, user, task, original)
    after_jobs = user.http.get("/api/jobs", params={"task_id": task.id}).json()["results"]
    assert [j["id"] for j in after_jobs] == [j["id"] for j in before_jobs]
    assert task_media_folders(server.data_dir, task.id) == before_folders
    assert files_in(task_upload_area(server.data_dir, task.id)) == []


# --- task and label payloads -------------------------------------------------------------------


def task_names(user: Account) -> set[str]:
    return {t.name for t in user.sdk.tasks.list()}


BAD_TASKS: dict[str, tuple[dict[str, Any], str]] = {
    "segment-size-word": ({"name": "x", "segment_size": "abc"}, "segment_size"),
    "segment-size-negative": ({"name": "x", "segment_size": -2}, "segment_size"),
    "overlap-word": ({"name": "x", "overlap": "none"}, "overlap"),
    "name-missing": ({"segment_size": 5}, "name"),
    "name-empty": ({"name": ""}, "name"),
    "name-number": ({"name": 12}, "name"),
    "labels-not-a-list": ({"name": "x", "labels": "cat"}, "labels"),
    "label-type-unknown": (
        {"name": "x", "labels": [{"name": "c", "type": "blob"}]},
        "labels.0.type",
    ),
}


@pytest.mark.parametrize("case", list(BAD_TASKS), ids=list(BAD_TASKS))
def test_task_create_with_a_bad_field_is_refused(case: str, user: Account) -> None:
    body, field = BAD_TASKS[case]
    before = task_names(user)
    response = user.http.post("/api/tasks", json=body)
    assert response.status_code == 400, response.text
    error = json_body(response.content)
    assert field in error["detail"], error
    assert task_names(user) == before


def number_attribute(values: list[str]) -> dict[str, Any]:
    return {"name": "speed", "mutable": False, "input_type": "number", "values": values}


BAD_NUMBER_VALUES = {
    "two-values": ["0", "10"],
    "four-values": ["0", "10", "1", "5"],
    "words": ["low", "high", "step"],
    "min-over-max": ["10", "0", "1"],
    "zero-step": ["0", "10", "0"],
}


def bad_labels(values: list[str]) -> list[dict[str, Any]]:
    """The bad attribute sits at ``labels[1].attributes[1]``."""
    select = {"name": "colour", "mutable": False, "input_type": "select", "values": ["red"]}
    return [{"name": "ok"}, {"name": "car", "attributes": [select, number_attribute(values)]}]


@pytest.mark.parametrize("values", list(BAD_NUMBER_VALUES.values()), ids=list(BAD_NUMBER_VALUES))
def test_number_attribute_needs_min_max_step(values: list[str], user: Account) -> None:
    name = f"labels-{secrets.token_hex(4)}"
    status, body = refused(
        lambda: user.sdk.tasks.create({"name": name, "labels": bad_labels(values)})
    )
    assert status == 400, body
    assert "labels[1].attributes[1]" in body["detail"], body
    assert name not in task_names(user)

    status, body = refused(
        lambda: user.sdk.projects.create({"name": name, "labels": bad_labels(values)})
    )
    assert status == 400, body
    assert "labels[1].attributes[1]" in body["detail"], body
    assert name not in {p.name for p in user.sdk.projects.list()}


def test_bad_attribute_in_a_label_change_is_refused_and_labels_stay(
    user: Account, task: Task
) -> None:
    before = [label.to_dict() for label in task.get_labels()]
    updated_before = user.sdk.tasks.retrieve(task.id).updated_date

    response = user.http.patch(f"/api/tasks/{task.id}", json={"labels": bad_labels(["1", "2"])})
    assert response.status_code == 400, response.text
    assert "labels[1].attributes[1]" in json_body(response.content)["detail"]

    label_id = before[0]["id"]
    response = user.http.patch(
        f"/api/labels/{label_id}", json={"attributes": [number_attribute(["a", "b", "c"])]}
    )
    assert response.status_code == 400, response.text
    assert "attributes[0]" in json_body(response.content)["detail"]

    assert [label.to_dict() for label in task.get_labels()] == before
    assert user.sdk.tasks.retrieve(task.id).updated_date == updated_before


# --- leftovers and races ---------------------------------------------------------------------


def test_deleting_a_task_removes_its_pending_uploads(
    server: Server, user: Account, task: Task, tmp_path: Path
) -> None:
    """Files sent for a task that never got its data must not outlive the task on disk."""
    paths = write_files(tmp_path, good_images(2))
    upload_refused(user, task, paths, params={"chunk_size": -1})
    location = tus_create(user, task, "pending.png", 100)
    assert tus_patch(user, location, 0, b"x" * 40).status_code == 204
    area = task_upload_area(server.data_dir, task.id)
    assert files_in(area), "nothing was pending; the test would prove nothing"

    task.remove()
    with pytest.raises(exceptions.NotFoundException):
        user.sdk.tasks.retrieve(task.id)
    assert files_in(area) == []
    assert task_media_folders(server.data_dir, task.id) == []


@pytest.mark.parametrize("packed", [False, True], ids=["images", "zip"])
def test_simultaneous_upload_finishes_make_one_set_of_frames(
    packed: bool, server: Server, user: Account
) -> None:
    """Only one of several racing Upload-Finish requests may ingest; the others are refused
    with a 4xx (the task has data by then, or their files are gone), never a 5xx."""
    files = good_images(6, prefix="race")
    if packed:
        parts = [("client_files[0]", ("race.zip", zip_archive(files.items()), "application/zip"))]
    else:
        parts = [
            (f"client_files[{i}]", (name, data, "image/png"))
            for i, (name, data) in enumerate(files.items())
        ]
    for _ in range(5):
        task = user.sdk.tasks.create({"name": f"race-{secrets.token_hex(3)}", "labels": LABELS})
        upload_start(user, task)
        multiple = user.http.post(
            f"/api/tasks/{task.id}/data/", headers={"Upload-Multiple": ""}, files=parts
        )
        assert multiple.status_code == 200, multiple.text

        with ThreadPoolExecutor(6) as pool:
            pending = [
                pool.submit(upload_finish, user, task, {"image_quality": 70}) for _ in range(6)
            ]
            results = [future.result() for future in pending]
        answers = [(r.status_code, r.text[:100]) for r in results]
        assert [status for status, _ in answers].count(202) == 1, answers
        assert all(status == 202 or 400 <= status < 500 for status, _ in answers), answers
        assert_frames(server, user, task, files)
        jobs = user.http.get("/api/jobs", params={"task_id": task.id}).json()
        assert jobs["count"] == 1, jobs
