"""The media cache stays within ``LABELBAY_CACHE_MAX_BYTES``, evicting least recently used
entries, which are rebuilt (with the same bytes) when asked for again."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from conftest import ADMIN, Server, launch_server
from e2e.helpers import assert_jpeg, create_task, noise_images, sdk_client, token_http

from .helpers import cache_files, cache_status, ok_bytes, task_data

BOUND = 300_000
FRAMES = 32
SIZE = (240, 180)
CHUNK = 4


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = {"LABELBAY_QUEUE_WORKERS": "0", "LABELBAY_CACHE_MAX_BYTES": str(BOUND)}
    with launch_server(tmp_path_factory.mktemp("bounded"), settings, db_suffix="_bound") as up:
        yield up


@pytest.fixture(scope="module")
def task_id(bounded: Server, tmp_path_factory: pytest.TempPathFactory) -> int:
    folder = tmp_path_factory.mktemp("bounded-media")
    files = noise_images(folder, [f"b_{i:02d}.png" for i in range(FRAMES)], size=SIZE, seed=4)
    with sdk_client(bounded, ADMIN) as client:
        task = create_task(client, files, name="bounded", data_params={"chunk_size": CHUNK})
    return int(task.id)


@pytest.fixture
def bounded_http(bounded: Server) -> Iterator[httpx.Client]:
    with token_http(bounded, ADMIN) as http:
        yield http


def total(server: Server) -> int:
    return sum(cache_files(server).values())


def test_cache_stays_within_its_bound(
    bounded: Server, bounded_http: httpx.Client, task_id: int
) -> None:
    first: dict[int, bytes] = {}
    largest = 0
    for number in range(FRAMES):
        response = task_data(bounded_http, task_id, "frame", number, "compressed")
        first[number] = ok_bytes(response)
        assert cache_status(response) == "built", (number, response.headers)
        largest = max(largest, len(response.content))
        # Nothing is being built between two requests: the bound holds exactly.
        assert total(bounded) <= BOUND, (number, cache_files(bounded))
    assert sum(len(data) for data in first.values()) > 2 * BOUND, "the frames must not all fit"
    assert_jpeg(first[0], SIZE)

    # The earliest frames were evicted: built again, with the same bytes.
    for number in (0, 1, 2):
        again = task_data(bounded_http, task_id, "frame", number, "compressed")
        assert cache_status(again) == "built", (number, again.headers)
        assert ok_bytes(again) == first[number]
        assert total(bounded) <= BOUND
    # The most recent one is still there.
    latest = task_data(bounded_http, task_id, "frame", 2, "compressed")
    assert cache_status(latest) == "hit"
    assert latest.content == first[2]

    # Chunks (a zip of four compressed frames, each frame cached on the way) too.
    for number in range(FRAMES // CHUNK):
        chunk = task_data(bounded_http, task_id, "chunk", number, "compressed")
        ok_bytes(chunk)
        assert total(bounded) <= BOUND + len(chunk.content), (number, total(bounded))
    assert largest < BOUND


def test_concurrent_requests_keep_the_bound(
    bounded: Server, bounded_http: httpx.Client, task_id: int
) -> None:
    headers = dict(bounded_http.headers)

    def fetch(number: int) -> httpx.Response:
        with httpx.Client(base_url=bounded.url, headers=headers, timeout=60) as http:
            return task_data(http, task_id, "frame", number, "compressed")

    sizes: list[int] = []
    with ThreadPoolExecutor(8) as pool:
        for response in pool.map(fetch, [*range(FRAMES), *range(FRAMES)]):
            sizes.append(len(ok_bytes(response)))
    # Once every build is done, the cache is within its bound again.
    assert total(bounded) <= BOUND, cache_files(bounded)
    assert max(sizes) < BOUND

    # No half-written (temporary) files are left behind by the concurrent builds.
    leftovers = [p for p in cache_files(bounded) if p.name.startswith(".")]
    assert not leftovers, leftovers


def test_a_file_removed_behind_the_servers_back_is_rebuilt(
    bounded: Server, bounded_http: httpx.Client, task_id: int
) -> None:
    reference = ok_bytes(task_data(bounded_http, task_id, "frame", 7, "compressed"))
    for path in list(cache_files(bounded)):
        Path(path).unlink(missing_ok=True)
    again = task_data(bounded_http, task_id, "frame", 7, "compressed")
    assert cache_status(again) == "built", again.headers
    assert ok_bytes(again) == reference
