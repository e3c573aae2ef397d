"""Annotations of a task or of a job's frames: read, replace, create, update, delete.

The use cases the routes call. Each checks the payload (``validation.py``), changes the rows
(``storage.py``), advances the task's version and dates, and answers ``LabeledData``
(``rendering.py``).

A job sees the tags and shapes on its frames and the tracks that start on them.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelbay.annotations import storage
from labelbay.annotations.errors import AnnotationNotFound, UnknownAction
from labelbay.annotations.rendering import render
from labelbay.annotations.schemas import LabeledDataWrite
from labelbay.annotations.storage import FrameRange, Objects
from labelbay.annotations.validation import check, ids_of
from labelbay.db import later_than
from labelbay.jobs.models import Job
from labelbay.tasks import service as tasks_service
from labelbay.tasks.models import Task

__all__ = [
    "FrameRange",
    "create_annotations",
    "delete_all",
    "delete_annotations",
    "get_annotations",
    "job_frames",
    "patch_annotations",
    "replace_annotations",
    "task_of_job",
    "update_annotations",
]

log = logging.getLogger(__name__)


# Scope -------------------------------------------------------------------------------------


def job_frames(job: Job) -> FrameRange:
    return job.start_frame, job.stop_frame


def task_of_job(session: Session, job: Job) -> Task:
    return session.get_one(Task, job.task_id)


def _scope(frame_range: FrameRange | None, job: Job | None) -> FrameRange | None:
    if frame_range is not None:
        return frame_range
    return job_frames(job) if job is not None else None


# Use cases ---------------------------------------------------------------------------------


def _touch(session: Session, task: Task, job: Job | None) -> None:
    """Advances the version and ``updated_date`` of the task and of the job (or of every job of
    the task, for a task-wide change): clients cache datasets on them."""
    tasks_service.touch_task(session, task)
    task.annotations_version += 1
    jobs = [job] if job is not None else session.scalars(select(Job).where(Job.task_id == task.id))
    for each in jobs:
        each.updated_date = later_than(each.updated_date)


def get_annotations(
    session: Session,
    task: Task,
    *,
    frame_range: FrameRange | None = None,
    job: Job | None = None,
) -> dict[str, Any]:
    """``LabeledData`` of the task, or of a frame range (the job's when ``job`` is given)."""
    objects = storage.load(session, task.id, storage.in_range(_scope(frame_range, job)))
    return render(objects, task.annotations_version)


def replace_annotations(
    session: Session,
    task: Task,
    data: LabeledDataWrite,
    *,
    frame_range: FrameRange | None = None,
    job: Job | None = None,
) -> dict[str, Any]:
    """PUT: the task's (or range's) annotations become ``data``; ids in it are ignored."""
    scope = _scope(frame_range, job)
    check(session, task, data, scope)
    storage.purge(session, task.id, storage.in_range(scope))
    objects = storage.insert_objects(session, task.id, data)
    _touch(session, task, job)
    log.info("task %s: %s annotations saved (frames %s)", task.id, len(objects.tops), scope)
    return render(objects, task.annotations_version)


def create_annotations(
    session: Session,
    task: Task,
    data: LabeledDataWrite,
    *,
    frame_range: FrameRange | None = None,
    job: Job | None = None,
) -> dict[str, Any]:
    """PATCH action=create: adds the objects (ids ignored) and returns them with their ids."""
    scope = _scope(frame_range, job)
    check(session, task, data, scope)
    objects = storage.insert_objects(session, task.id, data)
    _touch(session, task, job)
    log.info("task %s: %s annotations created", task.id, len(objects.tops))
    return render(objects, task.annotations_version)


def update_annotations(
    session: Session,
    task: Task,
    data: LabeledDataWrite,
    *,
    frame_range: FrameRange | None = None,
    job: Job | None = None,
) -> dict[str, Any]:
    """PATCH action=update: each object replaces the one with its id, elements and keyframes
    included; an id this task (or job) does not have is an error."""
    scope = _scope(frame_range, job)
    check(session, task, data, scope)
    wanted = ids_of(data, "update")
    found = storage.kinds(session, task.id, list(wanted), scope)
    for object_id, (kind, path) in wanted.items():
        if found.get(object_id) != kind:
            raise AnnotationNotFound(f"{path}.id", kind, object_id)
    objects = storage.overwrite_objects(session, task.id, data)
    _touch(session, task, job)
    log.info("task %s: %s annotations updated", task.id, len(objects.tops))
    return render(objects, task.annotations_version)


def delete_annotations(
    session: Session,
    task: Task,
    data: LabeledDataWrite,
    *,
    frame_range: FrameRange | None = None,
    job: Job | None = None,
) -> dict[str, Any]:
    """PATCH action=delete: removes the objects with the given ids and returns them. Only ids
    are read; ids that are already gone (or outside the job) are skipped."""
    scope = _scope(frame_range, job)
    wanted = ids_of(data, "delete")
    deleted = Objects()
    ids = list(wanted)
    for chunk in storage.chunks(ids):
        found = storage.load(session, task.id, storage.with_ids(chunk, scope))
        tops = [row for row in found.tops if wanted[row[0]][0] == row[2]]
        gone = [row[0] for row in tops]
        if gone:
            storage.purge(session, task.id, storage.with_ids(gone, None))
        deleted.tops.extend(tops)
        deleted.elements.update(found.elements)
        deleted.keyframes.update(found.keyframes)
    missing = len(wanted) - len(deleted.tops)
    if missing:
        log.debug("task %s: %s ids to delete were not found", task.id, missing)
    _touch(session, task, job)
    log.info("task %s: %s annotations deleted", task.id, len(deleted.tops))
    return render(deleted, task.annotations_version)


def patch_annotations(
    session: Session,
    task: Task,
    data: LabeledDataWrite,
    *,
    action: str | None,
    frame_range: FrameRange | None = None,
    job: Job | None = None,
) -> dict[str, Any]:
    """PATCH with ``?action=create|update|delete``; any other action is a 400."""
    handlers = {
        "create": create_annotations,
        "update": update_annotations,
        "delete": delete_annotations,
    }
    handler = handlers.get(action or "")
    if handler is None:
        raise UnknownAction(action)
    return handler(session, task, data, frame_range=frame_range, job=job)


def delete_all(
    session: Session, task: Task, *, frame_range: FrameRange | None = None, job: Job | None = None
) -> None:
    """DELETE: removes every annotation of the task (or of the range / the job's frames)."""
    scope = _scope(frame_range, job)
    storage.purge(session, task.id, storage.in_range(scope))
    _touch(session, task, job)
    log.info("task %s: annotations deleted (frames %s)", task.id, scope)
