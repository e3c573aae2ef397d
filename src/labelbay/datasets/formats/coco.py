"""COCO 1.0 (instances) and COCO Keypoints 1.0: exporters (here) and importers
(:mod:`.coco_read`).

Export layout: for each subset of the source's frames (``FrameInfo.subset``),
``annotations/instances_<subset>.json`` (``person_keypoints_<subset>.json`` for keypoints)
with every category, that subset's images (ids from 1 in each file) and their annotations;
with ``save_images``, the frames under ``images/<subset>/``.

What goes where (instances):

* rectangle: ``bbox`` ``[x, y, w, h]``, ``segmentation: []``, ``iscrowd: 0``;
* polygon: ``segmentation: [[x, y, ...]]``, ``bbox`` of its extent, shoelace ``area``;
* ellipse: written as a 32-vertex polygon (COCO has no ellipses; it imports as a polygon);
* mask: uncompressed RLE ``{"counts": [...], "size": [h, w]}`` (column-major over the whole
  image, as COCO counts), ``iscrowd: 1``;
* polylines, points, cuboids, skeletons and tags are not part of COCO instances and are left
  out (skeletons go to COCO Keypoints).

Every annotation carries ``attributes``: ``occluded``, ``rotation`` (rectangles), and the label
attributes typed by their input type (checkbox → bool, number → number, others → string).
Tracks are written as plain annotations on every frame where they are visible (in the file of
that frame's subset). ``group`` is not kept.

Import: a bare ``.json`` or a zip with ``annotations/*.json`` (every subset), streamed.
Categories become labels by name; images are numbered in file order (on from file to file)
and their ``file_name`` is recorded in ``ImportedDataset.frame_names`` (matching is by name
without extension and directory, done when the dataset is applied), their subset in
``frame_subsets``. Each polygon of a ``segmentation`` becomes a polygon shape (several
polygons of one annotation share a group); a ``segmentation`` RLE (compressed string or
uncompressed counts, any ``iscrowd``) becomes a mask shape; an annotation with no
segmentation becomes a rectangle from its ``bbox``.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson

from labelbay.datasets.formats.coco_read import read_instances, read_keypoints
from labelbay.datasets.formats.common import label_types, subset_dir, write_frame_images
from labelbay.datasets.formats.jsonattrs import typed_attributes
from labelbay.datasets.formats.rle import mask_to_coco_counts
from labelbay.datasets.model import (
    DatasetSource,
    FrameInfo,
    LabelSpec,
    Shape,
    Tag,
    subset_runs,
)
from labelbay.datasets.registry import Format, register
from labelbay.datasets.tracks import frame_shapes

# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


def polygon_area(points: Sequence[float]) -> float:
    total = 0.0
    n = len(points) // 2
    for i in range(n):
        x1, y1 = points[2 * i], points[2 * i + 1]
        x2, y2 = points[(2 * i + 2) % (2 * n)], points[(2 * i + 3) % (2 * n)]
        total += x1 * y2 - x2 * y1
    return abs(total) / 2.0


def extent(points: Sequence[float]) -> list[float]:
    xs, ys = points[0::2], points[1::2]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def ellipse_polygon(points: Sequence[float], rotation: float, vertices: int = 32) -> list[float]:
    cx, cy = points[0], points[1]
    rx, ry = abs(points[2] - cx), abs(cy - points[3])
    angle = math.radians(rotation)
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    found: list[float] = []
    for i in range(vertices):
        t = 2 * math.pi * i / vertices
        x, y = rx * math.cos(t), ry * math.sin(t)
        found += [cx + x * cos_a - y * sin_a, cy + x * sin_a + y * cos_a]
    return found


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


def _instances(
    shape: Shape, label: LabelSpec | None, width: int, height: int
) -> dict[str, Any] | None:
    attributes: dict[str, Any] = {"occluded": shape.occluded}
    p = shape.points
    if shape.type == "rectangle":
        attributes["rotation"] = shape.rotation
        bbox = [p[0], p[1], p[2] - p[0], p[3] - p[1]]
        body: dict[str, Any] = {
            "segmentation": [],
            "area": bbox[2] * bbox[3],
            "bbox": bbox,
            "iscrowd": 0,
        }
    elif shape.type in ("polygon", "ellipse"):
        poly = list(p) if shape.type == "polygon" else ellipse_polygon(p, shape.rotation)
        if len(poly) < 6:
            return None
        body = {
            "segmentation": [poly],
            "area": polygon_area(poly),
            "bbox": extent(poly),
            "iscrowd": 0,
        }
    elif shape.type == "mask":
        if len(p) < 5 or width <= 0 or height <= 0:
            return None
        counts = mask_to_coco_counts(p, width, height)
        left, top, right, bottom = p[-4:]
        body = {
            "segmentation": {"counts": counts, "size": [height, width]},
            "area": float(sum(counts[1::2])),
            "bbox": [left, top, right - left + 1, bottom - top + 1],
            "iscrowd": 1,
        }
    else:
        return None
    attributes.update(typed_attributes(label, shape.attributes))
    body["attributes"] = attributes
    return body


def _keypoints(shape: Shape, label: LabelSpec | None) -> dict[str, Any] | None:
    if shape.type != "skeleton" or label is None or not label.sublabels:
        return None
    by_label = {e.label: e for e in shape.elements}
    values: list[float] = []
    visible: list[float] = []
    for sub in label.sublabels:
        element = by_label.get(sub.name)
        if element is None or len(element.points) < 2:
            values += [0, 0, 0]
            continue
        x, y = element.points[0], element.points[1]
        v = 0 if element.outside else (1 if element.occluded else 2)
        values += [x, y, v]
        if v:
            visible += [x, y]
    bbox = extent(visible) if visible else [0, 0, 0, 0]
    attributes: dict[str, Any] = {"occluded": shape.occluded}
    attributes.update(typed_attributes(label, shape.attributes))
    return {
        "segmentation": [],
        "area": bbox[2] * bbox[3],
        "bbox": bbox,
        "iscrowd": 0,
        "keypoints": values,
        "num_keypoints": sum(1 for v in values[2::3] if v),
        "attributes": attributes,
    }


_INSTANCE_TYPES = ("rectangle", "polygon", "ellipse", "mask")
_HEAD = (
    b'{"licenses":[{"name":"","id":0,"url":""}],'
    b'"info":{"contributor":"","date_created":"","description":"","url":"",'
    b'"version":"","year":""},'
)

Annotated = Iterator[tuple[FrameInfo, list[Shape], list[Tag]]]
Body = Callable[[Shape, FrameInfo], "dict[str, Any] | None"]


def _categories(labels: Sequence[LabelSpec], keypoints: bool) -> bytes:
    entries = []
    for i, label in enumerate(labels):
        entry: dict[str, Any] = {"id": i + 1, "name": label.name, "supercategory": ""}
        if keypoints:
            entry["keypoints"] = [sub.name for sub in label.sublabels]
            entry["skeleton"] = []
        entries.append(entry)
    return orjson.dumps(entries)


def _write_file(
    stream: Any, categories: bytes, frames: Sequence[FrameInfo], annotated: Annotated, body: Body
) -> None:
    """One annotation file: the categories, ``frames`` as images (ids from 1), then the
    annotations ``body`` makes of the shapes ``annotated`` gives."""
    stream.write(_HEAD + b'"categories":' + categories + b',"images":[')
    image_ids: dict[int, int] = {}
    for i, frame in enumerate(frames):
        image_ids[frame.number] = i + 1
        entry = {
            "id": i + 1,
            "width": frame.width,
            "height": frame.height,
            "file_name": frame.name,
            "license": 0,
            "flickr_url": "",
            "coco_url": "",
            "date_captured": 0,
        }
        stream.write((b"," if i else b"") + orjson.dumps(entry))
    stream.write(b'],"annotations":[')
    next_id = 1
    for frame, shapes, _tags in annotated:
        image_id = image_ids.get(frame.number)
        if image_id is None:  # not among the frames listed: no image to refer to
            continue
        for shape in shapes:
            found = body(shape, frame)
            if found is None:
                continue
            entry = {"id": next_id, "image_id": image_id, **found}
            stream.write((b"," if next_id > 1 else b"") + orjson.dumps(entry))
            next_id += 1
    stream.write(b"]}")


def _export(
    source: DatasetSource, out: zipfile.ZipFile, save_images: bool, *, keypoints: bool
) -> None:
    if keypoints:
        labels = [label for label in source.labels if label.type == "skeleton" or label.sublabels]
    else:
        labels = list(source.labels)
    category = {label.name: i + 1 for i, label in enumerate(labels)}
    specs = label_types(source.labels)
    categories = _categories(labels, keypoints)

    def body(shape: Shape, frame: FrameInfo) -> dict[str, Any] | None:
        if shape.label not in category:
            return None
        label = specs.get(shape.label)
        if keypoints:
            found = _keypoints(shape, label)
        else:
            found = _instances(shape, label, frame.width, frame.height)
        return None if found is None else {"category_id": category[shape.label], **found}

    def member(subset: str) -> str:
        kind = "person_keypoints" if keypoints else "instances"
        return f"annotations/{kind}_{subset_dir(subset)}.json"

    types = ("skeleton",) if keypoints else _INSTANCE_TYPES
    annotated = subset_runs(frame_shapes(source, types), lambda item: item[0])
    written: set[str] = set()
    for subset, frames in subset_runs(source.frames, lambda frame: frame):
        name = member(subset)
        if name in written:
            raise ValueError(f"the frames of subset {subset!r} do not come one after another")
        written.add(name)
        run_subset, run = next(annotated, (subset, iter(())))
        if run_subset != subset:
            raise ValueError(f"frame_annotations() gives subset {run_subset!r}, not {subset!r}")
        with out.open(name, "w", force_zip64=True) as stream:
            _write_file(stream, categories, list(frames), run, body)
    if not written:  # no frames: still a file with the categories
        with out.open(member(source.subset), "w", force_zip64=True) as stream:
            _write_file(stream, categories, [], iter(()), body)
    if save_images:
        write_frame_images(source, out)


def export_instances(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    """COCO 1.0."""
    _export(source, out, save_images, keypoints=False)


def export_keypoints(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    """COCO Keypoints 1.0 (skeleton labels only)."""
    _export(source, out, save_images, keypoints=True)


register(
    Format(
        "COCO 1.0",
        ext="JSON, ZIP",
        version="1.0",
        exporter=export_instances,
        importer=read_instances,
        slug="coco",
    )
)
register(
    Format(
        "COCO Keypoints 1.0",
        ext="JSON, ZIP",
        version="1.0",
        exporter=export_keypoints,
        importer=read_keypoints,
        slug="coco_keypoints",
    )
)
