"""Single-flight builds: many requests for one cold artifact build it once.

On ``cold_server`` (``LABELBAY_QUEUE_WORKERS=0``) nothing is pre-generated, so the first
requests for a frame or chunk really find it missing. The requests start together (a
barrier) so that most of them arrive while the first one's build is still running.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from cvat_sdk import Client

from conftest import Server
from e2e.helpers import assert_jpeg, create_task, decode, noise_images, token_http

from .helpers import (
    VideoSpec,
    burst,
    cache_status,
    decode_all,
    make_video,
    read_number,
    task_data,
)

CONCURRENCY = 20


def assert_single_flight(responses: list[httpx.Response]) -> bytes:
    for response in responses:
        assert response.status_code == 200, response.text[:300]
    statuses = Counter(cache_status(response) for response in responses)
    assert statuses["built"] == 1, statuses
    # Without overlap the burst would prove nothing about single-flight.
    assert statuses["joined"] >= 1, statuses
    assert set(statuses) <= {"built", "joined", "hit"}, statuses
    bodies = {response.content for response in responses}
    assert len(bodies) == 1, f"{len(bodies)} different bodies"
    etags = {response.headers["ETag"] for response in responses}
    assert len(etags) == 1, etags
    return responses[0].content


@pytest.fixture(scope="module")
def big_images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("single-flight")
    return noise_images(folder, [f"big_{i}.png" for i in range(4)], size=(800, 600), seed=5)


def test_one_build_for_a_cold_compressed_frame(
    cold_client: Client, cold_server: Server, big_images: list[Path]
) -> None:
    task = create_task(cold_client, big_images, name="single flight frame")

    def frame(http: httpx.Client) -> httpx.Response:
        return task_data(http, task.id, "frame", 3, "compressed")

    body = assert_single_flight(burst(cold_server, [frame] * CONCURRENCY))
    assert_jpeg(body, (800, 600))
    # Built once, then kept: a later request is a hit with the same bytes.
    again = burst(cold_server, [frame])[0]
    assert cache_status(again) == "hit"
    assert again.content == body


def test_one_build_for_a_cold_video_chunk(
    cold_client: Client, cold_server: Server, tmp_path: Path
) -> None:
    clip = make_video(tmp_path, VideoSpec("flight.mp4", "libx264", 40, (320, 240)))
    task = create_task(
        cold_client, [clip], name="single flight chunk", data_params={"chunk_size": 20}
    )

    def chunk(http: httpx.Client) -> httpx.Response:
        return task_data(http, task.id, "chunk", 1, "compressed")

    body = assert_single_flight(burst(cold_server, [chunk] * CONCURRENCY))
    assert [read_number(image) for image in decode_all(body)] == list(range(20, 40))
    # Building the chunk decoded its frames: they were kept too, in the chunk's quality (a
    # lossless PNG of every frame would cost far more than the chunk).
    with token_http(cold_server) as http:
        frame = task_data(http, task.id, "frame", 25, "compressed")
        assert frame.status_code == 200
        assert cache_status(frame) == "hit", frame.headers
        original = task_data(http, task.id, "frame", 25, "original")
        assert original.status_code == 200
        assert cache_status(original) == "built", original.headers


def test_frames_and_their_chunk_at_once(
    cold_client: Client, cold_server: Server, tmp_path: Path
) -> None:
    """A chunk build and builds of the frames inside it, all started together: every request
    is answered (no build waits for another that waits for it), each artifact built once."""
    clip = make_video(tmp_path, VideoSpec("mixed.webm", "libvpx-vp9", 30, (160, 120)))
    task = create_task(
        cold_client, [clip], name="single flight mixed", data_params={"chunk_size": 10}
    )

    def chunk(http: httpx.Client) -> httpx.Response:
        return task_data(http, task.id, "chunk", 1, "compressed")

    def frame(number: int) -> Callable[[httpx.Client], httpx.Response]:
        return lambda http: task_data(http, task.id, "frame", number, "compressed")

    calls = [chunk] * 6 + [frame(10 + i % 10) for i in range(14)]
    responses = burst(cold_server, calls)
    assert_single_flight(responses[:6])
    assert [read_number(image) for image in decode_all(responses[0].content)] == list(range(10, 20))
    built: Counter[int] = Counter()
    for i, response in enumerate(responses[6:]):
        assert response.status_code == 200, response.text[:300]
        assert read_number(decode(response.content)) == 10 + i % 10
        assert cache_status(response) in ("built", "joined", "hit"), response.headers
        built[10 + i % 10] += cache_status(response) == "built"
    assert max(built.values()) <= 1, built
