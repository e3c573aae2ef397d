"""CVAT XML 1.1 reader: the "CVAT 1.1" importer (alias "CVAT XML 1.1") for both layouts.

* images: ``<image id name subset>`` holding shapes and tags; the frame's name goes to
  ``frame_names`` and its subset, when given, to ``frame_subsets``.
* video: ``<track id label subset>`` holding one shape per frame; only keyframes are kept
  (a track's first shape always counts as one), attributes declared immutable in ``<meta>``
  become the track's. ``<tag frame subset>`` at the top level. A track's or tag's subset is
  recorded for the frames it names.

The XML is read incrementally (``iterparse``), each top-level element dropped once read.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TypeVar
from xml.etree import ElementTree as ET

from labelbay.datasets.formats.common import Input, fail
from labelbay.datasets.formats.cvat_xml import CUBOID_KEYS, TYPE_OF_TAG
from labelbay.datasets.model import (
    AttributeSpec,
    ImportedDataset,
    LabelSpec,
    Shape,
    Tag,
    Track,
    TrackShape,
)
from labelbay.errors import Invalid

_T = TypeVar("_T")


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.labels: list[LabelSpec] = []
        self.result = ImportedDataset()
        self._mutable: dict[tuple[str, str], bool] = {}

    def fail(self, where: str, problem: str) -> Invalid:
        return Invalid(f"{self.file}: {where}: {problem}", file=self.file)

    # -- values -------------------------------------------------------------------------

    def req(self, el: ET.Element, key: str, where: str) -> str:
        value = el.get(key)
        if value is None:
            raise self.fail(where, f"<{el.tag}> has no attribute {key!r}")
        return value

    def parsed(
        self, el: ET.Element, key: str, where: str, parse: Callable[[str], _T], what: str,
        default: _T | None,
    ) -> _T:  # fmt: skip
        """The attribute ``key`` of ``el`` parsed, or ``default`` when it is absent (``None``:
        it must be there); ``what`` names the kind of value in the error."""
        raw = el.get(key)
        if raw is None:
            if default is not None:
                return default
            raise self.fail(where, f"<{el.tag}> has no attribute {key!r}")
        try:
            return parse(raw)
        except ValueError:
            raise self.fail(where, f"<{el.tag}> {key}={raw!r} is not {what}") from None

    def num(self, el: ET.Element, key: str, where: str, default: float | None = None) -> float:
        value = self.parsed(el, key, where, float, "a number", default)
        if not math.isfinite(value):
            raise self.fail(where, f"<{el.tag}> {key}={el.get(key)!r} is not a finite number")
        return value

    def integer(self, el: ET.Element, key: str, where: str, default: int | None = None) -> int:
        return self.parsed(el, key, where, int, "an integer", default)

    def flag(self, el: ET.Element, key: str, where: str) -> bool:
        raw = (el.get(key) or "0").strip().lower()
        if raw in ("1", "true"):
            return True
        if raw in ("0", "false", ""):
            return False
        raise self.fail(where, f"<{el.tag}> {key}={raw!r} is not 0 or 1")

    def point_list(self, el: ET.Element, where: str) -> list[float]:
        raw = self.req(el, "points", where).strip()
        values: list[float] = []
        if not raw:
            return values
        for pair in raw.split(";"):
            parts = pair.split(",")
            if len(parts) != 2:
                raise self.fail(where, f"<{el.tag}> points: {pair!r} is not 'x,y'")
            try:
                x, y = float(parts[0]), float(parts[1])
            except ValueError:
                raise self.fail(where, f"<{el.tag}> points: {pair!r} is not 'x,y'") from None
            if not (math.isfinite(x) and math.isfinite(y)):
                raise self.fail(where, f"<{el.tag}> points: {pair!r} is not finite")
            values += [x, y]
        return values

    def attributes(self, el: ET.Element, where: str, allowed: set[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for child in el:
            if child.tag == "attribute":
                name = child.get("name")
                if name is None:
                    raise self.fail(where, f"<attribute> inside <{el.tag}> has no name")
                found[name] = child.text or ""
            elif child.tag not in allowed:
                raise self.fail(where, f"unknown element <{child.tag}> inside <{el.tag}>")
        return found

    # -- geometry -----------------------------------------------------------------------

    def geometry(self, el: ET.Element, type_: str, where: str) -> tuple[list[float], float]:
        rotation = self.num(el, "rotation", where, 0.0)
        if type_ == "rectangle":
            keys = ("xtl", "ytl", "xbr", "ybr")
            return [self.num(el, k, where) for k in keys], rotation
        if type_ == "ellipse":
            cx, cy = self.num(el, "cx", where), self.num(el, "cy", where)
            rx, ry = self.num(el, "rx", where), self.num(el, "ry", where)
            return [cx, cy, cx + rx, cy - ry], rotation
        if type_ in ("polygon", "polyline", "points"):
            return self.point_list(el, where), rotation
        if type_ == "cuboid":
            return [self.num(el, k, where) for k in CUBOID_KEYS], rotation
        if type_ == "mask":
            raw = self.req(el, "rle", where)
            try:
                runs = [float(int(r)) for r in raw.replace(" ", "").split(",") if r]
                if any(r < 0 for r in runs):
                    raise ValueError
            except ValueError:
                raise self.fail(where, f"<mask> rle={raw[:40]!r} is not a list of counts") from None
            left, top = self.integer(el, "left", where), self.integer(el, "top", where)
            width, height = self.integer(el, "width", where), self.integer(el, "height", where)
            if width <= 0 or height <= 0:
                raise self.fail(where, "<mask> width and height must be positive")
            return [*runs, left, top, left + width - 1, top + height - 1], 0.0
        return [], 0.0

    # -- meta ---------------------------------------------------------------------------

    def meta(self, el: ET.Element) -> None:
        labels_el = None
        for owner in ("task", "job", "project"):
            labels_el = el.find(f"./{owner}/labels")
            if labels_el is not None:
                break
        if labels_el is None:
            return
        parsed: list[tuple[LabelSpec, str]] = []
        for label_el in labels_el.findall("label"):
            name = (label_el.findtext("name") or "").strip()
            if not name:
                raise self.fail("<meta>", "a <label> has no <name>")
            attributes = []
            for attr_el in label_el.findall("./attributes/attribute"):
                attr_name = (attr_el.findtext("name") or "").strip()
                if not attr_name:
                    raise self.fail(f"<meta> label {name!r}", "an <attribute> has no <name>")
                mutable = (attr_el.findtext("mutable") or "").strip().lower() in ("true", "1")
                values = tuple(v for v in (attr_el.findtext("values") or "").split("\n") if v)
                attributes.append(
                    AttributeSpec(
                        name=attr_name,
                        input_type=(attr_el.findtext("input_type") or "text").strip(),
                        values=values,
                        mutable=mutable,
                        default_value=attr_el.findtext("default_value") or "",
                    )
                )
                self._mutable[(name, attr_name)] = mutable
            spec = LabelSpec(
                name=name,
                color=(label_el.findtext("color") or "").strip(),
                type=(label_el.findtext("type") or "any").strip(),
                attributes=tuple(attributes),
            )
            parsed.append((spec, (label_el.findtext("parent") or "").strip()))
        children: dict[str, list[LabelSpec]] = {}
        for spec, parent in parsed:
            if parent:
                children.setdefault(parent, []).append(spec)
        for spec, parent in parsed:
            if not parent:
                subs = tuple(children.get(spec.name, ()))
                self.labels.append(
                    LabelSpec(spec.name, spec.color, spec.type, spec.attributes, subs)
                )
        self.result.labels = self.labels

    # -- images layout ------------------------------------------------------------------

    def image(self, el: ET.Element) -> None:
        where = f"<image id={el.get('id')!r} name={el.get('name')!r}>"
        frame = self.integer(el, "id", where)
        if frame < 0:
            raise self.fail(where, "id must not be negative")
        name = el.get("name")
        if name:
            self.result.frame_names[frame] = name
        self.subset(el, (frame,))
        for child in el:
            if child.tag == "tag":
                self.result.tags.append(self.tag(child, frame, where))
                continue
            type_ = TYPE_OF_TAG.get(child.tag)
            if type_ is None:
                raise self.fail(where, f"unknown element <{child.tag}>")
            self.result.shapes.append(self.shape(child, type_, frame, where))

    def shape(self, el: ET.Element, type_: str, frame: int, where: str) -> Shape:
        where = f"{where} <{el.tag} label={el.get('label')!r}>"
        label = self.req(el, "label", where)
        points, rotation = self.geometry(el, type_, where)
        elements: list[Shape] = []
        if type_ == "skeleton":
            for child in el:
                if child.tag != "points":
                    continue
                sub_label = self.req(child, "label", where)
                sub_points, _ = self.geometry(child, "points", where)
                elements.append(
                    Shape(
                        type="points",
                        frame=frame,
                        label=sub_label,
                        points=sub_points,
                        occluded=self.flag(child, "occluded", where),
                        outside=self.flag(child, "outside", where),
                        attributes=self.attributes(child, where, set()),
                        source=child.get("source") or el.get("source") or "file",
                    )
                )
        return Shape(
            type=type_,
            frame=frame,
            label=label,
            points=points,
            rotation=rotation,
            occluded=self.flag(el, "occluded", where),
            outside=self.flag(el, "outside", where),
            z_order=self.integer(el, "z_order", where, 0),
            attributes=self.attributes(el, where, {"points"} if type_ == "skeleton" else set()),
            group=max(self.integer(el, "group_id", where, 0), 0),
            source=el.get("source") or "file",
            elements=elements,
        )

    def subset(self, el: ET.Element, frames: Iterable[int]) -> None:
        """Records the ``subset`` attribute of ``el`` (if any) for ``frames``."""
        subset = (el.get("subset") or "").strip()
        if subset:
            for frame in frames:
                self.result.frame_subsets.setdefault(frame, subset)

    def tag(self, el: ET.Element, frame: int | None, where: str) -> Tag:
        where = f"{where} <tag label={el.get('label')!r}>" if where else "<tag>"
        if frame is None:
            frame = self.integer(el, "frame", where)
            self.subset(el, (frame,))
        return Tag(
            frame=frame,
            label=self.req(el, "label", where),
            attributes=self.attributes(el, where, set()),
            group=max(self.integer(el, "group_id", where, 0), 0),
            source=el.get("source") or "file",
        )

    # -- video layout -------------------------------------------------------------------

    def _split(
        self, label: str, attributes: dict[str, str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        fixed = {k: v for k, v in attributes.items() if self._mutable.get((label, k)) is False}
        moving = {k: v for k, v in attributes.items() if k not in fixed}
        return fixed, moving

    def track(self, el: ET.Element) -> None:
        where = f"<track id={el.get('id')!r} label={el.get('label')!r}>"
        label = self.req(el, "label", where)
        all_states: list[tuple[TrackShape, bool]] = []
        track_attributes: dict[str, str] = {}
        sub_states: dict[str, list[tuple[TrackShape, bool]]] = {}
        sub_attributes: dict[str, dict[str, str]] = {}
        for child in el:
            type_ = TYPE_OF_TAG.get(child.tag)
            if type_ is None:
                raise self.fail(where, f"unknown element <{child.tag}>")
            here = f"{where} <{child.tag} frame={child.get('frame')!r}>"
            frame = self.integer(child, "frame", here)
            points, rotation = self.geometry(child, type_, here)
            fixed, moving = self._split(
                label,
                self.attributes(child, here, {"points"} if type_ == "skeleton" else set()),
            )
            track_attributes.update(fixed)
            state = TrackShape(
                frame=frame,
                type=type_,
                points=points,
                rotation=rotation,
                occluded=self.flag(child, "occluded", here),
                outside=self.flag(child, "outside", here),
                keyframe=True,
                z_order=self.integer(child, "z_order", here, 0),
                attributes=moving,
            )
            keyed = child.get("keyframe")
            all_states.append((state, keyed is None or self.flag(child, "keyframe", here)))
            if type_ == "skeleton":
                for sub in child:
                    if sub.tag != "points":
                        continue
                    sub_label = self.req(sub, "label", here)
                    sub_points, _ = self.geometry(sub, "points", here)
                    s_fixed, s_moving = self._split(sub_label, self.attributes(sub, here, set()))
                    sub_attributes.setdefault(sub_label, {}).update(s_fixed)
                    sub_keyed = sub.get("keyframe")
                    sub_states.setdefault(sub_label, []).append(
                        (
                            TrackShape(
                                frame=frame,
                                type="points",
                                points=sub_points,
                                occluded=self.flag(sub, "occluded", here),
                                outside=self.flag(sub, "outside", here),
                                attributes=s_moving,
                            ),
                            sub_keyed is None or self.flag(sub, "keyframe", here),
                        )
                    )
        shapes = _keyframes(all_states)
        if not shapes:
            return
        self.subset(el, (s.frame for s in shapes))
        elements = []
        for sub_label, states in sub_states.items():
            sub_shapes = _keyframes(states)
            if sub_shapes:
                elements.append(
                    Track(
                        label=sub_label,
                        frame=sub_shapes[0].frame,
                        shapes=sub_shapes,
                        attributes=sub_attributes.get(sub_label, {}),
                        source=el.get("source") or "file",
                    )
                )
        self.result.tracks.append(
            Track(
                label=label,
                frame=shapes[0].frame,
                shapes=shapes,
                attributes=track_attributes,
                group=max(self.integer(el, "group_id", where, 0), 0),
                source=el.get("source") or "file",
                elements=elements,
            )
        )


def _keyframes(states: list[tuple[TrackShape, bool]]) -> list[TrackShape]:
    """Keeps the keyframes; the first state is always one."""
    states.sort(key=lambda item: item[0].frame)
    kept = [s for i, (s, key) in enumerate(states) if key or i == 0]
    for s in kept:
        s.keyframe = True
    return kept


def _read_xml(name: str, stream: IO[bytes]) -> ImportedDataset:
    reader = _Reader(name)
    depth = 0
    root: ET.Element | None = None
    try:
        for event, el in ET.iterparse(stream, events=("start", "end")):
            if event == "start":
                depth += 1
                if depth == 1:
                    root = el
                    if el.tag != "annotations":
                        raise reader.fail(
                            "root", f"the root element is <{el.tag}>, not <annotations>"
                        )
                continue
            depth -= 1
            if depth != 1:
                continue
            if el.tag == "image":
                reader.image(el)
            elif el.tag == "track":
                reader.track(el)
            elif el.tag == "tag":
                reader.result.tags.append(reader.tag(el, None, ""))
            elif el.tag == "meta":
                reader.meta(el)
            elif el.tag != "version":
                raise reader.fail("<annotations>", f"unknown element <{el.tag}>")
            if root is not None:
                root.clear()
    except ET.ParseError as error:
        line, column = error.position
        raise Invalid(
            f"{name}: line {line}, column {column}: malformed XML ({error})", file=name
        ) from None
    if root is None:
        raise reader.fail("root", "the file is empty")
    return reader.result


def read(path: Path) -> ImportedDataset:
    """CVAT 1.1: a bare ``.xml`` or a zip holding ``annotations.xml`` (the one nearest the
    root), else its one ``.xml``."""
    with Input(path) as src:
        name = src.file
        if src.is_zip:
            xmls = src.members(lambda n: n.lower().endswith(".xml"), "annotations.xml")
            preferred = [n for n in xmls if posixpath.basename(n) == "annotations.xml"]
            if preferred:
                name = min(preferred, key=lambda n: n.count("/"))
            elif len(xmls) == 1:
                name = xmls[0]
            else:
                raise fail(src.file, "the archive holds several XML files and no annotations.xml")
        with src.open(name) as stream:
            return _read_xml(src.shown(name), stream)
