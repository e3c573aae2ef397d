"""Pascal VOC 1.0: boxes per image in XML, image lists, a label map.

Layout: ``Annotations/<frame path without extension>.xml`` (``annotation/filename``,
``size``, ``object`` with ``name``, ``pose``, ``truncated``, ``occluded``, ``difficult``,
``bndbox/xmin,ymin,xmax,ymax`` and ``attributes/attribute/name,value``),
``ImageSets/Main/<subset>.txt`` (the frames, one a line), ``ImageSets/Main/<label>_<subset>.txt``
for tags (``<frame> 1`` or ``<frame> -1``), ``labelmap.txt`` (``name:r,g,b::``) and, with
images, ``JPEGImages/<frame path>``. Rectangles only (track rectangles included); rotation
is ignored; coordinates are written as stored (floats). ``truncated`` and ``difficult`` come
from the attributes of that name (``true``/``1``); the importer sets them only when 1.

Subsets: each subset of the frames has its own lists (``ImageSets/Main/<subset>.txt`` and
``<label>_<subset>.txt``); ``Annotations/`` and ``JPEGImages/`` are shared, so a frame path
that an earlier frame (of another task) already took is written under its subset's folder
(``val/dir/a``, see ``UniquePaths``). Reading, a frame's subset is the list naming it
(``default`` when none does, if the archive has lists); lists are the ``ImageSets/Main``
files of one name a line, label lists those of ``<image> 1|-1|0`` lines.
"""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

from labelbay.datasets.formats.common import (
    Input,
    UniquePaths,
    fail,
    hex_rgb,
    num,
    parse_color,
    path_stem,
    safe_path,
    subset_dir,
    write_image,
)
from labelbay.datasets.model import (
    DatasetSource,
    ImportedDataset,
    LabelSpec,
    Shape,
    Tag,
    subset_runs,
)
from labelbay.datasets.registry import Format, register
from labelbay.datasets.tracks import frame_shapes

_FLAGS = ("truncated", "difficult")
_TRUE = ("true", "1", "yes")


def sub_element(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    """A new child ``<tag>`` of ``parent`` holding ``text``."""
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def write_labelmap(out: zipfile.ZipFile, labels: list[LabelSpec], *, background: bool) -> None:
    lines = ["# label:color_rgb:parts:actions"]
    if background:
        lines.append("background:0,0,0::")
    for label in labels:
        rgb = hex_rgb(label.color) or (0, 0, 0)
        lines.append(f"{label.name}:{rgb[0]},{rgb[1]},{rgb[2]}::")
    out.writestr("labelmap.txt", "\n".join(lines) + "\n")


def read_labelmap(src: Input, member: str) -> list[LabelSpec]:
    labels: list[LabelSpec] = []
    shown = src.shown(member)
    for line, text in src.lines(member):
        if text.startswith("#"):
            continue
        # The name may contain ':'; the last three fields are colour, parts, actions.
        parts = text.rsplit(":", 3)
        if len(parts) != 4:
            raise fail(shown, f"expected 'name:r,g,b:parts:actions', got {text!r}", line=line)
        name, color = parts[0], parts[1]
        if not name:
            raise fail(shown, "empty label name", line=line)
        if color and not parse_color(color):
            raise fail(shown, f"colour {color!r} is not 'r,g,b' (0-255)", line=line)
        labels.append(LabelSpec(name=name, color=parse_color(color)))
    return labels


def export(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    labels = list(source.labels)
    names = {label.name for label in labels}
    write_labelmap(out, labels, background=False)
    paths = UniquePaths()
    for subset, run in subset_runs(frame_shapes(source, {"rectangle"}), lambda item: item[0]):
        listed: list[str] = []
        tagged: dict[str, set[str]] = {}
        for frame, shapes, tags in run:
            rel = paths.take(path_stem(frame.name), subset)
            listed.append(rel)
            for tag in tags:
                tagged.setdefault(tag.label, set()).add(rel)
            member = write_image(out, source, frame, f"JPEGImages/{rel}") if save_images else None
            filename = posixpath.basename(member) if member else _file_name(frame.name)
            root = _annotation(frame.width, frame.height, filename, shapes, names)
            out.writestr(f"Annotations/{rel}.xml", ET.tostring(root, encoding="unicode") + "\n")
        name = subset_dir(subset)
        out.writestr(f"ImageSets/Main/{name}.txt", "".join(f"{r}\n" for r in listed))
        for label, frames in tagged.items():
            if label in names:
                body = "".join(f"{r} {1 if r in frames else -1}\n" for r in listed)
                out.writestr(f"ImageSets/Main/{safe_path(label)}_{name}.txt", body)


def _annotation(
    width: int, height: int, filename: str, shapes: list[Shape], names: set[str]
) -> ET.Element:
    root = ET.Element("annotation")
    sub_element(root, "folder", "")
    sub_element(root, "filename", filename)
    src = sub_element(root, "source")
    sub_element(src, "database", "Unknown")
    sub_element(src, "annotation", "Unknown")
    sub_element(src, "image", "Unknown")
    size = sub_element(root, "size")
    sub_element(size, "width", str(width))
    sub_element(size, "height", str(height))
    sub_element(size, "depth", "3")
    sub_element(root, "segmented", "0")
    for shape in shapes:
        if shape.type != "rectangle" or shape.label not in names:
            continue
        obj = sub_element(root, "object")
        sub_element(obj, "name", shape.label)
        attrs = dict(shape.attributes)
        sub_element(obj, "pose", attrs.pop("pose", "Unspecified"))
        flags = {f: attrs.pop(f, "").lower() in _TRUE for f in _FLAGS}
        sub_element(obj, "truncated", "1" if flags["truncated"] else "0")
        sub_element(obj, "occluded", "1" if shape.occluded else "0")
        sub_element(obj, "difficult", "1" if flags["difficult"] else "0")
        box = sub_element(obj, "bndbox")
        x1, y1, x2, y2 = shape.points[:4]
        for tag, value in (
            ("xmin", min(x1, x2)),
            ("ymin", min(y1, y2)),
            ("xmax", max(x1, x2)),
            ("ymax", max(y1, y2)),
        ):
            sub_element(box, tag, num(value))
        if attrs:
            holder = sub_element(obj, "attributes")
            for key, value in attrs.items():
                attribute = sub_element(holder, "attribute")
                sub_element(attribute, "name", key)
                sub_element(attribute, "value", value)
    ET.indent(root)
    return root


def _file_name(name: str) -> str:
    base = posixpath.basename(safe_path(name))
    return base if posixpath.splitext(base)[1] else base + ".jpg"


def parse_xml(src: Input, member: str) -> ET.Element:
    try:
        return ET.fromstring(src.read(member))
    except ET.ParseError as exc:
        line, column = exc.position
        raise fail(src.shown(member), f"bad XML at column {column} ({exc})", line=line) from None


def root_of(member: str, folder: str) -> str:
    """The archive folder (``""`` or ending in ``/``) holding ``folder`` in ``member``."""
    return member[: f"/{member}".find(f"/{folder}/")]


def _float(element: ET.Element, path: str, file: str, what: str) -> float:
    node = element.find(path)
    if node is None or not (node.text or "").strip():
        raise fail(file, f"{what}: <{path}> is missing")
    try:
        return float(node.text or "")
    except ValueError:
        raise fail(file, f"{what}: <{path}> {node.text!r} is not a number") from None


def _flag(element: ET.Element, tag: str) -> bool:
    text = (element.findtext(tag) or "0").strip().lower()
    return text in _TRUE


def read(path: Path) -> ImportedDataset:
    with Input(path) as src:
        members = src.names()
        if src.is_zip:
            anchors = sorted(
                m for m in members if m.endswith(".xml") and "/Annotations/" in f"/{m}"
            )
            if not anchors:
                raise fail(src.file, "no Annotations/*.xml")
            prefix = root_of(anchors[0], "Annotations")
            xml_members = [m for m in anchors if m.startswith(f"{prefix}Annotations/")]
        else:
            prefix, xml_members = "", [src.file]
        labelmap = f"{prefix}labelmap.txt"
        labels = read_labelmap(src, labelmap) if src.has(labelmap) else []
        declared = [label.name for label in labels]
        lists, label_lists = _image_sets(src, f"{prefix}ImageSets/Main/")
        by_rel = {m[len(prefix) + len("Annotations/") : -len(".xml")]: m for m in xml_members}
        if not src.is_zip:
            by_rel = {posixpath.splitext(src.file)[0]: src.file}
        # Frame order: the subset lists, then unlisted annotation files sorted.
        subset_of: dict[str, str] = {}
        for subset, _member, lines in lists:
            for _line, text in lines:
                member = by_rel.get(text.split()[0])
                if member is not None:
                    subset_of.setdefault(member, subset)
        order = [*subset_of, *(m for m in by_rel.values() if m not in subset_of)]
        number_of = {}
        data = ImportedDataset()
        for number, member in enumerate(order):
            shown = src.shown(member)
            tree = parse_xml(src, member)
            if tree.tag != "annotation":
                raise fail(shown, f"the root element is <{tree.tag}>, not <annotation>")
            rel = member[len(prefix) + len("Annotations/") : -len(".xml")] if src.is_zip else ""
            filename = (tree.findtext("filename") or "").strip()
            folder = posixpath.dirname(rel)
            name = (f"{folder}/{filename}" if folder else filename) if filename else rel
            data.frame_names[number] = name or posixpath.splitext(src.file)[0]
            if lists:
                data.frame_subsets[number] = subset_of.get(member, "default")
            number_of[rel] = number
            for index, obj in enumerate(tree.findall("object"), 1):
                what = f"object {index}"
                label = (obj.findtext("name") or "").strip()
                if not label:
                    raise fail(shown, f"{what}: <name> is missing")
                if label not in declared:
                    declared.append(label)
                box = obj.find("bndbox")
                if box is None:
                    continue  # VOC layouts and actions without a box: not shapes
                points = [_float(box, t, shown, what) for t in ("xmin", "ymin", "xmax", "ymax")]
                attributes: dict[str, str] = {}
                for flag in _FLAGS:
                    if _flag(obj, flag):
                        attributes[flag] = "true"
                pose = (obj.findtext("pose") or "").strip()
                if pose and pose != "Unspecified":
                    attributes["pose"] = pose
                for attribute in obj.findall("attributes/attribute"):
                    key = (attribute.findtext("name") or "").strip()
                    if not key:
                        raise fail(shown, f"{what}: an attribute without <name>")
                    attributes[key] = attribute.findtext("value") or ""
                data.shapes.append(
                    Shape(
                        type="rectangle",
                        frame=number,
                        label=label,
                        points=points,
                        occluded=_flag(obj, "occluded"),
                        attributes=attributes,
                    )
                )
        for label, member, lines in label_lists:
            shown = src.shown(member)
            for line, text in lines:
                parts = text.split()
                if len(parts) != 2 or parts[1] not in ("1", "-1", "0"):
                    raise fail(shown, f"expected '<image> 1|-1|0', got {text!r}", line=line)
                if parts[1] != "1":
                    continue
                if parts[0] not in number_of:
                    raise fail(shown, f"image {parts[0]!r} has no annotation file", line=line)
                if label not in declared:
                    declared.append(label)
                data.tags.append(Tag(frame=number_of[parts[0]], label=label))
        colors = {label.name: label.color for label in labels}
        data.labels = [LabelSpec(name=n, color=colors.get(n, "")) for n in declared]
        return data


Lines = list[tuple[int, str]]


def _image_sets(
    src: Input, folder: str
) -> tuple[list[tuple[str, str, Lines]], list[tuple[str, str, Lines]]]:
    """The text files of ``ImageSets/Main/``, sorted, read once: the subset lists
    ``(subset, member, lines)`` (one name a line) and the label lists ``(label, member,
    lines)`` (``<label>_<subset>.txt``, ``<image> 1|-1|0`` lines). An empty file is a subset
    list unless its name has a ``_``."""
    lists: list[tuple[str, str, Lines]] = []
    labelled: list[tuple[str, str, Lines]] = []
    for member in sorted(src.names()):
        rest = member[len(folder) :]
        if not member.startswith(folder) or "/" in rest or not rest.endswith(".txt"):
            continue
        stem = rest[: -len(".txt")]
        lines = list(src.lines(member))
        one_name_a_line = len(lines[0][1].split()) == 1 if lines else "_" not in stem
        if one_name_a_line:
            lists.append((stem, member, lines))
        else:
            labelled.append((stem, member, lines))
    subsets = sorted((s for s, _m, _l in lists), key=len, reverse=True)
    label_lists: list[tuple[str, str, Lines]] = []
    for stem, member, lines in labelled:
        subset = next((s for s in subsets if stem.endswith(f"_{s}") and len(stem) > len(s) + 1), "")
        label = stem[: -len(subset) - 1] if subset else stem.rsplit("_", 1)[0]
        label_lists.append((label, member, lines))
    return lists, label_lists


register(
    Format("Pascal VOC 1.0", "ZIP", "1.0", export, read, aliases=("PASCAL VOC 1.1",), slug="voc")
)
