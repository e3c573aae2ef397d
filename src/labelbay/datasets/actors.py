"""Queue actors of dataset export and annotation import.

``datasets.export`` streams the zip into ``<data>/exports/<rq_id>/<download name>.zip`` (written
as ``.part`` and renamed when complete) and finishes the operation with that file as its
result. Before it starts it sweeps ``<data>/exports``: the folders of operations that have
expired (or are gone) are removed, so results live as long as their request
(``LABELBAY_REQUEST_TTL_HOURS``) plus at most the time until the next export.

``datasets.import`` reads the uploaded file (moved to ``<data>/imports/<rq_id>/`` by the route)
with the format's importer and applies it in the actor's one transaction; a failure rolls that
back, marks the operation failed with the message, and the file is removed either way.

``datasets.import_project`` (``POST /api/projects/{id}/dataset/``) makes one new task in the
project from a dataset archive with images: the images become its frames (ingested like an
upload), then the annotations are applied; a failure rolls the task back and removes the media
it had stored.
"""

from __future__ import annotations

import logging
import re
import shutil
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelbay.config import Settings, get_settings
from labelbay.datasets import registry
from labelbay.datasets.apply import apply
from labelbay.datasets.source import ProjectSource, TaskSource
from labelbay.db import utcnow
from labelbay.errors import AppError, Invalid
from labelbay.jobs.models import Job
from labelbay.media.models import Frame
from labelbay.operations import service as operations
from labelbay.operations.models import Operation
from labelbay.projects.models import Project
from labelbay.tasks.models import Task
from labelbay.worker import actor

log = logging.getLogger(__name__)

EXPORTS = "exports"
IMPORTS = "imports"
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. ]+")


def safe(text: str) -> str:
    """Only the characters clients accept in a download name."""
    return _UNSAFE.sub("_", text).strip(" .") or "unnamed"


def slug(fmt: registry.Format) -> str:
    return fmt.slug or re.sub(r"[^a-z0-9.]+", "-", fmt.name.lower()).strip("-")


def download_name(kind: str, name: str, fmt: registry.Format, when: datetime) -> str:
    """CVAT's pattern: ``task_<name>_dataset_<YYYY_MM_DD_HH_MM_SS>_<format slug>.zip``."""
    stamp = when.strftime("%Y_%m_%d_%H_%M_%S")
    return safe(f"{kind}_{name}_dataset_{stamp}_{slug(fmt)}")[:240] + ".zip"


def sweep_exports(session: Session, settings: Settings) -> int:
    """Removes the export folders of expired or unknown operations; returns how many."""
    root = settings.data_dir / EXPORTS
    if not root.is_dir():
        return 0
    now = utcnow()
    removed = 0
    for folder in root.iterdir():
        op = session.get(Operation, folder.name)
        expired = op is None or (
            op.status in ("finished", "failed")
            and op.expiry_date is not None
            and _naive(op.expiry_date) < _naive(now)
        )
        if expired:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
            if op is not None:
                op.result_file = None
    if removed:
        log.info("removed %d expired export(s)", removed)
    return removed


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None)


def _source(
    session: Session, settings: Settings, target: str, object_id: int, progress: Any
) -> tuple[str, Any]:
    if target == "task":
        task = session.get_one(Task, object_id)
        return task.name, TaskSource(session, settings, task, on_window=progress)
    if target == "job":
        job = session.get_one(Job, object_id)
        task = session.get_one(Task, job.task_id)
        source = TaskSource(
            session, settings, task, lo=job.start_frame, hi=job.stop_frame, on_window=progress
        )
        return str(job.id), source
    project = session.get_one(Project, object_id)
    return project.name, ProjectSource(session, settings, project, on_window=progress)


@actor("datasets.export")
def export_dataset(
    session: Session,
    *,
    target: str,
    object_id: int,
    format: str,
    save_images: bool,
    operation_id: str,
) -> None:
    settings = get_settings()
    sweep_exports(session, settings)
    session.commit()
    fmt = registry.exporter(format)
    assert fmt.exporter is not None

    def progress(done: int, total: int) -> None:
        operations.update_progress(session, operation_id, 0.95 * done / max(total, 1))

    name, source = _source(session, settings, target, object_id, progress)
    file_name = download_name(target, name, fmt, utcnow())
    folder = settings.data_dir / EXPORTS / operation_id
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / (file_name + ".part")
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as out:
            fmt.exporter(source, out, save_images=save_images)
        partial.rename(folder / file_name)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    operations.finish_operation(
        session, operation_id, result_file=f"{EXPORTS}/{operation_id}/{file_name}",
        ttl_hours=settings.request_ttl_hours,
    )  # fmt: skip
    log.info("%s %s exported as %s to %s", target, object_id, format, file_name)


def import_path(settings: Settings, operation_id: str, filename: str) -> Path:
    return settings.data_dir / IMPORTS / operation_id / filename


@actor("datasets.import")
def import_annotations(
    session: Session,
    *,
    target: str,
    object_id: int,
    format: str,
    filename: str,
    import_mode: str,
    operation_id: str,
) -> None:
    settings = get_settings()
    path = import_path(settings, operation_id, filename)
    shown = filename
    try:
        fmt = registry.importer(format)
        assert fmt.importer is not None
        job = session.get_one(Job, object_id) if target == "job" else None
        task = session.get_one(Task, job.task_id if job is not None else object_id)
        operations.update_progress(session, operation_id, 0.1)
        data = registry.read(fmt, path, _frame_sizes(session, task))
        operations.update_progress(session, operation_id, 0.5)
        count = apply(session, task, data, job=job, mode=import_mode)
        operations.finish_operation(
            session, operation_id, ttl_hours=settings.request_ttl_hours,
            message=f"{count} annotations imported",
        )  # fmt: skip
        session.commit()
        log.info("%s %s: %d annotations imported from %s", target, object_id, count, shown)
    except Exception as exc:
        session.rollback()
        message = exc.message if isinstance(exc, AppError) else f"{type(exc).__name__}: {exc}"
        if shown not in message:
            message = f"{shown}: {message}"
        log.info("import into %s %s failed: %s", target, object_id, message)
        operations.fail_operation(
            session, operation_id, message, ttl_hours=settings.request_ttl_hours
        )
        session.commit()
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _unpack_images(path: Path, files: Path) -> int:
    """Copies the images of a dataset zip into an upload area's ``files/`` (by base name)."""
    files.mkdir(parents=True, exist_ok=True)
    count = 0
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise Invalid(f"{path.name}: not a zip archive ({exc})", file=path.name) from exc
    with archive:
        for info in archive.infolist():
            name = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
            if info.is_dir() or not name.lower().endswith(IMAGE_SUFFIXES):
                continue
            target = files / name
            if target.exists():
                raise Invalid(
                    f"{path.name}: two images are called {name!r}; frame names must be unique",
                    file=path.name,
                )
            with archive.open(info) as source, target.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            count += 1
    return count


@actor("datasets.import_project")
def import_project_dataset(
    session: Session,
    *,
    project_id: int,
    owner_id: int,
    format: str,
    filename: str,
    operation_id: str,
) -> None:
    """A dataset with images into a project: one new task (named after the file) with the
    images of the archive as its frames and the annotations applied; all or nothing."""
    from labelbay.media import service as media_service
    from labelbay.media.schemas import DataParams
    from labelbay.tasks import service as tasks_service
    from labelbay.tasks.schemas import TaskCreate
    from labelbay.uploads import service as uploads
    from labelbay.users.models import User

    settings = get_settings()
    path = import_path(settings, operation_id, filename)
    area = uploads.area_dir(settings, f"project-dataset/{operation_id}")
    stored: str | None = None
    try:
        fmt = registry.importer(format)
        assert fmt.importer is not None
        project = session.get_one(Project, project_id)
        owner = session.get_one(User, owner_id)
        operations.update_progress(session, operation_id, 0.05)
        data = registry.read(fmt, path, {})  # a new task: its images are in the archive
        if not _unpack_images(path, area / "files"):
            raise Invalid(f"{filename}: the archive has no images to make a task of")
        operations.update_progress(session, operation_id, 0.3)
        stem = Path(filename).stem or "dataset"
        task = tasks_service.create_task(
            session, TaskCreate(name=stem[:256], project_id=project.id), owner=owner
        )
        stored = media_service.ingest(session, settings, task, area, DataParams()).path
        count = apply(session, task, data)
        operations.finish_operation(
            session, operation_id, ttl_hours=settings.request_ttl_hours, result_id=task.id,
            message=f"task {task.id}: {count} annotations imported",
        )  # fmt: skip
        session.commit()
        log.info("project %s: task %s made from %s", project_id, task.id, filename)
    except Exception as exc:
        session.rollback()
        if stored is not None:
            from labelbay.media import delivery

            media = delivery.media_storage(settings).local_path(stored)
            if media is not None:
                shutil.rmtree(media, ignore_errors=True)
        message = exc.message if isinstance(exc, AppError) else f"{type(exc).__name__}: {exc}"
        if filename not in message:
            message = f"{filename}: {message}"
        operations.fail_operation(
            session, operation_id, message, ttl_hours=settings.request_ttl_hours
        )
        session.commit()
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
        shutil.rmtree(area, ignore_errors=True)


def _frame_sizes(session: Session, task: Task) -> dict[str, tuple[int, int]]:
    """The task's frames' sizes by file name (YOLO's coordinates are normalised)."""
    if task.data_id is None:
        return {}
    rows = session.execute(
        select(Frame.name, Frame.width, Frame.height).where(Frame.data_id == task.data_id)
    )
    return {name: (width, height) for name, width, height in rows}
