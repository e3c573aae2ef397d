"""Task media: turning uploaded files into frames, and reading frames back.

Each file is checked as it arrives (``receiving``); finishing the upload sorts, selects and
inserts all frame rows at once, and creates the jobs in the same transaction, so the task is
complete when the finishing request answers.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from labelbay.config import Settings
from labelbay.db import iso, later_than, utcnow
from labelbay.errors import Conflict, Invalid, MediaError
from labelbay.jobs import service as jobs_service
from labelbay.jobs.models import Job
from labelbay.media import delivery, early, receiving, sorting
from labelbay.media.models import Frame, TaskData
from labelbay.media.schemas import DataParams
from labelbay.operations import service as operations
from labelbay.tasks import service as tasks_service
from labelbay.tasks.errors import TaskHasData
from labelbay.tasks.models import Task
from labelbay.users.models import User
from labelbay.worker import QueueNotConfigured

log = logging.getLogger(__name__)

MAX_CHUNK = 72


def default_chunk_size(width: int, height: int) -> int:
    """Frames per chunk: about 36 full-HD frames' worth of pixels, between 2 and 72."""
    area = max(width * height, 1)
    return max(2, min(MAX_CHUNK, 36 * 1920 * 1080 // area))


def _unsupported(params: DataParams) -> None:
    if params.server_files or params.remote_files or params.cloud_storage_id is not None:
        raise Invalid(
            "server_files/remote_files/cloud_storage_id: only uploaded files are supported; "
            "send the files with the request",
            field="server_files",
        )
    if params.job_file_mapping:
        raise Invalid(
            "job_file_mapping: not supported; use segment_size to split jobs",
            field="job_file_mapping",
        )
    if params.filename_pattern or params.validation_params:
        raise Invalid(
            "filename_pattern/validation_params: not supported", field="validation_params"
        )


def ingest(
    session: Session,
    settings: Settings,
    task: Task,
    area: Path,
    params: DataParams,
) -> TaskData:
    """Makes the images received in the upload ``area`` the task's frames; creates its jobs.

    Every file was checked when it arrived (``receiving``); here names are sorted, the frame
    range selected, the staged folder moved into media storage in one rename, and all frame
    rows inserted at once. Raises before anything is stored if a parameter is bad.
    """
    # Lock the task row (PostgreSQL; SQLite writers are serialised already) so that two
    # finishing requests cannot both give the task data.
    session.refresh(task, with_for_update=True)
    if task.data_id is not None:
        raise TaskHasData(task.id)
    _unsupported(params)
    for leftover in sorted((area / "files").glob("*")):
        receiving.receive(area, leftover, max_pixels=settings.max_image_pixels)
    found = {c.name: c for c in receiving.candidates(area)}
    videos = [c for c in found.values() if c.is_video]
    if videos and len(found) > 1:
        raise MediaError("a task takes one video, or any number of images", file=videos[0].name)
    clip = videos[0] if videos else None
    ordered = (
        [clip.name]
        if clip
        else sorting.sort_names(
            list(found), params.sorting_method, order=params.upload_file_order or None
        )
    )
    total = clip.frames if clip else len(ordered)
    start = params.start_frame
    stop = total - 1 if params.stop_frame is None else min(params.stop_frame, total - 1)
    what = "frame" if clip else "file"
    if start >= total:
        raise Invalid(
            f"start_frame: {start} is past the last {what} (there are {total})",
            field="start_frame",
        )
    if stop < start:
        raise Invalid(f"stop_frame: {stop} is before start_frame {start}", field="stop_frame")
    numbers = range(start, stop + 1, params.step)
    if clip:
        # Every frame of a video is a row too: meta, chunks and annotations address frames.
        chosen = [
            receiving.Candidate(f"frame_{i:06d}", clip.width, clip.height, 0, "image/png")
            for i in range(len(numbers))
        ]
    else:
        chosen = [found[ordered[i]] for i in numbers]
    staged = receiving.staged_dir(area)
    if not staged.is_dir():
        raise Conflict("the uploaded files were taken by another request; upload them again")
    first = chosen[0]
    rel = f"data/{task.id}-{secrets.token_hex(6)}"
    data = TaskData(
        size=len(chosen),
        image_quality=params.image_quality,
        chunk_size=params.chunk_size or default_chunk_size(first.width, first.height),
        start_frame=start,
        stop_frame=start + (len(chosen) - 1) * params.step,
        frame_step=params.step,
        sorting_method=params.sorting_method,
        media_type="video" if clip else "image",
        compressed_chunk_type="video" if clip else "imageset",
        path=rel,
        deleted_frames=[],
        chunks_updated_date=utcnow(),
    )
    session.add(data)
    session.flush()  # frames refer to the data id
    session.execute(
        insert(Frame),
        [
            {"data_id": data.id, "frame": number, "name": c.name,
             "path": clip.name if clip else c.name,
             "width": c.width, "height": c.height, "size": c.size, "mime": c.mime}
            for number, c in enumerate(chosen)
        ],
    )  # fmt: skip
    task.data_id = data.id
    jobs_service.create_jobs(session, task, data.size)
    tasks_service.touch_task(session, task)
    session.flush()
    storage = delivery.media_storage(settings)
    storage.rename_into(staged, f"{rel}/raw")
    moved_to = storage.local_path(f"{rel}/raw")
    if moved_to is not None:  # images still waiting to be compressed follow the move
        early.pool().moved(staged, moved_to)
    if not clip and len(chosen) < total:
        keep = {c.name for c in chosen}
        for name in ordered:
            if name not in keep:
                storage.delete(delivery.raw_key(data, name))
    return data


def queue_prepare(session: Session, owner: User, tasks: Iterable[Task]) -> None:
    """Queues the frame and chunk pre-generation (``media.prepare_data``) of each task that
    has data, as one ``prepare:chunks`` operation per task; the actor is sent when the
    caller's transaction commits. In a process without a queue (a script) the tasks build
    their chunks on demand instead."""
    for task in tasks:
        if task.data_id is None:
            continue
        prepare = operations.start_operation(
            session, type="prepare:chunks", target="task", owner=owner, task_id=task.id,
            project_id=task.project_id, dedupe_key=f"prepare:task:{task.id}",
        )  # fmt: skip
        try:
            operations.enqueue(session, "media.prepare_data", operation=prepare, task_id=task.id)
        except QueueNotConfigured:
            log.warning("no queue here: task %s builds its chunks on demand", task.id)


def get_data(session: Session, task: Task) -> TaskData:
    if task.data_id is None:
        raise Invalid(f"task {task.id} has no data yet", field="task")
    return session.get_one(TaskData, task.data_id)


def frame_range_check(number: int, lo: int, hi: int, what: str = "frame") -> None:
    if not lo <= number <= hi:
        raise Invalid(f"number: {what} {number} is outside {lo}-{hi}", field="number", frame=number)


def get_frame(session: Session, data: TaskData, number: int) -> Frame:
    frame_range_check(number, 0, data.size - 1)
    return session.get_one(Frame, (data.id, number))


def frames_in(session: Session, data: TaskData, lo: int, hi: int) -> list[Frame]:
    return list(
        session.scalars(
            select(Frame)
            .where(Frame.data_id == data.id, Frame.frame >= lo, Frame.frame <= hi)
            .order_by(Frame.frame)
        )
    )


def update_deleted_frames(
    session: Session, task: Task, data: TaskData, frames: list[int], *, lo: int, hi: int
) -> None:
    """Sets the deleted frames inside ``lo..hi`` (the task or one job) to ``frames``."""
    for number in frames:
        if not lo <= number <= hi:
            raise Invalid(
                f"deleted_frames: frame {number} is outside {lo}-{hi}",
                field="deleted_frames",
                frame=number,
            )
    kept = [f for f in data.deleted_frames if not lo <= f <= hi]
    data.deleted_frames = sorted(set(kept) | set(frames))
    # The data changed: a new version, so no cached chunk of the old one is served.
    touch_chunks(data)
    tasks_service.touch_task(session, task)


def render_meta(
    session: Session, task: Task, data: TaskData, *, job: Job | None = None
) -> dict[str, Any]:
    lo, hi = (job.start_frame, job.stop_frame) if job else (0, data.size - 1)
    rows = session.execute(
        select(Frame.name, Frame.width, Frame.height)
        .where(Frame.data_id == data.id, Frame.frame >= lo, Frame.frame <= hi)
        .order_by(Frame.frame)
    )
    frames = [
        {"name": n, "width": w, "height": h, "related_files": 0, "has_related_context": False}
        for n, w, h in rows
    ]
    step = data.frame_step
    return {
        "chunks_updated_date": iso(data.chunks_updated_date),
        "chunk_size": data.chunk_size,
        "size": hi - lo + 1,
        "image_quality": data.image_quality,
        "start_frame": data.start_frame + lo * step,
        "stop_frame": data.start_frame + hi * step,
        "frame_filter": f"step={step}" if step > 1 else "",
        "frames": frames,
        "deleted_frames": [f for f in data.deleted_frames if lo <= f <= hi],
        "included_frames": None,
        "chapters": None,
        "storage": data.storage,
        "cloud_storage_id": None,
    }


def touch_chunks(data: TaskData) -> None:
    data.chunks_updated_date = later_than(data.chunks_updated_date)
