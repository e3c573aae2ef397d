"""Embedded mode: the consumer threads inside ``labelbay serve`` run what others queue."""

from __future__ import annotations

import re

import httpx
import pytest
from huey import Huey
from sqlalchemy.orm import Session, sessionmaker

from conftest import Server
from labelbay.db import session_scope
from labelbay.operations.service import find_operation

from .conftest import enqueue_ping, poll

pytestmark = pytest.mark.usefixtures("to_server")

PONG = re.compile(r"pong from pid (\d+) thread (\S+) on attempt (\d+)")


def pong(request: dict[str, object]) -> tuple[int, str, int]:
    match = PONG.fullmatch(str(request["message"]))
    assert match, request
    return int(match[1]), match[2], int(match[3])


def test_server_threads_run_an_actor_queued_by_another_process(
    worker_server: Server, db: sessionmaker[Session], api: httpx.Client
) -> None:
    op_id = enqueue_ping(db)

    request = poll(api, op_id)

    assert request["status"] == "finished", request
    assert request["progress"] == 1.0
    assert request["started_date"] and request["finished_date"] and request["expiry_date"]
    pid, thread, attempt = pong(request)
    assert pid == worker_server.process.pid
    assert thread.startswith("Worker-")
    assert attempt == 1


def test_server_runs_actors_on_its_worker_threads_at_once(
    db: sessionmaker[Session], api: httpx.Client
) -> None:
    op_ids = [enqueue_ping(db, delay_seconds=1.0) for _ in range(4)]

    started = poll(api, op_ids[0], until=lambda rq: rq["status"] != "queued")
    requests = [poll(api, op_id) for op_id in op_ids]

    assert started["status"] in {"started", "finished"}
    assert [rq["status"] for rq in requests] == ["finished"] * 4
    assert {pong(rq)[1] for rq in requests} == {"Worker-1", "Worker-2"}


def test_progress_is_committed_while_the_actor_runs(
    db: sessionmaker[Session], api: httpx.Client
) -> None:
    op_id = enqueue_ping(db, delay_seconds=1.5)

    running = poll(api, op_id, until=lambda rq: rq["progress"] == 0.5)

    assert running["status"] == "started"
    assert running["message"] == "sleeping"
    assert poll(api, op_id)["status"] == "finished"


def test_failing_actor_is_retried_until_it_succeeds(
    db: sessionmaker[Session], api: httpx.Client
) -> None:
    op_id = enqueue_ping(db, fail_attempts=2)  # worker.ping has max_attempts=3

    request = poll(api, op_id)

    assert request["status"] == "finished", request
    assert pong(request)[2] == 3


def test_actor_failing_every_attempt_fails_its_operation(
    db: sessionmaker[Session], api: httpx.Client, server_huey: Huey
) -> None:
    op_id = enqueue_ping(db, fail_attempts=5)

    request = poll(api, op_id)

    assert request["status"] == "failed"
    assert request["message"] == "failed after 3 attempt(s): asked to fail attempt 3"
    assert request["finished_date"] is not None
    with session_scope(db) as session:
        op = find_operation(session, op_id)
        assert op is not None and op.status == "failed"
    assert server_huey.pending_count() == 0 and server_huey.scheduled_count() == 0
