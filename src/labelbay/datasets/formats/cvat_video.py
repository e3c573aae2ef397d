"""CVAT for video 1.1: ``<track id label subset>`` elements, one shape per frame.

A track lists every frame where it is visible from its first keyframe on (interpolated
between keyframes, see :mod:`labelbay.datasets.tracks`, with ``keyframe="0"``) and its
outside keyframes; a skeleton's elements are listed inside each of its shapes. A standalone
shape becomes a two-keyframe track: visible on its frame, outside on the next frame; on the
last frame of the data or of a subset, a one-keyframe track (its task ends there). Tags are
``<tag frame subset label>`` at the top level. ``subset`` is the subset of the frame of the
track's first keyframe (of the tag's frame).
"""

from __future__ import annotations

import bisect
import zipfile
from collections.abc import Iterator, Sequence

from labelbay.datasets.formats.cvat_xml import (
    TAG_OF_TYPE,
    XmlWriter,
    flag,
    geometry,
    text_member,
    write_header,
    write_images,
    write_tag,
    xml_attrs,
)
from labelbay.datasets.model import DatasetSource, FrameInfo, Shape, Track, TrackShape
from labelbay.datasets.tracks import Keyframes, as_keyframe


class _SubsetOf:
    """Frame number -> subset, from where each run of one subset starts (a source gives the
    frames of one subset together, numbered on)."""

    def __init__(self, frames: Sequence[FrameInfo]) -> None:
        self.starts: list[int] = []
        self.names: list[str] = []
        for frame in frames:
            if not self.names or frame.subset != self.names[-1]:
                self.starts.append(frame.number)
                self.names.append(frame.subset)

    def __call__(self, number: int, default: str) -> str:
        at = bisect.bisect_right(self.starts, number) - 1
        return self.names[at] if at >= 0 else (self.names[0] if self.names else default)


def _write_state(
    w: XmlWriter,
    depth: int,
    state: TrackShape,
    attributes: dict[str, str],
    elements: Sequence[tuple[str, TrackShape, dict[str, str]]] = (),
) -> None:
    tag = TAG_OF_TYPE.get(state.type)
    if tag is None:
        return
    pairs: list[tuple[str, str]] = [
        ("frame", str(state.frame)),
        ("keyframe", flag(state.keyframe)),
        ("outside", flag(state.outside)),
        ("occluded", flag(state.occluded)),
    ]
    pairs += geometry(state.type, state.points, state.rotation)
    pairs.append(("z_order", str(state.z_order)))
    children = None
    if state.type == "skeleton":

        def children(d: int) -> None:
            for label, sub, sub_attributes in elements:
                sub_pairs = [
                    ("label", label),
                    ("keyframe", flag(sub.keyframe)),
                    ("outside", flag(sub.outside)),
                    ("occluded", flag(sub.occluded)),
                    *geometry("points", sub.points, 0.0),
                ]
                w.element(d, "points", sub_pairs, sub_attributes)

    w.element(depth, tag, pairs, attributes, children)


def _states(keys: Keyframes, numbers: Sequence[int]) -> Iterator[TrackShape]:
    """The states a video export lists for a track: every frame of the data from its first
    keyframe on where it is visible, and its outside keyframes; nothing after a last,
    outside keyframe."""
    if not keys.keys:
        return
    for number in numbers[bisect.bisect_left(numbers, keys.frames[0]) :]:
        if keys.ended(number):
            break
        state = keys.at(number)
        if state is None or (state.outside and not state.keyframe):
            continue
        yield state


def _write_track(
    w: XmlWriter, track_id: int, track: Track, numbers: Sequence[int], subset: str
) -> None:
    pairs = [("id", str(track_id)), ("label", track.label), ("source", track.source)]
    pairs.append(("subset", subset))
    if track.group:
        pairs.append(("group_id", str(track.group)))
    w.line(1, f"<track{xml_attrs(pairs)}>")
    element_keys = [Keyframes(e.shapes, track.last_frame) for e in track.elements]
    for state in _states(Keyframes(track.shapes, track.last_frame), numbers):
        elements: list[tuple[str, TrackShape, dict[str, str]]] = []
        if state.type == "skeleton":
            for element, keys in zip(track.elements, element_keys, strict=True):
                sub = keys.at(state.frame)
                if sub is None:
                    sub = TrackShape(frame=state.frame, type="points", points=[], outside=True)
                elements.append((element.label, sub, {**element.attributes, **sub.attributes}))
        _write_state(w, 2, state, {**track.attributes, **state.attributes}, elements)
    w.line(1, "</track>")


def _shape_as_track(shape: Shape, next_frame: int | None) -> Track:
    def states(s: Shape) -> list[TrackShape]:
        found = [as_keyframe(s, s.frame)]
        if next_frame is not None:
            found.append(as_keyframe(s, next_frame, outside=True))
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
    """CVAT for video 1.1: ``annotations.xml`` (and the frames' files under ``images/``)."""
    numbers = sorted(f.number for f in source.frames)
    subset_of = _SubsetOf(source.frames)
    with text_member(out, "annotations.xml") as stream:
        w = XmlWriter(stream)
        write_header(w, source, "interpolation")
        track_id = 0
        for track in source.tracks():
            first = min((s.frame for s in track.shapes), default=track.frame)
            _write_track(w, track_id, track, numbers, subset_of(first, source.subset))
            track_id += 1
        for frame, shapes, tags in source.frame_annotations():
            at = bisect.bisect_right(numbers, frame.number)
            next_frame = numbers[at] if at < len(numbers) else None
            if next_frame is not None and subset_of(next_frame, frame.subset) != frame.subset:
                next_frame = None  # the next frame is another task's: the shape ends here
            for shape in shapes:
                if shape.type not in TAG_OF_TYPE:
                    continue
                _write_track(w, track_id, _shape_as_track(shape, next_frame), numbers, frame.subset)
                track_id += 1
            for tag in tags:
                write_tag(w, 1, tag, [("frame", str(frame.number)), ("subset", frame.subset)])
        w.line(0, "</annotations>")
    if save_images:
        write_images(source, out)
