"""Datumaro 1.0: exporter and importer.

Export layout: ``annotations/<subset>.json`` and, with ``save_images``, the frames under
``images/<subset>/``. The JSON::

    {"dm_format_version": "1.0", "media_type": 2, "infos": {},
     "categories": {"label": {"labels": [{"name", "parent", "attributes": [names]}],
                              "label_groups": [], "attributes": ["occluded"]},
                    "points": {"items": [{"label_id", "labels": [sublabel names], "joints"}]}},
     "items": [{"id": <frame name without extension>, "attr": {"frame": N},
                "image": {"path": <frame name>, "size": [h, w]},
                "annotations": [{"id", "type", "label_id", "group", "z_order",
                                 "attributes", ...geometry}]}]}

Labels are listed in order, each skeleton followed by its sublabels (``parent`` set);
``label_id`` is the index in that list. Geometry by type: ``bbox`` ``[x, y, w, h]``
(rectangles), ``points`` for ``polygon``/``polyline``/``points`` (with ``visibility``),
``ellipse`` ``points: [x1, y1, x2, y2]`` (its bounding box), ``cuboid_2d`` ``points`` (16
values), ``mask`` ``rle: {"counts": <COCO compressed RLE>, "size": [h, w]}``, ``skeleton``
``elements`` (``points`` annotations), ``label`` for tags. ``attributes`` hold ``occluded``,
``rotation`` (rectangles, ellipses) and the label attributes typed by input type.

Tracks are written as annotations on every frame where they are visible, with the attributes
``track_id`` and ``keyframe``; the importer rebuilds them (keyframes kept, an ``outside``
keyframe added on the first frame after a visible run where the track is missing; attributes
equal on every frame of a track become track attributes).
"""

from __future__ import annotations

import bisect
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from labelbay.datasets.formats.coco import (
    JsonFields,
    check_mask_size,
    coco_counts_to_mask,
    decode_rle_string,
    encode_rle_string,
    load_json,
    mask_to_coco_counts,
    text_value,
    typed_attributes,
)
from labelbay.datasets.formats.cvat import (
    TrackCursor,
    label_types,
    open_annotation_file,
    safe_member_name,
)
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

_GEOMETRY_TYPES = {
    "bbox": "rectangle",
    "polygon": "polygon",
    "polyline": "polyline",
    "points": "points",
    "ellipse": "ellipse",
    "cuboid_2d": "cuboid",
    "mask": "mask",
    "skeleton": "skeleton",
}


def _flat_labels(labels: Sequence[LabelSpec]) -> list[tuple[LabelSpec, str]]:
    flat: list[tuple[LabelSpec, str]] = []
    for label in labels:
        flat.append((label, ""))
        flat += [(sub, label.name) for sub in label.sublabels]
    return flat


def _stem(name: str) -> str:
    path = PurePosixPath(name)
    return str(path.with_suffix("")) if path.suffix else name


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


class _Writer:
    def __init__(self, source: DatasetSource) -> None:
        self.flat = _flat_labels(source.labels)
        self.index: dict[tuple[str, str], int] = {}
        for i, (label, parent) in enumerate(self.flat):
            self.index.setdefault((parent, label.name), i)
        self.specs = label_types(source.labels)
        self.next_id = 0

    def label_id(self, name: str, parent: str = "") -> int | None:
        return self.index.get((parent, name))

    def annotation(
        self,
        shape: Shape,
        width: int,
        height: int,
        parent: str = "",
        extra: dict | None = None,
        element_extras: Sequence[dict] = (),
    ) -> dict[str, Any] | None:
        label_id = self.label_id(shape.label, parent)
        if label_id is None:
            return None
        attributes: dict[str, Any] = {"occluded": shape.occluded}
        if parent:
            attributes["outside"] = shape.outside
        p = shape.points
        body: dict[str, Any] = {}
        if shape.type == "rectangle":
            body = {"type": "bbox", "bbox": [p[0], p[1], p[2] - p[0], p[3] - p[1]]}
            attributes["rotation"] = shape.rotation
        elif shape.type in ("polygon", "polyline"):
            body = {"type": shape.type, "points": list(p)}
        elif shape.type == "points":
            body = {"type": "points", "points": list(p), "visibility": [2] * (len(p) // 2)}
            if parent and shape.outside:
                body["visibility"] = [0] * (len(p) // 2)
            elif shape.occluded:
                body["visibility"] = [1] * (len(p) // 2)
        elif shape.type == "ellipse":
            cx, cy, rx, ry = p[0], p[1], p[2] - p[0], p[1] - p[3]
            body = {"type": "ellipse", "points": [cx - rx, cy - ry, cx + rx, cy + ry]}
            attributes["rotation"] = shape.rotation
        elif shape.type == "cuboid":
            body = {"type": "cuboid_2d", "points": list(p)}
        elif shape.type == "mask":
            if len(p) < 5 or width <= 0 or height <= 0:
                return None
            counts = mask_to_coco_counts(p, width, height)
            body = {
                "type": "mask",
                "rle": {"counts": encode_rle_string(counts), "size": [height, width]},
            }
        elif shape.type == "skeleton":
            elements = []
            for k, element in enumerate(shape.elements):
                more = element_extras[k] if k < len(element_extras) else None
                found = self.annotation(element, width, height, parent=shape.label, extra=more)
                if found is not None:
                    elements.append(found)
            body = {"type": "skeleton", "elements": elements}
        else:
            return None
        attributes.update(typed_attributes(self.specs.get(shape.label), shape.attributes))
        if extra:
            attributes.update(extra)
        self.next_id += 1
        return {
            "id": self.next_id,
            "label_id": label_id,
            "group": shape.group,
            "z_order": shape.z_order,
            "attributes": attributes,
            **body,
        }

    def tag(self, tag: Tag) -> dict[str, Any] | None:
        label_id = self.label_id(tag.label)
        if label_id is None:
            return None
        self.next_id += 1
        return {
            "id": self.next_id,
            "type": "label",
            "label_id": label_id,
            "group": tag.group,
            "attributes": typed_attributes(self.specs.get(tag.label), tag.attributes),
        }


def export(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    """Datumaro 1.0."""
    subset = safe_member_name(source.subset or "default")
    writer = _Writer(source)
    categories = {
        "label": {
            "labels": [
                {
                    "name": label.name,
                    "parent": parent,
                    "attributes": [a.name for a in label.attributes],
                }
                for label, parent in writer.flat
            ],
            "label_groups": [],
            "attributes": ["occluded"],
        },
        "points": {
            "items": [
                {
                    "label_id": writer.label_id(label.name),
                    "labels": [sub.name for sub in label.sublabels],
                    "joints": [],
                }
                for label in source.labels
                if label.sublabels
            ]
        },
    }
    with out.open(f"annotations/{subset}.json", "w", force_zip64=True) as stream:
        stream.write(b'{"dm_format_version":"1.0","media_type":2,"infos":{},"categories":')
        stream.write(orjson.dumps(categories))
        stream.write(b',"items":[')
        cursor = TrackCursor(source.tracks())
        first = True
        for frame, shapes, tags in source.frame_annotations():
            annotations = []
            for shape in shapes:
                found = writer.annotation(shape, frame.width, frame.height)
                if found is not None:
                    annotations.append(found)
            for tracked in cursor.at(frame.number):
                extra = {"track_id": tracked.track_id, "keyframe": tracked.keyframe}
                found = writer.annotation(
                    tracked.shape,
                    frame.width,
                    frame.height,
                    extra=extra,
                    element_extras=[{"keyframe": k} for k in tracked.element_keyframes],
                )
                if found is not None:
                    annotations.append(found)
            for tag in tags:
                found = writer.tag(tag)
                if found is not None:
                    annotations.append(found)
            item = {
                "id": _stem(frame.name),
                "annotations": annotations,
                "attr": {"frame": frame.number},
                "image": {"path": frame.name, "size": [frame.height, frame.width]},
            }
            stream.write((b"" if first else b",") + orjson.dumps(item))
            first = False
        stream.write(b"]}")
    if save_images:
        seen: set[str] = set()
        for frame in source.frames:
            image = source.image(frame)
            if image is None:
                continue
            name = f"images/{subset}/{safe_member_name(image[0])}"
            if name not in seen:
                seen.add(name)
                out.writestr(name, image[1])


# --------------------------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, file: str, result: ImportedDataset, first_frame: int) -> None:
        self.f = JsonFields(file)
        self.result = result
        self.next_frame = first_frame
        self.labels: list[tuple[str, str]] = []  # (name, parent) by label_id
        # track id -> [(frame, keyframe, shape)]
        self.tracks: dict[tuple[str, int], list[tuple[int, bool, Shape]]] = {}
        self.frames: list[int] = []
        self.element_keyframes: dict[int, bool] = {}  # id(element shape) -> its own flag

    def categories(self, data: Any) -> None:
        f = self.f
        cats = f.get(data, "categories", "top level", dict)
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

    def label(self, ann: dict, where: str, parent: str = "") -> str:
        label_id = self.f.get(ann, "label_id", where, int)
        if not 0 <= label_id < len(self.labels):
            raise self.f.fail(f"{where}.label_id", f"no label has index {label_id}")
        return self.labels[label_id][0]

    def item(self, item: Any, where: str) -> None:
        f = self.f
        item_id = f.get(item, "id", where, str)
        attr = item.get("attr") or {}
        f.check(attr, f"{where}.attr", dict)
        if "frame" in attr:
            frame = f.check(attr["frame"], f"{where}.attr.frame", int)
            if frame < 0:
                raise f.fail(f"{where}.attr.frame", "must not be negative")
        else:
            frame = self.next_frame
        self.next_frame = max(self.next_frame, frame + 1)
        self.frames.append(frame)
        image = item.get("image")
        name = item_id
        if isinstance(image, dict) and isinstance(image.get("path"), str) and image["path"]:
            name = image["path"]
        self.result.frame_names[frame] = name
        size = image.get("size") if isinstance(image, dict) else None
        height, width = 0, 0
        if size is not None:
            found = self.f.numbers(size, f"{where}.image.size")
            if len(found) != 2:
                raise f.fail(f"{where}.image.size", "expected [height, width]")
            height, width = int(found[0]), int(found[1])
        annotations = item.get("annotations") or []
        f.check(annotations, f"{where}.annotations", list)
        for j, ann in enumerate(annotations):
            here = f"{where}.annotations[{j}]"
            kind = f.get(ann, "type", here, str)
            if kind == "label":
                attributes, _, _, _, _ = self.attributes(ann, here)
                self.result.tags.append(
                    Tag(
                        frame=frame,
                        label=self.label(ann, here),
                        attributes=attributes,
                        group=self.group(ann, here),
                        source="file",
                    )
                )
                continue
            if kind not in _GEOMETRY_TYPES:
                raise f.fail(f"{here}.type", f"unknown annotation type {kind!r}")
            shape, track_id, keyframe = self.shape(ann, kind, frame, width, height, here)
            if shape is None:
                continue
            if track_id is None:
                self.result.shapes.append(shape)
            else:
                self.tracks.setdefault((shape.label, track_id), []).append((frame, keyframe, shape))

    def group(self, ann: dict, where: str) -> int:
        group = ann.get("group") or 0
        return max(self.f.check(group, f"{where}.group", int), 0)

    def attributes(
        self, ann: dict, where: str
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
        return attributes, occluded, rotation, track_id, keyframe

    def shape(
        self, ann: dict, kind: str, frame: int, width: int, height: int, where: str
    ) -> tuple[Shape | None, int | None, bool]:
        f = self.f
        label = self.label(ann, where)
        attributes, occluded, rotation, track_id, keyframe = self.attributes(ann, where)
        type_ = _GEOMETRY_TYPES[kind]
        outside = bool((ann.get("attributes") or {}).get("outside", False))
        elements: list[Shape] = []
        if kind == "bbox":
            box = f.numbers(f.get(ann, "bbox", where, list), f"{where}.bbox")
            if len(box) != 4:
                raise f.fail(f"{where}.bbox", "expected [x, y, width, height]")
            points = [box[0], box[1], box[0] + box[2], box[1] + box[3]]
        elif kind == "mask":
            rle = f.get(ann, "rle", where, dict)
            counts_raw = f.get(rle, "counts", f"{where}.rle", (str, list))
            size = f.numbers(f.get(rle, "size", f"{where}.rle", list), f"{where}.rle.size")
            if len(size) != 2:
                raise f.fail(f"{where}.rle.size", "expected [height, width]")
            h, w = int(size[0]), int(size[1])
            try:
                check_mask_size(h, w)
                counts = (
                    decode_rle_string(counts_raw)
                    if isinstance(counts_raw, str)
                    else [int(c) for c in f.numbers(counts_raw, f"{where}.rle.counts")]
                )
                if sum(counts) > w * h:
                    raise ValueError(f"the runs cover {sum(counts)} pixels, the image {w * h}")
                found = coco_counts_to_mask(counts, w, h)
            except ValueError as error:
                raise f.fail(f"{where}.rle.counts", str(error)) from None
            if found is None:
                return None, None, True
            points = found
        elif kind == "skeleton":
            points = []
            raw_elements = ann.get("elements") or []
            f.check(raw_elements, f"{where}.elements", list)
            for k, raw in enumerate(raw_elements):
                here = f"{where}.elements[{k}]"
                sub, _, sub_keyframe = self.shape(raw, "points", frame, width, height, here)
                if sub is not None:
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
            type=type_,
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

    def finish_tracks(self) -> None:
        frames = sorted(set(self.frames))
        for (label, _), found in sorted(self.tracks.items(), key=lambda kv: kv[0][1]):
            found.sort(key=lambda item: item[0])
            self.result.tracks.append(_build_track(label, found, frames, self.element_keyframes))


def _state(frame: int, shape: Shape, outside: bool = False) -> TrackShape:
    return TrackShape(
        frame=frame,
        type=shape.type,
        points=list(shape.points),
        rotation=shape.rotation,
        occluded=shape.occluded,
        outside=outside or shape.outside,
        keyframe=True,
        z_order=shape.z_order,
        attributes=dict(shape.attributes),
    )


def _keyed_states(found: list[tuple[int, bool, Shape]], frames: list[int]) -> list[TrackShape]:
    present = {frame for frame, _, _ in found}
    states: list[TrackShape] = []
    for i, (frame, keyframe, shape) in enumerate(found):
        if keyframe or i == 0:
            states.append(_state(frame, shape))
        at = bisect.bisect_right(frames, frame)
        if at < len(frames) and frames[at] not in present:
            states.append(_state(frames[at], shape, outside=True))
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
    label: str,
    found: list[tuple[int, bool, Shape]],
    frames: list[int],
    element_keyframes: dict[int, bool],
) -> Track:
    states = _keyed_states(found, frames)
    attributes = _lift_attributes(states)
    first = found[0][2]
    elements: list[Track] = []
    if first.type == "skeleton":
        by_label: dict[str, list[tuple[int, bool, Shape]]] = {}
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
    path = Path(path)
    result = ImportedDataset()

    def wanted(name: str) -> bool:
        parts = PurePosixPath(name).parts
        return name.lower().endswith(".json") and len(parts) >= 2 and parts[-2] == "annotations"

    frame = 0
    for name, stream in open_annotation_file(path, wanted, "annotations/<subset>.json"):
        data = load_json(name, stream)
        reader = _Reader(name, result, frame)
        reader.f.check(data, "top level", dict)
        reader.categories(data)
        items = reader.f.get(data, "items", "top level", list)
        for i, item in enumerate(items):
            reader.item(item, f"items[{i}]")
        reader.finish_tracks()
        frame = reader.next_frame
    return result


register(
    Format(
        "Datumaro 1.0", ext="ZIP", version="1.0", exporter=export, importer=read, slug="datumaro"
    )
)
