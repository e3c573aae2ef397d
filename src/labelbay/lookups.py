"""Batch lookups shared by the list renderers: one query per kind, none for an empty set."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelbay.media.models import TaskData
from labelbay.projects.models import Project
from labelbay.users.models import User


def _ids(values: Iterable[int | None]) -> set[int]:
    return {v for v in values if v is not None}


def users_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, User]:
    wanted = _ids(ids)
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}


def project_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = _ids(ids)
    if not wanted:
        return {}
    rows = session.execute(select(Project.id, Project.name).where(Project.id.in_(wanted)))
    return {pid: name for pid, name in rows}


def task_data_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, TaskData]:
    wanted = _ids(ids)
    if not wanted:
        return {}
    return {d.id: d for d in session.scalars(select(TaskData).where(TaskData.id.in_(wanted)))}


def storage_read(value: dict[str, Any] | None, owner_id: int) -> dict[str, Any] | None:
    """A stored ``source_storage``/``target_storage`` as CVAT's clients read it."""
    if value is None:
        return None
    return {
        "id": owner_id,
        "location": value.get("location", "local"),
        "cloud_storage_id": value.get("cloud_storage_id"),
    }
