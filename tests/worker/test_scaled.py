"""Scaled mode: ``labelbay worker`` processes consume a Redis queue."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from huey import Huey
from sqlalchemy.orm import Session, sessionmaker

from conftest import Server
from labelbay.worker import make_huey, set_queue

from .conftest import enqueue_ping, poll, queue_settings
from .test_embedded import pong

REDIS_URL = os.environ.get("LABELBAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_queue(tmp_path: Path) -> Iterator[tuple[str, Huey]]:
    """A Redis queue of this test alone, set as the current queue; its keys are removed."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    name = f"labelbay_test_{secrets.token_hex(6)}"
    huey = make_huey(queue_settings(tmp_path, redis_url=REDIS_URL, queue_name=name))
    previous = set_queue(huey)
    yield name, huey
    set_queue(previous)
    huey.flush()
    assert client.keys(f"huey.*{name}*") == []
    client.close()


def start_worker(
    server: Server, queue_name: str, data_dir: Path
) -> tuple[subprocess.Popen[bytes], Path]:
    env = {**os.environ, "LABELBAY_DATABASE_URL": server.database_url,
           "LABELBAY_DATA_DIR": str(data_dir), "LABELBAY_REDIS_URL": REDIS_URL,
           "LABELBAY_QUEUE_NAME": queue_name}  # fmt: skip
    log = data_dir / "worker.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "labelbay.cli", "worker", "--concurrency", "2"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return process, log


def stop(process: subprocess.Popen[bytes], sig: signal.Signals, log: Path) -> int:
    process.send_signal(sig)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"worker ignored {sig.name}:\n{log.read_text()}") from None


def test_worker_process_runs_actors_and_drains_on_sigterm(
    worker_server: Server,
    db: sessionmaker[Session],
    api: httpx.Client,
    redis_queue: tuple[str, Huey],
    tmp_path: Path,
) -> None:
    name, huey = redis_queue
    process, log = start_worker(worker_server, name, tmp_path)
    try:
        done = poll(api, enqueue_ping(db))
        assert done["status"] == "finished", log.read_text()
        pid, thread, _ = pong(done)
        assert pid == process.pid != worker_server.process.pid
        assert thread.startswith("Worker-")

        slow = enqueue_ping(db, delay_seconds=2)
        poll(api, slow, until=lambda rq: rq["status"] == "started")
        assert stop(process, signal.SIGTERM, log) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    request = poll(api, slow, until=lambda rq: True)
    assert request["status"] == "finished", log.read_text()
    assert pong(request)[0] == process.pid
    assert "SIGTERM: finishing running actors" in log.read_text()
    assert "Traceback" not in log.read_text()
    assert huey.pending_count() == 0


def test_idle_worker_exits_cleanly_on_sigint(
    worker_server: Server, redis_queue: tuple[str, Huey], tmp_path: Path
) -> None:
    name, _ = redis_queue
    process, log = start_worker(worker_server, name, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while "consuming redis" not in log.read_text() and process.poll() is None:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert process.poll() is None, log.read_text()
        assert stop(process, signal.SIGINT, log) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "worker exiting" in log.read_text()
