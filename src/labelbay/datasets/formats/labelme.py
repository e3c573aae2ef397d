"""LabelMe 3.0: one XML file per image with polygons and boxes.

Layout: ``<subset>/<frame path without extension>.xml`` (and the image next to it with
images). Each file: ``annotation`` with ``filename``, ``folder``, ``source``,
``imagesize/nrows,ncols`` and an ``object`` per shape: ``name``, ``deleted`` 0, ``verified``
0, ``occluded`` yes/no, ``date``, ``id``, ``parts/hasparts,ispartof``, ``type``
(``bounding_box`` for rectangles) and ``polygon/pt/x,y`` (a rectangle as its four corners,
rotation applied), ``attributes`` as ``name=value`` pairs separated by commas (``\\``
escapes ``,``, ``=`` and ``\\`` inside names and values). Shapes of one group share a parent
object: the first is the group's ``ispartof`` target.
Polygons, rectangles (also of tracks); other shape types are not written.
"""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

from labelbay.datasets.formats._common_b import (
    Input,
    bounds,
    fail,
    frame_shapes,
    label_specs,
    num,
    path_stem,
    rect_corners,
    safe_path,
    write_image,
)
from labelbay.datasets.formats.voc import parse_xml
from labelbay.datasets.model import DatasetSource, ImportedDataset, Shape
from labelbay.datasets.registry import Format, register


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def encode_attributes(attributes: dict[str, str]) -> str:
    return ", ".join(f"{_escape(k)}={_escape(v)}" for k, v in attributes.items())


def decode_attributes(text: str, file: str, what: str) -> dict[str, str]:
    result: dict[str, str] = {}
    key: list[str] = []
    value: list[str] = []
    current, in_value, escaped = key, False, False
    pairs: list[tuple[str, str | None]] = []
    for ch in text + ",":
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "=" and not in_value:
            current, in_value = value, True
        elif ch == ",":
            name = "".join(key).strip()
            if name or in_value:
                pairs.append((name, "".join(value).strip() if in_value else None))
            key, value = [], []
            current, in_value = key, False
        else:
            current.append(ch)
    for name, val in pairs:
        if not name:
            raise fail(file, f"{what}: an attribute without a name in {text!r}")
        # A bare name is a checkbox set to true (LabelMe's own convention).
        result[name] = "true" if val is None else val
    return result


def _subset(source: DatasetSource) -> str:
    return safe_path(source.subset or "default").replace("/", "_")


def export(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    names = {label.name for label in source.labels}
    subset = _subset(source)
    for frame, shapes, _tags in frame_shapes(source, {"rectangle", "polygon"}):
        rel = path_stem(frame.name)
        member = write_image(out, source, frame, f"{subset}/{rel}") if save_images else None
        root = ET.Element("annotation")
        base = posixpath.basename(member) if member else posixpath.basename(safe_path(frame.name))
        _sub(root, "filename", base)
        _sub(root, "folder", posixpath.dirname(rel))
        src = _sub(root, "source")
        _sub(src, "sourceImage", "")
        _sub(src, "sourceAnnotation", "Labelbay")
        size = _sub(root, "imagesize")
        _sub(size, "nrows", str(frame.height))
        _sub(size, "ncols", str(frame.width))
        kept = [s for s in shapes if s.type in ("rectangle", "polygon") and s.label in names]
        group_head: dict[int, int] = {}
        for index, shape in enumerate(kept):
            if shape.group:
                group_head.setdefault(shape.group, index)
        for index, shape in enumerate(kept):
            obj = _sub(root, "object")
            _sub(obj, "name", shape.label)
            _sub(obj, "deleted", "0")
            _sub(obj, "verified", "0")
            _sub(obj, "occluded", "yes" if shape.occluded else "no")
            _sub(obj, "date", "")
            _sub(obj, "id", str(index))
            parts = _sub(obj, "parts")
            head = group_head.get(shape.group) if shape.group else None
            members = [str(i) for i, s in enumerate(kept) if shape.group and s.group == shape.group]
            _sub(
                parts,
                "hasparts",
                ",".join(m for m in members if m != str(index)) if head == index else "",
            )
            _sub(parts, "ispartof", str(head) if head is not None and head != index else "")
            if shape.type == "rectangle":
                _sub(obj, "type", "bounding_box")
                corners = rect_corners(shape.points, shape.rotation)
            else:
                corners = list(zip(shape.points[0::2], shape.points[1::2], strict=False))
            polygon = _sub(obj, "polygon")
            for x, y in corners:
                pt = _sub(polygon, "pt")
                _sub(pt, "x", num(x))
                _sub(pt, "y", num(y))
            _sub(polygon, "username", "")
            _sub(obj, "attributes", encode_attributes(shape.attributes))
        ET.indent(root)
        out.writestr(f"{subset}/{rel}.xml", ET.tostring(root, encoding="unicode") + "\n")


def _coordinate(pt: ET.Element, tag: str, file: str, what: str) -> float:
    text = (pt.findtext(tag) or "").strip()
    try:
        return float(text)
    except ValueError:
        raise fail(file, f"{what}: <pt>/<{tag}> {text!r} is not a number") from None


def read(path: Path) -> ImportedDataset:
    with Input(path) as src:
        members = sorted(m for m in src.names() if m.lower().endswith(".xml"))
        if not members:
            raise fail(src.file, "no LabelMe .xml files")
        data = ImportedDataset()
        declared: list[str] = []
        groups: dict[tuple[int, str], int] = {}
        # The common folder of every XML file is the root; the rest of the path is the frame.
        root = posixpath.commonpath(members) if len(members) > 1 else posixpath.dirname(members[0])
        if root in members:
            root = posixpath.dirname(root)
        prefix = f"{root}/" if root else ""
        for number, member in enumerate(members):
            shown = src.shown(member)
            tree = parse_xml(src, member)
            if tree.tag != "annotation":
                raise fail(shown, f"the root element is <{tree.tag}>, not <annotation>")
            rel = member[len(prefix) :] if src.is_zip else member
            filename = (tree.findtext("filename") or "").strip()
            folder = (tree.findtext("folder") or "").strip().strip("/")
            if not filename:
                name = rel[: -len(".xml")]
            else:
                name = f"{folder}/{filename}" if folder else filename
            data.frame_names[number] = name
            objects = tree.findall("object")
            for index, obj in enumerate(objects, 1):
                what = f"object {index}"
                if (obj.findtext("deleted") or "0").strip() == "1":
                    continue
                label = (obj.findtext("name") or "").strip()
                if not label:
                    raise fail(shown, f"{what}: <name> is missing")
                if label not in declared:
                    declared.append(label)
                polygon = obj.find("polygon")
                if polygon is None:
                    continue  # masks (<segm>) are not read
                points: list[float] = []
                for pt in polygon.findall("pt"):
                    points.append(_coordinate(pt, "x", shown, what))
                    points.append(_coordinate(pt, "y", shown, what))
                kind = (obj.findtext("type") or "").strip()
                attributes = decode_attributes(obj.findtext("attributes") or "", shown, what)
                occluded = (obj.findtext("occluded") or "no").strip().lower() == "yes"
                shape = Shape(
                    type="polygon", frame=number, label=label, points=points, occluded=occluded,
                    attributes=attributes,
                )  # fmt: skip
                if kind == "bounding_box":
                    if len(points) < 4:
                        raise fail(shown, f"{what}: a bounding box needs points")
                    shape.type, shape.points = "rectangle", list(bounds(points))
                    if len(points) == 8:
                        _unrotate(shape, points)
                elif len(points) < 6:
                    raise fail(shown, f"{what}: a polygon needs 3 points or more")
                obj_id = (obj.findtext("id") or str(index - 1)).strip()
                parent = (obj.findtext("parts/ispartof") or "").strip()
                has_parts = (obj.findtext("parts/hasparts") or "").strip()
                if parent or has_parts:
                    key = parent or obj_id
                    shape.group = groups.setdefault((number, key), len(groups) + 1)
                data.shapes.append(shape)
        data.labels = label_specs(declared)
        return data


def _unrotate(shape: Shape, corners: list[float]) -> None:
    """Four corners of a (possibly rotated) rectangle back to a box and an angle."""
    from labelbay.datasets.formats.yolo import _obb_shape

    box = _obb_shape(corners, shape.label, shape.frame)
    if abs(box.rotation) > 1e-6 and abs(box.rotation - 360) > 1e-6:
        shape.points, shape.rotation = box.points, box.rotation


register(Format("LabelMe 3.0", "ZIP", "3.0", export, read, slug="labelme"))
