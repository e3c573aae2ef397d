"""Task backups (spec 8.5) through the real cvat-sdk and cvat-cli: ``download_backup`` then
``create_from_backup`` gives an identical task (name, labels, settings, original frames, jobs,
annotations with new ids); broken archives fail the request with a message naming the member
and leave no task behind."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from cvat_sdk import Client
from cvat_sdk.core.exceptions import BackgroundRequestException
from cvat_sdk.core.proxies.tasks import Task
from cvat_sdk.exceptions import ApiException

from conftest import ADMIN, Server
from e2e.helpers import (
    create_task,
    frame_names,
    noise_images,
    original_frame,
    run_cli,
    sdk_client,
    token_http,
    zip_members,
)

from .helpers import (
    LABELS,
    Names,
    assert_same_task,
    corrupt_member,
    label_shapes,
    manifest_of,
    restore_via_http,
    rezip,
    task_ids,
    task_jobs,
    task_meta,
    wait_request,
    with_manifest,
)

FRAMES = 9


def test_sdk_round_trip_of_an_image_task(
    client: Client, api: httpx.Client, annotated: Task, tmp_path: Path
) -> None:
    path = tmp_path / "task_backup.zip"
    annotated.download_backup(path)
    with zipfile.ZipFile(path) as archive:
        assert "manifest.json" in archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["task"]["annotations"]["shapes"][0]["label"] == "car"
    restored = client.tasks.create_from_backup(path)
    assert_same_task(api, annotated, restored)
    assert frame_names(restored) == [f"img_{i}.png" for i in range(1, 11) if i != 9]
    for number in range(FRAMES):
        assert original_frame(restored, number) == original_frame(annotated, number)
    # Compressed frames and chunks are built from the same files at the same quality.
    assert restored.get_frame(0, quality="compressed").read()[:2] == b"\xff\xd8"
    for number in range(0, FRAMES, 2):
        for quality in ("original", "compressed"):
            params = {"type": "chunk", "number": number // 2, "quality": quality}
            chunks = [
                api.get(f"/api/tasks/{t.id}/data/", params=params) for t in (annotated, restored)
            ]
            assert chunks[0].status_code == chunks[1].status_code == 200
            assert zip_members(chunks[1].content) == zip_members(chunks[0].content)
    assert restored.owner.username == ADMIN[0]


def test_backup_to_a_directory_uses_the_server_name(
    client: Client, annotated: Task, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    annotated.download_backup(out)
    made = list(out.iterdir())
    assert len(made) == 1
    assert made[0].name.startswith("task_backed_up_task_1_backup_")
    assert made[0].suffix == ".zip"


def test_download_alias_and_rq_id(api: httpx.Client, annotated: Task) -> None:
    started = api.post(f"/api/tasks/{annotated.id}/backup/export", params={"location": "local"})
    assert started.status_code == 202, started.text
    rq_id = started.json()["rq_id"]
    done = wait_request(api, rq_id)
    assert done["status"] == "finished", done
    assert done["result_url"].startswith("http")
    alias = api.get(f"/api/tasks/{annotated.id}/backup/download", params={"rq_id": rq_id})
    assert alias.status_code == 200, alias.text
    assert 'filename="task_backed_up_task_1_backup_' in alias.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(alias.content)) as archive:
        assert sorted(n for n in archive.namelist() if n.startswith("data/")) == sorted(
            f"data/img_{i}.png" for i in range(1, 11) if i != 9
        )


def test_export_of_a_running_request_is_answered_with_it(
    api: httpx.Client, annotated: Task
) -> None:
    first = api.post(f"/api/tasks/{annotated.id}/backup/export")
    second = api.post(f"/api/tasks/{annotated.id}/backup/export")
    assert first.status_code == second.status_code == 202
    ids = {first.json()["rq_id"], second.json()["rq_id"]}
    # The same request while the first runs; a new one only if the first had finished.
    if len(ids) == 2:
        assert wait_request(api, first.json()["rq_id"])["status"] == "finished"
    for rq_id in ids:
        assert wait_request(api, rq_id)["status"] == "finished"


def test_nested_frame_names_from_an_archive(
    client: Client, api: httpx.Client, tmp_path: Path
) -> None:
    files = noise_images(tmp_path / "src", ["b/2.png", "a/1.png", "a/3.jpg"], size=(9, 7))
    archive = tmp_path / "frames.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in files:
            out.write(path, path.relative_to(tmp_path / "src").as_posix())
    task = create_task(
        client, [archive], name="nested", data_params={"start_frame": 1, "frame_step": 1}
    )
    path = tmp_path / "nested.zip"
    task.download_backup(path)
    restored = client.tasks.create_from_backup(path)
    assert frame_names(restored) == frame_names(task) == ["a/3.jpg", "b/2.png"]
    assert task_meta(restored) == task_meta(task)
    for number in range(2):
        assert original_frame(restored, number) == original_frame(task, number)


def test_frame_step_and_range_of_images(client: Client, api: httpx.Client, tmp_path: Path) -> None:
    files = noise_images(tmp_path / "src", [f"s{i:02}.png" for i in range(12)], size=(9, 7))
    task = create_task(
        client, files, name="stepped", segment_size=2,
        data_params={"start_frame": 1, "stop_frame": 10, "frame_step": 3, "chunk_size": 2},
    )  # fmt: skip
    path = tmp_path / "stepped.zip"
    task.download_backup(path)
    restored = client.tasks.create_from_backup(path)
    assert (
        frame_names(restored) == frame_names(task) == ["s01.png", "s04.png", "s07.png", "s10.png"]
    )
    assert task_meta(restored) == task_meta(task)
    assert task_meta(restored)["frame_filter"] == "step=3"
    assert task_jobs(restored) == task_jobs(task)


def test_an_ordinary_user_restores_into_their_own_task(
    server: Server, client: Client, api: httpx.Client, tmp_path: Path
) -> None:
    someone = server.create_user()
    other = server.create_user()
    with sdk_client(server, someone) as mine:
        mine.config.status_check_period = 1
        task = create_task(mine, noise_images(tmp_path, ["m.png"], size=(8, 8)), name="mine")
        path = tmp_path / "mine.zip"
        task.download_backup(path)
        restored = mine.tasks.create_from_backup(path)
        assert restored.owner.username == someone[0]
    with sdk_client(server, other) as theirs:
        with pytest.raises(ApiException) as refused:
            theirs.tasks.retrieve(restored.id)
        assert refused.value.status == 404
    with token_http(server, other) as http:
        assert http.post(f"/api/tasks/{task.id}/backup/export").status_code == 404
    with token_http(server, someone) as http:
        started = http.post(f"/api/tasks/{task.id}/backup/export")
        assert started.status_code == 202
        rq_id = started.json()["rq_id"]
        assert wait_request(http, rq_id)["status"] == "finished"
    with token_http(server, other) as http:
        alias = http.get(f"/api/tasks/{task.id}/backup/download", params={"rq_id": rq_id})
        assert alias.status_code == 404


def test_task_without_data(client: Client, api: httpx.Client, tmp_path: Path) -> None:
    task = client.tasks.create({"name": "empty", "labels": LABELS})
    path = tmp_path / "empty.zip"
    task.download_backup(path)
    restored = client.tasks.create_from_backup(path)
    assert restored.name == "empty"
    assert restored.size == 0
    assert label_shapes(api, restored.id) == label_shapes(api, task.id)


def test_video_task_round_trip(client: Client, api: httpx.Client, tmp_path: Path) -> None:
    from delivery.helpers import VideoSpec, make_video

    video = make_video(tmp_path, VideoSpec("clip.mp4", "libx264", 24, (64, 48)), gop=6)
    task = create_task(
        client, [video], name="video", segment_size=10,
        data_params={"chunk_size": 4, "image_quality": 80, "start_frame": 2, "stop_frame": 20,
                     "frame_step": 2},
    )  # fmt: skip
    names = Names(api, task.id)
    track = {
        "tracks": [
            {"frame": 0, "label_id": names.labels["car"], "shapes": [
                {"frame": 0, "type": "rectangle", "points": [1, 1, 9, 9]},
                {"frame": 6, "type": "rectangle", "points": [3, 3, 12, 12]},
            ]},
        ]
    }  # fmt: skip
    assert api.put(f"/api/tasks/{task.id}/annotations/", json=track).status_code == 200
    path = tmp_path / "video.zip"
    task.download_backup(path)
    with zipfile.ZipFile(path) as archive:
        assert archive.read("data/clip.mp4") == video.read_bytes()
    restored = client.tasks.create_from_backup(path)
    assert_same_task(api, task, restored)
    assert restored.size == task.size == 10
    for number in (0, 5, 9):
        assert original_frame(restored, number) == original_frame(task, number)


def test_cli_backup_and_create_from_backup(
    server: Server, api: httpx.Client, annotated: Task, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    target = tmp_path / "cli_backup.zip"
    run_cli(server, ADMIN, "task", "backup", str(annotated.id), str(target), home=home)
    assert zipfile.is_zipfile(target)
    made = run_cli(server, ADMIN, "task", "create-from-backup", str(target), home=home)
    new_id = int(made.stdout.strip().splitlines()[-1].split()[-1])
    assert new_id != annotated.id
    with sdk_client(server) as other:
        assert_same_task(api, annotated, other.tasks.retrieve(new_id))


# -- broken archives --------------------------------------------------------------------------


def _good_archive(client: Client, tmp_path: Path) -> bytes:
    files = noise_images(tmp_path / "good", ["a.png", "b.png"], size=(8, 8))
    task = create_task(client, files, name="source of broken archives")
    path = tmp_path / "good.zip"
    task.download_backup(path)
    return path.read_bytes()


def _with_frame_path(data: bytes, path: str) -> bytes:
    manifest = manifest_of(data)
    manifest["task"]["data"]["frames"][0]["path"] = path
    return json.dumps(manifest).encode()


BROKEN: dict[str, tuple[Any, str]] = {
    "not a zip": (lambda good: b"this is not a zip file at all", "not a zip archive"),
    "truncated": (lambda good: good[: len(good) // 2], "not a zip archive"),
    "no manifest": (lambda good: rezip(good, {"manifest.json": None}), "manifest.json: missing"),
    "bad json": (
        lambda good: rezip(good, {"manifest.json": b'{"format": "labelbay-backup", '}),
        "manifest.json: not valid JSON",
    ),
    "missing field": (
        lambda good: rezip(
            good,
            {
                "manifest.json": json.dumps(
                    {**manifest_of(good), "task": {"segment_size": 1}}
                ).encode()
            },
        ),
        "manifest.json: task.name",
    ),
    "escaping path": (
        lambda good: rezip(good, {"manifest.json": _with_frame_path(good, "../a.png")}),
        "manifest.json: task.data.frames[0].path: '../a.png' is not a relative file path",
    ),
    "missing image": (lambda good: rezip(good, {"data/b.png": None}), "data/b.png: missing"),
    "damaged image": (lambda good: corrupt_member(good, "data/a.png"), "data/a.png"),
    "unknown label": (
        lambda good: rezip(
            good,
            {
                "manifest.json": json.dumps(
                    {
                        **manifest_of(good),
                        "task": {
                            **manifest_of(good)["task"],
                            "annotations": {
                                "tags": [{"frame": 0, "label": "nope", "attributes": []}]
                            },
                        },
                    }
                ).encode()
            },
        ),
        "annotations.tags[0].label",
    ),
    "job frames": (
        lambda good: with_manifest(
            good, lambda m: m["task"]["jobs"][0].update(start_frame=0, stop_frame=5)
        ),
        "manifest.json: task.jobs[0]: frames 0-5 are not a job of the restored task",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_archive_fails_and_leaves_nothing(
    client: Client, api: httpx.Client, tmp_path: Path, server: Server, case: str
) -> None:
    make, message = BROKEN[case]
    payload = make(_good_archive(client, tmp_path))
    before = task_ids(api)
    media = server.data_dir / "media" / "data"
    stored = set(media.iterdir())
    rq_id = restore_via_http(api, "tasks", payload, "broken.zip")
    done = wait_request(api, rq_id)
    assert done["status"] == "failed", done
    assert message in done["message"], done["message"]
    assert task_ids(api) == before
    assert set(media.iterdir()) == stored  # no media of a half-made task stay
    restore_dir = server.data_dir / "uploads" / "backup-restore"
    assert not restore_dir.exists() or not any(
        p.name.startswith(rq_id) for p in restore_dir.iterdir()
    )


def test_sdk_reports_a_broken_archive(client: Client, api: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04 nonsense")
    before = task_ids(api)
    with pytest.raises((BackgroundRequestException, ApiException)) as failure:
        client.tasks.create_from_backup(path)
    assert "not a zip archive" in str(failure.value)
    assert task_ids(api) == before


def test_restore_needs_the_uploaded_file(api: httpx.Client) -> None:
    response = api.post(
        "/api/tasks/backup/",
        params={"filename": "never-uploaded.zip"},
        headers={"Upload-Finish": ""},
    )
    assert response.status_code == 400, response.text
    assert "never-uploaded.zip" in response.text
