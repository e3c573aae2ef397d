"""Writing backups: a task's (or a project's) settings, labels, data meta, jobs, annotations
and original media into one zip, streamed file by file."""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelbay import lookups
from labelbay.annotations import service as annotations_service
from labelbay.backups.manifest import FORMAT, MANIFEST, VERSION
from labelbay.config import Settings
from labelbay.jobs.models import Job
from labelbay.labels import service as labels_service
from labelbay.labels.models import AttributeSpec, Label
from labelbay.media import delivery
from labelbay.media.models import Frame, TaskData
from labelbay.projects.models import Project
from labelbay.tasks.models import Task

Progress = Callable[[float], None]
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]+")


def file_name(kind: str, name: str, fallback: int, when: datetime | None = None) -> str:
    """``task_<name>_backup_<YYYY_MM_DD_HH_MM_SS>.zip`` with a name clients accept."""
    safe = _UNSAFE.sub("_", name).strip("_")[:100] or str(fallback)
    stamp = (when or datetime.now(UTC)).strftime("%Y_%m_%d_%H_%M_%S")
    return f"{kind}_{safe}_backup_{stamp}.zip"


# -- labels ---------------------------------------------------------------------------------


def _owned_labels(session: Session, *, project_id: int | None, task_id: int | None) -> list[Label]:
    stmt = select(Label)
    stmt = (
        stmt.where(Label.project_id == project_id)
        if project_id is not None
        else stmt.where(Label.task_id == task_id)
    )
    return list(session.scalars(stmt.order_by(Label.id)))


class Names:
    """Label and attribute-spec names by id, for writing annotations by name."""

    def __init__(self, session: Session, labels: Sequence[Label]) -> None:
        self.labels = {label.id: label.name for label in labels}
        self.specs: dict[int, str] = {}
        if labels:
            for spec in session.scalars(
                select(AttributeSpec).where(AttributeSpec.label_id.in_(list(self.labels)))
            ):
                self.specs[spec.id] = spec.name


def label_section(session: Session, *, project_id: int | None, task_id: int | None) -> list[Any]:
    tops = labels_service.labels_of(session, project_id=project_id, task_id=task_id)
    out = []
    for item in labels_service.render_labels(session, tops):
        out.append(
            {
                "name": item["name"],
                "color": item["color"],
                "type": item["type"],
                "svg": item.get("svg", ""),
                "attributes": [_attribute(a) for a in item["attributes"]],
                "sublabels": [
                    {
                        "name": sub["name"],
                        "color": sub["color"],
                        "type": sub["type"],
                        "attributes": [_attribute(a) for a in sub["attributes"]],
                    }
                    for sub in item["sublabels"]
                ],
            }
        )
    return out


def _attribute(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": item["name"],
        "mutable": item["mutable"],
        "input_type": item["input_type"],
        "default_value": item["default_value"],
        "values": item["values"],
    }


# -- annotations ----------------------------------------------------------------------------


def _named_attributes(values: list[dict[str, Any]], names: Names) -> list[dict[str, Any]]:
    return [
        {"name": names.specs[v["spec_id"]], "value": v["value"]}
        for v in values
        if v["spec_id"] in names.specs
    ]


def _named(obj: dict[str, Any], names: Names) -> dict[str, Any]:
    out = {
        key: value
        for key, value in obj.items()
        if key not in ("id", "label_id", "attributes", "elements", "shapes")
    }
    out["label"] = names.labels[obj["label_id"]]
    out["attributes"] = _named_attributes(obj.get("attributes", []), names)
    if "elements" in obj:
        out["elements"] = [_named(element, names) for element in obj["elements"]]
    if "shapes" in obj:
        out["shapes"] = [
            {
                **{k: v for k, v in shape.items() if k not in ("id", "attributes")},
                "attributes": _named_attributes(shape.get("attributes", []), names),
            }
            for shape in obj["shapes"]
        ]
    return out


def annotation_section(session: Session, task: Task, names: Names) -> dict[str, Any]:
    found = annotations_service.get_annotations(session, task)
    return {
        kind: [_named(obj, names) for obj in found[kind]] for kind in ("tags", "shapes", "tracks")
    }


# -- tasks ----------------------------------------------------------------------------------


def usernames(session: Session, ids: Iterable[int | None]) -> dict[int | None, str]:
    """Usernames by user id (assignees are written by name)."""
    return {user_id: user.username for user_id, user in lookups.users_by_id(session, ids).items()}


def task_section(
    session: Session, settings: Settings, task: Task, *, media: str
) -> tuple[dict[str, Any], list[tuple[Path, str]]]:
    """A task's manifest section and its media files as ``(file, archive member)``."""
    labels = _owned_labels(session, project_id=task.project_id, task_id=task.id)
    names = Names(session, labels)
    jobs = list(
        session.scalars(select(Job).where(Job.task_id == task.id).order_by(Job.start_frame))
    )
    people = usernames(session, [task.assignee_id, *(j.assignee_id for j in jobs)])
    section: dict[str, Any] = {
        "name": task.name,
        "bug_tracker": task.bug_tracker,
        "subset": task.subset,
        "assignee": people.get(task.assignee_id),
        "segment_size": task.segment_size,
        "overlap": task.overlap,
        "status": task.status,
        "media": media,
        "data": None,
        "jobs": [
            {
                "start_frame": j.start_frame,
                "stop_frame": j.stop_frame,
                "stage": j.stage,
                "state": j.state,
                "type": j.type,
                "assignee": people.get(j.assignee_id),
            }
            for j in jobs
        ],
        "annotations": annotation_section(session, task, names),
    }
    files: list[tuple[Path, str]] = []
    if task.data_id is None:
        return section, files
    data = session.get_one(TaskData, task.data_id)
    frames = list(
        session.scalars(select(Frame).where(Frame.data_id == data.id).order_by(Frame.frame))
    )
    section["data"] = {
        "media_type": data.media_type,
        "size": data.size,
        "chunk_size": data.chunk_size,
        "image_quality": data.image_quality,
        "sorting_method": data.sorting_method,
        "start_frame": data.start_frame,
        "stop_frame": data.stop_frame,
        "frame_step": data.frame_step,
        "deleted_frames": list(data.deleted_frames),
        "frames": [
            {"name": f.name, "path": f.path, "width": f.width, "height": f.height} for f in frames
        ],
    }
    raw = delivery.raw_dir(settings, data)
    seen: set[str] = set()
    for frame in frames:
        if frame.path not in seen:
            seen.add(frame.path)
            files.append((raw / frame.path, media + frame.path))
    return section, files


def _write(
    target: Path, manifest: dict[str, Any], files: Sequence[tuple[Path, str]], progress: Progress
) -> None:
    """Writes the zip next to ``target`` and renames it into place when complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    total = sum(os.path.getsize(path) for path, _ in files) or 1
    done = 0
    step = max(total // 20, 1)
    reported = 0
    try:
        with zipfile.ZipFile(partial, "w", allowZip64=True) as archive:
            archive.writestr(
                MANIFEST,
                json.dumps(manifest, ensure_ascii=False, indent=1),
                compress_type=zipfile.ZIP_DEFLATED,
            )
            for path, member in files:
                # Images and videos are compressed already: stored as they are.
                archive.write(path, member, compress_type=zipfile.ZIP_STORED)
                done += os.path.getsize(path)
                if done - reported >= step:
                    reported = done
                    progress(0.1 + 0.85 * done / total)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def write_task_backup(
    session: Session, settings: Settings, task: Task, target: Path, progress: Progress
) -> None:
    section, files = task_section(session, settings, task, media="data/")
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "kind": "task",
        "labels": label_section(
            session, project_id=task.project_id, task_id=None if task.project_id else task.id
        ),
        "task": section,
    }
    session.commit()  # end the read transaction before the long write (SQLite locks)
    _write(target, manifest, files, progress)


def write_project_backup(
    session: Session, settings: Settings, project: Project, target: Path, progress: Progress
) -> None:
    tasks = list(
        session.scalars(select(Task).where(Task.project_id == project.id).order_by(Task.id))
    )
    sections: list[dict[str, Any]] = []
    files: list[tuple[Path, str]] = []
    for index, task in enumerate(tasks):
        section, task_files = task_section(session, settings, task, media=f"tasks/{index}/data/")
        sections.append(section)
        files.extend(task_files)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "kind": "project",
        "project": {
            "name": project.name,
            "bug_tracker": project.bug_tracker,
            "assignee": usernames(session, [project.assignee_id]).get(project.assignee_id),
        },
        "labels": label_section(session, project_id=project.id, task_id=None),
        "tasks": sections,
    }
    session.commit()
    _write(target, manifest, files, progress)
