"""Queue actors of dataset export and annotation import.

``datasets.export`` streams the zip into ``<data>/exports/<rq_id>/<download name>.zip`` (written
as ``.part`` and renamed when complete) and finishes the operation with that file as its
result. Before it starts it sweeps ``<data>/exports``: the folders of operations that have
expired (or are gone) are removed, so results live as long as their request
(``LABELBAY_REQUEST_TTL_HOURS``) plus at most the time until the next export.

``datasets.import`` reads the uploaded file (moved to ``<data>/imports/<rq_id>/`` by the route)
with the format's importer and applies it in the actor's one transaction; a failure rolls that
back, marks the operation failed with the message, and the file is removed either way.

Both take ``conv_mask_to_poly`` (CVAT's query parameter of the finishing request; true unless
the request says otherwise, as in CVAT): imported masks are written as polygons
(``apply``).

``datasets.import_project`` (``POST /api/projects/{id}/dataset/``, spec 8.4) makes new tasks in
the project from a dataset archive with images, one per subset of the dataset
(``split_subsets``): a task's frames are its subset's images (ingested like an upload), then
its subset's annotations are applied. Tasks are called after the file: ``<file stem>`` when
the dataset has one subset, else ``<file stem>_<subset>``, with ``task.subset`` set. All in
one transaction: a failure in any subset rolls every task back and removes the media they had
stored. Once committed, each task's frames and chunks are pre-generated in the background, as
after a data upload (``media.prepare_data``).
"""

from __future__ import annotations

import logging
import re
import shutil
import zipfile
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelbay.config import Settings, get_settings
from labelbay.datasets import registry
from labelbay.datasets.apply import apply, stem
from labelbay.datasets.model import ImportedDataset, Shape, Tag, Track
from labelbay.datasets.source import ProjectSource, TaskSource
from labelbay.db import utcnow
from labelbay.errors import AppError, Invalid
from labelbay.jobs.models import Job
from labelbay.media.models import Frame
from labelbay.operations import service as operations
from labelbay.operations.models import Operation
from labelbay.projects.models import Project
from labelbay.tasks.models import Task
from labelbay.users.models import User
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
    conv_mask_to_poly: bool = True,
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
        count = apply(
            session, task, data, job=job, mode=import_mode, conv_mask_to_poly=conv_mask_to_poly
        )
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


@dataclass(slots=True)
class SubsetPart:
    """What one new task of a project import gets: a subset's images and annotations."""

    subset: str
    images: list[zipfile.ZipInfo]
    data: ImportedDataset
    names: dict[str, str] = field(default_factory=dict)
    """Archive member -> the frame name its image gets: the tail of its path that an
    annotation frame names (``task_7/x.png`` stays a folder apart from ``x.png``), else its
    base name."""


MASK_FOLDERS = frozenset({"SegmentationClass", "SegmentationObject"})
"""Folders of the VOC family whose PNGs are annotations (masks), not frames."""


def _archive_images(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [
        info
        for info in archive.infolist()
        if not info.is_dir() and info.filename.lower().endswith(IMAGE_SUFFIXES)
    ]


def _member(info: zipfile.ZipInfo) -> str:
    return info.filename.replace("\\", "/").lstrip("/")


def _relative(name: str) -> bool:
    """Whether ``name`` is a plain relative path (no empty, ``.`` or ``..`` parts, no drive):
    safe to write below a folder."""
    parts = name.split("/")
    return ":" not in parts[0] and all(part not in ("", ".", "..") for part in parts)


def _folder_subset(member: str, subsets: Collection[str]) -> str | None:
    """The subset whose folder holds ``member`` (``images/<subset>/``, YOLO's
    ``obj_<subset>_data/``), innermost folder first."""
    for folder in reversed(member.split("/")[:-1]):
        for subset in subsets:
            if folder in (subset, f"obj_{subset}_data"):
                return subset
    return None


def split_subsets(
    data: ImportedDataset, images: list[zipfile.ZipInfo], shown: str
) -> list[SubsetPart]:
    """The dataset cut into one part per subset, in the order the file first names them.

    An image goes to the subset of the annotation frame that names it (its path, or a tail of
    its path, equal to the frame's name; else the same stem, as ``apply`` matches names); an
    image no frame names goes to the subset whose folder it sits in, else to ``"default"``;
    images under ``MASK_FOLDERS`` are annotations, not frames, and are left out.
    Annotations go with their frame's subset (``frame_subsets``; ``"default"`` when the file
    has none). A subset with annotations but no images is an error; one with neither is
    left out."""
    subset_of = data.frame_subsets
    order = list(dict.fromkeys(subset_of[n] for n in sorted(subset_of)))
    by_name: dict[str, set[str]] = {}
    by_stem: dict[str, set[str]] = {}
    for number, name in data.frame_names.items():
        subset = subset_of.get(number, "default")
        clean = name.replace("\\", "/").lstrip("/")
        by_name.setdefault(clean, set()).add(subset)
        by_stem.setdefault(stem(clean), set()).add(subset)
    placed: dict[str, list[zipfile.ZipInfo]] = {}
    names: dict[str, str] = {}
    for info in images:
        member = _member(info)
        parts = member.split("/")
        if not MASK_FOLDERS.isdisjoint(parts[:-1]):
            continue
        tails = ("/".join(parts[i:]) for i in range(len(parts)))
        tail = next((t for t in tails if t in by_name), None)
        names[member] = tail if tail is not None and _relative(tail) else parts[-1]
        found = by_name[tail] if tail is not None else by_stem.get(stem(member))
        if found is not None and len(found) == 1:
            subset = next(iter(found))
        elif found:
            folder = _folder_subset(member, found)
            if folder is None:
                raise Invalid(
                    f"{shown}: image {member!r} matches frames of the subsets "
                    f"{', '.join(sorted(found))}: put it in a folder named after its subset",
                    file=shown,
                )
            subset = folder
        else:
            subset = _folder_subset(member, order) or "default"
        placed.setdefault(subset, []).append(info)

    shapes: dict[str, list[Shape]] = {}
    tags: dict[str, list[Tag]] = {}
    tracks: dict[str, list[Track]] = {}
    for shape in data.shapes:
        shapes.setdefault(subset_of.get(shape.frame, "default"), []).append(shape)
    for tag in data.tags:
        tags.setdefault(subset_of.get(tag.frame, "default"), []).append(tag)
    for track in data.tracks:
        tracks.setdefault(subset_of.get(track.frame, "default"), []).append(track)
    others = set(placed) | set(shapes) | set(tags) | set(tracks)
    order.extend(sorted(others - set(order)))
    out: list[SubsetPart] = []
    for subset in order:
        objects = len(shapes.get(subset, ())) + len(tags.get(subset, ()))
        objects += len(tracks.get(subset, ()))
        if subset not in placed:
            if objects:
                raise Invalid(
                    f"{shown}: subset {subset!r} has annotations, but the archive has no "
                    "images of it",
                    file=shown,
                )
            continue
        seen: dict[str, str] = {}
        for info in placed[subset]:
            member = _member(info)
            name = names[member]
            if name in seen:
                raise Invalid(
                    f"{shown}: {seen[name]!r} and {member!r} are both called {name!r} in "
                    f"subset {subset!r}; frame names must be unique",
                    file=shown,
                )
            seen[name] = member
        part = ImportedDataset(
            shapes=shapes.get(subset, []), tags=tags.get(subset, []),
            tracks=tracks.get(subset, []), labels=data.labels, frame_names=data.frame_names,
        )  # fmt: skip
        mine = {_member(info): names[_member(info)] for info in placed[subset]}
        out.append(SubsetPart(subset, placed[subset], part, mine))
    if not out:
        raise Invalid(f"{shown}: the archive has no images to make a task of", file=shown)
    return out


def _unpack(archive: zipfile.ZipFile, part: SubsetPart, files: Path) -> None:
    """Puts the part's images into an upload area's ``files/`` under their frame names
    (``SubsetPart.names``, plain relative paths): as files when all are base names, else in
    one stored zip (an upload names frames by their path inside an archive), as a client
    would send them."""
    files.mkdir(parents=True, exist_ok=True)
    named = [(info, part.names[_member(info)]) for info in part.images]
    if all("/" not in name for _, name in named):
        for info, name in named:
            with archive.open(info) as source, (files / name).open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
        return
    with zipfile.ZipFile(files / "frames.zip", "w", zipfile.ZIP_STORED, allowZip64=True) as out:
        for info, name in named:
            with archive.open(info) as source, out.open(name, "w", force_zip64=True) as sink:
                shutil.copyfileobj(source, sink, 1 << 20)


def task_name(stem_: str, subset: str, parts: int) -> str:
    """``<file stem>`` for a dataset of one subset, else ``<file stem>_<subset>``."""
    return (stem_ if parts == 1 else f"{stem_}_{subset}")[:256]


def _discard_media(settings: Settings, prefixes: list[str]) -> None:
    from labelbay.media import delivery, early

    storage = delivery.media_storage(settings)
    for prefix in prefixes:
        folder = storage.local_path(prefix)
        if folder is not None:
            early.forget_under(folder)
        storage.delete_prefix(prefix)


@actor("datasets.import_project")
def import_project_dataset(
    session: Session,
    *,
    project_id: int,
    owner_id: int,
    format: str,
    filename: str,
    operation_id: str,
    conv_mask_to_poly: bool = True,
) -> None:
    """A dataset with images into a project: one new task per subset of the dataset (named
    ``task_name``, ``task.subset`` set) with that subset's images as its frames and its
    annotations applied; all or nothing. The request's ``result_id`` is the first task."""
    from labelbay.media import service as media_service
    from labelbay.media.schemas import DataParams
    from labelbay.tasks import service as tasks_service
    from labelbay.tasks.schemas import TaskCreate
    from labelbay.uploads import service as uploads

    settings = get_settings()
    path = import_path(settings, operation_id, filename)
    # The images of each new task are staged in an area of their own, outside the route's
    # "project-dataset/<project id>" areas (which uploads sweeps when they look abandoned).
    areas = f"project-import/{operation_id}"
    stored: list[str] = []
    try:
        fmt = registry.importer(format)
        assert fmt.importer is not None
        project = session.get_one(Project, project_id)
        owner = session.get_one(User, owner_id)
        operations.update_progress(session, operation_id, 0.05)
        data = registry.read(fmt, path, {})  # new tasks: their images are in the archive
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise Invalid(f"{filename}: not a zip archive ({exc})", file=filename) from exc
        with archive:
            parts = split_subsets(data, _archive_images(archive), filename)
            del data
            # The last commit before anything is created: from here on one transaction.
            operations.update_progress(session, operation_id, 0.3)
            stem_ = Path(filename).stem or "dataset"
            made: list[Task] = []
            count = 0
            for i, part in enumerate(parts):
                area = uploads.area_dir(settings, f"{areas}/{i}")
                _unpack(archive, part, area / "files")
                try:
                    spec = TaskCreate(
                        name=task_name(stem_, part.subset, len(parts)), project_id=project.id,
                        subset=part.subset[:64],
                    )  # fmt: skip
                    task = tasks_service.create_task(session, spec, owner=owner)
                    stored.append(
                        media_service.ingest(session, settings, task, area, DataParams()).path
                    )
                    count += apply(session, task, part.data, conv_mask_to_poly=conv_mask_to_poly)
                except AppError as exc:
                    if len(parts) > 1:
                        exc.message = f"subset {part.subset!r}: {exc.message}"
                    raise
                made.append(task)
        media_service.queue_prepare(session, owner, made)
        listed = ", ".join(f"{t.name} ({t.id})" for t in made)
        operations.finish_operation(
            session, operation_id, ttl_hours=settings.request_ttl_hours, result_id=made[0].id,
            message=f"tasks {listed}: {count} annotations imported",
        )  # fmt: skip
        session.commit()
        log.info("project %s: tasks %s made from %s", project_id, listed, filename)
    except Exception as exc:
        session.rollback()
        _discard_media(settings, stored)
        message = exc.message if isinstance(exc, AppError) else f"{type(exc).__name__}: {exc}"
        if filename not in message:
            message = f"{filename}: {message}"
        operations.fail_operation(
            session, operation_id, message, ttl_hours=settings.request_ttl_hours
        )
        session.commit()
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
        uploads.discard_area(uploads.area_dir(settings, areas))


def _frame_sizes(session: Session, task: Task) -> dict[str, tuple[int, int]]:
    """The task's frames' sizes by file name (YOLO's coordinates are normalised)."""
    if task.data_id is None:
        return {}
    rows = session.execute(
        select(Frame.name, Frame.width, Frame.height).where(Frame.data_id == task.data_id)
    )
    return {name: (width, height) for name, width, height in rows}
