"""Queue actors of backups and restores."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from sqlalchemy.orm import Session

from labelbay.backups import export, restore
from labelbay.backups.manifest import ProjectBackup, TaskBackup, read_manifest
from labelbay.config import Settings
from labelbay.errors import AppError
from labelbay.media import delivery
from labelbay.media import service as media_service
from labelbay.operations import service as operations
from labelbay.projects.models import Project
from labelbay.tasks.models import Task
from labelbay.uploads import service as uploads
from labelbay.users.models import User
from labelbay.worker import actor

log = logging.getLogger(__name__)

EXPORTS = "exports"
ARCHIVE = "backup.zip"


def _settings() -> Settings:
    return delivery.runtime()[0]


def result_path(settings: Settings, op_id: str, name: str) -> tuple[Path, str]:
    """The absolute path of an export result and its path relative to the data dir."""
    relative = f"{EXPORTS}/{op_id}/{name}"
    return settings.data_dir / relative, relative


def _export(session: Session, operation_id: str, kind: str, obj_id: int) -> None:
    settings = _settings()
    model = Task if kind == "task" else Project
    found = session.get(model, obj_id)
    if found is None:
        operations.fail_operation(
            session, operation_id, f"{kind} {obj_id} was deleted before its backup was made",
            ttl_hours=settings.request_ttl_hours,
        )  # fmt: skip
        return
    name = export.file_name(kind, found.name, obj_id)
    target, relative = result_path(settings, operation_id, name)

    def progress(value: float) -> None:
        operations.update_progress(session, operation_id, value)

    progress(0.05)
    try:
        if isinstance(found, Task):
            export.write_task_backup(session, settings, found, target, progress)
        else:
            export.write_project_backup(session, settings, found, target, progress)
    except BaseException:
        shutil.rmtree(target.parent, ignore_errors=True)
        raise
    operations.finish_operation(
        session, operation_id, result_file=relative, ttl_hours=settings.request_ttl_hours
    )
    log.info("%s %s: backup written to %s", kind, obj_id, relative)


@actor("backups.export_task")
def export_task(session: Session, *, task_id: int, operation_id: str) -> None:
    _export(session, operation_id, "task", task_id)


@actor("backups.export_project")
def export_project(session: Session, *, project_id: int, operation_id: str) -> None:
    _export(session, operation_id, "project", project_id)


def _restore(session: Session, operation_id: str, kind: str, area: str, shown_as: str) -> None:
    settings = _settings()
    op = operations.find_operation(session, operation_id)
    owner = session.get(User, op.owner_id) if op is not None else None
    work = restore.Restored(settings)
    if owner is None:
        uploads.clear(session, settings, area)
        if op is not None:
            operations.fail_operation(session, operation_id, "the requesting user is gone")
        return
    try:
        with restore.open_archive(uploads.area_dir(settings, area) / ARCHIVE, shown_as) as zf:
            manifest = read_manifest(zf, kind)
            operations.update_progress(session, operation_id, 0.1)
            if isinstance(manifest, TaskBackup):
                task = restore.restore_task_backup(
                    session, zf, manifest, owner=owner, restored=work, area_prefix=area
                )
                tasks, result_id = [task], task.id
            else:
                assert isinstance(manifest, ProjectBackup)
                result_id, tasks = restore.restore_project_backup(
                    session, zf, manifest, owner=owner, restored=work, area_prefix=area
                )
        media_service.queue_prepare(session, owner, tasks)
        work.close_areas(session)
        uploads.clear(session, settings, area)
        finished = operations.finish_operation(
            session, operation_id, result_id=result_id, ttl_hours=settings.request_ttl_hours
        )
        if kind == "task":
            finished.task_id = result_id
        else:
            finished.project_id = result_id
    except AppError as exc:
        # Nothing half-made stays: the transaction goes, and so do the stored media.
        session.rollback()
        work.discard(session)
        uploads.clear(session, settings, area)
        log.info("restore %s failed: %s", operation_id, exc.message)
        operations.fail_operation(
            session, operation_id, exc.message, ttl_hours=settings.request_ttl_hours
        )
    except BaseException:
        session.rollback()
        work.discard(session)
        uploads.clear(session, settings, area)
        session.commit()
        raise


@actor("backups.restore_task")
def restore_task(session: Session, *, area: str, shown_as: str, operation_id: str) -> None:
    _restore(session, operation_id, "task", area, shown_as)


@actor("backups.restore_project")
def restore_project(session: Session, *, area: str, shown_as: str, operation_id: str) -> None:
    _restore(session, operation_id, "project", area, shown_as)
