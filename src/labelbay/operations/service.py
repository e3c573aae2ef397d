"""Background requests as CVAT clients poll them at ``/api/requests/{id}``."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from labelbay.db import iso, utcnow
from labelbay.errors import NotFound
from labelbay.operations.models import Operation
from labelbay.users.models import User


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
