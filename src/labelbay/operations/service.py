"""Background requests as CVAT clients poll them at ``/api/requests/{id}``."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from labelbay import worker
from labelbay.db import iso, utcnow
from labelbay.errors import NotFound
from labelbay.operations.models import Operation
from labelbay.users.models import User

log = logging.getLogger(__name__)

# What CVAT's clients understand in a request's "status".
STATUSES = ("queued", "started", "finished", "failed")
OPEN_STATUSES = ("queued", "started")
# Ids of operations that start_operation returned as duplicates in a session (see enqueue).
_REUSED = "labelbay.operations.reused"


def new_id(kind: str) -> str:
    """URL-safe ids: clients percent-encode request ids in paths."""
    return f"{kind.replace(':', '-')}-{secrets.token_hex(12)}"


def record_finished(
    session: Session,
    *,
    type: str,
    target: str,
    owner: User,
    task_id: int | None = None,
    project_id: int | None = None,
    job_id: int | None = None,
    result_id: int | None = None,
    ttl_hours: int = 24,
) -> Operation:
    """An operation that finished inside the request that started it (e.g. task data ingest)."""
    now = utcnow()
    op = Operation(
        id=new_id(type),
        type=type,
        target=target,
        owner_id=owner.id,
        task_id=task_id,
        project_id=project_id,
        job_id=job_id,
        status="finished",
        progress=1.0,
        result_id=result_id,
        created_date=now,
        started_date=now,
        finished_date=now,
        expiry_date=now + timedelta(hours=ttl_hours),
    )
    session.add(op)
    return op


def visible(user: User) -> ColumnElement[bool]:
    return true() if user.is_superuser else Operation.owner_id == user.id


def get_operation(session: Session, op_id: str, user: User) -> Operation:
    op = session.scalar(select(Operation).where(Operation.id == op_id, visible(user)))
    if op is None:
        raise NotFound("request", op_id)
    return op


def render_operations(
    session: Session, ops: Sequence[Operation], base: str
) -> list[dict[str, Any]]:
    owners = {
        u.id: u for u in session.scalars(select(User).where(User.id.in_({o.owner_id for o in ops})))
    }
    out = []
    for op in ops:
        owner = owners.get(op.owner_id)
        result_url = None
        if op.status == "finished" and op.result_file:
            result_url = f"{base}/api/requests/{op.id}/result"
        out.append(
            {
                "id": op.id,
                "status": op.status,
                "message": op.message or "",
                "operation": {
                    "type": op.type,
                    "target": op.target,
                    "project_id": op.project_id,
                    "task_id": op.task_id,
                    "job_id": op.job_id,
                    "format": op.format,
                    "function_id": None,
                    "lightweight": None,
                },
                "progress": op.progress,
                "created_date": iso(op.created_date),
                "started_date": iso(op.started_date),
                "finished_date": iso(op.finished_date),
                "expiry_date": iso(op.expiry_date),
                "owner": {"id": op.owner_id, "username": owner.username if owner else "deleted"},
                "result_url": result_url,
                "result_id": op.result_id,
            }
        )
    return out


# -- background operations ------------------------------------------------------------------


def find_operation(session: Session, op_id: str) -> Operation | None:
    """An operation by id, whoever owns it (for actors; routes use ``get_operation``)."""
    return session.get(Operation, op_id)


def _load(session: Session, op_id: str) -> Operation:
    op = session.get(Operation, op_id)
    if op is None:
        raise NotFound("request", op_id)
    return op


def start_operation(
    session: Session,
    *,
    type: str,
    target: str,
    owner: User,
    task_id: int | None = None,
    project_id: int | None = None,
    job_id: int | None = None,
    format: str | None = None,
    params: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> Operation:
    """A ``queued`` operation for background work; pass it to ``enqueue(operation=...)``.

    With ``dedupe_key`` (``"export:task:42:coco"``), an unfinished operation with the same
    key is returned instead of a new one, and ``enqueue`` then does not queue its actor again.
    """
    if dedupe_key is not None:
        running = session.scalar(
            select(Operation)
            .where(Operation.dedupe_key == dedupe_key, Operation.status.in_(OPEN_STATUSES))
            .order_by(Operation.created_date.desc())
            .limit(1)
        )
        if running is not None:
            session.info.setdefault(_REUSED, set()).add(running.id)
            return running
    op = Operation(
        id=new_id(type),
        type=type,
        target=target,
        owner_id=owner.id,
        task_id=task_id,
        project_id=project_id,
        job_id=job_id,
        format=format,
        status="queued",
        message="",
        progress=0.0,
        dedupe_key=dedupe_key,
        params=params or {},
        created_date=utcnow(),
    )
    session.add(op)
    return op


def enqueue(
    session: Session, name: str, *, operation: Operation | None = None, **params: Any
) -> bool:
    """Runs actor ``name`` with ``params`` in the background once this transaction commits.

    The call is checked at once: an unknown actor, parameters it does not take, or values
    that are not plain JSON raise ValueError. A rollback drops it, so an actor never runs
    for uncommitted data. With ``operation``, the worker marks it started, finished or
    failed, and passes its id to an actor that declares ``operation_id``. Returns False (and
    queues nothing) for an operation ``start_operation`` returned as a running duplicate.
    Raises ``worker.QueueNotConfigured`` in a process without a queue (see ``set_queue``).
    """
    call = worker.prepare_call(
        name, params, operation_id=operation.id if operation is not None else None
    )
    queue = worker.get_queue()
    if operation is not None and operation.id in session.info.get(_REUSED, ()):
        log.debug("%s is already queued as operation %s", name, operation.id)
        return False
    worker.send_after_commit(session, queue, call)
    return True


def update_progress(
    session: Session,
    op_id: str,
    progress: float,
    status: str | None = None,
    message: str | None = None,
) -> Operation:
    """Records progress (0..1) and COMMITS the session, so that pollers see it now.

    Meant for actors, which own their session: everything they did so far is committed
    with it, so call it between steps that are safe to keep.
    """
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown operation status {status!r}")
    op = _load(session, op_id)
    op.progress = min(max(progress, 0.0), 1.0)
    if status is not None:
        op.status = status
        if status == "started" and op.started_date is None:
            op.started_date = utcnow()
    if message is not None:
        op.message = message
    session.commit()
    return op


def finish_operation(
    session: Session,
    op_id: str,
    *,
    message: str = "",
    result_file: str | None = None,
    result_id: int | None = None,
    ttl_hours: int = 24,
) -> Operation:
    """Marks an operation finished (progress 1); kept for polling ``ttl_hours``."""
    op = _load(session, op_id)
    now = utcnow()
    op.status, op.progress, op.message = "finished", 1.0, message
    op.started_date = op.started_date or now
    op.finished_date = now
    op.expiry_date = now + timedelta(hours=ttl_hours)
    if result_file is not None:
        op.result_file = result_file
    if result_id is not None:
        op.result_id = result_id
    return op


def fail_operation(session: Session, op_id: str, message: str, *, ttl_hours: int = 24) -> Operation:
    """Marks an operation failed with a message for the client.

    An actor that calls it should return normally: raising rolls its session back (and
    retries it); the worker then records the failure itself.
    """
    op = _load(session, op_id)
    now = utcnow()
    op.status, op.message = "failed", message
    op.finished_date = now
    op.expiry_date = now + timedelta(hours=ttl_hours)
    return op
