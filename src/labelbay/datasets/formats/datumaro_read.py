"""Datumaro 1.0 importer (see :mod:`.datumaro` for the layout).

Each ``annotations/<subset>.json`` is streamed (:func:`.jsonread.read_sections`):
``categories`` is read whole, ``items`` one at a time, in any key order. An item's frame is
its ``attr.frame`` (else the next free number). Frame numbers stay unique across the files of
an archive: when a file uses a number an earlier file used (as when each subset counts from
0), all of that file's frames are moved up by the first number free before it (Labelbay's own
project exports number on from subset to subset and keep their numbers). Every frame gets its
image path (``frame_names``) and its file's subset (``frame_subsets``: the file's name; a
bare JSON upload is ``default``).

Annotations with a ``track_id`` attribute are gathered per file and rebuilt into tracks at its
end (keyframes kept, an ``outside`` keyframe added on the first frame after a visible run
where the track is missing; attributes equal on every frame of a track become the track's).
The shapes of one import share equal attribute dicts and one empty list of elements (see
:mod:`.jsonattrs`): the dataset is read, not changed.
"""

from __future__ import annotations

import bisect
from pathlib import Path, PurePosixPath
from typing import Any

from labelbay.datasets.formats.common import Input
from labelbay.datasets.formats.jsonattrs import NO_ELEMENTS, SharedAttributes, text_value
from labelbay.datasets.formats.jsonread import ElementHandler, JsonFields, as_float, read_sections
from labelbay.datasets.formats.rle import read_rle
from labelbay.datasets.model import (
    AttributeSpec,
    ImportedDataset,
    LabelSpec,
    Shape,
    Tag,
    Track,
    TrackShape,
)
from labelbay.datasets.tracks import as_keyframe

GEOMETRY_TYPES = {
    "bbox": "rectangle",
    "polygon": "polygon",
    "polyline": "polyline",
    "points": "points",
    "ellipse": "ellipse",
    "cuboid_2d": "cuboid",
    "mask": "mask",
    "skeleton": "skeleton",
}
"""Datumaro annotation types and the shape types they are."""

_Found = list[tuple[int, bool, Shape]]
"""A track's shapes as read: (frame, keyframe, shape), in frame order once sorted."""


class _Reader:
    """Reads one annotation file into the shared :class:`ImportedDataset`."""

    def __init__(
        self,
        file: str,
        result: ImportedDataset,
        first_frame: int,
        subset: str,
        shared: SharedAttributes,
    ) -> None:
        self.f = JsonFields(file)
        self.result = result
        self.first_frame = self.next_frame = first_frame
        self.subset = subset
        self.shared = shared
        self.labels: list[tuple[str, str]] = []  # (name, parent) by label_id
        self.tracks: dict[tuple[str, int], _Found] = {}  # (label, track id) -> shapes
        self.names: dict[int, str] = {}  # this file's frames
        self.shapes_from, self.tags_from = len(result.shapes), len(result.tags)
        self.element_keyframes: dict[int, bool] = {}  # id(element shape) -> its own flag

    def start(self, sections: dict[str, Any]) -> ElementHandler:
        f = self.f
        cats = f.get(sections, "categories", "top level", dict)
        label_cat = cats.get("label", {"labels": []})
        raw_labels = f.get(label_cat, "labels", "categories.label", list)
        subs: dict[str, list[LabelSpec]] = {}
        tops: list[tuple[str, tuple[AttributeSpec, ...]]] = []
        for i, raw in enumerate(raw_labels):
            where = f"categories.label.labels[{i}]"
            name = f.get(raw, "name", where, str)
            parent = raw.get("parent") or ""
            f.check(parent, f"{where}.parent", str)
            names = raw.get("attributes") or []
            f.check(names, f"{where}.attributes", list)
            attributes = tuple(AttributeSpec(str(n), "text") for n in names)
            self.labels.append((name, parent))
            if parent:
                subs.setdefault(parent, []).append(LabelSpec(name, "", "points", attributes))
            else:
                tops.append((name, attributes))
        known = {label.name for label in self.result.labels}
        for name, attributes in tops:
            if name not in known:
                children = tuple(subs.get(name, ()))
                kind = "skeleton" if children else "any"
                self.result.labels.append(LabelSpec(name, "", kind, attributes, children))
        return self.item

    def label(self, ann: dict[str, Any], where: str) -> str:
        label_id = self.f.get(ann, "label_id", where, int)
        if not 0 <= label_id < len(self.labels):
            raise self.f.fail(f"{where}.label_id", f"no label has index {label_id}")
        return self.labels[label_id][0]

    def item(self, item: Any, index: int) -> None:
        f = self.f
        where = f"items[{index}]"
        f.note = ""
        item_id = f.get(item, "id", where, str)
        f.note = f" (item {item_id!r})"
        attr = item.get("attr") or {}
        f.check(attr, f"{where}.attr", dict)
        if "frame" in attr:
            frame = f.check(attr["frame"], f"{where}.attr.frame", int)
            if frame < 0:
                raise f.fail(f"{where}.attr.frame", "must not be negative")
        else:
            frame = self.next_frame
        self.next_frame = max(self.next_frame, frame + 1)
        image = item.get("image")
        name = item_id
        if isinstance(image, dict) and isinstance(image.get("path"), str) and image["path"]:
            name = image["path"]
        self.names[frame] = name
        size = image.get("size") if isinstance(image, dict) else None
        height, width = 0, 0
        if size is not None:
            found = f.numbers(size, f"{where}.image.size")
            if len(found) != 2:
                raise f.fail(f"{where}.image.size", "expected [height, width]")
            height, width = int(found[0]), int(found[1])
        annotations = item.get("annotations") or []
        f.check(annotations, f"{where}.annotations", list)
        for j, ann in enumerate(annotations):
            self.annotation(ann, frame, width, height, f"{where}.annotations[{j}]")

    def annotation(self, ann: Any, frame: int, width: int, height: int, where: str) -> None:
        kind = self.f.get(ann, "type", where, str)
        if kind == "label":
            attributes, _, _, _, _ = self.attributes(ann, where)
            self.result.tags.append(
                Tag(
                    frame=frame,
                    label=self.label(ann, where),
                    attributes=attributes,
                    group=self.group(ann, where),
                    source="file",
                )
            )
            return
        if kind not in GEOMETRY_TYPES:
            raise self.f.fail(f"{where}.type", f"unknown annotation type {kind!r}")
        shape, track_id, keyframe = self.shape(ann, kind, frame, width, height, where)
        if shape is None:
            return
        if track_id is None:
            self.result.shapes.append(shape)
        else:
            self.tracks.setdefault((shape.label, track_id), []).append((frame, keyframe, shape))

    def group(self, ann: dict[str, Any], where: str) -> int:
        group = ann.get("group") or 0
        return max(self.f.check(group, f"{where}.group", int), 0)

    def attributes(
        self, ann: dict[str, Any], where: str
    ) -> tuple[dict[str, str], bool, float, int | None, bool]:
        raw = ann.get("attributes") or {}
        self.f.check(raw, f"{where}.attributes", dict)
        attributes: dict[str, str] = {}
        occluded, rotation, track_id, keyframe = False, 0.0, None, True
        for key, value in raw.items():
            if key == "occluded":
                occluded = bool(value)
            elif key == "outside":
                continue
            elif key == "rotation":
                rotation = self.f.check(value, f"{where}.attributes.rotation", (int, float))
            elif key == "track_id":
                track_id = self.f.check(value, f"{where}.attributes.track_id", int)
            elif key == "keyframe":
                keyframe = bool(value)
            else:
                attributes[key] = text_value(value)
        return self.shared(attributes), occluded, rotation, track_id, keyframe

    def shape(
        self, ann: dict[str, Any], kind: str, frame: int, width: int, height: int, where: str
    ) -> tuple[Shape | None, int | None, bool]:
        f = self.f
        label = self.label(ann, where)
        attributes, occluded, rotation, track_id, keyframe = self.attributes(ann, where)
        outside = bool((ann.get("attributes") or {}).get("outside", False))
        elements = NO_ELEMENTS
        if kind == "bbox":
            box = f.numbers(f.get(ann, "bbox", where, list), f"{where}.bbox")
            if len(box) != 4:
                raise f.fail(f"{where}.bbox", "expected [x, y, width, height]")
            points = [box[0], box[1], as_float(box[0] + box[2]), as_float(box[1] + box[3])]
        elif kind == "mask":
            found = read_rle(f, f.get(ann, "rle", where, dict), f"{where}.rle")
            if found is None:
                return None, None, True
            points = found
        elif kind == "skeleton":
            points = []
            elements = self.elements(ann, frame, width, height, where)
        else:
            points = f.numbers(f.get(ann, "points", where, list), f"{where}.points")
            if kind == "ellipse":
                if len(points) != 4:
                    raise f.fail(f"{where}.points", "an ellipse needs [x1, y1, x2, y2]")
                x1, y1, x2, y2 = points
                cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
                points = [cx, cy, x2, y1]
            elif kind == "cuboid_2d" and len(points) != 16:
                raise f.fail(f"{where}.points", "a cuboid needs 16 numbers")
            elif len(points) % 2:
                raise f.fail(f"{where}.points", "expected x, y pairs")
        z_order = ann.get("z_order") or 0
        shape = Shape(
            type=GEOMETRY_TYPES[kind],
            frame=frame,
            label=label,
            points=points,
            rotation=rotation,
            occluded=occluded,
            outside=outside,
            z_order=f.check(z_order, f"{where}.z_order", int),
            attributes=attributes,
            group=self.group(ann, where),
            source="file",
            elements=elements,
        )
        return shape, track_id, keyframe

    def elements(
        self, ann: dict[str, Any], frame: int, width: int, height: int, where: str
    ) -> list[Shape]:
        f = self.f
        elements: list[Shape] = []
        raw_elements = ann.get("elements") or []
        f.check(raw_elements, f"{where}.elements", list)
        for k, raw in enumerate(raw_elements):
            here = f"{where}.elements[{k}]"
            sub, _, sub_keyframe = self.shape(raw, "points", frame, width, height, here)
            if sub is None:
                continue
            if "keyframe" in (raw.get("attributes") or {}):
                self.element_keyframes[id(sub)] = sub_keyframe
            visibility = raw.get("visibility") or []
            if not isinstance(visibility, list):
                raise f.fail(f"{here}.visibility", "expected a list")
            if visibility and visibility[0] == 0:
                sub.outside = True
            elif visibility and visibility[0] == 1:
                sub.occluded = True
            elements.append(sub)
        return elements

    def finish(self) -> None:
        """Records the file's frames (moved up when an earlier file used their numbers) and
        builds its tracks."""
        result = self.result
        shift = self.first_frame if any(n in result.frame_names for n in self.names) else 0
        if shift:
            for shape in result.shapes[self.shapes_from :]:
                shape.frame += shift
                for element in shape.elements:
                    element.frame += shift
            for tag in result.tags[self.tags_from :]:
                tag.frame += shift
            for found in self.tracks.values():
                found[:] = [(frame + shift, key, shape) for frame, key, shape in found]
            self.next_frame += shift
        for frame, name in self.names.items():
            result.frame_names[frame + shift] = name
            result.frame_subsets[frame + shift] = self.subset
        frames = sorted(n + shift for n in self.names)
        for (label, _), found in sorted(self.tracks.items(), key=lambda kv: kv[0][1]):
            found.sort(key=lambda item: item[0])
            result.tracks.append(_build_track(label, found, frames, self.element_keyframes))


def _keyed_states(found: _Found, frames: list[int]) -> list[TrackShape]:
    present = {frame for frame, _, _ in found}
    states: list[TrackShape] = []
    for i, (frame, keyframe, shape) in enumerate(found):
        if keyframe or i == 0:
            states.append(as_keyframe(shape, frame))
        at = bisect.bisect_right(frames, frame)
        if at < len(frames) and frames[at] not in present:
            states.append(as_keyframe(shape, frames[at], outside=True))
    return states


def _lift_attributes(states: list[TrackShape]) -> dict[str, str]:
    """Attributes equal on every state become the track's."""
    visible = [s for s in states if not s.outside] or states
    common = dict(visible[0].attributes)
    for s in visible[1:]:
        common = {k: v for k, v in common.items() if s.attributes.get(k) == v}
    for s in states:
        for key in common:
            s.attributes.pop(key, None)
    return common


def _build_track(
    label: str, found: _Found, frames: list[int], element_keyframes: dict[int, bool]
) -> Track:
    states = _keyed_states(found, frames)
    attributes = _lift_attributes(states)
    first = found[0][2]
    elements: list[Track] = []
    if first.type == "skeleton":
        by_label: dict[str, _Found] = {}
        for frame, keyframe, shape in found:
            for element in shape.elements:
                own = element_keyframes.get(id(element), keyframe)
                by_label.setdefault(element.label, []).append((frame, own, element))
        for sub_label, sub_found in by_label.items():
            sub_states = _keyed_states(sub_found, frames)
            elements.append(
                Track(
                    label=sub_label,
                    frame=sub_states[0].frame,
                    shapes=sub_states,
                    attributes=_lift_attributes(sub_states),
                    source="file",
                )
            )
    return Track(
        label=label,
        frame=states[0].frame,
        shapes=states,
        attributes=attributes,
        group=first.group,
        source="file",
        elements=elements,
    )


def read(path: Path) -> ImportedDataset:
    """Datumaro 1.0: a bare ``.json`` or a zip with ``annotations/<subset>.json``."""
    result = ImportedDataset()
    shared = SharedAttributes()

    def wanted(name: str) -> bool:
        parts = PurePosixPath(name).parts
        return name.lower().endswith(".json") and len(parts) >= 2 and parts[-2] == "annotations"

    frame = 0
    with Input(path) as src:
        for name in src.members(wanted, "annotations/<subset>.json"):
            subset = PurePosixPath(name).stem if src.is_zip else "default"
            shown = src.shown(name)
            reader = _Reader(shown, result, frame, subset, shared)
            with src.open(name) as stream:
                read_sections(
                    shown, stream, small=("categories",), big="items", start=reader.start,
                    big_required=True,
                )  # fmt: skip
            reader.finish()
            frame = reader.next_frame
    return result
