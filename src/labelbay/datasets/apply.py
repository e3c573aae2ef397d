"""An ``ImportedDataset`` onto a task or a job: names to ids, checks, then the write.

Labels and attributes are matched by name (a skeleton's points among its sublabels); frames by
file name when the file names them (``frame_names``), else by number. A file name matches a
task frame whose name is the same, or failing that whose stem (no folders, no extension) is
the same, the way CVAT matches them. Anything that does not match is an ``Invalid`` naming
it; nothing is written until everything has been mapped, and the write itself goes through
the annotations layer (validation, storage) in the caller's transaction: all or nothing.

With ``conv_mask_to_poly`` (CVAT's import option, on by default in the API) every mask shape
becomes polygons, one per connected region of the mask (``datasets.masks``); a mask of
several regions gives polygons that share a group (the mask's own group if it has one, else a
new group number above every group in the file). Masks inside tracks are left as they are.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelbay.annotations import storage
from labelbay.annotations.schemas import LabeledDataWrite, ShapeWrite, TagWrite, TrackWrite
from labelbay.annotations.validation import checker
from labelbay.datasets import masks
from labelbay.datasets.model import ImportedDataset, Shape, Track, TrackShape
from labelbay.db import later_than
from labelbay.errors import Invalid
from labelbay.jobs.models import Job
from labelbay.labels.models import AttributeSpec, Label
from labelbay.media.models import Frame
from labelbay.tasks import service as tasks_service
from labelbay.tasks.models import Task

IMPORT_MODES = ("replace", "append")


def stem(name: str) -> str:
    base = posixpath.basename(name.replace("\\", "/"))
    root, _ext = posixpath.splitext(base)
    return root or base


class _Labels:
    def __init__(self, session: Session, task: Task) -> None:
        owner = (
            Label.project_id == task.project_id
            if task.project_id is not None
            else Label.task_id == task.id
        )
        rows = list(session.scalars(select(Label).where(owner).order_by(Label.id)))
        self.top: dict[str, int] = {}
        self.sub: dict[tuple[int, str], int] = {}
        for label in rows:
            if label.parent_id is None:
                self.top.setdefault(label.name, label.id)
            else:
                self.sub.setdefault((label.parent_id, label.name), label.id)
        self.names = {label.id: label.name for label in rows}
        self.attrs: dict[int, dict[str, int]] = {}
        if rows:
            for spec in session.scalars(
                select(AttributeSpec).where(AttributeSpec.label_id.in_(list(self.names)))
            ):
                self.attrs.setdefault(spec.label_id, {})[spec.name] = spec.id

    def label(self, name: str, where: str, parent: int | None = None) -> int:
        found = self.top.get(name) if parent is None else self.sub.get((parent, name))
        if found is None:
            owner = "" if parent is None else f" (a point of {self.names[parent]!r})"
            raise Invalid(
                f"{where}: label {name!r}{owner} is not in the task's labels "
                f"({', '.join(sorted(self.top)) or 'none'})",
                field="label",
                label=name,
            )
        return found

    def attributes(self, label_id: int, values: dict[str, str], where: str) -> list[dict[str, Any]]:
        specs = self.attrs.get(label_id, {})
        out = []
        for name, value in values.items():
            spec_id = specs.get(name)
            if spec_id is None:
                raise Invalid(
                    f"{where}: label {self.names[label_id]!r} has no attribute {name!r}",
                    field="attributes",
                    attribute=name,
                )
            out.append({"spec_id": spec_id, "value": str(value)})
        return out


class _Frames:
    """File frame numbers (and the names the file gives them) to task frame numbers."""

    def __init__(
        self, session: Session, task: Task, names: dict[int, str], lo: int, hi: int, what: str
    ) -> None:
        self.names, self.lo, self.hi, self.what = names, lo, hi, what
        self.by_name: dict[str, int] = {}
        self.by_stem: dict[str, int] = {}
        self.cache: dict[int, int] = {}
        if names and task.data_id is not None:
            rows = session.execute(
                select(Frame.frame, Frame.name).where(
                    Frame.data_id == task.data_id, Frame.frame.between(lo, hi)
                )
            )
            for number, name in rows:
                self.by_name.setdefault(name, number)
                self.by_stem.setdefault(stem(name), number)

    def __call__(self, number: int, where: str) -> int:
        known = self.cache.get(number)
        if known is not None:
            return known
        name = self.names.get(number)
        if name is not None:
            found = self.by_name.get(name)
            if found is None:
                found = self.by_stem.get(stem(name))
            if found is None:
                raise Invalid(
                    f"{where}: frame {name!r} is not a frame of this {self.what}",
                    field="frame",
                    frame=name,
                )
        else:
            found = number
            if not self.lo <= found <= self.hi:
                raise Invalid(
                    f"{where}: frame {number} is outside frames {self.lo}-{self.hi}",
                    field="frame",
                    frame=number,
                )
        self.cache[number] = found
        return found


def _geometry(shape: Shape | TrackShape) -> dict[str, Any]:
    return {
        "type": shape.type,
        "occluded": shape.occluded,
        "outside": shape.outside,
        "z_order": shape.z_order,
        "rotation": shape.rotation,
        "points": shape.points,
    }


class _MasksToPolygons:
    """Mask shapes as polygon shapes (other shapes pass through)."""

    def __init__(self, data: ImportedDataset) -> None:
        groups = [s.group for s in data.shapes] + [t.group for t in data.tracks]
        self.next_group = max(groups, default=0) + 1

    def __call__(self, shape: Shape, where: str) -> Sequence[Shape]:
        if shape.type != "mask":
            return (shape,)
        try:
            outlines = masks.polygons(shape.points)
        except masks.MaskError as exc:
            raise Invalid(f"{where}: {exc}", field="points") from exc
        group = shape.group
        if not group and len(outlines) > 1:
            group, self.next_group = self.next_group, self.next_group + 1
        polygons = []
        for points in outlines:
            polygons.append(Shape(
                type="polygon", frame=shape.frame, label=shape.label, points=points,
                occluded=shape.occluded, outside=shape.outside, z_order=shape.z_order,
                attributes=dict(shape.attributes), group=group, source=shape.source,
            ))  # fmt: skip
        return polygons


BATCH = 5000
"""Objects converted, checked and written at a time: a payload of 100k shapes as pydantic
models would take about 200 MB; a batch of them a hundredth of that."""


def batches(
    session: Session,
    task: Task,
    data: ImportedDataset,
    *,
    job: Job | None = None,
    conv_mask_to_poly: bool = False,
) -> Iterator[LabeledDataWrite]:
    """The dataset as ``LabeledData`` payloads of this task (or job), ``BATCH`` objects each;
    ``Invalid`` for any name or frame that does not match. Each imported object is dropped
    from ``data`` once converted, so the two are never both in memory whole. With
    ``conv_mask_to_poly`` masks come out as polygons (see the module's docstring)."""
    labels = _Labels(session, task)
    size = task_size(session, task)
    lo, hi = (job.start_frame, job.stop_frame) if job is not None else (0, max(size - 1, 0))
    frames = _Frames(session, task, data.frame_names, lo, hi, "job" if job else "task")
    if size == 0 and (data.shapes or data.tags or data.tracks):
        raise Invalid("the task has no frames yet: upload its data first", field="task")

    def payload(**objects: list[Any]) -> LabeledDataWrite:
        lists = {"tags": [], "shapes": [], "tracks": [], **objects}
        return LabeledDataWrite.model_construct(version=None, intervals=[], **lists)

    tags: list[TagWrite] = []
    for i, tag in enumerate(data.tags):
        where = f"tag {i + 1}"
        label_id = labels.label(tag.label, where)
        tags.append(TagWrite.model_validate({
            "frame": frames(tag.frame, where), "label_id": label_id, "group": tag.group,
            "source": tag.source, "attributes": labels.attributes(label_id, tag.attributes, where),
        }))  # fmt: skip
        if len(tags) == BATCH:
            yield payload(tags=tags)
            tags = []
    if tags:
        yield payload(tags=tags)
    data.tags = []
    shapes: list[ShapeWrite] = []
    as_polygons = _MasksToPolygons(data) if conv_mask_to_poly else None
    for i, imported in enumerate(data.shapes):
        on = data.frame_names.get(imported.frame, imported.frame)
        where = f"shape {i + 1} ({imported.type} on frame {on})"
        label_id = labels.label(imported.label, where)
        frame = frames(imported.frame, where)
        for shape in as_polygons(imported, where) if as_polygons else (imported,):
            shapes.append(_shape_write(shape, labels, label_id, frame, where))
        data.shapes[i] = None  # type: ignore[call-overload]
        if len(shapes) >= BATCH:
            yield payload(shapes=shapes)
            shapes = []
    if shapes:
        yield payload(shapes=shapes)
    data.shapes = []
    tracks: list[TrackWrite] = []
    for i, track in enumerate(data.tracks):
        tracks.append(
            TrackWrite.model_validate(_track(track, labels, frames, f"track {i + 1}", None))
        )
        data.tracks[i] = None  # type: ignore[call-overload]
        if len(tracks) == BATCH:
            yield payload(tracks=tracks)
            tracks = []
    if tracks:
        yield payload(tracks=tracks)
    data.tracks = []


def _shape_write(
    shape: Shape, labels: _Labels, label_id: int, frame: int, where: str
) -> ShapeWrite:
    elements = []
    for element in shape.elements:
        sub_id = labels.label(element.label, where, parent=label_id)
        elements.append({
            **_geometry(element), "frame": frame, "label_id": sub_id, "source": element.source,
            "attributes": labels.attributes(sub_id, element.attributes, where),
        })  # fmt: skip
    return ShapeWrite.model_validate({
        **_geometry(shape), "frame": frame, "label_id": label_id, "group": shape.group,
        "source": shape.source, "elements": elements,
        "attributes": labels.attributes(label_id, shape.attributes, where),
    })  # fmt: skip


def _track(
    track: Track, labels: _Labels, frames: _Frames, where: str, parent: int | None
) -> dict[str, Any]:
    label_id = labels.label(track.label, where, parent=parent)
    keyframes = [
        {
            **_geometry(shape),
            "frame": frames(shape.frame, where),
            "attributes": labels.attributes(label_id, shape.attributes, where),
        }
        for shape in track.shapes
    ]
    out: dict[str, Any] = {
        "frame": frames(track.frame, where),
        "label_id": label_id,
        "group": track.group,
        "source": track.source,
        "attributes": labels.attributes(label_id, track.attributes, where),
        "shapes": keyframes,
    }
    if parent is None:
        out["elements"] = [_track(sub, labels, frames, where, label_id) for sub in track.elements]
    return out


def task_size(session: Session, task: Task) -> int:
    if task.data_id is None:
        return 0
    from labelbay.media.models import TaskData

    return session.get_one(TaskData, task.data_id).size


def apply(
    session: Session,
    task: Task,
    data: ImportedDataset,
    *,
    job: Job | None = None,
    mode: str = "replace",
    conv_mask_to_poly: bool = False,
) -> int:
    """Writes the dataset into the task (or job) in the session's transaction; returns how
    many top-level objects were written. The caller commits (or rolls back on error).
    ``conv_mask_to_poly``: masks are written as polygons (the API's default is true; the
    actors pass what the request asked for)."""
    if mode not in IMPORT_MODES:
        raise Invalid(f"import_mode: use one of {', '.join(IMPORT_MODES)}", field="import_mode")
    scope = (job.start_frame, job.stop_frame) if job is not None else None
    # What annotations.service.replace_annotations / create_annotations do, batch by batch and
    # without building the LabeledData response they return (nobody reads it here). One
    # transaction: a bad object in any batch rolls back the purge and the earlier batches.
    check = checker(session, task, scope)
    if mode == "replace":
        storage.purge(session, task.id, storage.in_range(scope))
    count = 0
    for payload in batches(session, task, data, job=job, conv_mask_to_poly=conv_mask_to_poly):
        check.check(payload)
        storage.insert_objects(session, task.id, payload)
        count += len(payload.tags) + len(payload.shapes) + len(payload.tracks)
    _touch(session, task, job)
    return count


def _touch(session: Session, task: Task, job: Job | None) -> None:
    """Advances the task's annotations version and the dates clients cache datasets on (as
    the annotations service does for its writes)."""
    tasks_service.touch_task(session, task)
    task.annotations_version += 1
    jobs = [job] if job is not None else session.scalars(select(Job).where(Job.task_id == task.id))
    for each in jobs:
        each.updated_date = later_than(each.updated_date)
