"""LabelMe 3.0: one XML file per image with polygons and boxes.

Layout: ``<subset>/<frame path without extension>.xml`` (and the image next to it with
images), one folder per subset of the frames (``default/`` for a task without one). Each
file: ``annotation`` with ``filename``, ``folder``, ``source``,
``imagesize/nrows,ncols`` and an ``object`` per shape: ``name``, ``deleted`` 0, ``verified``
0, ``occluded`` yes/no, ``date``, ``id``, ``parts/hasparts,ispartof``, ``type``
(``bounding_box`` for rectangles) and ``polygon/pt/x,y`` (a rectangle as its four corners,
rotation applied), ``attributes`` as ``name=value`` pairs separated by commas (``\\``
escapes ``,``, ``=`` and ``\\`` inside names and values). Shapes of one group share a parent
object: the first is the group's ``ispartof`` target.
Polygons, rectangles (also of tracks); other shape types are not written.

Reading, a file's subset is the top folder it is in, after taking off the image folder its
``folder`` names (``train/dir/a.xml`` with ``folder`` ``dir``: ``train``); files at the root
are in ``default``. The same frame name in two subsets is two frames.
"""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

from labelbay.datasets.formats.common import (
    Input,
    bounds,
    corners_rect,
    fail,
    label_specs,
    num,
    path_stem,
    rect_corners,
    safe_path,
    subset_dir,
    write_image,
)
from labelbay.datasets.formats.voc import parse_xml, sub_element
from labelbay.datasets.model import DatasetSource, ImportedDataset, Shape
from labelbay.datasets.registry import Format, register
from labelbay.datasets.tracks import frame_shapes


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


def export(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    names = {label.name for label in source.labels}
    for frame, shapes, _tags in frame_shapes(source, {"rectangle", "polygon"}):
        subset = subset_dir(frame.subset)
        rel = path_stem(frame.name)
        member = write_image(out, source, frame, f"{subset}/{rel}") if save_images else None
        root = ET.Element("annotation")
        base = posixpath.basename(member) if member else posixpath.basename(safe_path(frame.name))
        sub_element(root, "filename", base)
        sub_element(root, "folder", posixpath.dirname(rel))
        src = sub_element(root, "source")
        sub_element(src, "sourceImage", "")
        sub_element(src, "sourceAnnotation", "Labelbay")
        size = sub_element(root, "imagesize")
        sub_element(size, "nrows", str(frame.height))
        sub_element(size, "ncols", str(frame.width))
        kept = [s for s in shapes if s.type in ("rectangle", "polygon") and s.label in names]
        group_head: dict[int, int] = {}
        for index, shape in enumerate(kept):
            if shape.group:
                group_head.setdefault(shape.group, index)
        for index, shape in enumerate(kept):
            obj = sub_element(root, "object")
            sub_element(obj, "name", shape.label)
            sub_element(obj, "deleted", "0")
            sub_element(obj, "verified", "0")
            sub_element(obj, "occluded", "yes" if shape.occluded else "no")
            sub_element(obj, "date", "")
            sub_element(obj, "id", str(index))
            parts = sub_element(obj, "parts")
            head = group_head.get(shape.group) if shape.group else None
            members = [str(i) for i, s in enumerate(kept) if shape.group and s.group == shape.group]
            sub_element(
                parts,
                "hasparts",
                ",".join(m for m in members if m != str(index)) if head == index else "",
            )
            sub_element(parts, "ispartof", str(head) if head is not None and head != index else "")
            if shape.type == "rectangle":
                sub_element(obj, "type", "bounding_box")
                corners = rect_corners(shape.points, shape.rotation)
            else:
                corners = list(zip(shape.points[0::2], shape.points[1::2], strict=False))
            polygon = sub_element(obj, "polygon")
            for x, y in corners:
                pt = sub_element(polygon, "pt")
                sub_element(pt, "x", num(x))
                sub_element(pt, "y", num(y))
            sub_element(polygon, "username", "")
            sub_element(obj, "attributes", encode_attributes(shape.attributes))
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
        for number, member in enumerate(members):
            shown = src.shown(member)
            tree = parse_xml(src, member)
            if tree.tag != "annotation":
                raise fail(shown, f"the root element is <{tree.tag}>, not <annotation>")
            filename = (tree.findtext("filename") or "").strip()
            folder = (tree.findtext("folder") or "").strip().strip("/")
            subset, rel = _subset_of(member if src.is_zip else src.file, folder)
            if not filename:
                name = rel[: -len(".xml")]
            else:
                name = f"{folder}/{filename}" if folder else filename
            data.frame_names[number] = name
            data.frame_subsets[number] = subset
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


def _subset_of(member: str, folder: str) -> tuple[str, str]:
    """``(subset, path inside the subset folder)`` of an XML file: its top folder, once the
    image folder its ``<folder>`` names is taken off the end of its folders."""
    folders = posixpath.dirname(member)
    if folder and (folders == folder or folders.endswith(f"/{folder}")):
        folders = folders[: -len(folder)].rstrip("/")
    if not folders:
        return "default", member
    subset = folders.split("/", 1)[0]
    return subset, member[len(subset) + 1 :]


def _unrotate(shape: Shape, corners: list[float]) -> None:
    """Four corners of a (possibly rotated) rectangle back to a box and an angle."""
    points, rotation = corners_rect(corners)
    if abs(rotation) > 1e-6 and abs(rotation - 360) > 1e-6:
        shape.points, shape.rotation = points, rotation


register(Format("LabelMe 3.0", "ZIP", "3.0", export, read, slug="labelme"))
