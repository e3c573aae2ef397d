"""Pre-generation: right after ingest, fill the cache with every chunk, frame and preview."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelbay.jobs.models import Job
from labelbay.media import delivery
from labelbay.media.cache import CacheBusy
from labelbay.media.models import Frame, TaskData
from labelbay.operations import service as operations
from labelbay.tasks.models import Task
from labelbay.worker import actor

log = logging.getLogger(__name__)

LANES = 2


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


def frame_order(job_ranges: Sequence[tuple[int, int]]) -> list[int]:
    """Frame numbers in the order annotators reach them: frame 0 of every job, then frame 1
    of every job, and so on (an overlap frame shared by two jobs comes once)."""
    order: list[int] = []
    seen: set[int] = set()
    longest = max((stop - start + 1 for start, stop in job_ranges), default=0)
    for offset in range(longest):
        for start, stop in job_ranges:
            number = start + offset
            if number <= stop and number not in seen:
                seen.add(number)
                order.append(number)
    return order


def _quietly(build: Callable[[], object]) -> None:
    # Still building in the cache's pool, or the pool is full: the last pass retries.
    with suppress(CacheBusy):
        build()


@actor("media.prepare_data", max_attempts=2)
def prepare_data(session: Session, *, task_id: int, operation_id: str) -> None:
    """Fills the cache right after ingest: for images, the compressed frames in the order
    annotators walk their jobs, then both qualities of every chunk; for video, chunk by chunk
    (a chunk decodes its range once and caches every frame it passes). Job previews too.

    Builds go through the cache's single-flight path, so a request for a frame being
    pre-generated joins that build instead of starting another."""
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
    artifacts = delivery.Artifacts(settings, cache, data, background=True)
    size = data.chunk_size
    plan = chunk_order(data.size, size, [job.start_frame for job in jobs])
    steps: list[Callable[[], object]] = []
    if not delivery.is_video(data):
        for number in frame_order([(j.start_frame, j.stop_frame) for j in jobs]):
            steps.append(partial(artifacts.compressed_frame, frames[number]))
    steps.extend(partial(artifacts.preview, frames[job.start_frame]) for job in jobs)
    for number in plan:
        part = frames[number * size : (number + 1) * size]
        steps.append(partial(artifacts.chunk, part, delivery.COMPRESSED))
        if not delivery.is_video(data):
            # A video's original chunk is a zip of lossless PNGs, about 100 MB per chunk at
            # 1080p: built only when asked for, not ahead for every chunk.
            steps.append(partial(artifacts.chunk, part, delivery.ORIGINAL))
    operations.update_progress(session, operation_id, 0.0, status="started")
    report_every = max(len(steps) // 50, 1)
    # Two lanes keep both cores busy without filling the cache's pool, which requests share.
    with ThreadPoolExecutor(max_workers=LANES, thread_name_prefix="prepare") as lanes:
        for done, _ in enumerate(lanes.map(_quietly, steps), start=1):
            if done % report_every == 0 and done < len(steps):
                operations.update_progress(session, operation_id, done / len(steps))
    # Anything a busy pool turned away is built now, one at a time.
    for step in steps:
        step()
    artifacts.drop_early_frames()
    log.info("task %s: %s frames and %s chunks ready", task.id, len(frames), len(plan))
