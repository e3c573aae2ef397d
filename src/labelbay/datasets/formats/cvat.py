"""CVAT XML 1.1: the "CVAT for images 1.1" and "CVAT for video 1.1" exporters and the
"CVAT 1.1" importer (alias "CVAT XML 1.1"), which reads both layouts.

Layout of an export: ``annotations.xml`` at the root of the zip, and with ``save_images`` the
frames' original files under ``images/``.

* images: ``<image id name width height>`` per frame holding its shapes (``box``, ``polygon``,
  ``polyline``, ``points``, ``ellipse``, ``cuboid``, ``mask``, ``skeleton``) and ``tag``\\ s.
  Tracks are written as plain shapes on every frame where they are visible (interpolated
  between keyframes, see :func:`interpolate`); they carry no track id.
* video: ``<track id label>`` with one shape per frame (``frame``, ``keyframe``, ``outside``);
  a standalone shape becomes a two-keyframe track (visible on its frame, outside on the next),
  tags are ``<tag frame label>`` at the top level.

Coordinates are written with two decimals, as CVAT writes them.

This module also holds the track helpers the other formats use (:class:`TrackCursor`,
:func:`interpolate`) and :func:`open_annotation_file`.
"""

from __future__ import annotations

import bisect
import contextlib
import io
import math
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from labelbay.datasets.model import (
    AttributeSpec,
    DatasetSource,
    ImportedDataset,
    LabelSpec,
    Shape,
    Tag,
    Track,
    TrackShape,
)
from labelbay.datasets.registry import Format, register
from labelbay.errors import Invalid

# --------------------------------------------------------------------------------------------
# Shared helpers (also used by the COCO and Datumaro modules)
# --------------------------------------------------------------------------------------------

_LINEAR = {"rectangle", "ellipse", "points", "polygon", "polyline", "cuboid"}


def _lerp_angle(a: float, b: float, t: float) -> float:
    delta = ((b - a + 180.0) % 360.0) - 180.0
    return (a + delta * t) % 360.0


def interpolate(track: Track, frame: int) -> TrackShape | None:
    """The state of ``track`` on ``frame``: ``None`` before its first keyframe, otherwise a
    shape (``outside`` set where the track is hidden; ``keyframe`` set on keyframes).

    Between two keyframes of the same type the coordinates move linearly (rectangles,
    ellipses, cuboids, and points/polygons/polylines with the same number of points; the
    rotation along the shorter arc); otherwise the previous keyframe holds. After the last
    keyframe the track holds it. Attributes are those of the previous keyframe.
    """
    return Keyframes(track.shapes).at(frame)


class Keyframes:
    """A track's keyframes sorted once, for asking :meth:`at` frame after frame."""

    def __init__(self, shapes: Iterable[TrackShape]) -> None:
        self.keys = sorted(shapes, key=lambda s: s.frame)
        self.frames = [s.frame for s in self.keys]

    def at(self, frame: int) -> TrackShape | None:
        """See :func:`interpolate`."""
        return _state_at(self.keys, self.frames, frame)


def _state_at(keys: list[TrackShape], frames: list[int], frame: int) -> TrackShape | None:
    i = bisect.bisect_right(frames, frame) - 1
    if i < 0:
        return None
    prev = keys[i]
    if prev.frame == frame:
        return TrackShape(
            frame=frame,
            type=prev.type,
            points=list(prev.points),
            rotation=prev.rotation,
            occluded=prev.occluded,
            outside=prev.outside,
            keyframe=True,
            z_order=prev.z_order,
            attributes=dict(prev.attributes),
        )
    points = list(prev.points)
    rotation = prev.rotation
    if i + 1 < len(keys):
        nxt = keys[i + 1]
        if (
            nxt.type == prev.type
            and prev.type in _LINEAR
            and len(nxt.points) == len(prev.points)
            and not prev.outside
        ):
            t = (frame - prev.frame) / (nxt.frame - prev.frame)
            points = [a + (b - a) * t for a, b in zip(prev.points, nxt.points, strict=True)]
            rotation = _lerp_angle(prev.rotation, nxt.rotation, t)
    return TrackShape(
        frame=frame,
        type=prev.type,
        points=points,
        rotation=rotation,
        occluded=prev.occluded,
        outside=prev.outside,
        keyframe=False,
        z_order=prev.z_order,
        attributes=dict(prev.attributes),
    )


@dataclass(slots=True)
class TrackFrameShape:
    """One visible track on one frame, as a plain shape."""

    track_id: int
    keyframe: bool
    shape: Shape
    element_keyframes: list[bool] = field(default_factory=list)
    """Whether each of ``shape.elements`` is a keyframe of its sub-track."""


class TrackCursor:
    """Walks the tracks frame by frame, in increasing frame order.

    Holds the tracks' keyframes (not their interpolated frames) and yields, for each frame
    asked, the visible tracks as plain :class:`Shape`\\ s with the track's attributes merged
    into the shape's. Track ids are the tracks' positions in the order given.
    """

    def __init__(self, tracks: Iterable[Track]) -> None:
        self._pending: list[tuple[int, int, Track, Keyframes, list[Keyframes]]] = []
        for index, track in enumerate(tracks):
            if not track.shapes:
                continue
            keyed = Keyframes(track.shapes)
            elements = [Keyframes(e.shapes) for e in track.elements]
            self._pending.append((keyed.frames[0], index, track, keyed, elements))
        self._pending.sort(key=lambda item: (item[0], item[1]))
        self._next = 0
        self._active: list[tuple[int, Track, Keyframes, list[Keyframes]]] = []

    def at(self, frame: int) -> list[TrackFrameShape]:
        while self._next < len(self._pending) and self._pending[self._next][0] <= frame:
            _, index, track, keyed, elements = self._pending[self._next]
            self._active.append((index, track, keyed, elements))
            self._next += 1
        result: list[TrackFrameShape] = []
        still: list[tuple[int, Track, Keyframes, list[Keyframes]]] = []
        for item in self._active:
            index, track, keyed, element_keys = item
            last = keyed.keys[-1]
            if last.outside and last.frame < frame:
                continue  # finished for good
            still.append(item)
            state = keyed.at(frame)
            if state is None or state.outside:
                continue
            elements: list[Shape] = []
            element_keyframes: list[bool] = []
            for element, element_keyed in zip(track.elements, element_keys, strict=True):
                sub = element_keyed.at(frame)
                if sub is None:
                    continue
                element_keyframes.append(sub.keyframe)
                elements.append(
                    Shape(
                        type=sub.type,
                        frame=frame,
                        label=element.label,
                        points=sub.points,
                        rotation=sub.rotation,
                        occluded=sub.occluded,
                        outside=sub.outside,
                        z_order=sub.z_order,
                        attributes={**element.attributes, **sub.attributes},
                        source=element.source,
                    )
                )
            shape = Shape(
                type=state.type,
                frame=frame,
                label=track.label,
                points=state.points,
                rotation=state.rotation,
                occluded=state.occluded,
                outside=False,
                z_order=state.z_order,
                attributes={**track.attributes, **state.attributes},
                group=track.group,
                source=track.source,
                elements=elements,
            )
            result.append(TrackFrameShape(index, state.keyframe, shape, element_keyframes))
        self._active = still
        return result


def open_annotation_file(
    path: Path, wanted: Callable[[str], bool], kind: str
) -> Iterator[tuple[str, IO[bytes]]]:
    """Yields ``(name, binary stream)`` for a bare file or for every zip member ``wanted``
    accepts; raises :class:`Invalid` when a zip holds none."""
    path = Path(path)
    if not path.exists():
        raise Invalid(f"{path.name}: the uploaded file is missing", file=path.name)
    if zipfile.is_zipfile(path):
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as error:
            raise Invalid(f"{path.name}: not a readable zip ({error})", file=path.name) from error
        with archive:
            names = [
                n
                for n in archive.namelist()
                if not n.endswith("/") and not PurePosixPath(n).name.startswith(".") and wanted(n)
            ]
            if not names:
                raise Invalid(f"{path.name}: the archive holds no {kind}", file=path.name)
            for name in sorted(names):
                with archive.open(name) as stream:
                    yield name, stream
        return
    with path.open("rb") as stream:
        yield path.name, stream


def safe_member_name(name: str) -> str:
    """A frame's file name as a relative zip path (no leading slash, no ``..``)."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("/", "..", ".")]
    return "/".join(parts) or "image"


def label_types(labels: Iterable[LabelSpec]) -> dict[str, LabelSpec]:
    """Every label and sublabel by name."""
    found: dict[str, LabelSpec] = {}
    for label in labels:
        found[label.name] = label
        for sub in label.sublabels:
            found.setdefault(sub.name, sub)
    return found


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _n(value: float) -> str:
    return f"{value:.2f}"


def _b(value: bool) -> str:
    return "1" if value else "0"


def _attrs(pairs: Iterable[tuple[str, str]]) -> str:
    return "".join(f" {k}={quoteattr(v)}" for k, v in pairs)


class _XmlWriter:
    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def line(self, depth: int, text: str) -> None:
        self.stream.write("  " * depth + text + "\n")

    def leaf(self, depth: int, tag: str, text: str) -> None:
        self.line(depth, f"<{tag}>{escape(text)}</{tag}>")

    def element(
        self,
        depth: int,
        tag: str,
        pairs: Sequence[tuple[str, str]],
        attributes: dict[str, str],
        children: Callable[[int], None] | None = None,
    ) -> None:
        if not attributes and children is None:
            self.line(depth, f"<{tag}{_attrs(pairs)}/>")
            return
        self.line(depth, f"<{tag}{_attrs(pairs)}>")
        for name, value in attributes.items():
            self.line(
                depth + 1, f"<attribute name={quoteattr(name)}>{escape(str(value))}</attribute>"
            )
        if children is not None:
            children(depth + 1)
        self.line(depth, f"</{tag}>")


_TAG_OF_TYPE = {
    "rectangle": "box",
    "polygon": "polygon",
    "polyline": "polyline",
    "points": "points",
    "ellipse": "ellipse",
    "cuboid": "cuboid",
    "mask": "mask",
    "skeleton": "skeleton",
}
_TYPE_OF_TAG = {v: k for k, v in _TAG_OF_TYPE.items()}
_CUBOID_KEYS = tuple(
    f"{axis}{corner}{side}" for side in "12" for corner in ("tl", "bl", "tr", "br") for axis in "xy"
)


def _geometry(type_: str, points: Sequence[float], rotation: float) -> list[tuple[str, str]]:
    if type_ == "rectangle":
        pairs = [
            ("xtl", _n(points[0])),
            ("ytl", _n(points[1])),
            ("xbr", _n(points[2])),
            ("ybr", _n(points[3])),
        ]
        if rotation:
            pairs.append(("rotation", _n(rotation)))
        return pairs
    if type_ == "ellipse":
        cx, cy = points[0], points[1]
        pairs = [
            ("cx", _n(cx)),
            ("cy", _n(cy)),
            ("rx", _n(points[2] - cx)),
            ("ry", _n(cy - points[3])),
        ]
        if rotation:
            pairs.append(("rotation", _n(rotation)))
        return pairs
    if type_ in ("polygon", "polyline", "points"):
        text = ";".join(
            f"{_n(points[i])},{_n(points[i + 1])}" for i in range(0, len(points) - 1, 2)
        )
        return [("points", text)]
    if type_ == "cuboid":
        return [(key, _n(value)) for key, value in zip(_CUBOID_KEYS, points, strict=False)]
    if type_ == "mask":
        *runs, left, top, right, bottom = points
        return [
            ("rle", ", ".join(str(int(r)) for r in runs)),
            ("left", str(int(left))),
            ("top", str(int(top))),
            ("width", str(int(right) - int(left) + 1)),
            ("height", str(int(bottom) - int(top) + 1)),
        ]
    return []  # skeleton: the points live in the elements


def _write_shape(w: _XmlWriter, depth: int, shape: Shape, extra: Sequence[tuple[str, str]]) -> None:
    tag = _TAG_OF_TYPE.get(shape.type)
    if tag is None:
        return
    pairs: list[tuple[str, str]] = [("label", shape.label), ("source", shape.source)]
    pairs += extra
    pairs.append(("occluded", _b(shape.occluded)))
    pairs += _geometry(shape.type, shape.points, shape.rotation)
    pairs.append(("z_order", str(shape.z_order)))
    if shape.group:
        pairs.append(("group_id", str(shape.group)))
    children = None
    if shape.type == "skeleton":

        def children(d: int) -> None:
            for element in shape.elements:
                sub = [("label", element.label), ("source", element.source)]
                sub += [("outside", _b(element.outside)), ("occluded", _b(element.occluded))]
                sub += _geometry("points", element.points, 0.0)
                w.element(d, "points", sub, element.attributes)

    w.element(depth, tag, pairs, shape.attributes, children)


def _write_tag(w: _XmlWriter, depth: int, tag: Tag, extra: Sequence[tuple[str, str]]) -> None:
    pairs = [*extra, ("label", tag.label), ("source", tag.source)]
    if tag.group:
        pairs.append(("group_id", str(tag.group)))
    w.element(depth, "tag", pairs, tag.attributes)


def _write_meta(w: _XmlWriter, source: DatasetSource, mode: str) -> None:
    frames = source.frames
    numbers = [f.number for f in frames]
    w.line(1, "<meta>")
    w.line(2, "<task>")
    w.leaf(3, "name", source.name)
    w.leaf(3, "size", str(len(frames)))
    w.leaf(3, "mode", mode)
    w.leaf(3, "overlap", "0")
    w.leaf(3, "bugtracker", "")
    w.leaf(3, "subset", source.subset)
    w.leaf(3, "start_frame", str(min(numbers) if numbers else 0))
    w.leaf(3, "stop_frame", str(max(numbers) if numbers else 0))
    w.leaf(3, "frame_filter", "")
    w.line(3, "<labels>")
    for label in source.labels:
        _write_label(w, 4, label, "")
        for sub in label.sublabels:
            _write_label(w, 4, sub, label.name)
    w.line(3, "</labels>")
    if mode == "interpolation" and frames:
        w.line(3, "<original_size>")
        w.leaf(4, "width", str(frames[0].width))
        w.leaf(4, "height", str(frames[0].height))
        w.line(3, "</original_size>")
    w.line(2, "</task>")
    w.leaf(2, "dumped", datetime.now(UTC).isoformat())
    w.line(1, "</meta>")


def _write_label(w: _XmlWriter, depth: int, label: LabelSpec, parent: str) -> None:
    w.line(depth, "<label>")
    w.leaf(depth + 1, "name", label.name)
    w.leaf(depth + 1, "color", label.color)
    w.leaf(depth + 1, "type", label.type)
    if parent:
        w.leaf(depth + 1, "parent", parent)
    w.line(depth + 1, "<attributes>")
    for attr in label.attributes:
        w.line(depth + 2, "<attribute>")
        w.leaf(depth + 3, "name", attr.name)
        w.leaf(depth + 3, "mutable", "True" if attr.mutable else "False")
        w.leaf(depth + 3, "input_type", attr.input_type)
        w.leaf(depth + 3, "default_value", attr.default_value)
        w.leaf(depth + 3, "values", "\n".join(attr.values))
        w.line(depth + 2, "</attribute>")
    w.line(depth + 1, "</attributes>")
    w.line(depth, "</label>")


def _write_images(source: DatasetSource, out: zipfile.ZipFile, prefix: str) -> None:
    seen: set[str] = set()
    for frame in source.frames:
        found = source.image(frame)
        if found is None:
            continue
        name = f"{prefix}{safe_member_name(found[0])}"
        if name in seen:
            continue
        seen.add(name)
        out.writestr(name, found[1])


@contextlib.contextmanager
def _text_member(out: zipfile.ZipFile, name: str) -> Iterator[IO[str]]:
    with (
        out.open(name, "w", force_zip64=True) as raw,
        io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as text,
    ):
        yield text


def export_images(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    """CVAT for images 1.1."""
    with _text_member(out, "annotations.xml") as stream:
        w = _XmlWriter(stream)
        w.line(0, '<?xml version="1.0" encoding="utf-8"?>')
        w.line(0, "<annotations>")
        w.leaf(1, "version", "1.1")
        _write_meta(w, source, "annotation")
        cursor = TrackCursor(source.tracks())
        for frame, shapes, tags in source.frame_annotations():
            pairs = [
                ("id", str(frame.number)),
                ("name", frame.name),
                ("subset", source.subset),
                ("width", str(frame.width)),
                ("height", str(frame.height)),
            ]
            w.line(1, f"<image{_attrs(pairs)}>")
            for shape in shapes:
                _write_shape(w, 2, shape, ())
            for tracked in cursor.at(frame.number):
                _write_shape(w, 2, tracked.shape, ())
            for tag in tags:
                _write_tag(w, 2, tag, ())
            w.line(1, "</image>")
        w.line(0, "</annotations>")
    if save_images:
        _write_images(source, out, "images/")


def _write_track_shape(
    w: _XmlWriter,
    depth: int,
    type_: str,
    state: TrackShape,
    attributes: dict[str, str],
    elements: Sequence[tuple[str, TrackShape, dict[str, str]]] = (),
) -> None:
    tag = _TAG_OF_TYPE.get(type_)
    if tag is None:
        return
    pairs: list[tuple[str, str]] = [
        ("frame", str(state.frame)),
        ("keyframe", _b(state.keyframe)),
        ("outside", _b(state.outside)),
        ("occluded", _b(state.occluded)),
    ]
    pairs += _geometry(type_, state.points, state.rotation)
    pairs.append(("z_order", str(state.z_order)))
    children = None
    if type_ == "skeleton":

        def children(d: int) -> None:
            for label, sub, sub_attributes in elements:
                sub_pairs = [
                    ("label", label),
                    ("keyframe", _b(sub.keyframe)),
                    ("outside", _b(sub.outside)),
                    ("occluded", _b(sub.occluded)),
                    *_geometry("points", sub.points, 0.0),
                ]
                w.element(d, "points", sub_pairs, sub_attributes)

    w.element(depth, tag, pairs, attributes, children)


def _track_frames(track: Track, numbers: Sequence[int]) -> Iterator[TrackShape]:
    """The shapes a video export lists for a track: every visible frame from its first
    keyframe on (interpolated), and its outside keyframes."""
    if not track.shapes:
        return
    keyed = Keyframes(track.shapes)
    first = keyed.frames[0]
    last = keyed.keys[-1]
    for number in numbers[bisect.bisect_left(numbers, first) :]:
        if last.outside and number > last.frame:
            break
        state = keyed.at(number)
        if state is None or (state.outside and not state.keyframe):
            continue
        yield state


def _write_track(w: _XmlWriter, track_id: int, track: Track, numbers: Sequence[int]) -> None:
    pairs = [("id", str(track_id)), ("label", track.label), ("source", track.source)]
    if track.group:
        pairs.append(("group_id", str(track.group)))
    w.line(1, f"<track{_attrs(pairs)}>")
    element_keys = [Keyframes(e.shapes) for e in track.elements]
    for state in _track_frames(track, numbers):
        elements: list[tuple[str, TrackShape, dict[str, str]]] = []
        if state.type == "skeleton":
            for element, keyed in zip(track.elements, element_keys, strict=True):
                sub = keyed.at(state.frame)
                if sub is None:
                    sub = TrackShape(frame=state.frame, type="points", points=[], outside=True)
                elements.append((element.label, sub, {**element.attributes, **sub.attributes}))
        _write_track_shape(
            w, 2, state.type, state, {**track.attributes, **state.attributes}, elements
        )
    w.line(1, "</track>")


def _shape_as_track(shape: Shape, next_frame: int | None) -> Track:
    def states(s: Shape) -> list[TrackShape]:
        found = [
            TrackShape(
                frame=s.frame,
                type=s.type,
                points=list(s.points),
                rotation=s.rotation,
                occluded=s.occluded,
                outside=s.outside,
                keyframe=True,
                z_order=s.z_order,
                attributes=dict(s.attributes),
            )
        ]
        if next_frame is not None:
            found.append(
                TrackShape(
                    frame=next_frame,
                    type=s.type,
                    points=list(s.points),
                    rotation=s.rotation,
                    occluded=s.occluded,
                    outside=True,
                    keyframe=True,
                    z_order=s.z_order,
                    attributes=dict(s.attributes),
                )
            )
        return found

    return Track(
        label=shape.label,
        frame=shape.frame,
        shapes=states(shape),
        group=shape.group,
        source=shape.source,
        elements=[
            Track(label=e.label, frame=e.frame, shapes=states(e), source=e.source)
            for e in shape.elements
        ],
    )


def export_video(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    """CVAT for video 1.1."""
    numbers = sorted(f.number for f in source.frames)
    with _text_member(out, "annotations.xml") as stream:
        w = _XmlWriter(stream)
        w.line(0, '<?xml version="1.0" encoding="utf-8"?>')
        w.line(0, "<annotations>")
        w.leaf(1, "version", "1.1")
        _write_meta(w, source, "interpolation")
        track_id = 0
        for track in source.tracks():
            _write_track(w, track_id, track, numbers)
            track_id += 1
        for frame, shapes, tags in source.frame_annotations():
            at = bisect.bisect_right(numbers, frame.number)
            next_frame = numbers[at] if at < len(numbers) else None
            for shape in shapes:
                if shape.type not in _TAG_OF_TYPE:
                    continue
                _write_track(w, track_id, _shape_as_track(shape, next_frame), numbers)
                track_id += 1
            for tag in tags:
                _write_tag(w, 1, tag, [("frame", str(frame.number))])
        w.line(0, "</annotations>")
    if save_images:
        _write_images(source, out, "images/")


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.labels: list[LabelSpec] = []
        self.result = ImportedDataset()
        self._mutable: dict[tuple[str, str], bool] = {}

    def fail(self, where: str, problem: str) -> Invalid:
        return Invalid(f"{self.file}: {where}: {problem}", file=self.file)

    # -- values -------------------------------------------------------------------------

    def req(self, el: ET.Element, key: str, where: str) -> str:
        value = el.get(key)
        if value is None:
            raise self.fail(where, f"<{el.tag}> has no attribute {key!r}")
        return value

    def num(self, el: ET.Element, key: str, where: str, default: float | None = None) -> float:
        raw = el.get(key)
        if raw is None:
            if default is not None:
                return default
            raise self.fail(where, f"<{el.tag}> has no attribute {key!r}")
        try:
            value = float(raw)
        except ValueError:
            raise self.fail(where, f"<{el.tag}> {key}={raw!r} is not a number") from None
        if not math.isfinite(value):
            raise self.fail(where, f"<{el.tag}> {key}={raw!r} is not a finite number")
        return value

    def integer(self, el: ET.Element, key: str, where: str, default: int | None = None) -> int:
        raw = el.get(key)
        if raw is None:
            if default is not None:
                return default
            raise self.fail(where, f"<{el.tag}> has no attribute {key!r}")
        try:
            return int(raw)
        except ValueError:
            raise self.fail(where, f"<{el.tag}> {key}={raw!r} is not an integer") from None

    def flag(self, el: ET.Element, key: str, where: str) -> bool:
        raw = (el.get(key) or "0").strip().lower()
        if raw in ("1", "true"):
            return True
        if raw in ("0", "false", ""):
            return False
        raise self.fail(where, f"<{el.tag}> {key}={raw!r} is not 0 or 1")

    def point_list(self, el: ET.Element, where: str) -> list[float]:
        raw = self.req(el, "points", where).strip()
        values: list[float] = []
        if not raw:
            return values
        for pair in raw.split(";"):
            parts = pair.split(",")
            if len(parts) != 2:
                raise self.fail(where, f"<{el.tag}> points: {pair!r} is not 'x,y'")
            try:
                x, y = float(parts[0]), float(parts[1])
            except ValueError:
                raise self.fail(where, f"<{el.tag}> points: {pair!r} is not 'x,y'") from None
            if not (math.isfinite(x) and math.isfinite(y)):
                raise self.fail(where, f"<{el.tag}> points: {pair!r} is not finite")
            values += [x, y]
        return values

    def attributes(self, el: ET.Element, where: str, allowed: set[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for child in el:
            if child.tag == "attribute":
                name = child.get("name")
                if name is None:
                    raise self.fail(where, f"<attribute> inside <{el.tag}> has no name")
                found[name] = child.text or ""
            elif child.tag not in allowed:
                raise self.fail(where, f"unknown element <{child.tag}> inside <{el.tag}>")
        return found

    # -- geometry -----------------------------------------------------------------------

    def geometry(self, el: ET.Element, type_: str, where: str) -> tuple[list[float], float]:
        rotation = self.num(el, "rotation", where, 0.0)
        if type_ == "rectangle":
            keys = ("xtl", "ytl", "xbr", "ybr")
            return [self.num(el, k, where) for k in keys], rotation
        if type_ == "ellipse":
            cx, cy = self.num(el, "cx", where), self.num(el, "cy", where)
            rx, ry = self.num(el, "rx", where), self.num(el, "ry", where)
            return [cx, cy, cx + rx, cy - ry], rotation
        if type_ in ("polygon", "polyline", "points"):
            return self.point_list(el, where), rotation
        if type_ == "cuboid":
            return [self.num(el, k, where) for k in _CUBOID_KEYS], rotation
        if type_ == "mask":
            raw = self.req(el, "rle", where)
            try:
                runs = [float(int(r)) for r in raw.replace(" ", "").split(",") if r]
                if any(r < 0 for r in runs):
                    raise ValueError
            except ValueError:
                raise self.fail(where, f"<mask> rle={raw[:40]!r} is not a list of counts") from None
            left, top = self.integer(el, "left", where), self.integer(el, "top", where)
            width, height = self.integer(el, "width", where), self.integer(el, "height", where)
            if width <= 0 or height <= 0:
                raise self.fail(where, "<mask> width and height must be positive")
            return [*runs, left, top, left + width - 1, top + height - 1], 0.0
        return [], 0.0

    # -- meta ---------------------------------------------------------------------------

    def meta(self, el: ET.Element) -> None:
        labels_el = None
        for owner in ("task", "job", "project"):
            labels_el = el.find(f"./{owner}/labels")
            if labels_el is not None:
                break
        if labels_el is None:
            return
        parsed: list[tuple[LabelSpec, str]] = []
        for label_el in labels_el.findall("label"):
            name = (label_el.findtext("name") or "").strip()
            if not name:
                raise self.fail("<meta>", "a <label> has no <name>")
            attributes = []
            for attr_el in label_el.findall("./attributes/attribute"):
                attr_name = (attr_el.findtext("name") or "").strip()
                if not attr_name:
                    raise self.fail(f"<meta> label {name!r}", "an <attribute> has no <name>")
                mutable = (attr_el.findtext("mutable") or "").strip().lower() in ("true", "1")
                values = tuple(v for v in (attr_el.findtext("values") or "").split("\n") if v)
                attributes.append(
                    AttributeSpec(
                        name=attr_name,
                        input_type=(attr_el.findtext("input_type") or "text").strip(),
                        values=values,
                        mutable=mutable,
                        default_value=attr_el.findtext("default_value") or "",
                    )
                )
                self._mutable[(name, attr_name)] = mutable
            spec = LabelSpec(
                name=name,
                color=(label_el.findtext("color") or "").strip(),
                type=(label_el.findtext("type") or "any").strip(),
                attributes=tuple(attributes),
            )
            parsed.append((spec, (label_el.findtext("parent") or "").strip()))
        children: dict[str, list[LabelSpec]] = {}
        for spec, parent in parsed:
            if parent:
                children.setdefault(parent, []).append(spec)
        for spec, parent in parsed:
            if not parent:
                subs = tuple(children.get(spec.name, ()))
                self.labels.append(
                    LabelSpec(spec.name, spec.color, spec.type, spec.attributes, subs)
                )
        self.result.labels = self.labels

    # -- images layout ------------------------------------------------------------------

    def image(self, el: ET.Element) -> None:
        where = f"<image id={el.get('id')!r} name={el.get('name')!r}>"
        frame = self.integer(el, "id", where)
        if frame < 0:
            raise self.fail(where, "id must not be negative")
        name = el.get("name")
        if name:
            self.result.frame_names[frame] = name
        for child in el:
            if child.tag == "tag":
                self.result.tags.append(self.tag(child, frame, where))
                continue
            type_ = _TYPE_OF_TAG.get(child.tag)
            if type_ is None:
                raise self.fail(where, f"unknown element <{child.tag}>")
            self.result.shapes.append(self.shape(child, type_, frame, where))

    def shape(self, el: ET.Element, type_: str, frame: int, where: str) -> Shape:
        where = f"{where} <{el.tag} label={el.get('label')!r}>"
        label = self.req(el, "label", where)
        points, rotation = self.geometry(el, type_, where)
        elements: list[Shape] = []
        if type_ == "skeleton":
            for child in el:
                if child.tag != "points":
                    continue
                sub_label = self.req(child, "label", where)
                sub_points, _ = self.geometry(child, "points", where)
                elements.append(
                    Shape(
                        type="points",
                        frame=frame,
                        label=sub_label,
                        points=sub_points,
                        occluded=self.flag(child, "occluded", where),
                        outside=self.flag(child, "outside", where),
                        attributes=self.attributes(child, where, set()),
                        source=child.get("source") or el.get("source") or "file",
                    )
                )
        return Shape(
            type=type_,
            frame=frame,
            label=label,
            points=points,
            rotation=rotation,
            occluded=self.flag(el, "occluded", where),
            outside=self.flag(el, "outside", where),
            z_order=self.integer(el, "z_order", where, 0),
            attributes=self.attributes(el, where, {"points"} if type_ == "skeleton" else set()),
            group=max(self.integer(el, "group_id", where, 0), 0),
            source=el.get("source") or "file",
            elements=elements,
        )

    def tag(self, el: ET.Element, frame: int | None, where: str) -> Tag:
        where = f"{where} <tag label={el.get('label')!r}>" if where else "<tag>"
        if frame is None:
            frame = self.integer(el, "frame", where)
        return Tag(
            frame=frame,
            label=self.req(el, "label", where),
            attributes=self.attributes(el, where, set()),
            group=max(self.integer(el, "group_id", where, 0), 0),
            source=el.get("source") or "file",
        )

    # -- video layout -------------------------------------------------------------------

    def _split(self, label: str, attributes: dict[str, str]) -> tuple[dict, dict]:
        fixed = {k: v for k, v in attributes.items() if self._mutable.get((label, k)) is False}
        moving = {k: v for k, v in attributes.items() if k not in fixed}
        return fixed, moving

    def track(self, el: ET.Element) -> None:
        where = f"<track id={el.get('id')!r} label={el.get('label')!r}>"
        label = self.req(el, "label", where)
        all_states: list[tuple[TrackShape, bool]] = []
        track_attributes: dict[str, str] = {}
        sub_states: dict[str, list[tuple[TrackShape, bool]]] = {}
        sub_attributes: dict[str, dict[str, str]] = {}
        for child in el:
            type_ = _TYPE_OF_TAG.get(child.tag)
            if type_ is None:
                raise self.fail(where, f"unknown element <{child.tag}>")
            here = f"{where} <{child.tag} frame={child.get('frame')!r}>"
            frame = self.integer(child, "frame", here)
            points, rotation = self.geometry(child, type_, here)
            fixed, moving = self._split(
                label,
                self.attributes(child, here, {"points"} if type_ == "skeleton" else set()),
            )
            track_attributes.update(fixed)
            state = TrackShape(
                frame=frame,
                type=type_,
                points=points,
                rotation=rotation,
                occluded=self.flag(child, "occluded", here),
                outside=self.flag(child, "outside", here),
                keyframe=True,
                z_order=self.integer(child, "z_order", here, 0),
                attributes=moving,
            )
            keyed = child.get("keyframe")
            all_states.append((state, keyed is None or self.flag(child, "keyframe", here)))
            if type_ == "skeleton":
                for sub in child:
                    if sub.tag != "points":
                        continue
                    sub_label = self.req(sub, "label", here)
                    sub_points, _ = self.geometry(sub, "points", here)
                    s_fixed, s_moving = self._split(sub_label, self.attributes(sub, here, set()))
                    sub_attributes.setdefault(sub_label, {}).update(s_fixed)
                    sub_keyed = sub.get("keyframe")
                    sub_states.setdefault(sub_label, []).append(
                        (
                            TrackShape(
                                frame=frame,
                                type="points",
                                points=sub_points,
                                occluded=self.flag(sub, "occluded", here),
                                outside=self.flag(sub, "outside", here),
                                attributes=s_moving,
                            ),
                            sub_keyed is None or self.flag(sub, "keyframe", here),
                        )
                    )
        shapes = _keyframes(all_states)
        if not shapes:
            return
        elements = []
        for sub_label, states in sub_states.items():
            sub_shapes = _keyframes(states)
            if sub_shapes:
                elements.append(
                    Track(
                        label=sub_label,
                        frame=sub_shapes[0].frame,
                        shapes=sub_shapes,
                        attributes=sub_attributes.get(sub_label, {}),
                        source=el.get("source") or "file",
                    )
                )
        self.result.tracks.append(
            Track(
                label=label,
                frame=shapes[0].frame,
                shapes=shapes,
                attributes=track_attributes,
                group=max(self.integer(el, "group_id", where, 0), 0),
                source=el.get("source") or "file",
                elements=elements,
            )
        )


def _keyframes(states: list[tuple[TrackShape, bool]]) -> list[TrackShape]:
    """Keeps the keyframes; the first state is always one."""
    states.sort(key=lambda item: item[0].frame)
    kept = [s for i, (s, key) in enumerate(states) if key or i == 0]
    for s in kept:
        s.keyframe = True
    return kept


def _read_xml(name: str, stream: IO[bytes]) -> ImportedDataset:
    reader = _Reader(name)
    depth = 0
    root: ET.Element | None = None
    try:
        for event, el in ET.iterparse(stream, events=("start", "end")):
            if event == "start":
                depth += 1
                if depth == 1:
                    root = el
                    if el.tag != "annotations":
                        raise reader.fail(
                            "root", f"the root element is <{el.tag}>, not <annotations>"
                        )
                continue
            depth -= 1
            if depth != 1:
                continue
            if el.tag == "image":
                reader.image(el)
            elif el.tag == "track":
                reader.track(el)
            elif el.tag == "tag":
                reader.result.tags.append(reader.tag(el, None, ""))
            elif el.tag == "meta":
                reader.meta(el)
            elif el.tag != "version":
                raise reader.fail("<annotations>", f"unknown element <{el.tag}>")
            if root is not None:
                root.clear()
    except ET.ParseError as error:
        line, column = error.position
        raise Invalid(
            f"{name}: line {line}, column {column}: malformed XML ({error})", file=name
        ) from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise Invalid(f"{name}: the archive member cannot be read ({error})", file=name) from None
    if root is None:
        raise reader.fail("root", "the file is empty")
    return reader.result


def read(path: Path) -> ImportedDataset:
    """CVAT 1.1: a bare ``.xml`` or a zip holding ``annotations.xml`` (or one ``.xml``)."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                xmls = [
                    n
                    for n in archive.namelist()
                    if n.lower().endswith(".xml") and not PurePosixPath(n).name.startswith(".")
                ]
        except zipfile.BadZipFile as error:
            raise Invalid(f"{path.name}: not a readable zip ({error})", file=path.name) from None
        preferred = [n for n in xmls if PurePosixPath(n).name == "annotations.xml"]
        if preferred:
            chosen = min(preferred, key=lambda n: n.count("/"))
        elif len(xmls) == 1:
            chosen = xmls[0]
        elif not xmls:
            raise Invalid(f"{path.name}: the archive holds no annotations.xml", file=path.name)
        else:
            raise Invalid(
                f"{path.name}: the archive holds several XML files and no annotations.xml",
                file=path.name,
            )
        for member, stream in open_annotation_file(path, lambda n: n == chosen, "XML file"):
            return _read_xml(member, stream)
    for member, stream in open_annotation_file(path, lambda n: True, "XML file"):
        return _read_xml(member, stream)
    raise Invalid(f"{path.name}: nothing to read", file=path.name)  # pragma: no cover


register(
    Format(
        "CVAT for images 1.1",
        ext="ZIP",
        version="1.1",
        exporter=export_images,
        slug="cvat_for_images",
    )
)
register(
    Format(
        "CVAT for video 1.1",
        ext="ZIP",
        version="1.1",
        exporter=export_video,
        slug="cvat_for_video",
    )
)
register(
    Format(
        "CVAT 1.1",
        ext="XML, ZIP",
        version="1.1",
        importer=read,
        aliases=("CVAT XML 1.1",),
        slug="cvat",
    )
)
