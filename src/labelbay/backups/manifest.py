"""The backup archive: ``manifest.json`` plus the original media files.

Layout of a task backup::

    manifest.json        {"format": "labelbay-backup", "version": 1, "kind": "task",
                          "labels": [...], "task": {...}}
    data/<frame path>    every stored image as uploaded (or the one video file)

A project backup has ``"kind": "project"``, a ``"project"`` object, the project's labels, and
``"tasks": [...]``; the media of task ``i`` sit under ``tasks/<i>/data/``.

Labels, sublabels and attributes are named, never numbered: annotations refer to them by
name (``"label": "car"``, attributes as ``{"name", "value"}``) so that a restore maps them onto
the new ids.

People are named too: the project's, the task's and each job's ``"assignee"`` is a username
(or null). A restore assigns the user of that name when the server has one, and leaves the
assignee empty when it has not (a backup moved to another server keeps its work, not its
people). The owner of what a restore makes is always the user who restores it.

Media: every Labelbay task owns its media (they are uploaded, never linked from a cloud
storage), so a backup always holds them, and CVAT's ``lightweight`` export flag (leave out
cloud-storage media) changes nothing.

The ``assignee`` fields are optional: archives written before they existed still restore,
and a server that does not know them ignores them.
"""

from __future__ import annotations

import json
import zipfile
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labelbay.errors import Invalid

FORMAT = "labelbay-backup"
VERSION = 1
MANIFEST = "manifest.json"


class BackupInvalid(Invalid):
    """The archive cannot be restored; the message names the archive member at fault."""

    code = "bad_backup"


# -- reading ------------------------------------------------------------------------------


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AttributeIn(_Loose):
    name: str
    mutable: bool = False
    input_type: str
    default_value: str | None = None
    values: list[str] = Field(default_factory=list)


class SublabelIn(_Loose):
    name: str
    color: str | None = None
    type: str = "points"
    attributes: list[AttributeIn] = Field(default_factory=list)


class LabelIn(_Loose):
    name: str
    color: str | None = None
    type: str = "any"
    svg: str = ""
    attributes: list[AttributeIn] = Field(default_factory=list)
    sublabels: list[SublabelIn] = Field(default_factory=list)


class FrameIn(_Loose):
    name: str
    path: str
    width: int
    height: int


class DataIn(_Loose):
    media_type: Literal["image", "video"]
    chunk_size: int = Field(ge=1)
    image_quality: int = Field(ge=1, le=100)
    sorting_method: str = "lexicographical"
    start_frame: int = Field(default=0, ge=0)
    stop_frame: int = Field(default=0, ge=0)
    frame_step: int = Field(default=1, ge=1)
    deleted_frames: list[int] = Field(default_factory=list)
    frames: list[FrameIn] = Field(min_length=1)


class JobIn(_Loose):
    start_frame: int
    stop_frame: int
    stage: Literal["annotation", "validation", "acceptance"] = "annotation"
    state: Literal["new", "in progress", "completed", "rejected"] = "new"
    assignee: str | None = None  # a username


class TaskIn(_Loose):
    name: str = Field(min_length=1, max_length=256)
    bug_tracker: str = ""
    subset: str = ""
    assignee: str | None = None  # a username
    segment_size: int = Field(default=0, ge=0)
    overlap: int | None = Field(default=None, ge=0)
    data: DataIn | None = None
    jobs: list[JobIn] = Field(default_factory=list)
    annotations: dict[str, Any] = Field(default_factory=dict)
    # Where this task's media sit in the archive ("data/" or "tasks/<i>/data/").
    media: str = "data/"


class ProjectIn(_Loose):
    name: str = Field(min_length=1, max_length=256)
    bug_tracker: str = ""
    assignee: str | None = None  # a username


class TaskBackup(_Loose):
    format: Literal["labelbay-backup"]
    version: int
    kind: Literal["task"]
    labels: list[LabelIn] = Field(default_factory=list)
    task: TaskIn


class ProjectBackup(_Loose):
    format: Literal["labelbay-backup"]
    version: int
    kind: Literal["project"]
    labels: list[LabelIn] = Field(default_factory=list)
    project: ProjectIn
    tasks: list[TaskIn] = Field(default_factory=list)


def describe_validation(exc: ValidationError, where: str) -> str:
    """The first problem of a pydantic error as ``<where>: <field path>: <problem>``."""
    first = exc.errors()[0]
    path = ".".join(str(part) for part in first["loc"])
    return f"{where}: {path}: {first['msg']}" if path else f"{where}: {first['msg']}"


def read_manifest(archive: zipfile.ZipFile, kind: str) -> TaskBackup | ProjectBackup:
    """The parsed manifest of an open archive; BackupInvalid naming ``manifest.json``."""
    try:
        raw = archive.read(MANIFEST)
    except KeyError as exc:
        raise BackupInvalid(f"{MANIFEST}: missing from the archive; is this a backup?") from exc
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise BackupInvalid(f"{MANIFEST}: damaged in the archive ({exc})") from exc
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupInvalid(f"{MANIFEST}: not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise BackupInvalid(f"{MANIFEST}: expected a JSON object")
    if value.get("format") != FORMAT:
        raise BackupInvalid(f"{MANIFEST}: format: not a Labelbay backup")
    if value.get("kind") != kind:
        raise BackupInvalid(
            f"{MANIFEST}: kind: this is a {value.get('kind')} backup, not a {kind} backup"
        )
    if not isinstance(value.get("version"), int) or value["version"] > VERSION:
        raise BackupInvalid(
            f"{MANIFEST}: version: {value.get('version')!r} is not supported (up to {VERSION})"
        )
    model = TaskBackup if kind == "task" else ProjectBackup
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise BackupInvalid(describe_validation(exc, MANIFEST)) from exc


def media_members(task: TaskIn) -> list[tuple[str, str]]:
    """``(archive member, stored file path)`` of every media file of a task, in frame order."""
    if task.data is None:
        return []
    if task.data.media_type == "video":
        return [(task.media + task.data.frames[0].path, task.data.frames[0].path)]
    seen: dict[str, None] = {}
    for frame in task.data.frames:
        seen.setdefault(frame.path, None)
    return [(task.media + path, path) for path in seen]
