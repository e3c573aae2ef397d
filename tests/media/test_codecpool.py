"""Image encoding in worker processes (labelbay.media.codecpool), with real processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labelbay.errors import MediaError
from labelbay.media import codecpool
from labelbay.media.frames import compress_image


@pytest.fixture
def pool() -> Iterator[None]:
    codecpool.configure(2)
    yield
    codecpool.configure(-1)


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    pixels = np.random.default_rng(5).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    path = tmp_path / "picture.png"
    Image.fromarray(pixels).save(path)
    return path


def test_a_worker_process_gives_the_same_bytes(pool: None, picture: Path) -> None:
    assert codecpool.run(compress_image, picture, quality=61) == compress_image(picture, quality=61)
    assert codecpool.run(os.getpid) != os.getpid()  # it really ran elsewhere


def test_errors_come_back_whole(pool: None, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(MediaError) as caught:
        codecpool.run(compress_image, broken, quality=70, name="frame 7")
    assert caught.value.detail == {"file": "frame 7"}
    assert caught.value.message.startswith("frame 7: could not be decoded")


def test_a_dead_worker_is_replaced(pool: None, picture: Path) -> None:
    pid = codecpool.run(os.getpid)
    with pytest.raises(Exception):  # noqa: B017 - the pool reports the death as it can
        codecpool.run(os._exit, 3)
    assert codecpool.run(os.getpid) != pid
    assert codecpool.run(compress_image, picture, quality=70) == compress_image(picture, quality=70)


def test_no_processes_runs_here(picture: Path) -> None:
    codecpool.configure(0)
    try:
        assert codecpool.run(os.getpid) == os.getpid()
    finally:
        codecpool.configure(-1)


def test_an_idle_pool_stops_its_workers_and_starts_again(
    pool: None, picture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psutil

    monkeypatch.setattr(codecpool, "IDLE_SECONDS", 1.0)
    codecpool.configure(2)  # a new pool, reaped after 1 s
    worker = psutil.Process(codecpool.run(os.getpid))
    _, alive = psutil.wait_procs([worker], timeout=15)
    assert not alive, "the idle worker is still running"
    # The next piece of work starts a new pool.
    assert codecpool.run(compress_image, picture, quality=70) == compress_image(picture, quality=70)
