"""The neutral annotation model that every dataset format reads and writes.

Formats know labels and attributes by name and frames by file name; the database knows ids.
This model sits between them: names for labels and attributes, task frame numbers and file
names for frames, geometry exactly as the API stores it (float points, rotation in degrees,
an ellipse as ``[cx, cy, cx + rx, cy - ry]``). See docs/datasets.md.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    name: str
    input_type: str  # select, radio, checkbox, number, text
    values: tuple[str, ...] = ()
    mutable: bool = False
    default_value: str = ""


@dataclass(frozen=True, slots=True)
class LabelSpec:
    name: str
    color: str = ""
    type: str = "any"
    attributes: tuple[AttributeSpec, ...] = ()
    sublabels: tuple[LabelSpec, ...] = ()

    def attribute(self, name: str) -> AttributeSpec | None:
        return next((a for a in self.attributes if a.name == name), None)


@dataclass(frozen=True, slots=True)
class FrameInfo:
    number: int
    """The task frame number."""
    name: str
    """The frame's file name (its path inside the task, as the data meta lists it)."""
    width: int
    height: int
    subset: str = "default"
    """The subset of the frame's task (``task.subset`` or ``"default"``). A source gives the
    frames of one subset one after another, so exporters can group them as they stream
    (:func:`subset_runs`)."""


def subset_runs(
    items: Iterable[_T], frame: Callable[[_T], FrameInfo]
) -> Iterator[tuple[str, Iterator[_T]]]:
    """``items`` (frames, or ``frame_annotations()`` tuples) split into runs of one subset:
    ``(subset, items of it)``, in order. Each run must be consumed before the next."""
    yield from itertools.groupby(items, key=lambda item: frame(item).subset)


@dataclass(slots=True)
class Shape:
    type: str
    frame: int
    label: str
    points: list[float]
    rotation: float = 0.0
    occluded: bool = False
    outside: bool = False
    z_order: int = 0
    attributes: dict[str, str] = field(default_factory=dict)
    group: int = 0
    source: str = "manual"
    elements: list[Shape] = field(default_factory=list)


@dataclass(slots=True)
class Tag:
    frame: int
    label: str
    attributes: dict[str, str] = field(default_factory=dict)
    group: int = 0
    source: str = "manual"


@dataclass(slots=True)
class TrackShape:
    frame: int
    type: str
    points: list[float]
    rotation: float = 0.0
    occluded: bool = False
    outside: bool = False
    keyframe: bool = True
    z_order: int = 0
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Track:
    label: str
    frame: int
    shapes: list[TrackShape]
    attributes: dict[str, str] = field(default_factory=dict)
    group: int = 0
    source: str = "manual"
    elements: list[Track] = field(default_factory=list)
    last_frame: int | None = None
    """The last frame the track can be on: the end of its task where a source numbers the
    frames of several tasks on one after another (a project); ``None``: the end of the data."""


class DatasetSource(Protocol):
    """What an exporter reads: one task, job or project subset, frame by frame."""

    name: str
    """The task's (or project's) name."""
    subset: str
    """The subset of the first frame ("default" unless the task says otherwise); a project's
    frames may belong to several: see ``FrameInfo.subset``."""
    labels: Sequence[LabelSpec]
    frames: Sequence[FrameInfo]

    def frame_annotations(self) -> Iterator[tuple[FrameInfo, list[Shape], list[Tag]]]:
        """Every frame in order with its shapes and tags (not the shapes of tracks)."""
        ...

    def tracks(self) -> Iterator[Track]: ...

    def image(self, frame: FrameInfo) -> tuple[str, bytes] | None:
        """The frame's original file (name with extension, bytes), for exports with images;
        ``None`` when it has none (a video frame is given as PNG)."""
        ...


@dataclass(slots=True)
class ImportedDataset:
    """What an importer read. Frames are named by file name (``frame_name``) or number."""

    shapes: list[Shape] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)
    tracks: list[Track] = field(default_factory=list)
    labels: list[LabelSpec] = field(default_factory=list)
    """Labels the file declares (for creating a project from a dataset)."""
    frame_names: dict[int, str] = field(default_factory=dict)
    """Frame number in the file -> the file name the file gives it, where it names frames
    (``apply`` maps these names onto the task's frames; numbers are used as they are when
    this is empty)."""
    frame_subsets: dict[int, str] = field(default_factory=dict)
    """Frame number in the file -> the subset the file puts it in, where the format has
    subsets (a project import makes one task per subset; a task import ignores them)."""
