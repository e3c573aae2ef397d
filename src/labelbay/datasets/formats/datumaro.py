"""Datumaro 1.0: exporter (here) and importer (:mod:`.datumaro_read`).

Export layout: for each subset of the source's frames (``FrameInfo.subset``),
``annotations/<subset>.json`` with every category and that subset's items; with
``save_images``, the frames under ``images/<subset>/``. The JSON::

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

Tracks are written as annotations on every frame where they are visible (in the file of that
frame's subset), with the attributes ``track_id`` and ``keyframe``; the importer rebuilds them.
Annotation ids count up through the whole export.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath
from typing import IO, Any

import orjson

from labelbay.datasets.formats.common import label_types, subset_dir, write_frame_images
from labelbay.datasets.formats.datumaro_read import read
from labelbay.datasets.formats.jsonattrs import typed_attributes
from labelbay.datasets.formats.rle import encode_rle_string, mask_to_coco_counts
from labelbay.datasets.model import DatasetSource, FrameInfo, LabelSpec, Shape, Tag, subset_runs
from labelbay.datasets.registry import Format, register
from labelbay.datasets.tracks import TrackCursor


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


def _categories(writer: _Writer, labels: Sequence[LabelSpec]) -> dict[str, Any]:
    return {
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
                for label in labels
                if label.sublabels
            ]
        },
    }


def _item(
    writer: _Writer, cursor: TrackCursor, frame: FrameInfo, shapes: list[Shape], tags: list[Tag]
) -> dict[str, Any]:
    annotations = []
    for shape in shapes:
        found = writer.annotation(shape, frame.width, frame.height)
        if found is not None:
            annotations.append(found)
    for tracked in cursor.at(frame.number):
        found = writer.annotation(
            tracked.shape,
            frame.width,
            frame.height,
            extra={"track_id": tracked.track_id, "keyframe": tracked.keyframe},
            element_extras=[{"keyframe": k} for k in tracked.element_keyframes],
        )
        if found is not None:
            annotations.append(found)
    for tag in tags:
        found = writer.tag(tag)
        if found is not None:
            annotations.append(found)
    return {
        "id": _stem(frame.name),
        "annotations": annotations,
        "attr": {"frame": frame.number},
        "image": {"path": frame.name, "size": [frame.height, frame.width]},
    }


def _write_file(
    stream: IO[bytes],
    head: bytes,
    writer: _Writer,
    cursor: TrackCursor,
    annotated: Iterator[tuple[FrameInfo, list[Shape], list[Tag]]],
) -> None:
    stream.write(head)
    for i, (frame, shapes, tags) in enumerate(annotated):
        item = _item(writer, cursor, frame, shapes, tags)
        stream.write((b"," if i else b"") + orjson.dumps(item))
    stream.write(b"]}")


def export(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    """Datumaro 1.0."""
    writer = _Writer(source)
    head = (
        b'{"dm_format_version":"1.0","media_type":2,"infos":{},"categories":'
        + orjson.dumps(_categories(writer, source.labels))
        + b',"items":['
    )
    cursor = TrackCursor(source.tracks())
    written: set[str] = set()
    for subset, annotated in subset_runs(source.frame_annotations(), lambda item: item[0]):
        name = f"annotations/{subset_dir(subset)}.json"
        if name in written:
            raise ValueError(f"the frames of subset {subset!r} do not come one after another")
        written.add(name)
        with out.open(name, "w", force_zip64=True) as stream:
            _write_file(stream, head, writer, cursor, annotated)
    if not written:  # no frames: still a file with the categories
        name = f"annotations/{subset_dir(source.subset)}.json"
        with out.open(name, "w", force_zip64=True) as stream:
            _write_file(stream, head, writer, cursor, iter(()))
    if save_images:
        write_frame_images(source, out)


register(
    Format(
        "Datumaro 1.0", ext="ZIP", version="1.0", exporter=export, importer=read, slug="datumaro"
    )
)
