"""Task media: turning uploaded files into frames, and reading frames back.

Ingest is a single pass over the files: extract archives (verifying every member), read each
image's header, sort, select, and insert all frame rows at once. Jobs are created in the same
transaction, so the task is complete when the finishing request answers.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from labelbay.config import Settings
from labelbay.db import iso, later_than, utcnow
from labelbay.errors import Conflict, Invalid, MediaError
from labelbay.jobs import service as jobs_service
from labelbay.jobs.models import Job
from labelbay.media import archives, images, sorting
from labelbay.media.models import Frame, TaskData
from labelbay.media.schemas import DataParams
from labelbay.tasks import service as tasks_service
from labelbay.tasks.errors import TaskHasData
from labelbay.tasks.models import Task

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


@contextmanager
def _staging(folder: Path) -> Iterator[Path]:
    """A folder that is removed again unless the block finishes."""
    folder.mkdir(parents=True, exist_ok=False)
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _collect(files: list[Path], raw: Path) -> list[str]:
    """Puts uploaded images into ``raw`` and extracts archives there; returns frame names."""
    unsupported = [
        p.name
        for p in files
        if not (images.is_image_name(p.name) or archives.is_archive_name(p.name))
    ]
    if unsupported:
        raise MediaError(
            "is not a supported file; upload JPEG, PNG, BMP, TIFF or WebP images, or a "
            "zip/tar archive of them",
            file=sorted(unsupported)[0],
        )
    if not files:
        raise Invalid("no files were uploaded: send files between Upload-Start and Upload-Finish")
    if any(not p.exists() for p in files):
        raise Conflict("the uploaded files were taken by another request; upload them again")
    folders = {p.parent for p in files}
    if len(folders) == 1 and not any(archives.is_archive_name(p.name) for p in files):
        # Plain images from one upload area: move the whole folder, one rename for all.
        raw.rmdir()
        os.replace(folders.pop(), raw)
        return [p.name for p in files]
    raw.mkdir(exist_ok=True)
    names: list[str] = []
    seen: set[str] = set()
    for path in sorted(files):
        name = path.name
        if archives.is_archive_name(name):
            members = archives.extract_archive(path, raw, archive_name=name)
            if not members:
                raise MediaError("the archive holds no supported images", file=name)
        else:
            if (raw / name).exists():
                raise MediaError("two files have this name", file=name)
            os.replace(path, raw / name)
            members = [name]
        for member in members:
            if member in seen:
                raise MediaError("two files have this name", file=member)
            seen.add(member)
        names.extend(members)
    return names


def ingest(
    session: Session,
    settings: Settings,
    task: Task,
    files: list[Path],
    params: DataParams,
) -> TaskData:
    """Makes the uploaded ``files`` the task's frames and creates its jobs.

    Raises before writing anything to the database if a file is bad; the staged media folder
    is removed again, so the task is left as it was.
    """
    # Lock the task row (PostgreSQL; SQLite writers are serialised already) so that two
    # finishing requests cannot both give the task data.
    session.refresh(task, with_for_update=True)
    if task.data_id is not None:
        raise TaskHasData(task.id)
    _unsupported(params)
    rel = f"data/{task.id}-{secrets.token_hex(6)}"
    folder = settings.media_dir / rel
    with _staging(folder):
        raw = folder / "raw"
        raw.mkdir()
        names = _collect(files, raw)
        ordered = sorting.sort_names(
            names, params.sorting_method, order=params.upload_file_order or None
        )
        total = len(ordered)
        start = params.start_frame
        stop = total - 1 if params.stop_frame is None else min(params.stop_frame, total - 1)
        if start >= total:
            raise Invalid(
                f"start_frame: {start} is past the last file (there are {total})",
                field="start_frame",
            )
        if stop < start:
            raise Invalid(f"stop_frame: {stop} is before start_frame {start}", field="stop_frame")
        chosen = ordered[start : stop + 1 : params.step]
        rows: list[dict[str, Any]] = []
        for number, name in enumerate(chosen):
            path = raw / name
            info = images.probe_image(path, name=name, max_pixels=settings.max_image_pixels)
            rows.append(
                {
                    "frame": number,
                    "name": name,
                    "path": name,
                    "width": info.width,
                    "height": info.height,
                    "size": path.stat().st_size,
                    "mime": info.mime,
                }
            )
        for name in set(ordered) - set(chosen):
            (raw / name).unlink(missing_ok=True)
        first = rows[0]
        data = TaskData(
            size=len(rows),
            image_quality=params.image_quality,
            chunk_size=params.chunk_size or default_chunk_size(first["width"], first["height"]),
            start_frame=start,
            stop_frame=start + (len(rows) - 1) * params.step,
            frame_step=params.step,
            sorting_method=params.sorting_method,
            path=rel,
            deleted_frames=[],
            chunks_updated_date=utcnow(),
        )
        session.add(data)
        session.flush()  # frames refer to the data id
        for row in rows:
            row["data_id"] = data.id
        session.execute(insert(Frame), rows)
        task.data_id = data.id
        jobs_service.create_jobs(session, task, data.size)
        tasks_service.touch_task(session, task)
        session.flush()
    return data


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


def raw_path(settings: Settings, data: TaskData, frame: Frame) -> Path:
    return settings.media_dir / data.path / "raw" / frame.path


def cache_path(settings: Settings, data: TaskData, key: str) -> Path:
    return settings.media_dir / data.path / "cache" / key


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
