"""Fixtures of the background-work tests: a real ``labelbay serve`` whose embedded consumer
runs actors, its database seen from the test process, and queues the test sends to."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from huey import Huey
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conftest import ADMIN, Server, launch_server
from labelbay.config import Settings
from labelbay.db import make_engine, make_sessionmaker, session_scope
from labelbay.operations.service import enqueue, start_operation
from labelbay.users.models import User
from labelbay.worker import make_huey, set_queue

QUEUE_NAME = "labelbay"
DONE = frozenset({"finished", "failed"})


def queue_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings of a queue, ignoring the environment's LABELBAY_REDIS_URL and .env files."""
    values: dict[str, Any] = {"data_dir": data_dir, "redis_url": "", "queue_name": QUEUE_NAME}
    return Settings(_env_file=None, **{**values, **overrides})  # type: ignore[call-arg]


@pytest.fixture(scope="package")
def worker_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``labelbay serve`` in embedded mode: two consumer threads on its SQLite queue."""
    env = {"LABELBAY_REDIS_URL": "", "LABELBAY_QUEUE_NAME": QUEUE_NAME,
           "LABELBAY_QUEUE_WORKERS": "2"}  # fmt: skip
    data_dir = tmp_path_factory.mktemp("worker-server")
    with launch_server(data_dir, env, db_suffix="_worker") as running:
        yield running


@pytest.fixture(scope="package")
def db(worker_server: Server) -> Iterator[sessionmaker[Session]]:
    """Sessions on the server's database, from the test process."""
    engine = make_engine(worker_server.database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture(scope="package")
def server_huey(worker_server: Server) -> Huey:
    """The server's own SQLite queue, opened by the test process to send to."""
    return make_huey(queue_settings(worker_server.data_dir))


@pytest.fixture
def to_server(server_huey: Huey) -> Iterator[Huey]:
    """Makes the server's queue this process's current queue for one test."""
    previous = set_queue(server_huey)
    yield server_huey
    set_queue(previous)


@pytest.fixture
def parked(tmp_path: Path) -> Iterator[Huey]:
    """A current queue nobody consumes: what was handed over stays countable."""
    huey = make_huey(queue_settings(tmp_path))
    previous = set_queue(huey)
    yield huey
    set_queue(previous)
    huey.storage.close()


@pytest.fixture(scope="package")
def api(worker_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=worker_server.url, timeout=30) as client:
        key = client.post("/api/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]})
        key.raise_for_status()
        client.headers["Authorization"] = f"Token {key.json()['key']}"
        yield client


def admin(session: Session) -> User:
    user = session.scalar(select(User).where(User.username == ADMIN[0]))
    assert user is not None
    return user


def new_operation(db: sessionmaker[Session], **fields: Any) -> str:
    """A committed ``queued`` operation that no actor has been asked to run yet."""
    with session_scope(db) as session:
        op = start_operation(
            session, type="ping:worker", target="server", owner=admin(session), **fields
        )
        return op.id


def enqueue_ping(db: sessionmaker[Session], **params: Any) -> str:
    """Starts an operation and queues ``worker.ping`` for it in one committed transaction."""
    with session_scope(db) as session:
        op = start_operation(session, type="ping:worker", target="server", owner=admin(session))
        assert enqueue(session, "worker.ping", operation=op, **params)
        return op.id


def poll(
    api: httpx.Client,
    op_id: str,
    until: Callable[[dict[str, Any]], bool] = lambda rq: rq["status"] in DONE,
    timeout: float = 30,
) -> dict[str, Any]:
    """``GET /api/requests/{id}`` until ``until`` holds; the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(f"/api/requests/{op_id}")
        response.raise_for_status()
        request: dict[str, Any] = response.json()
        if until(request):
            return request
        if time.monotonic() > deadline:
            raise AssertionError(f"request {op_id} stayed {request['status']}: {request}")
        time.sleep(0.05)
