"""``worker.ping``: a built-in actor that proves a consumer runs, and how it retries."""

from __future__ import annotations

import logging
import os
import threading
import time

from sqlalchemy.orm import Session

from labelbay.operations import service as operations
from labelbay.worker.registry import actor, current_run

log = logging.getLogger(__name__)

MAX_DELAY_SECONDS = 60.0


class PingFailed(RuntimeError):
    """Raised on purpose, when the caller asked ping to fail its first attempts."""


@actor("worker.ping", max_attempts=3)
def ping(
    session: Session,
    *,
    operation_id: str | None = None,
    fail_attempts: int = 0,
    delay_seconds: float = 0.0,
) -> None:
    """Finishes its operation with a message naming the process, thread and attempt.

    ``fail_attempts``: raise on the first N attempts (retries are observable).
    ``delay_seconds``: report progress 0.5, then sleep (graceful shutdowns are observable).
    """
    run = current_run()
    if run.attempt <= fail_attempts:
        raise PingFailed(f"asked to fail attempt {run.attempt}")
    if delay_seconds > 0:
        if operation_id is not None:
            operations.update_progress(session, operation_id, 0.5, message="sleeping")
        time.sleep(min(delay_seconds, MAX_DELAY_SECONDS))
    where = f"pid {os.getpid()} thread {threading.current_thread().name}"
    log.info("pong from %s on attempt %d", where, run.attempt)
    if operation_id is not None:
        operations.finish_operation(session, operation_id, message=f"pong from {where} "
                                    f"on attempt {run.attempt}")  # fmt: skip
