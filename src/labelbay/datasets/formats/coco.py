"""COCO 1.0 (instances) and COCO Keypoints 1.0: exporters and importers.

Export layout: ``annotations/instances_<subset>.json`` (``person_keypoints_<subset>.json``
for keypoints) and, with ``save_images``, the frames under ``images/<subset>/``.

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
Tracks are written as plain annotations on every frame where they are visible. ``group`` is
not kept.

Import: a bare ``.json`` or a zip with ``annotations/*.json`` (every subset). Categories
become labels by name; images are numbered in file order and their ``file_name`` is
recorded in ``ImportedDataset.frame_names`` (matching is by name without extension and
directory, done when the dataset is applied). Each polygon of a ``segmentation`` becomes a
polygon shape (several polygons of one annotation share a group); a ``segmentation`` RLE
(compressed string or uncompressed counts, any ``iscrowd``) becomes a mask shape; an annotation
with no segmentation becomes a rectangle from its ``bbox``.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import IO, Any

import orjson

from labelbay.datasets.formats.cvat import (
    TrackCursor,
    label_types,
    open_annotation_file,
    safe_member_name,
)
from labelbay.datasets.model import (
    DatasetSource,
    ImportedDataset,
    LabelSpec,
    Shape,
)
from labelbay.datasets.registry import Format, register
from labelbay.errors import Invalid

# --------------------------------------------------------------------------------------------
# Run-length encodings
# --------------------------------------------------------------------------------------------


MAX_MASK_PIXELS = 1 << 27
"""The largest image (in pixels) an imported RLE mask may cover: decoding holds one byte per
pixel of it."""


def check_mask_size(height: int, width: int) -> None:
    """Raises ``ValueError`` for a mask size that is negative or too large to decode."""
    if height <= 0 or width <= 0:
        raise ValueError(f"size {[height, width]} is not a positive [height, width]")
    if height * width > MAX_MASK_PIXELS:
        raise ValueError(f"size {[height, width]} is larger than {MAX_MASK_PIXELS} pixels")


def runs_of(data: bytes | bytearray) -> list[int]:
    """Lengths of alternating runs of 0 and 1 bytes, starting with zeros (maybe 0 long)."""
    counts: list[int] = []
    pos, size, looking_for = 0, len(data), b"\x01"
    while pos < size:
        nxt = data.find(looking_for, pos)
        if nxt < 0:
            nxt = size
        counts.append(nxt - pos)
        pos = nxt
        looking_for = b"\x00" if looking_for == b"\x01" else b"\x01"
    return counts


def _fill(counts: Sequence[int], size: int) -> bytearray:
    data = bytearray(size)
    pos, value = 0, 0
    for count in counts:
        count = int(count)
        if count < 0:
            raise ValueError("negative run length")
        end = min(pos + count, size)
        if value and end > pos:
            data[pos:end] = b"\x01" * (end - pos)
        pos += count
        value ^= 1
    return data


def encode_rle_string(counts: Sequence[int]) -> str:
    """COCO's compressed RLE text form of ``counts``."""
    out: list[str] = []
    for i, count in enumerate(counts):
        x = int(count)
        if i > 2:
            x -= int(counts[i - 2])
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def decode_rle_string(text: str) -> list[int]:
    """The counts of COCO's compressed RLE text form."""
    counts: list[int] = []
    pos, size = 0, len(text)
    while pos < size:
        x, shift, more = 0, 0, True
        c = 0
        while more:
            if pos >= size:
                raise ValueError("truncated RLE string")
            c = ord(text[pos]) - 48
            if c < 0 or c > 63:
                raise ValueError(f"unexpected character {text[pos]!r} in RLE string")
            x |= (c & 0x1F) << (5 * shift)
            more = bool(c & 0x20)
            pos += 1
            shift += 1
        if c & 0x10:
            x |= -1 << (5 * shift)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def mask_to_coco_counts(points: Sequence[float], width: int, height: int) -> list[int]:
    """A mask shape's points (row-major runs over its box + ``[l, t, r, b]``) as COCO counts
    (column-major over the whole ``width`` x ``height`` image)."""
    *runs, left_f, top_f, right_f, bottom_f = points
    left, top, right, bottom = int(left_f), int(top_f), int(right_f), int(bottom_f)
    box_w, box_h = right - left + 1, bottom - top + 1
    region = _fill([int(r) for r in runs], box_w * box_h)
    full = bytearray(width * height)
    y0, y1 = max(top, 0), min(bottom, height - 1)
    if y1 >= y0:
        for x in range(max(left, 0), min(right, width - 1) + 1):
            column = region[x - left :: box_w]  # rows top..bottom of column x
            full[x * height + y0 : x * height + y1 + 1] = column[y0 - top : y1 - top + 1]
    return runs_of(full)


def coco_counts_to_mask(counts: Sequence[int], width: int, height: int) -> list[float] | None:
    """COCO counts (column-major over the image) as a mask shape's points; ``None`` if empty."""
    full = _fill(counts, width * height)
    first = full.find(b"\x01")
    if first < 0:
        return None
    last = full.rfind(b"\x01")
    left, right = first // height, last // height
    top, bottom = height, -1
    for x in range(left, right + 1):
        column = full[x * height : (x + 1) * height]
        a = column.find(b"\x01")
        if a >= 0:
            top = min(top, a)
            bottom = max(bottom, column.rfind(b"\x01"))
    region = bytearray()
    for y in range(top, bottom + 1):
        region += full[left * height + y : right * height + y + 1 : height]
    return [*(float(r) for r in runs_of(region)), left, top, right, bottom]


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
# Attributes
# --------------------------------------------------------------------------------------------


def typed_attributes(label: LabelSpec | None, attributes: dict[str, str]) -> dict[str, Any]:
    """Attribute values as JSON types by the attribute's input type."""
    found: dict[str, Any] = {}
    for name, value in attributes.items():
        spec = label.attribute(name) if label is not None else None
        kind = spec.input_type if spec is not None else "text"
        if kind == "checkbox":
            found[name] = value.strip().lower() == "true"
        elif kind == "number":
            try:
                number = float(value)
                found[name] = int(number) if number.is_integer() else number
            except ValueError:
                found[name] = value
        else:
            found[name] = value
    return found


def text_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return orjson.dumps(value).decode()


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


def _dump(value: Any) -> bytes:
    return orjson.dumps(value)


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


def _export(
    source: DatasetSource, out: zipfile.ZipFile, save_images: bool, *, keypoints: bool
) -> None:
    subset = safe_member_name(source.subset or "default")
    member = (
        f"annotations/person_keypoints_{subset}.json"
        if keypoints
        else f"annotations/instances_{subset}.json"
    )
    if keypoints:
        labels = [label for label in source.labels if label.type == "skeleton" or label.sublabels]
    else:
        labels = list(source.labels)
    category = {label.name: i + 1 for i, label in enumerate(labels)}
    specs = label_types(source.labels)
    image_ids: dict[int, int] = {}
    with out.open(member, "w", force_zip64=True) as stream:
        stream.write(b'{"licenses":[{"name":"","id":0,"url":""}],')
        stream.write(
            b'"info":{"contributor":"","date_created":"","description":"","url":"",'
            b'"version":"","year":""},'
        )
        stream.write(b'"categories":[')
        for i, label in enumerate(labels):
            entry: dict[str, Any] = {"id": i + 1, "name": label.name, "supercategory": ""}
            if keypoints:
                entry["keypoints"] = [sub.name for sub in label.sublabels]
                entry["skeleton"] = []
            stream.write((b"," if i else b"") + _dump(entry))
        stream.write(b'],"images":[')
        for i, frame in enumerate(source.frames):
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
            stream.write((b"," if i else b"") + _dump(entry))
        stream.write(b'],"annotations":[')
        next_id = 1
        cursor = TrackCursor(source.tracks())
        for frame, shapes, _tags in source.frame_annotations():
            tracked = [t.shape for t in cursor.at(frame.number)]
            for shape in (*shapes, *tracked):
                if shape.label not in category:
                    continue
                label = specs.get(shape.label)
                if keypoints:
                    body = _keypoints(shape, label)
                else:
                    body = _instances(shape, label, frame.width, frame.height)
                if body is None:
                    continue
                entry = {
                    "id": next_id,
                    "image_id": image_ids.get(frame.number, frame.number + 1),
                    "category_id": category[shape.label],
                    **body,
                }
                stream.write((b"," if next_id > 1 else b"") + _dump(entry))
                next_id += 1
        stream.write(b"]}")
    if save_images:
        seen: set[str] = set()
        for frame in source.frames:
            found = source.image(frame)
            if found is None:
                continue
            name = f"images/{subset}/{safe_member_name(found[0])}"
            if name not in seen:
                seen.add(name)
                out.writestr(name, found[1])


def export_instances(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    """COCO 1.0."""
    _export(source, out, save_images, keypoints=False)


def export_keypoints(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    """COCO Keypoints 1.0 (skeleton labels only)."""
    _export(source, out, save_images, keypoints=True)


# --------------------------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------------------------


def load_json(name: str, stream: IO[bytes]) -> Any:
    try:
        raw = stream.read()
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise Invalid(f"{name}: the archive member cannot be read ({error})", file=name) from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise Invalid(
            f"{name}: line {error.lineno}, column {error.colno}: malformed JSON ({error.msg})",
            file=name,
        ) from None


class JsonFields:
    """Typed access to JSON fields, failing with the file and field path."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, where: str, problem: str) -> Invalid:
        return Invalid(f"{self.file}: {where}: {problem}", file=self.file, field=where)

    def get(self, obj: Any, key: str, where: str, kind: type | tuple[type, ...]) -> Any:
        if not isinstance(obj, dict):
            raise self.fail(where, "expected an object")
        if key not in obj:
            raise self.fail(f"{where}.{key}", "is missing")
        return self.check(obj[key], f"{where}.{key}", kind)

    def check(self, value: Any, where: str, kind: type | tuple[type, ...]) -> Any:
        if type(value) is kind:  # the common case, quickly
            return value
        if kind in (int, float, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(where, f"expected a number, got {value!r:.40}")
            if kind is int and not float(value).is_integer():
                raise self.fail(where, f"expected an integer, got {value!r}")
            return int(value) if kind is int else float(value)
        if not isinstance(value, kind):
            wanted = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            names = {"dict": "an object", "list": "a list", "str": "a string"}
            raise self.fail(where, f"expected {names.get(wanted, wanted)}")
        return value

    def numbers(self, value: Any, where: str) -> list[float]:
        self.check(value, where, list)
        if all(type(v) is float or type(v) is int for v in value):
            return [float(v) for v in value]
        return [self.check(v, f"{where}[{i}]", (int, float)) for i, v in enumerate(value)]


def _attributes(f: JsonFields, raw: Any, where: str) -> tuple[dict[str, str], bool, float]:
    if raw is None:
        return {}, False, 0.0
    f.check(raw, where, dict)
    attributes: dict[str, str] = {}
    occluded, rotation = False, 0.0
    for key, value in raw.items():
        if key == "occluded":
            occluded = bool(value)
        elif key == "rotation":
            rotation = f.check(value, f"{where}.rotation", (int, float))
        elif key in ("track_id", "keyframe"):
            continue
        else:
            attributes[key] = text_value(value)
    return attributes, occluded, rotation


def _read_coco(name: str, data: Any, result: ImportedDataset, first_frame: int) -> int:
    f = JsonFields(name)
    f.check(data, "top level", dict)
    categories: dict[int, tuple[str, list[str]]] = {}
    for i, cat in enumerate(f.get(data, "categories", "top level", list)):
        where = f"categories[{i}]"
        cat_id = f.get(cat, "id", where, int)
        cat_name = f.get(cat, "name", where, str)
        kp = cat.get("keypoints") or []
        f.check(kp, f"{where}.keypoints", list)
        categories[cat_id] = (cat_name, [str(k) for k in kp])
        if all(label.name != cat_name for label in result.labels):
            subs = tuple(LabelSpec(k, type="points") for k in kp)
            result.labels.append(
                LabelSpec(cat_name, type="skeleton" if kp else "any", sublabels=subs)
            )
    images: dict[int, tuple[int, int, int]] = {}
    frame = first_frame
    for i, image in enumerate(f.get(data, "images", "top level", list)):
        where = f"images[{i}]"
        image_id = f.get(image, "id", where, int)
        file_name = f.get(image, "file_name", where, str)
        width = f.get(image, "width", where, int) if "width" in image else 0
        height = f.get(image, "height", where, int) if "height" in image else 0
        images[image_id] = (frame, width, height)
        result.frame_names[frame] = file_name
        frame += 1
    group = max((s.group for s in result.shapes), default=0)
    for i, ann in enumerate(
        f.get(data, "annotations", "top level", list) if "annotations" in data else []
    ):
        where = f"annotations[{i}]"
        image_id = f.get(ann, "image_id", where, int)
        if image_id not in images:
            raise f.fail(f"{where}.image_id", f"no image has id {image_id}")
        category_id = f.get(ann, "category_id", where, int)
        if category_id not in categories:
            raise f.fail(f"{where}.category_id", f"no category has id {category_id}")
        label, keypoint_names = categories[category_id]
        frame_no, width, height = images[image_id]
        attributes, occluded, rotation = _attributes(
            f, ann.get("attributes"), f"{where}.attributes"
        )
        common = {"frame": frame_no, "label": label, "occluded": occluded, "source": "file"}
        if "keypoints" in ann and keypoint_names:
            values = f.numbers(ann["keypoints"], f"{where}.keypoints")
            if len(values) != 3 * len(keypoint_names):
                raise f.fail(
                    f"{where}.keypoints",
                    f"expected {3 * len(keypoint_names)} numbers (x, y, v per keypoint)",
                )
            elements = [
                Shape(
                    "points",
                    frame_no,
                    keypoint_names[k],
                    [values[3 * k], values[3 * k + 1]],
                    occluded=values[3 * k + 2] == 1,
                    outside=values[3 * k + 2] == 0,
                    source="file",
                )
                for k in range(len(keypoint_names))
            ]
            result.shapes.append(
                Shape("skeleton", points=[], attributes=attributes, elements=elements, **common)
            )
            continue
        segmentation = ann.get("segmentation")
        if isinstance(segmentation, dict):
            counts_raw = f.get(segmentation, "counts", f"{where}.segmentation", (str, list))
            size = f.numbers(
                f.get(segmentation, "size", f"{where}.segmentation", list),
                f"{where}.segmentation.size",
            )
            if len(size) != 2:
                raise f.fail(f"{where}.segmentation.size", "expected [height, width]")
            h, w = int(size[0]), int(size[1])
            try:
                check_mask_size(h, w)
                counts = (
                    decode_rle_string(counts_raw)
                    if isinstance(counts_raw, str)
                    else [int(c) for c in f.numbers(counts_raw, f"{where}.segmentation.counts")]
                )
                if sum(counts) > w * h:
                    raise ValueError(f"the runs cover {sum(counts)} pixels, the image {w * h}")
                points = coco_counts_to_mask(counts, w, h)
            except ValueError as error:
                raise f.fail(f"{where}.segmentation.counts", str(error)) from None
            if points is not None:
                result.shapes.append(Shape("mask", points=points, attributes=attributes, **common))
        elif isinstance(segmentation, list) and segmentation:
            polygons = [
                f.numbers(poly, f"{where}.segmentation[{j}]") for j, poly in enumerate(segmentation)
            ]
            shared = 0
            if len(polygons) > 1:
                group += 1
                shared = group
            for j, poly in enumerate(polygons):
                if len(poly) < 6 or len(poly) % 2:
                    raise f.fail(
                        f"{where}.segmentation[{j}]", "a polygon needs at least 3 x,y pairs"
                    )
                result.shapes.append(
                    Shape(
                        "polygon", points=poly, attributes=dict(attributes), group=shared, **common
                    )
                )
        else:
            bbox = f.numbers(f.get(ann, "bbox", where, list), f"{where}.bbox")
            if len(bbox) != 4:
                raise f.fail(f"{where}.bbox", "expected [x, y, width, height]")
            x, y, bw, bh = bbox
            result.shapes.append(
                Shape(
                    "rectangle",
                    points=[x, y, x + bw, y + bh],
                    rotation=rotation,
                    attributes=attributes,
                    **common,
                )
            )
    return frame


def _members(path: Path, keypoints: bool) -> Iterator[tuple[str, IO[bytes]]]:
    def wanted(name: str) -> bool:
        if not name.lower().endswith(".json"):
            return False
        base = PurePosixPath(name).name
        if keypoints:
            return base.startswith("person_keypoints_") or "annotations/" not in name
        return not base.startswith("person_keypoints_")

    return open_annotation_file(path, wanted, "COCO annotation JSON")


def _read(path: Path, keypoints: bool) -> ImportedDataset:
    result = ImportedDataset()
    frame = 0
    for name, stream in _members(Path(path), keypoints):
        frame = _read_coco(name, load_json(name, stream), result, frame)
    return result


def read_instances(path: Path) -> ImportedDataset:
    """COCO 1.0."""
    return _read(path, False)


def read_keypoints(path: Path) -> ImportedDataset:
    """COCO Keypoints 1.0."""
    return _read(path, True)


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
