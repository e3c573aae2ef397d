"""Actors are checked against the registry when queued; settings pick who consumes."""

from __future__ import annotations

from pathlib import Path

import pytest
from huey import Huey
from sqlalchemy.orm import Session, sessionmaker

from labelbay.operations.service import enqueue
from labelbay.worker import (
    QueueNotConfigured,
    actor,
    embedded_threads,
    registered_actors,
    set_queue,
)

from .conftest import queue_settings


def test_unknown_actor_is_a_value_error(db: sessionmaker[Session], parked: Huey) -> None:
    with db() as session, pytest.raises(ValueError, match=r"unknown actor 'media\.nothing'"):
        enqueue(session, "media.nothing", task_id=1)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"frames": 3}, "unexpected keyword argument 'frames'"),
        ({"delay_seconds": object()}, "plain JSON"),
        ({"delay_seconds": float("nan")}, "plain JSON"),
        ({"operation_id": "x"}, "set by enqueue"),
    ],
)
def test_bad_parameters_are_a_value_error(
    db: sessionmaker[Session], parked: Huey, params: dict[str, object], reason: str
) -> None:
    with db() as session, pytest.raises(ValueError, match=reason):
        enqueue(session, "worker.ping", **params)
    assert parked.pending_count() == 0


def test_enqueue_without_a_queue_says_how_to_set_one(db: sessionmaker[Session]) -> None:
    previous = set_queue(None)
    try:
        with db() as session, pytest.raises(QueueNotConfigured, match="set_queue"):
            enqueue(session, "worker.ping")
    finally:
        set_queue(previous)


def test_unknown_actor_is_reported_before_a_missing_queue(db: sessionmaker[Session]) -> None:
    previous = set_queue(None)
    try:
        with db() as session, pytest.raises(ValueError, match="unknown actor"):
            enqueue(session, "worker.pong")
    finally:
        set_queue(previous)


def test_actor_names_and_options_are_checked_when_registered() -> None:
    with pytest.raises(ValueError, match=r"feature\.verb"):
        actor("Ping")
    with pytest.raises(ValueError, match="at least 1"):
        actor("worker.nothing", max_attempts=0)
    assert registered_actors()["worker.ping"].max_attempts == 3


def test_server_consumes_in_embedded_mode_only_unless_told(tmp_path: Path) -> None:
    assert embedded_threads(queue_settings(tmp_path)) == 2
    assert embedded_threads(queue_settings(tmp_path, queue_workers=0)) == 0
    redis = "redis://127.0.0.1:6379/0"
    assert embedded_threads(queue_settings(tmp_path, redis_url=redis)) == 0
    assert embedded_threads(queue_settings(tmp_path, redis_url=redis, queue_workers=3)) == 3
