"""Restoring backups: a new task (or project with its tasks) from an archive.

The media go through the same path as a normal upload: they are unpacked into an upload
area's ``files/`` and ``media.service.ingest`` receives, sorts and stores them, so frames,
chunks and jobs come out as for the original upload. Everything is created in the caller's
transaction; the caller rolls back and calls ``Restored.discard`` when anything fails.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from labelbay.annotations import service as annotations_service
from labelbay.annotations.schemas import LabeledDataWrite
from labelbay.backups.manifest import (
    MANIFEST,
    BackupInvalid,
    LabelIn,
    ProjectBackup,
    TaskBackup,
    TaskIn,
    describe_validation,
    media_members,
)
from labelbay.config import Settings
from labelbay.db import utcnow
from labelbay.errors import AppError
from labelbay.jobs import service as jobs_service
from labelbay.jobs.models import Job
from labelbay.labels.models import AttributeSpec, Label
from labelbay.labels.schemas import LabelWrite
from labelbay.media import delivery, early, receiving
from labelbay.media import service as media_service
from labelbay.media.schemas import DataParams
from labelbay.projects import service as projects_service
from labelbay.projects.schemas import ProjectCreate
from labelbay.tasks import service as tasks_service
from labelbay.tasks.models import Task
from labelbay.tasks.schemas import TaskCreate
from labelbay.uploads import service as uploads
from labelbay.users.models import User

COPY_CHUNK = 1024 * 1024
READ_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError)


@dataclass
class Restored:
    """What a restore created outside the database, to remove if it fails."""

    settings: Settings
    media_prefixes: list[str] = field(default_factory=list)
    areas: list[str] = field(default_factory=list)

    def discard(self, session: Session) -> None:
        storage = delivery.media_storage(self.settings)
        for prefix in self.media_prefixes:
            folder = storage.local_path(prefix)
            if folder is not None:
                early.forget_under(folder)
            storage.delete_prefix(prefix)
        self.media_prefixes.clear()
        self.close_areas(session)

    def close_areas(self, session: Session) -> None:
        for area in self.areas:
            uploads.clear(session, self.settings, area)
        self.areas.clear()


def open_archive(path: Path, shown_as: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise BackupInvalid(
            f"{shown_as}: not a zip archive, or truncated ({exc})", file=shown_as
        ) from exc


def check_members(archive: zipfile.ZipFile, tasks: list[TaskIn], *, project: bool) -> None:
    """Every media file the manifest lists is a plain relative path and is in the archive."""
    names = set(archive.namelist())
    for index, task in enumerate(tasks):
        where = f"tasks[{index}]" if project else "task"
        for number, frame in enumerate(task.data.frames if task.data else []):
            parts = frame.path.split("/")
            if (
                frame.path.startswith("/")
                or "\\" in frame.path
                or any(part in ("", ".", "..") for part in parts)
            ):
                raise BackupInvalid(
                    f"{MANIFEST}: {where}.data.frames[{number}].path: {frame.path!r} is not a "
                    "relative file path"
                )
        for member, _ in media_members(task):
            if member not in names:
                raise BackupInvalid(
                    f"{member}: missing from the archive ({MANIFEST} lists it in {where}.data)",
                    file=member,
                )


# -- labels ---------------------------------------------------------------------------------


@dataclass
class LabelRef:
    id: int
    specs: dict[str, int]
    subs: dict[str, LabelRef]


def label_writes(labels: list[LabelIn]) -> list[LabelWrite]:
    try:
        return [
            LabelWrite.model_validate(
                {**label.model_dump(), "svg": label.svg or None,
                 "type": label.type, "sublabels": [s.model_dump() for s in label.sublabels]}
            )
            for label in labels
        ]  # fmt: skip
    except ValidationError as exc:
        raise BackupInvalid(describe_validation(exc, f"{MANIFEST}: labels")) from exc


def label_refs(
    session: Session, *, project_id: int | None, task_id: int | None
) -> dict[str, LabelRef]:
    stmt = select(Label)
    stmt = (
        stmt.where(Label.project_id == project_id)
        if project_id is not None
        else stmt.where(Label.task_id == task_id)
    )
    labels = list(session.scalars(stmt))
    refs = {label.id: LabelRef(label.id, {}, {}) for label in labels}
    if refs:
        for spec in session.scalars(
            select(AttributeSpec).where(AttributeSpec.label_id.in_(list(refs)))
        ):
            refs[spec.label_id].specs[spec.name] = spec.id
    tops: dict[str, LabelRef] = {}
    for label in labels:
        if label.parent_id is None:
            tops[label.name] = refs[label.id]
    for label in labels:
        if label.parent_id is not None and label.parent_id in refs:
            refs[label.parent_id].subs[label.name] = refs[label.id]
    return tops


# -- annotations ----------------------------------------------------------------------------


def _spec_values(values: Any, ref: LabelRef, where: str) -> list[dict[str, Any]]:
    if not isinstance(values, list):
        raise BackupInvalid(f"{where}: expected a list")
    out = []
    for i, item in enumerate(values):
        if not isinstance(item, dict) or "name" not in item:
            raise BackupInvalid(f"{where}[{i}]: expected {{'name', 'value'}}")
        spec_id = ref.specs.get(item["name"])
        if spec_id is None:
            raise BackupInvalid(f"{where}[{i}].name: the label has no attribute {item['name']!r}")
        out.append({"spec_id": spec_id, "value": item.get("value", "")})
    return out


def _with_ids(obj: Any, labels: dict[str, LabelRef], where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise BackupInvalid(f"{where}: expected an object")
    name = obj.get("label")
    ref = labels.get(name) if isinstance(name, str) else None
    if ref is None:
        raise BackupInvalid(f"{where}.label: there is no label named {name!r}")
    out = {
        key: value
        for key, value in obj.items()
        if key not in ("label", "attributes", "elements", "shapes")
    }
    out["label_id"] = ref.id
    out["attributes"] = _spec_values(obj.get("attributes", []), ref, f"{where}.attributes")
    if "elements" in obj:
        elements = obj["elements"] if isinstance(obj["elements"], list) else []
        out["elements"] = [
            _with_ids(element, ref.subs, f"{where}.elements[{i}]")
            for i, element in enumerate(elements)
        ]
    if "shapes" in obj:
        shapes = obj["shapes"] if isinstance(obj["shapes"], list) else []
        out["shapes"] = []
        for i, shape in enumerate(shapes):
            if not isinstance(shape, dict):
                raise BackupInvalid(f"{where}.shapes[{i}]: expected an object")
            values = _spec_values(
                shape.get("attributes", []), ref, f"{where}.shapes[{i}].attributes"
            )
            out["shapes"].append({**shape, "attributes": values})
    return out


def annotations_with_ids(
    annotations: dict[str, Any], labels: dict[str, LabelRef], where: str
) -> LabeledDataWrite:
    payload: dict[str, Any] = {}
    for kind in ("tags", "shapes", "tracks"):
        items = annotations.get(kind, [])
        if not isinstance(items, list):
            raise BackupInvalid(f"{where}.{kind}: expected a list")
        payload[kind] = [
            _with_ids(obj, labels, f"{where}.{kind}[{i}]") for i, obj in enumerate(items)
        ]
    try:
        return LabeledDataWrite.model_validate(payload)
    except ValidationError as exc:
        raise BackupInvalid(describe_validation(exc, where)) from exc


# -- media ----------------------------------------------------------------------------------


def _copy_member(archive: zipfile.ZipFile, member: str, target: Path) -> None:
    try:
        with archive.open(member) as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, COPY_CHUNK)
    except READ_ERRORS as exc:
        raise BackupInvalid(f"{member}: damaged in the archive ({exc})", file=member) from exc


def stage_media(archive: zipfile.ZipFile, task: TaskIn, folder: Path, *, max_pixels: int) -> None:
    """Hands a task's media to the upload area as a client would send them: each file (or,
    for frames in sub-folders, a zip of them) lands in ``files/`` and is received (checked
    and staged) exactly as an uploaded file is."""
    files = folder / "files"
    files.mkdir(parents=True, exist_ok=True)
    members = media_members(task)
    if not any("/" in path for _, path in members):
        for member, path in members:
            _copy_member(archive, member, files / path)
            receiving.receive(folder, files / path, max_pixels=max_pixels)
        return
    bundle = files / "frames.zip"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_STORED, allowZip64=True) as out:
        for member, path in members:
            try:
                with archive.open(member) as source, out.open(path, "w", force_zip64=True) as sink:
                    shutil.copyfileobj(source, sink, COPY_CHUNK)
            except READ_ERRORS as exc:
                raise BackupInvalid(
                    f"{member}: damaged in the archive ({exc})", file=member
                ) from exc
    receiving.receive(folder, bundle, max_pixels=max_pixels)


def _data_params(task: TaskIn) -> DataParams:
    data = task.data
    assert data is not None
    if data.media_type == "video":
        return DataParams(
            image_quality=data.image_quality,
            chunk_size=data.chunk_size,
            start_frame=data.start_frame,
            stop_frame=data.stop_frame,
            frame_filter=f"step={data.frame_step}" if data.frame_step > 1 else "",
        )
    # Only the chosen images were stored: all of them, in the recorded frame order.
    return DataParams(
        image_quality=data.image_quality,
        chunk_size=data.chunk_size,
        sorting_method="predefined",
        upload_file_order=[frame.path for frame in data.frames],
    )


# -- tasks ----------------------------------------------------------------------------------


def restore_task(
    session: Session,
    archive: zipfile.ZipFile,
    task_in: TaskIn,
    *,
    owner: User,
    labels: list[LabelIn],
    project_id: int | None,
    restored: Restored,
    area: str,
    where: str,
) -> Task:
    settings = restored.settings
    spec = TaskCreate(
        name=task_in.name,
        project_id=project_id,
        assignee_id=user_named(session, task_in.assignee),
        bug_tracker=task_in.bug_tracker[:2000],
        overlap=task_in.overlap,
        segment_size=task_in.segment_size,
        subset=task_in.subset[:64],
        labels=label_writes(labels) if project_id is None else [],
    )
    try:
        task = tasks_service.create_task(session, spec, owner=owner)
    except AppError as exc:
        raise BackupInvalid(f"{MANIFEST}: {where}: {exc.message}") from exc
    data_in = task_in.data
    if data_in is not None:
        folder = uploads.area_dir(settings, area)
        restored.areas.append(area)
        uploads.start(session, settings, area)
        early.note_quality(folder, data_in.image_quality)
        try:
            stage_media(archive, task_in, folder, max_pixels=settings.max_image_pixels)
            data = media_service.ingest(session, settings, task, folder, _data_params(task_in))
        except BackupInvalid:
            raise
        except AppError as exc:
            raise BackupInvalid(f"{where}.data: {exc.message}") from exc
        restored.media_prefixes.append(data.path)
        if data.size != len(data_in.frames):
            raise BackupInvalid(
                f"{MANIFEST}: {where}.data.frames: {len(data_in.frames)} frames are listed, "
                f"but the media give {data.size}"
            )
        data.sorting_method = data_in.sorting_method
        data.start_frame, data.stop_frame = data_in.start_frame, data_in.stop_frame
        data.frame_step = data_in.frame_step
        data.deleted_frames = sorted({f for f in data_in.deleted_frames if 0 <= f < data.size})
        _restore_jobs(session, task, task_in, where)
        refs = label_refs(session, project_id=project_id, task_id=None if project_id else task.id)
        payload = annotations_with_ids(
            task_in.annotations, refs, f"{MANIFEST}: {where}.annotations"
        )
        try:
            annotations_service.replace_annotations(session, task, payload)
        except AppError as exc:
            raise BackupInvalid(f"{MANIFEST}: {where}.annotations: {exc.message}") from exc
    session.flush()
    return task


def user_named(session: Session, username: str | None) -> int | None:
    """The id of the user with this name, if the server has one (assignees map by name)."""
    if not username:
        return None
    return session.scalar(select(User.id).where(User.username == username))


def _restore_jobs(session: Session, task: Task, task_in: TaskIn, where: str) -> None:
    """Each listed job's stage, state and assignee onto the job with the same frames (the
    media, segment size and overlap being the same, the task has the same jobs)."""
    made = {
        (job.start_frame, job.stop_frame): job
        for job in session.scalars(select(Job).where(Job.task_id == task.id))
    }
    now = utcnow()
    for index, job_in in enumerate(task_in.jobs):
        job = made.get((job_in.start_frame, job_in.stop_frame))
        if job is None:
            raise BackupInvalid(
                f"{MANIFEST}: {where}.jobs[{index}]: frames {job_in.start_frame}-"
                f"{job_in.stop_frame} are not a job of the restored task (segment size "
                f"{task.segment_size}, overlap {task.overlap})"
            )
        job.stage, job.state = job_in.stage, job_in.state
        job.assignee_id = user_named(session, job_in.assignee)
        job.assignee_updated_date = now if job.assignee_id is not None else None
    session.flush()
    jobs_service.refresh_task_status(session, task)


def restore_task_backup(
    session: Session,
    archive: zipfile.ZipFile,
    manifest: TaskBackup,
    *,
    owner: User,
    restored: Restored,
    area_prefix: str,
) -> Task:
    check_members(archive, [manifest.task], project=False)
    return restore_task(
        session, archive, manifest.task, owner=owner, labels=manifest.labels, project_id=None,
        restored=restored, area=f"{area_prefix}-0", where="task",
    )  # fmt: skip


def restore_project_backup(
    session: Session,
    archive: zipfile.ZipFile,
    manifest: ProjectBackup,
    *,
    owner: User,
    restored: Restored,
    area_prefix: str,
) -> tuple[int, list[Task]]:
    check_members(archive, manifest.tasks, project=True)
    spec = ProjectCreate(
        name=manifest.project.name,
        assignee_id=user_named(session, manifest.project.assignee),
        bug_tracker=manifest.project.bug_tracker[:2000],
        labels=label_writes(manifest.labels),
    )
    try:
        project = projects_service.create_project(session, spec, owner=owner)
    except AppError as exc:
        raise BackupInvalid(f"{MANIFEST}: project: {exc.message}") from exc
    tasks = []
    for index, task_in in enumerate(manifest.tasks):
        tasks.append(
            restore_task(
                session,
                archive,
                task_in,
                owner=owner,
                labels=[],
                project_id=project.id,
                restored=restored,
                area=f"{area_prefix}-{index}",
                where=f"tasks[{index}]",
            )
        )
        # Each task's staged files are consumed: free the space before the next one.
        restored.close_areas(session)
    return project.id, tasks
