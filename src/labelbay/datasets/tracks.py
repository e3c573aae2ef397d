"""Tracks frame by frame: the one track interpolation every dataset format uses.

A :class:`~labelbay.datasets.model.Track` holds keyframes only (every ``TrackShape`` it
lists counts as a keyframe). Its state on a frame follows these rules, the same as the
browser workspace (``web/workspace/model.js`` ``trackAt``, ``geom.js`` ``lerpGeometry``) and
CVAT's documented track mode:

* Before its first keyframe a track does not exist: no state (``None``).
* On a keyframe the state is that keyframe (``keyframe=True``), outside or not.
* After an ``outside`` keyframe the track is outside (invisible) until its next keyframe.
* Between a visible keyframe and the next keyframe, when both have the same type, that type
  is a rectangle, ellipse, cuboid, points, polygon or polyline, and both have the same number
  of points, the points move linearly and the rotation turns along the shorter arc (350° to
  10° passes through 0°), in ``[0, 360)``; an exact half turn goes the way of ``end - start``
  with both angles taken in ``[0, 360)``, as in the browser.
* Otherwise the previous keyframe holds, unchanged: masks (two run-length encodings cannot
  be blended), a change of type or of the number of points, and a visible keyframe followed by
  an ``outside`` keyframe. In that last case the shape stays where the visible keyframe put
  it up to the frame before the outside keyframe (the browser shows it so; interpolating
  towards the position of a shape that is not there would move it for nothing).
* After its last keyframe a visible track holds that keyframe to the end of the data, or up
  to its ``last_frame`` when it has one (the end of its task in a project's export).
* Occlusion and z order come from the previous keyframe. Attributes are the previous
  keyframe's own (mutable) values merged over the track's (immutable) ones; they are not
  accumulated across keyframes.
* A skeleton track is visible where its own state is; each of its elements is a sub-track
  following the same rules (an element can be outside while the skeleton is visible, and is
  left out before its own first keyframe).

:class:`Keyframes` sorts one track's keyframes once and answers states frame after frame;
:class:`TrackCursor` walks all the tracks of a source in increasing frame order holding only
keyframes (never the interpolated frames) and gives each frame's visible tracks as plain
shapes; :func:`frame_shapes` is ``frame_annotations()`` with those shapes added, for formats
that have no tracks of their own.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from labelbay.datasets.model import DatasetSource, FrameInfo, Shape, Tag, Track, TrackShape

MOVING_TYPES = frozenset({"rectangle", "ellipse", "cuboid", "points", "polygon", "polyline"})
"""Shape types whose points move linearly between two keyframes."""


def turn(start: float, end: float, t: float) -> float:
    """The angle ``t`` of the way from ``start`` to ``end`` degrees along the shorter arc,
    in ``[0, 360)`` (a half turn: the sign of ``end - start`` once both are in that range)."""
    delta = end % 360.0 - start % 360.0
    if delta > 180.0:
        delta -= 360.0
    elif delta < -180.0:
        delta += 360.0
    return (start + delta * t) % 360.0


def _moves(prev: TrackShape, nxt: TrackShape) -> bool:
    return (
        not prev.outside
        and not nxt.outside
        and prev.type == nxt.type
        and prev.type in MOVING_TYPES
        and len(prev.points) == len(nxt.points)
    )


def as_keyframe(
    shape: Shape | TrackShape, frame: int, *, outside: bool = False, keyframe: bool = True
) -> TrackShape:
    """``shape`` as a track state on ``frame`` (a keyframe unless told otherwise), with its
    own copies of points and attributes; ``outside`` hides it there."""
    return TrackShape(
        frame=frame,
        type=shape.type,
        points=list(shape.points),
        rotation=shape.rotation,
        occluded=shape.occluded,
        outside=outside or shape.outside,
        keyframe=keyframe,
        z_order=shape.z_order,
        attributes=dict(shape.attributes),
    )


def _state(keys: list[TrackShape], i: int, frame: int) -> TrackShape | None:
    """The state on ``frame`` given ``i``, the index of the last keyframe at or before it."""
    if i < 0:
        return None
    prev = keys[i]
    if prev.frame == frame:
        return as_keyframe(prev, frame)
    if i + 1 == len(keys) or not _moves(prev, keys[i + 1]):
        return as_keyframe(prev, frame, keyframe=False)
    nxt = keys[i + 1]
    t = (frame - prev.frame) / (nxt.frame - prev.frame)
    return TrackShape(
        frame=frame,
        type=prev.type,
        points=[a + (b - a) * t for a, b in zip(prev.points, nxt.points, strict=True)],
        rotation=turn(prev.rotation, nxt.rotation, t),
        occluded=prev.occluded,
        outside=False,
        keyframe=False,
        z_order=prev.z_order,
        attributes=dict(prev.attributes),
    )


class Keyframes:
    """One track's keyframes, sorted once by frame, asked for the track's state frame by
    frame (see the module docstring for the rules).

    Asking for frames in increasing order costs O(1) per frame between keyframes and a
    binary search when a keyframe is passed; any other order works too (binary search).
    """

    __slots__ = ("_i", "frames", "keys", "last_frame")

    def __init__(self, shapes: Iterable[TrackShape], last_frame: int | None = None) -> None:
        self.keys = sorted(shapes, key=lambda s: s.frame)
        self.frames = [s.frame for s in self.keys]
        self.last_frame = last_frame
        self._i = -1

    def at(self, frame: int) -> TrackShape | None:
        """The state on ``frame``: ``None`` before the first keyframe and after
        ``last_frame``, otherwise a new ``TrackShape`` (``outside`` where the track is
        hidden, ``keyframe`` on keyframes)."""
        if self.last_frame is not None and frame > self.last_frame:
            return None
        frames, i = self.frames, self._i
        if i < 0 or frame < frames[i] or (i + 1 < len(frames) and frame >= frames[i + 1]):
            i = self._i = bisect.bisect_right(frames, frame) - 1
        return _state(self.keys, i, frame)

    def ended(self, frame: int) -> bool:
        """Whether the track is gone for good on ``frame``: past a last, outside keyframe
        or past ``last_frame``."""
        if self.last_frame is not None and frame > self.last_frame:
            return True
        return bool(self.keys) and self.keys[-1].outside and self.keys[-1].frame < frame


def interpolate(track: Track, frame: int) -> TrackShape | None:
    """The state of ``track`` (not its elements) on one ``frame``; see :class:`Keyframes`.
    To ask many frames, keep a :class:`Keyframes` (this sorts the keyframes every call)."""
    return Keyframes(track.shapes, track.last_frame).at(frame)


@dataclass(slots=True)
class TrackFrameShape:
    """One visible track on one frame, as a plain shape."""

    track_id: int
    """The track's position among the tracks the cursor kept, from 0."""
    keyframe: bool
    shape: Shape
    """The state as a shape: the track's label, group and source, its attributes merged with
    the keyframe's, ``outside`` false, and the skeleton elements that exist on the frame."""
    element_keyframes: list[bool] = field(default_factory=list)
    """Whether each of ``shape.elements`` is a keyframe of its sub-track."""


class _Walk:
    """A track the cursor holds: its keyframes and those of its elements."""

    __slots__ = ("elements", "keys", "track", "track_id")

    def __init__(self, track_id: int, track: Track) -> None:
        self.track_id = track_id
        self.track = track
        self.keys = Keyframes(track.shapes, track.last_frame)
        self.elements = [Keyframes(e.shapes, track.last_frame) for e in track.elements]

    def shape(self, frame: int, state: TrackShape) -> TrackFrameShape:
        track = self.track
        elements: list[Shape] = []
        element_keyframes: list[bool] = []
        for element, keys in zip(track.elements, self.elements, strict=True):
            sub = keys.at(frame)
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
        return TrackFrameShape(self.track_id, state.keyframe, shape, element_keyframes)


class TrackCursor:
    """Walks tracks frame by frame and gives, for each frame asked, the tracks visible on it
    as plain shapes (:class:`TrackFrameShape`), in track order.

    Holds the tracks' keyframes only. A track is taken up at its first keyframe and dropped
    after a last, outside keyframe, so asking frames in increasing order (as sources give
    them) costs time for the tracks alive on each frame only; asking an earlier frame than
    the last one starts the walk over. With ``types``, tracks with no keyframe of those types
    are not kept, and only states of those types are given. Tracks without keyframes are
    skipped; track ids count the tracks kept, in the order given.
    """

    def __init__(self, tracks: Iterable[Track], types: Iterable[str] | None = None) -> None:
        self._types = frozenset(types) if types is not None else None
        walks: list[_Walk] = []
        for track in tracks:
            if not track.shapes:
                continue
            if self._types is not None and not any(s.type in self._types for s in track.shapes):
                continue
            walks.append(_Walk(len(walks), track))
        walks.sort(key=lambda w: w.keys.frames[0])  # stable: ids stay in order on ties
        self._waiting = walks
        self._next = 0
        self._active: list[_Walk] = []
        self._last: int | None = None

    def at(self, frame: int) -> list[TrackFrameShape]:
        if self._last is not None and frame < self._last:
            self._next, self._active = 0, []
        self._last = frame
        while self._next < len(self._waiting) and self._waiting[self._next].keys.frames[0] <= frame:
            bisect.insort(self._active, self._waiting[self._next], key=lambda w: w.track_id)
            self._next += 1
        found: list[TrackFrameShape] = []
        alive: list[_Walk] = []
        for walk in self._active:
            if walk.keys.ended(frame):
                continue
            alive.append(walk)
            state = walk.keys.at(frame)
            if state is None or state.outside:
                continue
            if self._types is not None and state.type not in self._types:
                continue
            found.append(walk.shape(frame, state))
        self._active = alive
        return found


def frame_shapes(
    source: DatasetSource, types: Iterable[str] | None = None
) -> Iterator[tuple[FrameInfo, list[Shape], list[Tag]]]:
    """``source.frame_annotations()`` with the visible tracks' shapes added to each frame's
    shapes (after the frame's own, in track order); with ``types``, only track shapes of
    those types are added (the frame's own shapes are given as they are)."""
    cursor = TrackCursor(source.tracks(), types)
    for frame, shapes, tags in source.frame_annotations():
        tracked = cursor.at(frame.number)
        yield frame, [*shapes, *(t.shape for t in tracked)], tags
