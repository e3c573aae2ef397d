"""Upload areas: the files a client sends between Upload-Start and Upload-Finish.

Files arrive whole (multipart, ``Upload-Multiple``) or resumably (TUS); either way they end up
under ``<uploads>/<area>/files/<name>`` until the finishing request consumes them.

Areas that belong to a task, a job or a project (``OWNED_KINDS``) go when their owner is
deleted (``clear_owned``), and when they are abandoned: every Upload-Start removes those that
have not changed for ``LABELBAY_REQUEST_TTL_HOURS`` (``sweep_abandoned``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from labelbay.config import Settings
from labelbay.errors import Conflict, Forbidden, Invalid, TooLarge
from labelbay.jobs.models import Job
from labelbay.tasks.models import Task
from labelbay.uploads.errors import BadFileName, ChecksumMismatch, OffsetMismatch, UploadNotFound
from labelbay.uploads.models import Upload
from labelbay.users.models import User

COPY_CHUNK = 1024 * 1024

# Called with the path of each file as soon as it is complete in an area's ``files/``; it may
# check and move the file, and raises (after cleaning up) if the file is bad.
Receiver = Callable[[Path], None]
# Where receivers keep the files they accepted, inside the area; a name there is taken.
STAGED = "raw"
_DIGESTS = {"sha1": hashlib.sha1, "md5": hashlib.md5, "sha256": hashlib.sha256}


# Kinds of areas named "<kind>/<owner id>", owned by a task, a job or a project.
OWNED_KINDS = ("task-data", "task-annotations", "job-annotations", "project-dataset")


def task_data_area(task_id: int) -> str:
    """The area of a task's media upload."""
    return f"task-data/{task_id}"


def annotations_area(target: str, object_id: int) -> str:
    """The area of an annotation import into a ``"task"`` or a ``"job"``."""
    return f"{target}-annotations/{object_id}"


def project_dataset_area(project_id: int) -> str:
    """The area of a dataset import into a project."""
    return f"project-dataset/{project_id}"


def owned_areas(
    session: Session, *, task_id: int | None = None, project_id: int | None = None
) -> list[str]:
    """Every upload area of a task (its data, its annotations, its jobs' annotations) or of
    a project (its dataset import, and those of each of its tasks)."""
    areas: list[str] = []
    task_ids: list[int] = [] if task_id is None else [task_id]
    if project_id is not None:
        areas.append(project_dataset_area(project_id))
        task_ids += session.scalars(select(Task.id).where(Task.project_id == project_id))
    if not task_ids:
        return areas
    for one in task_ids:
        areas += [task_data_area(one), annotations_area("task", one)]
    job_ids = session.scalars(select(Job.id).where(Job.task_id.in_(task_ids)).order_by(Job.id))
    areas += [annotations_area("job", job_id) for job_id in job_ids]
    return areas


def clear_owned(
    session: Session, settings: Settings, *, task_id: int | None = None,
    project_id: int | None = None,
) -> None:  # fmt: skip
    """Clears the areas of ``owned_areas``: call it before the owner is deleted."""
    for area in owned_areas(session, task_id=task_id, project_id=project_id):
        clear(session, settings, area)


def area_dir(settings: Settings, area: str) -> Path:
    return settings.uploads_dir / area


def files_dir(settings: Settings, area: str) -> Path:
    return area_dir(settings, area) / "files"


def base_name(raw: str) -> str:
    """The base name of a client file name (clients send absolute local paths)."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in (".", "..") or "\x00" in name:
        raise BadFileName(raw, "is not a usable file name")
    if len(name.encode()) > 255:
        raise BadFileName(raw, "is longer than 255 bytes")
    return name


def start(session: Session, settings: Settings, area: str) -> None:
    """A fresh session: forgets files and partial uploads left from an earlier attempt (and
    the areas others abandoned)."""
    clear(session, settings, area)
    sweep_abandoned(session, settings)
    files_dir(settings, area).mkdir(parents=True, exist_ok=True)


def forget_stale(session: Session, settings: Settings, area: str) -> None:
    """For an area that several uploads share (a user's backup restores): removes the
    finished files and the partial uploads unchanged for the request TTL; others stay."""
    cutoff = time.time() - settings.request_ttl_hours * 3600
    folder = area_dir(settings, area)
    for part in ("files", "partial"):
        found = list((folder / part).iterdir()) if (folder / part).is_dir() else []
        for path in found:
            try:
                if path.stat().st_mtime >= cutoff:
                    continue
                path.unlink()
            except OSError:  # gone meanwhile
                continue
            if part == "partial":
                session.execute(delete(Upload).where(Upload.id == path.name, Upload.area == area))
    files_dir(settings, area).mkdir(parents=True, exist_ok=True)


def _last_change(folder: Path) -> float:
    """The newest modification time of a folder and of everything in it."""
    newest = folder.stat().st_mtime
    for path in folder.rglob("*"):
        try:
            newest = max(newest, path.stat().st_mtime)
        except OSError:  # removed meanwhile
            continue
    return newest


def sweep_abandoned(session: Session, settings: Settings) -> list[str]:
    """Clears the owned areas (``OWNED_KINDS``) in which nothing changed for the request
    TTL: uploads their client walked away from. Returns the areas cleared."""
    cutoff = time.time() - settings.request_ttl_hours * 3600
    swept = []
    for kind in OWNED_KINDS:
        parent = settings.uploads_dir / kind
        if not parent.is_dir():
            continue
        for folder in parent.iterdir():
            try:
                stale = _last_change(folder) < cutoff
            except OSError:
                continue
            if stale:
                area = f"{kind}/{folder.name}"
                clear(session, settings, area)
                swept.append(area)
    return swept


def on_clear(hook: Callable[[Path], None]) -> None:
    """``hook(area folder)`` runs before an upload area is removed (work still writing into
    it stops first)."""
    _clear_hooks.append(hook)


_clear_hooks: list[Callable[[Path], None]] = []


def discard_area(folder: Path) -> None:
    for hook in _clear_hooks:
        hook(folder)
    shutil.rmtree(folder, ignore_errors=True)


def clear(session: Session, settings: Settings, area: str) -> None:
    session.execute(delete(Upload).where(Upload.area == area))
    discard_area(area_dir(settings, area))


def _on_disk(settings: Settings, area: str, name: str) -> bool:
    folder = area_dir(settings, area)
    return (folder / "files" / name).exists() or (folder / STAGED / name).exists()


def _taken(session: Session, settings: Settings, area: str, name: str) -> bool:
    return _on_disk(settings, area, name) or name in pending_names(session, area)


def pending_names(session: Session, area: str) -> set[str]:
    """Names reserved by TUS uploads still in progress."""
    return set(session.scalars(select(Upload.filename).where(Upload.area == area)))


def save_files(
    session: Session,
    settings: Settings,
    area: str,
    files: list[tuple[str, BinaryIO]],
    *,
    receiver: Receiver | None = None,
) -> list[str]:
    """Stores multipart files in the area (and hands each to ``receiver``); returns their
    stored base names."""
    folder = files_dir(settings, area)
    folder.mkdir(parents=True, exist_ok=True)
    reserved = pending_names(session, area)
    saved = []
    for raw_name, source in files:
        name = base_name(raw_name)
        target = folder / name
        if name in reserved or _on_disk(settings, area, name):
            raise Conflict(f"{name}: a file with this name was already uploaded", file=name)
        with open(target, "wb") as out:
            shutil.copyfileobj(source, out, COPY_CHUNK)
        if receiver is not None:
            receiver(target)
        saved.append(name)
    return saved


def parse_metadata(header: str) -> dict[str, str]:
    """TUS ``Upload-Metadata``: comma-separated ``key base64value`` pairs."""
    out: dict[str, str] = {}
    for pair in header.split(","):
        key, _, value = pair.strip().partition(" ")
        if not key:
            continue
        try:
            out[key] = base64.b64decode(value.strip(), validate=True).decode() if value else ""
        except (ValueError, UnicodeDecodeError) as exc:
            raise Invalid(f"Upload-Metadata: the value of {key!r} is not base64") from exc
    return out


def create_tus(
    session: Session,
    settings: Settings,
    area: str,
    *,
    owner: User,
    length: int,
    filename: str,
    keep_name: bool,
) -> Upload:
    if length < 0:
        raise Invalid("Upload-Length: must not be negative", field="Upload-Length")
    name = base_name(filename)
    if length > settings.max_upload_bytes:
        raise TooLarge(
            f"{name}: {length} bytes is over the upload limit of {settings.max_upload_bytes}",
            file=name,
            headers={"Tus-Max-Size": str(settings.max_upload_bytes)},
        )
    upload_id = f"{owner.id}_{secrets.token_hex(16)}"
    stored = name if keep_name else f"{upload_id}_{name}"
    if _taken(session, settings, area, stored):
        raise Conflict(f"{name}: a file with this name was already uploaded", file=name)
    partial = area_dir(settings, area) / "partial"
    partial.mkdir(parents=True, exist_ok=True)
    (partial / upload_id).touch()
    upload = Upload(id=upload_id, area=area, owner_id=owner.id, filename=stored, length=length)
    session.add(upload)
    return upload


def get_upload(session: Session, upload_id: str, *, area: str, user: User) -> Upload:
    upload = session.get(Upload, upload_id)
    if upload is None or upload.area != area:
        raise UploadNotFound(upload_id)
    if upload.owner_id != user.id and not user.is_superuser:
        raise Forbidden("this upload belongs to another user")
    return upload


def _check_checksum(header: str | None, chunk: bytes, upload: Upload) -> None:
    if not header:
        return
    algorithm, _, value = header.strip().partition(" ")
    digest = _DIGESTS.get(algorithm.lower())
    if digest is None:
        raise Invalid(
            f"Upload-Checksum: unsupported algorithm {algorithm!r}; use one of "
            f"{', '.join(sorted(_DIGESTS))}",
            field="Upload-Checksum",
        )
    if base64.b64encode(digest(chunk).digest()).decode() != value.strip():
        raise ChecksumMismatch(upload.filename, upload.offset)


def write_chunk(
    session: Session,
    settings: Settings,
    upload: Upload,
    *,
    offset: int,
    chunk: bytes,
    checksum: str | None,
    receiver: Receiver | None = None,
) -> int:
    """Appends a TUS chunk; returns the new offset. A complete upload joins the area's files."""
    if offset != upload.offset:
        raise OffsetMismatch(upload.filename, upload.offset, offset)
    if upload.offset + len(chunk) > upload.length:
        raise TooLarge(
            f"{upload.filename}: the upload is longer than the {upload.length} bytes it "
            "declared in Upload-Length",
            file=upload.filename,
        )
    _check_checksum(checksum, chunk, upload)
    partial = area_dir(settings, upload.area) / "partial" / upload.id
    if not partial.exists():
        raise UploadNotFound(upload.id)
    with open(partial, "r+b") as out:
        out.seek(offset)
        out.write(chunk)
        out.truncate()
    upload.offset = offset + len(chunk)
    if upload.offset == upload.length:
        folder = files_dir(settings, upload.area)
        folder.mkdir(parents=True, exist_ok=True)
        os.replace(partial, folder / upload.filename)
        session.delete(upload)
        if receiver is not None:
            receiver(folder / upload.filename)
    return upload.offset
