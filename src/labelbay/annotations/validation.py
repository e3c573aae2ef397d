"""Checks of an annotation payload that need the database: labels, attributes, frames, points.

Pydantic (``schemas.py``) has already checked the JSON types; what is left depends on the task.
Every error is an ``AnnotationInvalid`` whose ``field`` is the offending path, such as
``shapes[3].elements[1].label_id``, so that a client can point at it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelbay.annotations.errors import AnnotationInvalid
from labelbay.annotations.schemas import (
    AnnotationBase,
    AttributeValue,
    GeometryBase,
    LabeledDataWrite,
    ShapeWrite,
    TrackedShapeWrite,
    TrackWrite,
)
from labelbay.annotations.storage import FrameRange
from labelbay.labels import service as labels_service
from labelbay.media.models import TaskData
from labelbay.tasks.models import Task

# How many numbers each shape type takes, and how to say so when it gets another count.
_POINTS: Final[dict[str, tuple[Callable[[int], bool], str]]] = {
    "rectangle": (lambda n: n == 4, "4 numbers [x1, y1, x2, y2]"),
    "ellipse": (lambda n: n == 4, "4 numbers [cx, cy, cx+rx, cy-ry]"),
    "polygon": (lambda n: n >= 6 and n % 2 == 0, "an even count of at least 6 numbers"),
    "polyline": (lambda n: n >= 4 and n % 2 == 0, "an even count of at least 4 numbers"),
    "points": (lambda n: n >= 2 and n % 2 == 0, "an even count of at least 2 numbers"),
    "cuboid": (lambda n: n == 16, "16 numbers"),
    "mask": (lambda n: n >= 5, "run lengths and then [left, top, right, bottom]"),
    "skeleton": (lambda n: n == 0, "no points (they are its elements')"),
}


@dataclass(frozen=True, slots=True)
class LabelInfo:
    """What validation needs of a label (plain attributes: ORM ones are slow per shape)."""

    id: int
    parent_id: int | None
    type: str
    specs: frozenset[int]


@dataclass(slots=True)
class Checker:
    """Checks a payload against a task's labels and frames; errors name the field."""

    labels: dict[int, LabelInfo]
    size: int
    scope: FrameRange | None

    def frame(self, frame: int, path: str, *, scoped: bool = True) -> None:
        if frame >= self.size:
            if self.size == 0:
                raise AnnotationInvalid(path, "the task has no frames yet")
            raise AnnotationInvalid(
                path, f"frame {frame} is outside the task's frames 0-{self.size - 1}"
            )
        if scoped and self.scope is not None and not self.scope[0] <= frame <= self.scope[1]:
            low, high = self.scope
            raise AnnotationInvalid(path, f"frame {frame} is outside the job's frames {low}-{high}")

    def label(self, label_id: int, path: str, parent: LabelInfo | None) -> LabelInfo:
        label = self.labels.get(label_id)
        if label is None:
            raise AnnotationInvalid(path, f"label {label_id} is not a label of this task")
        if parent is None and label.parent_id is not None:
            raise AnnotationInvalid(
                path, f"label {label_id} is a skeleton point; use it in a skeleton's elements"
            )
        if parent is not None and label.parent_id != parent.id:
            raise AnnotationInvalid(
                path, f"label {label_id} is not a point of skeleton label {parent.id}"
            )
        return label

    def attributes(self, values: list[AttributeValue], label: LabelInfo, path: str) -> None:
        seen: set[int] = set()
        for i, value in enumerate(values):
            if value.spec_id not in label.specs:
                raise AnnotationInvalid(
                    f"{path}.attributes[{i}].spec_id",
                    f"attribute {value.spec_id} is not an attribute of label {label.id}",
                )
            if value.spec_id in seen:
                raise AnnotationInvalid(
                    f"{path}.attributes[{i}].spec_id", f"attribute {value.spec_id} is repeated"
                )
            seen.add(value.spec_id)

    def common(
        self, obj: AnnotationBase, path: str, *, frame: int, parent: LabelInfo | None = None
    ) -> LabelInfo:
        self.frame(frame, f"{path}.frame", scoped=parent is None)
        label = self.label(obj.label_id, f"{path}.label_id", parent)
        self.attributes(obj.attributes, label, path)
        return label

    def geometry(self, shape: GeometryBase, label: LabelInfo, path: str, *, element: bool) -> None:
        if element:
            if shape.type != "points":
                raise AnnotationInvalid(f"{path}.type", "skeleton elements are points")
        elif label.type == "skeleton" and shape.type != "skeleton":
            raise AnnotationInvalid(
                f"{path}.type", f"label {label.id} is a skeleton label; its shapes are skeletons"
            )
        elif label.type != "skeleton" and shape.type == "skeleton":
            raise AnnotationInvalid(f"{path}.type", f"label {label.id} is not a skeleton label")
        points = shape.points
        fits, needs = _POINTS[shape.type]
        if not fits(len(points)):
            raise AnnotationInvalid(
                f"{path}.points", f"a {shape.type} needs {needs}, not {len(points)} numbers"
            )
        if not all(map(math.isfinite, points)):
            raise AnnotationInvalid(f"{path}.points", "numbers must be finite")
        if shape.type == "mask" and (points[-4] > points[-2] or points[-3] > points[-1]):
            raise AnnotationInvalid(
                f"{path}.points", "the mask's box [left, top, right, bottom] is inverted"
            )

    def shape(self, shape: ShapeWrite, path: str) -> None:
        label = self.common(shape, path, frame=shape.frame)
        self.geometry(shape, label, path, element=False)
        if shape.type != "skeleton":
            if shape.elements:
                raise AnnotationInvalid(f"{path}.elements", "only skeletons have elements")
            return
        if not shape.elements:
            raise AnnotationInvalid(f"{path}.elements", "a skeleton needs at least one element")
        seen: set[int] = set()
        for j, element in enumerate(shape.elements):
            at = f"{path}.elements[{j}]"
            if element.frame is not None and element.frame != shape.frame:
                raise AnnotationInvalid(
                    f"{at}.frame", f"elements are on their skeleton's frame {shape.frame}"
                )
            self.element_label(element, seen, at)
            sublabel = self.common(element, at, frame=shape.frame, parent=label)
            self.geometry(element, sublabel, at, element=True)

    def element_label(self, element: AnnotationBase, seen: set[int], path: str) -> None:
        if element.label_id in seen:
            raise AnnotationInvalid(
                f"{path}.label_id", f"label {element.label_id} appears twice in this skeleton"
            )
        seen.add(element.label_id)

    def track(self, track: TrackWrite, path: str) -> None:
        label = self.common(track, path, frame=track.frame)
        self.keyframes(track.shapes, label, f"{path}.shapes", element=False)
        if label.type != "skeleton":
            if track.elements:
                raise AnnotationInvalid(f"{path}.elements", "only skeleton tracks have elements")
            return
        if not track.elements:
            raise AnnotationInvalid(f"{path}.elements", "a skeleton track needs elements")
        seen: set[int] = set()
        for j, element in enumerate(track.elements):
            at = f"{path}.elements[{j}]"
            self.element_label(element, seen, at)
            frame = track.frame if element.frame is None else element.frame
            sublabel = self.common(element, at, frame=frame, parent=label)
            self.keyframes(element.shapes, sublabel, f"{at}.shapes", element=True)

    def keyframes(
        self, shapes: list[TrackedShapeWrite], label: LabelInfo, path: str, *, element: bool
    ) -> None:
        if not shapes:
            raise AnnotationInvalid(path, "a track needs at least one shape")
        frames: set[int] = set()
        for k, shape in enumerate(shapes):
            at = f"{path}[{k}]"
            self.frame(shape.frame, f"{at}.frame", scoped=False)
            if shape.frame in frames:
                raise AnnotationInvalid(f"{at}.frame", f"the track has two shapes on {shape.frame}")
            frames.add(shape.frame)
            if shape.type != shapes[0].type:
                raise AnnotationInvalid(
                    f"{at}.type", f"a track keeps one type ({shapes[0].type}), not {shape.type}"
                )
            self.geometry(shape, label, at, element=element)
            self.attributes(shape.attributes, label, at)

    def check(self, data: LabeledDataWrite) -> None:
        for i, tag in enumerate(data.tags):
            self.common(tag, f"tags[{i}]", frame=tag.frame)
        for i, shape in enumerate(data.shapes):
            self.shape(shape, f"shapes[{i}]")
        for i, track in enumerate(data.tracks):
            self.track(track, f"tracks[{i}]")


def checker(session: Session, task: Task, scope: FrameRange | None) -> Checker:
    """A checker for ``task``'s labels (its project's, if it has one) and frames."""
    index = labels_service.label_index(session, project_id=task.project_id, task_id=task.id)
    labels = {
        label_id: LabelInfo(label.id, label.parent_id, label.type, frozenset(specs))
        for label_id, (label, specs) in index.items()
    }
    size = 0
    if task.data_id is not None:
        size = session.scalar(select(TaskData.size).where(TaskData.id == task.data_id)) or 0
    return Checker(labels=labels, size=size, scope=scope)


def check(session: Session, task: Task, data: LabeledDataWrite, scope: FrameRange | None) -> None:
    """Raises ``AnnotationInvalid`` naming the first wrong field of ``data``."""
    checker(session, task, scope).check(data)


def _listed(data: LabeledDataWrite) -> Iterator[tuple[str, str, AnnotationBase]]:
    """(kind, path, object) for every top-level object of a payload."""
    for kind, objects in (("tag", data.tags), ("shape", data.shapes), ("track", data.tracks)):
        for i, obj in enumerate(objects):
            yield kind, f"{kind}s[{i}]", obj


def ids_of(data: LabeledDataWrite, verb: str) -> dict[int, tuple[str, str]]:
    """{id: (kind, path)} of a payload whose objects must all carry an id."""
    found: dict[int, tuple[str, str]] = {}
    for kind, path, obj in _listed(data):
        if obj.id is None:
            raise AnnotationInvalid(f"{path}.id", f"an id is needed to {verb} a {kind}")
        if obj.id in found:
            raise AnnotationInvalid(f"{path}.id", f"{kind} {obj.id} is listed twice")
        found[obj.id] = (kind, path)
    return found
