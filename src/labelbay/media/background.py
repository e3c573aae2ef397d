"""Pre-generation: right after ingest, fill the cache with every chunk, frame and preview."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelbay.jobs.models import Job
from labelbay.media import delivery
from labelbay.media.models import Frame, TaskData
from labelbay.operations import service as operations
from labelbay.tasks.models import Task
from labelbay.worker import actor

log = logging.getLogger(__name__)

PROGRESS_EVERY = 4


def chunk_order(size: int, chunk_size: int, job_starts: Sequence[int]) -> list[int]:
    """Task chunk numbers in build order: the first chunk of every job, then the rest taken
    round-robin across jobs, so that every annotator's first frames are ready first."""
    last = (size - 1) // chunk_size
    firsts = [start // chunk_size for start in job_starts]
    bounds = [*firsts[1:], last + 1]
    lanes = [list(range(first, bound)) for first, bound in zip(firsts, bounds, strict=True)]
    order: list[int] = []
    seen: set[int] = set()
    depth = 0
    while any(depth < len(lane) for lane in lanes):
        for lane in lanes:
            if depth < len(lane) and lane[depth] not in seen:
                seen.add(lane[depth])
                order.append(lane[depth])
        depth += 1
    order.extend(k for k in range(last + 1) if k not in seen)
    return order


@actor("media.prepare_data", max_attempts=2)
def prepare_data(session: Session, *, task_id: int, operation_id: str) -> None:
    """Builds both qualities of every chunk (and so every compressed frame) and the previews
    of every job, reporting progress on the operation."""
    settings, cache = delivery.runtime()
    task = session.get(Task, task_id)
    if task is None or task.data_id is None:
        operations.finish_operation(session, operation_id, message="the task has no data")
        return
    data = session.get_one(TaskData, task.data_id)
    frames = list(
        session.scalars(select(Frame).where(Frame.data_id == data.id).order_by(Frame.frame))
    )
    jobs = list(
        session.scalars(select(Job).where(Job.task_id == task.id).order_by(Job.start_frame))
    )
    # End the read transaction before the long part: on SQLite an open transaction of this
    # session would hold the write lock while chunks are built.
    session.commit()
    artifacts = delivery.Artifacts(settings, cache, data)
    for job in jobs:
        artifacts.warm_preview(frames[job.start_frame])
    plan = chunk_order(data.size, data.chunk_size, [job.start_frame for job in jobs])
    size = data.chunk_size
    operations.update_progress(session, operation_id, 0.0, status="started")
    for done, number in enumerate(plan, start=1):
        part = frames[number * size : (number + 1) * size]
        artifacts.warm_chunk(part, delivery.COMPRESSED)
        artifacts.warm_chunk(part, delivery.ORIGINAL)
        if done % PROGRESS_EVERY == 0 and done < len(plan):
            operations.update_progress(session, operation_id, done / len(plan))
    log.info("task %s: %s chunks ready", task.id, len(plan))
