"""An actor is handed to the queue only after the transaction that queued it commits."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from huey import Huey
from sqlalchemy.orm import Session, sessionmaker

from labelbay.db import session_scope
from labelbay.operations.service import enqueue, find_operation, start_operation
from labelbay.worker import make_huey, set_queue

from .conftest import admin, enqueue_ping, new_operation, poll, queue_settings


def test_commit_hands_the_actor_over_and_not_before(
    db: sessionmaker[Session], parked: Huey
) -> None:
    with db() as session:
        enqueue(session, "worker.ping")
        assert parked.pending_count() == 0
        session.commit()
    assert parked.pending_count() == 1


def test_rollback_drops_the_actor(db: sessionmaker[Session], parked: Huey) -> None:
    with db() as session:
        enqueue(session, "worker.ping")
        session.rollback()
        session.commit()  # a later commit of the same session does not resurrect it
    assert parked.pending_count() == 0


def test_error_in_session_scope_drops_the_actor(db: sessionmaker[Session], parked: Huey) -> None:
    with pytest.raises(LookupError), session_scope(db) as session:
        enqueue(session, "worker.ping")
        raise LookupError("the use case failed")
    assert parked.pending_count() == 0


def test_closing_without_commit_drops_the_actor(db: sessionmaker[Session], parked: Huey) -> None:
    session = db()
    enqueue(session, "worker.ping")
    session.close()
    session.commit()
    assert parked.pending_count() == 0


def test_savepoint_rollback_drops_only_what_was_queued_inside_it(
    db: sessionmaker[Session], parked: Huey
) -> None:
    with session_scope(db) as session:
        kept = start_operation(session, type="ping:worker", target="server", owner=admin(session))
        enqueue(session, "worker.ping", operation=kept)
        savepoint = session.begin_nested()
        enqueue(session, "worker.ping", fail_attempts=1)
        savepoint.rollback()
        with session.begin_nested():
            enqueue(session, "worker.ping", delay_seconds=0.1)
    sent = parked.pending()
    assert [(t.kwargs["operation_id"], t.kwargs["params"]) for t in sent] == [
        (kept.id, {}),
        (None, {"delay_seconds": 0.1}),
    ]


def test_running_duplicate_operation_is_not_queued_twice(
    db: sessionmaker[Session], parked: Huey
) -> None:
    key = f"ping:{time.monotonic_ns()}"
    with session_scope(db) as session:
        first = start_operation(
            session, type="ping:worker", target="server", owner=admin(session), dedupe_key=key
        )
        assert enqueue(session, "worker.ping", operation=first)
    with session_scope(db) as session:
        again = start_operation(
            session, type="ping:worker", target="server", owner=admin(session), dedupe_key=key
        )
        assert again.id == first.id
        assert not enqueue(session, "worker.ping", operation=again)
    assert parked.pending_count() == 1


@pytest.mark.usefixtures("to_server")
def test_rolled_back_actor_never_runs_in_the_server(
    db: sessionmaker[Session], api: httpx.Client, server_huey: Huey
) -> None:
    victim = new_operation(db)
    with db() as session:
        op = find_operation(session, victim)
        enqueue(session, "worker.ping", operation=op)
        session.rollback()
    witness = enqueue_ping(db)  # queued after the victim would have been

    assert poll(api, witness)["status"] == "finished"
    time.sleep(0.5)
    assert server_huey.pending_count() == 0
    request = poll(api, victim, until=lambda rq: True)
    assert request["status"] == "queued" and request["started_date"] is None


def test_queue_that_cannot_take_the_actor_fails_its_operation_not_the_commit(
    db: sessionmaker[Session], tmp_path: Path
) -> None:
    unreachable = make_huey(queue_settings(tmp_path, redis_url="redis://127.0.0.1:1/0"))
    previous = set_queue(unreachable)
    try:
        with session_scope(db) as session:
            op = start_operation(session, type="ping:worker", target="server", owner=admin(session))
            enqueue(session, "worker.ping", operation=op)
    finally:
        set_queue(previous)
    with session_scope(db) as session:
        stored = find_operation(session, op.id)
        assert stored is not None and stored.status == "failed"
        assert stored.message.startswith("could not be queued: ")
