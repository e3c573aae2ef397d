"""Compressed frames made while the upload arrives (labelbay.media.early).

cvat-sdk sends ``image_quality`` with every Upload-Multiple request; the server compresses
each image at that quality as soon as it has been checked, into a sidecar beside it. The
compressed-frame build then reads the sidecar instead of encoding. On the cold server (no
pre-generation) the sidecars stay where they were made, so the tests can look at them.
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest
from cvat_sdk import Client

from conftest import Server
from e2e.helpers import create_task, noise_images, token_http
from labelbay.media import early
from labelbay.media.frames import compress_image

from .helpers import wait_prepared


def _sidecars(server: Server, quality: int, names: list[str], timeout: float = 20) -> list[Path]:
    """The sidecars of ``names`` at ``quality`` in the server's data dir (upload areas and
    media), once all exist."""
    deadline = time.monotonic() + timeout
    while True:
        found = {
            path.name.removesuffix(".jpg"): path
            for folder in server.data_dir.rglob(f".q{quality}")
            for path in folder.rglob("*.jpg")
        }
        if all(name in found for name in names):
            return [found[name] for name in names]
        assert time.monotonic() < deadline, f"sidecars {sorted(found)} of {names}"
        time.sleep(0.05)


def test_frames_of_an_sdk_upload_are_the_same_with_or_without_sidecars(
    cold_client: Client, cold_server: Server, tmp_path: Path
) -> None:
    # cvat-sdk finishes right after its last Upload-Multiple: some images may have been
    # compressed on arrival, some not (their build encodes them). Either way, same bytes.
    names = [f"early_{i}.png" for i in range(4)]
    files = noise_images(tmp_path, names, size=(120, 90), seed=41)
    task = create_task(cold_client, files, name="early", data_params={"image_quality": 57})
    expected = [compress_image(source, quality=57) for source in files]
    for folder in cold_server.data_dir.rglob(".q57"):
        for made in folder.rglob("*.jpg"):
            assert made.read_bytes() == expected[names.index(made.name.removesuffix(".jpg"))]
    with token_http(cold_server) as http:
        for number in range(len(files)):
            reply = http.get(
                f"/api/tasks/{task.id}/data",
                params={"type": "frame", "number": number, "quality": "compressed"},
            )
            assert reply.status_code == 200, reply.text
            assert reply.content == expected[number]


def test_images_are_compressed_as_they_arrive(cold_server: Server, tmp_path: Path) -> None:
    names = [f"arrive_{i}.png" for i in range(4)]
    files = noise_images(tmp_path, names, size=(120, 90), seed=45)
    with token_http(cold_server) as http:
        task = http.post("/api/tasks", json={"name": "a", "labels": [{"name": "a"}]}).json()
        url = f"/api/tasks/{task['id']}/data/"
        assert http.post(url, headers={"Upload-Start": ""}).status_code == 202
        parts = [(f"client_files[{i}]", (p.name, p.read_bytes())) for i, p in enumerate(files)]
        sent = http.post(
            url, headers={"Upload-Multiple": ""}, data={"image_quality": "57"}, files=parts
        )
        assert sent.status_code == 200, sent.text
        for source, made in zip(files, _sidecars(cold_server, 57, names), strict=True):
            assert made.read_bytes() == compress_image(source, quality=57)
        finished = http.post(url, headers={"Upload-Finish": ""}, json={"image_quality": 57})
        assert finished.status_code == 202, finished.text
        # The sidecars moved with the staged images into the task's media.
        moved = _sidecars(cold_server, 57, names)
        assert all(m.is_relative_to(cold_server.data_dir / "media") for m in moved)


def test_a_task_of_another_quality_never_reads_the_sidecars(
    cold_server: Server, tmp_path: Path
) -> None:
    names = [f"other_{i}.png" for i in range(3)]
    files = noise_images(tmp_path, names, size=(120, 90), seed=42)
    with token_http(cold_server) as http:
        task = http.post("/api/tasks", json={"name": "q", "labels": [{"name": "a"}]}).json()
        url = f"/api/tasks/{task['id']}/data/"
        assert http.post(url, headers={"Upload-Start": ""}).status_code == 202
        parts = [(f"client_files[{i}]", (p.name, p.read_bytes())) for i, p in enumerate(files)]
        sent = http.post(
            url, headers={"Upload-Multiple": ""}, data={"image_quality": "63"}, files=parts
        )
        assert sent.status_code == 200, sent.text
        _sidecars(cold_server, 63, names)  # made at the announced quality...
        finished = http.post(url, headers={"Upload-Finish": ""}, json={"image_quality": 88})
        assert finished.status_code == 202, finished.text
        assert _sidecars(cold_server, 63, names)[0].is_relative_to(cold_server.data_dir / "media")
        for number, source in enumerate(files):
            reply = http.get(
                f"/api/tasks/{task['id']}/data",
                params={"type": "frame", "number": number, "quality": "compressed"},
            )
            assert reply.status_code == 200, reply.text
            # ...but the task's frames are at its own.
            assert reply.content == compress_image(source, quality=88)


def test_archive_members_in_folders_get_sidecars(cold_server: Server, tmp_path: Path) -> None:
    names = [f"nested_{i}.png" for i in range(3)]
    files = noise_images(tmp_path, names, size=(64, 48), seed=43)
    archive = tmp_path / "nested.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in files:
            out.write(path, f"deep/er/{path.name}")
    with token_http(cold_server) as http:
        task = http.post("/api/tasks", json={"name": "z", "labels": [{"name": "a"}]}).json()
        url = f"/api/tasks/{task['id']}/data/"
        assert http.post(url, headers={"Upload-Start": ""}).status_code == 202
        sent = http.post(
            url,
            headers={"Upload-Multiple": ""},
            data={"image_quality": "59"},
            files=[("client_files[0]", (archive.name, archive.read_bytes()))],
        )
        assert sent.status_code == 200, sent.text
        sidecars = _sidecars(cold_server, 59, names)
        assert all(made.parent.name == "er" for made in sidecars)
        finished = http.post(url, headers={"Upload-Finish": ""}, json={"image_quality": 59})
        assert finished.status_code == 202, finished.text
        for number, source in enumerate(files):
            reply = http.get(
                f"/api/tasks/{task['id']}/data",
                params={"type": "frame", "number": number, "quality": "compressed"},
            )
            assert reply.content == compress_image(source, quality=59)


def test_pregeneration_removes_the_sidecars(client: Client, server: Server, tmp_path: Path) -> None:
    names = [f"dropped_{i}.png" for i in range(3)]
    files = noise_images(tmp_path, names, size=(64, 48), seed=44)
    task = create_task(client, files, name="dropped", data_params={"image_quality": 53})
    with token_http(server) as http:
        request, _ = wait_prepared(http, task.id)
        assert request["status"] == "finished"
    assert list((server.data_dir / "media").rglob(".q53")) == []


def test_a_sidecar_for_a_moved_upload_leaves_nothing_behind(tmp_path: Path) -> None:
    raw = tmp_path / "area" / "raw"
    raw.mkdir(parents=True)
    image = noise_images(raw, ["a.png"], size=(16, 12))[0]
    made = early.make_sidecar(raw, "a.png", 70)
    assert made is not None and made.read_bytes() == compress_image(image, quality=70)
    (tmp_path / "area").rename(tmp_path / "moved")  # Upload-Finish moved the staged folder
    assert early.make_sidecar(raw, "a.png", 70) is None
    assert not (tmp_path / "area").exists()


@pytest.mark.parametrize("body", [b"{}", b"not json", b'{"image_quality": "x"}'])
def test_upload_start_takes_an_optional_quality_hint(cold_server: Server, body: bytes) -> None:
    with token_http(cold_server) as http:
        task = http.post("/api/tasks", json={"name": "s", "labels": [{"name": "a"}]}).json()
        reply = http.post(
            f"/api/tasks/{task['id']}/data/",
            headers={"Upload-Start": "", "Content-Type": "application/json"},
            content=body,
        )
        assert reply.status_code == 202, reply.text


def test_images_queued_when_the_upload_finishes_follow_the_staged_folder(tmp_path: Path) -> None:
    staged = tmp_path / "area" / "raw"
    staged.mkdir(parents=True)
    names = [f"q{i}.png" for i in range(20)]
    sources = noise_images(staged, names, size=(400, 300), seed=46)
    expected = {
        name: compress_image(path, quality=66) for name, path in zip(names, sources, strict=True)
    }
    pool = early.EarlyFrames(workers=1)
    try:
        for name in names:
            assert pool.submit(staged, name, 66)
        media = tmp_path / "media" / "raw"
        media.parent.mkdir()
        staged.rename(media)  # Upload-Finish moved the staged folder...
        pool.moved(staged, media)  # ...and said so
        deadline = time.monotonic() + 60
        while pool.pending and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pool.pending == 0
        made = {p.name.removesuffix(".jpg"): p.read_bytes() for p in media.glob(".q66/*.jpg")}
        # The one being compressed at the moment of the move may be lost; no more.
        assert len(made) >= len(names) - 1
        assert all(made[name] == expected[name] for name in made)
        assert not staged.exists()
    finally:
        pool.close()
