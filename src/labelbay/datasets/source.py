"""A ``DatasetSource`` read from the database: a task, a job's frames, or a project.

Annotations are read in windows of ``WINDOW`` frames (one ``storage.load`` per window), so an
export holds at most one window of shapes in memory whatever the size of the task. Tracks are
read the same way, by the window their first frame falls in.

Every frame carries its task's subset (``task.subset``, ``"default"`` when empty).

A project is exported as one combined source: its tasks one after the other, ordered by
(subset, task id) so that the frames of one subset come together (exporters write a subset's
files from one run: ``model.subset_runs``), frames renumbered consecutively (task after task),
the project's labels. Frame names stay the tasks' own file names, so formats that key images
by name see them as they are in the tasks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from labelbay.annotations import storage
from labelbay.annotations.storage import Objects, Row
from labelbay.config import Settings
from labelbay.datasets.model import (
    AttributeSpec,
    FrameInfo,
    LabelSpec,
    Shape,
    Tag,
    Track,
    TrackShape,
)
from labelbay.jobs.models import Job
from labelbay.labels.models import AttributeSpec as AttributeRow
from labelbay.labels.models import Label
from labelbay.media import delivery
from labelbay.media.models import Frame, TaskData
from labelbay.projects.models import Project
from labelbay.tasks.models import Task

WINDOW = 1000
"""Frames per annotation query."""


@dataclass(slots=True)
class LabelIndex:
    """Labels of a task or project by id, with attribute names by spec id."""

    specs: list[LabelSpec]
    names: dict[int, str]
    attributes: dict[int, str]

    def attrs(self, values: list[dict[str, Any]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for value in values:
            name = self.attributes.get(value.get("spec_id", -1))
            if name is not None:
                out[name] = str(value.get("value", ""))
        return out


def label_index(session: Session, *, project_id: int | None, task_id: int | None) -> LabelIndex:
    owner = Label.project_id == project_id if project_id is not None else Label.task_id == task_id
    labels = list(session.scalars(select(Label).where(owner).order_by(Label.id)))
    ids = [label.id for label in labels]
    by_label: dict[int, list[AttributeRow]] = {}
    if ids:
        for spec in session.scalars(
            select(AttributeRow).where(AttributeRow.label_id.in_(ids)).order_by(AttributeRow.id)
        ):
            by_label.setdefault(spec.label_id, []).append(spec)

    def spec_of(label: Label, subs: Sequence[Label]) -> LabelSpec:
        return LabelSpec(
            name=label.name,
            color=label.color,
            type=label.type,
            attributes=tuple(
                AttributeSpec(
                    name=a.name,
                    input_type=a.input_type,
                    values=tuple(str(v) for v in a.values or ()),
                    mutable=a.mutable,
                    default_value=a.default_value,
                )
                for a in by_label.get(label.id, ())
            ),
            sublabels=tuple(spec_of(sub, ()) for sub in subs),
        )

    children: dict[int, list[Label]] = {}
    for label in labels:
        if label.parent_id is not None:
            children.setdefault(label.parent_id, []).append(label)
    specs = [spec_of(label, children.get(label.id, [])) for label in labels if not label.parent_id]
    return LabelIndex(
        specs=specs,
        names={label.id: label.name for label in labels},
        attributes={a.id: a.name for specs_ in by_label.values() for a in specs_},
    )


def task_subset(task: Task) -> str:
    """The subset a task's frames are in: its own, or ``"default"``."""
    return task.subset or "default"


def _flag(value: Any) -> bool:
    return bool(value)


@dataclass
class TaskSource:
    """One task, or the frames ``lo``-``hi`` of it (a job)."""

    session: Session
    settings: Settings
    task: Task
    lo: int | None = None
    hi: int | None = None
    labels_index: LabelIndex | None = None
    offset: int = 0
    """Added to every frame number (a project's combined numbering)."""
    on_window: Callable[[int, int], None] | None = None
    """Called with (frames done, frames in all) after each window (progress)."""
    name: str = field(init=False)
    subset: str = field(init=False)
    labels: Sequence[LabelSpec] = field(init=False)
    frames: Sequence[FrameInfo] = field(init=False)
    _data: TaskData | None = field(init=False, default=None)
    _rows: dict[int, Frame] = field(init=False, default_factory=dict)
    _prefixes: dict[int, str] = field(init=False, default_factory=dict)
    """Folder prefixed to a frame's name (by source frame number) where another task of the
    project already has a frame of that name in the subset."""

    def __post_init__(self) -> None:
        self.name = self.task.name
        self.subset = task_subset(self.task)
        if self.labels_index is None:
            self.labels_index = label_index(
                self.session, project_id=self.task.project_id,
                task_id=None if self.task.project_id is not None else self.task.id,
            )  # fmt: skip
        self.labels = self.labels_index.specs
        frames: list[FrameInfo] = []
        if self.task.data_id is not None:
            self._data = self.session.get_one(TaskData, self.task.data_id)
            stmt = select(Frame.frame, Frame.name, Frame.width, Frame.height).where(
                Frame.data_id == self._data.id
            )
            if self.lo is not None and self.hi is not None:
                stmt = stmt.where(Frame.frame.between(self.lo, self.hi))
            for number, name, width, height in self.session.execute(stmt.order_by(Frame.frame)):
                frames.append(FrameInfo(number + self.offset, name, width, height, self.subset))
        self.frames = frames

    def keep_names_unique(self, used: set[str]) -> None:
        """Renames each frame whose name is in ``used`` (frames of earlier tasks of the same
        subset) to ``task_<id>/<name>`` and adds the names to ``used``: two tasks of a
        project may both have ``frame_000000`` or ``img1.jpg``, and an export must not let
        one overwrite the other."""
        frames = []
        for info in self.frames:
            prefix = ""
            while prefix + info.name in used:
                prefix = f"task_{self.task.id}/{prefix}"
            if prefix:
                self._prefixes[info.number] = prefix
                info = dataclasses.replace(info, name=prefix + info.name)
            used.add(info.name)
            frames.append(info)
        self.frames = frames

    @property
    def index(self) -> LabelIndex:
        assert self.labels_index is not None
        return self.labels_index

    def _windows(self) -> Iterator[tuple[int, int]]:
        if not self.frames:
            return
        first = self.frames[0].number - self.offset
        last = self.frames[-1].number - self.offset
        for low in range(first, last + 1, WINDOW):
            yield low, min(low + WINDOW - 1, last)

    def _load(self, low: int, high: int, kinds: tuple[str, ...]) -> Objects:
        def where(t: Any) -> Any:
            return and_(t.c.frame.between(low, high), t.c.kind.in_(kinds))

        return storage.load(self.session, self.task.id, where)

    # -- rows as model objects -----------------------------------------------------------------

    def _shape(self, row: Row, elements: Sequence[Row]) -> Shape:
        (_id, _parent, _kind, frame, label_id, group, source, shape_type, occluded, outside,
         z_order, rotation, _score, points, attributes) = row  # fmt: skip
        return Shape(
            type=shape_type,
            frame=frame + self.offset,
            label=self.index.names.get(label_id, ""),
            points=points,
            rotation=rotation or 0.0,
            occluded=_flag(occluded),
            outside=_flag(outside),
            z_order=z_order or 0,
            attributes=self.index.attrs(attributes),
            group=group or 0,
            source=source or "manual",
            elements=[self._shape(element, ()) for element in elements],
        )

    def _track_shapes(self, rows: Sequence[Row]) -> list[TrackShape]:
        out = []
        for row in rows:
            (_id, _track, frame, shape_type, occluded, outside, z_order, rotation, points,
             attributes) = row  # fmt: skip
            out.append(
                TrackShape(
                    frame=frame + self.offset,
                    type=shape_type,
                    points=points,
                    rotation=rotation or 0.0,
                    occluded=_flag(occluded),
                    outside=_flag(outside),
                    keyframe=True,
                    z_order=z_order or 0,
                    attributes=self.index.attrs(attributes),
                )
            )
        return out

    def _track(self, row: Row, objects: Objects, *, element: bool) -> Track:
        _id, _parent, _kind, frame, label_id, group, source, *_rest, attributes = row
        return Track(
            label=self.index.names.get(label_id, ""),
            frame=frame + self.offset,
            shapes=self._track_shapes(objects.keyframes.get(row[0], ())),
            attributes=self.index.attrs(attributes),
            group=group or 0,
            source=source or "manual",
            elements=[]
            if element
            else [
                self._track(sub, objects, element=True) for sub in objects.elements.get(row[0], ())
            ],
        )

    # -- the protocol --------------------------------------------------------------------------

    def frame_annotations(self) -> Iterator[tuple[FrameInfo, list[Shape], list[Tag]]]:
        at = 0
        for low, high in self._windows():
            objects = self._load(low, high, ("tag", "shape"))
            shapes: dict[int, list[Shape]] = {}
            tags: dict[int, list[Tag]] = {}
            for row in objects.tops:
                frame = row[3] + self.offset
                if row[2] == "shape":
                    shapes.setdefault(frame, []).append(
                        self._shape(row, objects.elements.get(row[0], ()))
                    )
                else:
                    tags.setdefault(frame, []).append(
                        Tag(
                            frame=frame,
                            label=self.index.names.get(row[4], ""),
                            attributes=self.index.attrs(row[14]),
                            group=row[5] or 0,
                            source=row[6] or "manual",
                        )
                    )
            del objects
            while at < len(self.frames) and self.frames[at].number - self.offset <= high:
                info = self.frames[at]
                yield info, shapes.pop(info.number, []), tags.pop(info.number, [])
                at += 1
            if self.on_window is not None:
                self.on_window(at, len(self.frames))

    def tracks(self) -> Iterator[Track]:
        for low, high in self._windows():
            objects = self._load(low, high, ("track",))
            for row in objects.tops:
                yield self._track(row, objects, element=False)

    def image(self, frame: FrameInfo) -> tuple[str, bytes] | None:
        if self._data is None:
            return None
        number = frame.number - self.offset
        row = self._rows.get(number) or self.session.get(Frame, (self._data.id, number))
        if row is None:
            return None
        prefix = self._prefixes.get(frame.number, "")
        if not delivery.is_video(self._data):
            path = delivery.raw_path(self.settings, self._data, row)
            return prefix + row.name, path.read_bytes()
        settings, cache = delivery.runtime()
        entry, _status = delivery.Artifacts(settings, cache, self._data).original_video_frame(row)
        return f"{prefix}frame_{number:06d}.png", entry.path.read_bytes()


@dataclass
class ProjectSource:
    """A project's tasks as one source, by (subset, task id): frames numbered on from task to
    task, the frames of each subset together. ``subset`` is the first frame's."""

    session: Session
    settings: Settings
    project: Project
    on_window: Callable[[int, int], None] | None = None
    name: str = field(init=False)
    subset: str = "default"
    labels: Sequence[LabelSpec] = field(init=False)
    frames: Sequence[FrameInfo] = field(init=False)
    parts: list[TaskSource] = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.project.name
        index = label_index(self.session, project_id=self.project.id, task_id=None)
        self.labels = index.specs
        self.parts = []
        offset = 0
        tasks = sorted(
            self.session.scalars(select(Task).where(Task.project_id == self.project.id)),
            key=lambda task: (task_subset(task), task.id),
        )
        names: dict[str, set[str]] = {}
        for task in tasks:
            part = TaskSource(self.session, self.settings, task, labels_index=index, offset=offset)
            part.keep_names_unique(names.setdefault(part.subset, set()))
            self.parts.append(part)
            if part.frames:
                offset = part.frames[-1].number + 1
        self.frames = [info for part in self.parts for info in part.frames]
        self.subset = self.frames[0].subset if self.frames else "default"

    def frame_annotations(self) -> Iterator[tuple[FrameInfo, list[Shape], list[Tag]]]:
        done = 0
        for part in self.parts:
            for item in part.frame_annotations():
                done += 1
                if self.on_window is not None and done % WINDOW == 0:
                    self.on_window(done, len(self.frames))
                yield item

    def tracks(self) -> Iterator[Track]:
        for part in self.parts:
            if not part.frames:
                continue
            end = part.frames[-1].number
            for track in part.tracks():
                track.last_frame = end  # the next task's frames are not this track's
                yield track

    def image(self, frame: FrameInfo) -> tuple[str, bytes] | None:
        for part in self.parts:
            if part.frames and part.frames[0].number <= frame.number <= part.frames[-1].number:
                return part.image(frame)
        return None


def task_source(session: Session, settings: Settings, task: Task, **kw: Any) -> TaskSource:
    return TaskSource(session, settings, task, **kw)


def job_source(session: Session, settings: Settings, job: Job, **kw: Any) -> TaskSource:
    task = session.get_one(Task, job.task_id)
    return TaskSource(session, settings, task, lo=job.start_frame, hi=job.stop_frame, **kw)
