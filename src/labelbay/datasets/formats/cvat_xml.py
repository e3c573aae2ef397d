"""CVAT XML 1.1: what the images writer, the video writer and the reader share.

Element names of each shape type, the cuboid's attribute names, and the writing side's
pieces: a small streaming XML writer, shapes and tags as elements, ``<meta>`` (labels and
subsets) and the frames' image files. Coordinates are written with two decimals, as CVAT
writes them.
"""

from __future__ import annotations

import contextlib
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import IO
from xml.sax.saxutils import escape, quoteattr

from labelbay.datasets.formats.common import write_frame_images
from labelbay.datasets.model import DatasetSource, LabelSpec, Shape, Tag

TAG_OF_TYPE = {
    "rectangle": "box",
    "polygon": "polygon",
    "polyline": "polyline",
    "points": "points",
    "ellipse": "ellipse",
    "cuboid": "cuboid",
    "mask": "mask",
    "skeleton": "skeleton",
}
"""Our shape type -> CVAT's XML element."""
TYPE_OF_TAG = {v: k for k, v in TAG_OF_TYPE.items()}
CUBOID_KEYS = tuple(
    f"{axis}{corner}{side}" for side in "12" for corner in ("tl", "bl", "tr", "br") for axis in "xy"
)
"""A cuboid's 16 points, in order, as XML attribute names (``xtl1``, ``ytl1``, ...)."""


def number(value: float) -> str:
    return f"{value:.2f}"


def flag(value: bool) -> str:
    return "1" if value else "0"


def xml_attrs(pairs: Iterable[tuple[str, str]]) -> str:
    return "".join(f" {k}={quoteattr(v)}" for k, v in pairs)


class XmlWriter:
    """Writes indented XML lines to a text stream, one element at a time."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def line(self, depth: int, text: str) -> None:
        self.stream.write("  " * depth + text + "\n")

    def leaf(self, depth: int, tag: str, text: str) -> None:
        self.line(depth, f"<{tag}>{escape(text)}</{tag}>")

    def element(
        self,
        depth: int,
        tag: str,
        pairs: Sequence[tuple[str, str]],
        attributes: dict[str, str],
        children: Callable[[int], None] | None = None,
    ) -> None:
        """``<tag pairs...>`` holding an ``<attribute name>`` per attribute, then whatever
        ``children`` writes at the next depth."""
        if not attributes and children is None:
            self.line(depth, f"<{tag}{xml_attrs(pairs)}/>")
            return
        self.line(depth, f"<{tag}{xml_attrs(pairs)}>")
        for name, value in attributes.items():
            self.line(
                depth + 1, f"<attribute name={quoteattr(name)}>{escape(str(value))}</attribute>"
            )
        if children is not None:
            children(depth + 1)
        self.line(depth, f"</{tag}>")


def geometry(type_: str, points: Sequence[float], rotation: float) -> list[tuple[str, str]]:
    """The XML attributes that place a shape of ``type_``."""
    if type_ == "rectangle":
        pairs = [
            ("xtl", number(points[0])),
            ("ytl", number(points[1])),
            ("xbr", number(points[2])),
            ("ybr", number(points[3])),
        ]
        if rotation:
            pairs.append(("rotation", number(rotation)))
        return pairs
    if type_ == "ellipse":
        cx, cy = points[0], points[1]
        pairs = [
            ("cx", number(cx)),
            ("cy", number(cy)),
            ("rx", number(points[2] - cx)),
            ("ry", number(cy - points[3])),
        ]
        if rotation:
            pairs.append(("rotation", number(rotation)))
        return pairs
    if type_ in ("polygon", "polyline", "points"):
        text = ";".join(
            f"{number(points[i])},{number(points[i + 1])}" for i in range(0, len(points) - 1, 2)
        )
        return [("points", text)]
    if type_ == "cuboid":
        return [(key, number(value)) for key, value in zip(CUBOID_KEYS, points, strict=False)]
    if type_ == "mask":
        *runs, left, top, right, bottom = points
        return [
            ("rle", ", ".join(str(int(r)) for r in runs)),
            ("left", str(int(left))),
            ("top", str(int(top))),
            ("width", str(int(right) - int(left) + 1)),
            ("height", str(int(bottom) - int(top) + 1)),
        ]
    return []  # skeleton: the points live in the elements


def write_shape(w: XmlWriter, depth: int, shape: Shape, extra: Sequence[tuple[str, str]]) -> None:
    """A shape as its element (nothing for a type CVAT does not know)."""
    tag = TAG_OF_TYPE.get(shape.type)
    if tag is None:
        return
    pairs: list[tuple[str, str]] = [("label", shape.label), ("source", shape.source)]
    pairs += extra
    pairs.append(("occluded", flag(shape.occluded)))
    pairs += geometry(shape.type, shape.points, shape.rotation)
    pairs.append(("z_order", str(shape.z_order)))
    if shape.group:
        pairs.append(("group_id", str(shape.group)))
    children = None
    if shape.type == "skeleton":

        def children(d: int) -> None:
            for element in shape.elements:
                sub = [("label", element.label), ("source", element.source)]
                sub += [("outside", flag(element.outside)), ("occluded", flag(element.occluded))]
                sub += geometry("points", element.points, 0.0)
                w.element(d, "points", sub, element.attributes)

    w.element(depth, tag, pairs, shape.attributes, children)


def write_tag(w: XmlWriter, depth: int, tag: Tag, extra: Sequence[tuple[str, str]]) -> None:
    pairs = [*extra, ("label", tag.label), ("source", tag.source)]
    if tag.group:
        pairs.append(("group_id", str(tag.group)))
    w.element(depth, "tag", pairs, tag.attributes)


def subsets_of(source: DatasetSource) -> list[str]:
    """The subsets of the source's frames, in the order they come."""
    return list(dict.fromkeys(frame.subset for frame in source.frames))


def write_header(w: XmlWriter, source: DatasetSource, mode: str) -> None:
    """The XML declaration, ``<annotations>``, ``<version>`` and ``<meta>``: the task's
    settings, its labels, every subset of the frames (``<subsets>``, one per line, as CVAT
    lists a project's) and, for video, the frame size."""
    frames = source.frames
    numbers = [f.number for f in frames]
    w.line(0, '<?xml version="1.0" encoding="utf-8"?>')
    w.line(0, "<annotations>")
    w.leaf(1, "version", "1.1")
    w.line(1, "<meta>")
    w.line(2, "<task>")
    w.leaf(3, "name", source.name)
    w.leaf(3, "size", str(len(frames)))
    w.leaf(3, "mode", mode)
    w.leaf(3, "overlap", "0")
    w.leaf(3, "bugtracker", "")
    w.leaf(3, "subset", source.subset)
    w.leaf(3, "start_frame", str(min(numbers) if numbers else 0))
    w.leaf(3, "stop_frame", str(max(numbers) if numbers else 0))
    w.leaf(3, "frame_filter", "")
    w.line(3, "<labels>")
    for label in source.labels:
        _write_label(w, 4, label, "")
        for sub in label.sublabels:
            _write_label(w, 4, sub, label.name)
    w.line(3, "</labels>")
    w.leaf(3, "subsets", "\n".join(subsets_of(source) or [source.subset]))
    if mode == "interpolation" and frames:
        w.line(3, "<original_size>")
        w.leaf(4, "width", str(frames[0].width))
        w.leaf(4, "height", str(frames[0].height))
        w.line(3, "</original_size>")
    w.line(2, "</task>")
    w.leaf(2, "dumped", datetime.now(UTC).isoformat())
    w.line(1, "</meta>")


def _write_label(w: XmlWriter, depth: int, label: LabelSpec, parent: str) -> None:
    w.line(depth, "<label>")
    w.leaf(depth + 1, "name", label.name)
    w.leaf(depth + 1, "color", label.color)
    w.leaf(depth + 1, "type", label.type)
    if parent:
        w.leaf(depth + 1, "parent", parent)
    w.line(depth + 1, "<attributes>")
    for attr in label.attributes:
        w.line(depth + 2, "<attribute>")
        w.leaf(depth + 3, "name", attr.name)
        w.leaf(depth + 3, "mutable", "True" if attr.mutable else "False")
        w.leaf(depth + 3, "input_type", attr.input_type)
        w.leaf(depth + 3, "default_value", attr.default_value)
        w.leaf(depth + 3, "values", "\n".join(attr.values))
        w.line(depth + 2, "</attribute>")
    w.line(depth + 1, "</attributes>")
    w.line(depth, "</label>")


def write_images(source: DatasetSource, out: zipfile.ZipFile) -> None:
    """The frames' original files under ``images/``; when the frames span several subsets,
    under ``images/<subset>/`` (as CVAT lays out a project). A name met twice is written
    once."""
    write_frame_images(source, out, by_subset=len(subsets_of(source)) > 1)


@contextlib.contextmanager
def text_member(out: zipfile.ZipFile, name: str) -> Iterator[IO[str]]:
    """A UTF-8 text stream writing the zip member ``name``."""
    with (
        out.open(name, "w", force_zip64=True) as raw,
        io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as text,
    ):
        yield text
