"""Pre-generation: right after ingest a ``prepare:chunks`` background request builds every
chunk, compressed frame and job preview of the task, so that clients find them cached."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cvat_sdk import Client
from cvat_sdk.core.proxies.tasks import Task

from e2e.helpers import create_task, jobs_in_order, noise_images

from .helpers import (
    PREPARE,
    VideoSpec,
    cache_status,
    make_video,
    ok_bytes,
    prepare_request,
    task_data,
    wait_prepared,
)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    folder = tmp_path_factory.mktemp("pregeneration")
    images = noise_images(folder, [f"p_{i:02d}.png" for i in range(10)], size=(64, 48), seed=9)
    clip = make_video(folder, VideoSpec("prepared.mkv", "libx264", 35, (96, 64)))
    return images, clip


def new_task(client: Client, media: tuple[list[Path], Path], kind: str) -> Task:
    images, clip = media
    if kind == "images":
        return create_task(
            client, images, name="prepared images", segment_size=4, data_params={"chunk_size": 3}
        )
    return create_task(
        client, [clip], name="prepared video", segment_size=16, data_params={"chunk_size": 8}
    )


@pytest.mark.parametrize("kind", ["images", "video"])
def test_prepare_request_is_listed_and_finishes(
    client: Client, http: httpx.Client, media: tuple[list[Path], Path], kind: str
) -> None:
    task = new_task(client, media, kind)
    listed = prepare_request(http, task.id)
    assert listed["status"] in ("queued", "started", "finished"), listed
    operation = listed["operation"]
    assert operation["type"] == PREPARE
    assert operation["target"] == "task"
    assert operation["task_id"] == task.id
    assert listed["owner"]["username"] == "admin"
    assert listed["result_url"] is None
    by_action = http.get("/api/requests", params={"action": "prepare", "task_id": task.id})
    assert by_action.status_code == 200
    assert [r["id"] for r in by_action.json()["results"]] == [listed["id"]]

    final, progress = wait_prepared(http, task.id)
    assert final["status"] == "finished", final
    assert final["progress"] == 1.0
    assert final["finished_date"] is not None
    assert all(0.0 <= value <= 1.0 for value in progress), progress
    assert progress == sorted(progress), progress


@pytest.mark.parametrize("kind", ["images", "video"])
def test_everything_is_cached_after_pre_generation(
    client: Client, http: httpx.Client, media: tuple[list[Path], Path], kind: str
) -> None:
    task = new_task(client, media, kind)
    final, _ = wait_prepared(http, task.id)
    assert final["status"] == "finished", final
    meta = http.get(f"/api/tasks/{task.id}/data/meta").json()
    size, chunk_size = meta["size"], meta["chunk_size"]
    misses: list[str] = []

    def expect(response: httpx.Response, wanted: str, what: str) -> None:
        ok_bytes(response)
        if cache_status(response) != wanted:
            misses.append(f"{what}: {cache_status(response)}")

    for number in range((size - 1) // chunk_size + 1):
        for quality in ("compressed", "original"):
            chunk = task_data(http, task.id, "chunk", number, quality)
            # A video's original chunks (zips of lossless PNGs, ~100 MB at 1080p) are built
            # when first asked for, not ahead; building one caches its frames as PNG.
            wanted = "built" if kind == "video" and quality == "original" else "hit"
            expect(chunk, wanted, f"{quality} chunk {number}")
    for number in range(size):
        expect(task_data(http, task.id, "frame", number, "compressed"), "hit", f"frame {number}")
        stored = "file" if kind == "images" else "hit"
        original = task_data(http, task.id, "frame", number, "original")
        expect(original, stored, f"original frame {number}")
    expect(http.get(f"/api/tasks/{task.id}/preview"), "hit", "task preview")
    for job in jobs_in_order(task):
        expect(http.get(f"/api/jobs/{job.id}/preview"), "hit", f"preview of job {job.id}")
    assert not misses, misses
