"""YOLO 1.1 (Darknet) and the Ultralytics YOLO family.

YOLO 1.1: ``obj.names`` (one class a line), ``obj.data``, ``train.txt`` listing the images as
``data/obj_train_data/<name>`` and ``obj_train_data/<frame path without extension>.txt`` with
``class cx cy w h`` lines normalised to the image size (rectangles only; rotation ignored).

Ultralytics: ``data.yaml`` (``names`` as ``index: name``; pose adds ``kpt_shape`` and
``kpt_names``), ``labels/<subset>/<stem>.txt``, ``images/<subset>/`` and ``<subset>.txt``
listing the images. The subset ``default`` is written as ``train``. Lines per task type:

* detection: ``class cx cy w h``
* segmentation: ``class x1 y1 x2 y2 ...`` (polygons)
* pose: ``class cx cy w h`` then ``x y v`` per keypoint (v: 0 absent, 1 occluded,
  2 visible); the box is the box of the skeleton's visible points
* oriented boxes: ``class x1 y1 ... x4 y4``, the rotated rectangle's corners
* classification: images in ``<subset>/<class>/``; without images,
  ``labels/<subset>/<stem>.txt`` with one class name a line

Coordinates are normalised, so the importers need the images' sizes: from ``frame_sizes``
(frame name -> (width, height), the task's frames) or from the images in the archive.
``data.yaml`` is written and read by the small YAML subset below (no YAML library).
"""

from __future__ import annotations

import json
import math
import posixpath
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from labelbay.datasets.formats._common_b import (
    IMAGE_EXTS,
    FrameSizes,
    Input,
    Sizes,
    bounds,
    fail,
    frame_shapes,
    image_ext,
    label_specs,
    num,
    path_stem,
    rect_corners,
    safe_path,
    write_image,
)
from labelbay.datasets.model import (
    DatasetSource,
    FrameInfo,
    ImportedDataset,
    LabelSpec,
    Shape,
    Tag,
)
from labelbay.datasets.registry import Format, register


def _names(source: DatasetSource) -> list[str]:
    return [label.name for label in source.labels]


def _subset(source: DatasetSource) -> str:
    subset = safe_path(source.subset or "default").replace("/", "_")
    return "train" if subset == "default" else subset


def _box_line(cls: int, points: list[float], width: int, height: int) -> str:
    x1, y1, x2, y2 = bounds(points[:4])
    w, h = max(width, 1), max(height, 1)
    values = ((x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h)
    return " ".join([str(cls), *(num(v) for v in values)])


def _points_line(cls: int, points: Iterable[float], width: int, height: int) -> str:
    w, h = max(width, 1), max(height, 1)
    values = [num(v / (w if i % 2 == 0 else h)) for i, v in enumerate(points)]
    return " ".join([str(cls), *values])


def _numbers(tokens: list[str], file: str, line: int) -> list[float]:
    values = []
    for token in tokens:
        try:
            value = float(token)
        except ValueError:
            raise fail(file, f"{token!r} is not a number", line=line) from None
        if not math.isfinite(value):
            raise fail(file, f"{token!r} is not a finite number", line=line)
        values.append(value)
    return values


def _class(token: str, names: list[str], file: str, line: int) -> str:
    try:
        index = int(token)
    except ValueError:
        raise fail(file, f"class {token!r} is not an integer", line=line) from None
    if not 0 <= index < len(names):
        raise fail(file, f"class {index} is unknown (there are {len(names)} classes)", line=line)
    return names[index]


def _box_shape(values: list[float], label: str, frame: int, size: tuple[int, int]) -> Shape:
    cx, cy = values[0] * size[0], values[1] * size[1]
    w, h = values[2] * size[0], values[3] * size[1]
    return Shape(
        type="rectangle",
        frame=frame,
        label=label,
        points=[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2],
    )


def _scale(values: list[float], size: tuple[int, int]) -> list[float]:
    return [v * (size[0] if i % 2 == 0 else size[1]) for i, v in enumerate(values)]


# ------------------------------------------------------------------------------ YOLO 1.1


def export_yolo(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    names = _names(source)
    index = {name: i for i, name in enumerate(names)}
    subset = _subset(source)
    folder = f"obj_{subset}_data"
    out.writestr("obj.names", "".join(f"{name}\n" for name in names))
    out.writestr(
        "obj.data",
        f"classes = {len(names)}\n{subset} = data/{subset}.txt\n"
        "names = data/obj.names\nbackup = backup/\n",
    )
    listed: list[str] = []
    for frame, shapes, _tags in frame_shapes(source, {"rectangle"}):
        rel = path_stem(frame.name)
        lines = [
            _box_line(index[s.label], s.points, frame.width, frame.height)
            for s in shapes
            if s.type == "rectangle" and s.label in index
        ]
        out.writestr(f"{folder}/{rel}.txt", "".join(f"{line}\n" for line in lines))
        member = write_image(out, source, frame, f"{folder}/{rel}") if save_images else None
        listed.append(f"data/{member or f'{folder}/{rel}{image_ext(frame)}'}")
    out.writestr(f"{subset}.txt", "".join(f"{line}\n" for line in listed))


def read_yolo(path: Path, *, frame_sizes: FrameSizes | None = None) -> ImportedDataset:
    with Input(path) as src:
        if not src.is_zip:
            raise fail(src.file, "a YOLO 1.1 dataset is a zip archive with obj.names")
        names_member = src.find("obj.names")
        if names_member is None:
            raise fail(src.file, "obj.names is missing")
        root = posixpath.dirname(names_member)
        prefix = f"{root}/" if root else ""
        names = [line for _n, line in src.lines(names_member)]
        # Label files: <root>/obj_<subset>_data/**.txt
        label_files = [
            m
            for m in src.names()
            if m.startswith(prefix)
            and m.endswith(".txt")
            and m[len(prefix) :].split("/", 1)[0].startswith("obj_")
            and "/" in m[len(prefix) :]
        ]
        listed = _listed_images(src, prefix, names_member)
        order = _order(label_files, listed, lambda image: f"{prefix}{_strip_data(image)}")
        sizes = Sizes(frame_sizes, src)
        data = ImportedDataset(labels=label_specs(names))
        for number, (member, image) in enumerate(order):
            rel = member[len(prefix) :].split("/", 1)[1]
            name = image.split("/", 2)[-1] if image else rel[: -len(".txt")]
            data.frame_names[number] = name
            shown = src.shown(member)
            size: tuple[int, int] | None = None
            for line, text in src.lines(member):
                tokens = text.split()
                if len(tokens) != 5:
                    raise fail(shown, f"expected 'class cx cy w h', got {text!r}", line=line)
                label = _class(tokens[0], names, shown, line)
                values = _numbers(tokens[1:], shown, line)
                size = size or sizes.get(name, shown)
                data.shapes.append(_box_shape(values, label, number, size))
        return data


def _strip_data(image: str) -> str:
    image = safe_path(image)
    return image[len("data/") :] if image.startswith("data/") else image


def _listed_images(src: Input, prefix: str, names_member: str) -> list[str]:
    """Image paths from the ``*.txt`` lists at the dataset root (train.txt, valid.txt)."""
    listed: list[str] = []
    for member in sorted(src.names()):
        if (
            member.startswith(prefix)
            and member.endswith(".txt")
            and "/" not in member[len(prefix) :]
            and member != names_member
        ):
            listed.extend(line for _n, line in src.lines(member))
    return listed


def _order(
    label_files: list[str], listed: list[str], to_label: Callable[[str], str]
) -> list[tuple[str, str]]:
    """Label files in the order their images are listed, then the unlisted ones sorted;
    each with the listed image path ("" when not listed)."""
    present = set(label_files)
    order: list[tuple[str, str]] = []
    seen: set[str] = set()
    for image in listed:
        candidate = posixpath.splitext(to_label(image))[0] + ".txt"
        if candidate in present and candidate not in seen:
            seen.add(candidate)
            order.append((candidate, image))
    order.extend((m, "") for m in sorted(present - seen))
    return order


# ------------------------------------------------------------------------ data.yaml subset


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def write_yaml(values: dict[str, object]) -> str:
    """Top-level keys with scalars, lists of scalars (flow style) or ``int -> scalar|list``
    mappings (block style): what data.yaml needs."""
    lines: list[str] = []
    for key, value in values.items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            for k, v in value.items():
                lines.append(f"  {k}: {_flow(v)}")
        else:
            lines.append(f"{key}: {_flow(value)}")
    return "\n".join(lines) + "\n"


def _flow(value: object) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return _quote(str(value))


def parse_yaml(text: str, file: str) -> dict[str, object]:
    """The top-level keys of a simple YAML mapping: scalars, flow lists and mappings, block
    sequences and block mappings one level deep. Enough for data.yaml."""
    result: dict[str, object] = {}
    key: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = _uncomment(raw).rstrip()
        if not line.strip() or line.strip() in ("---", "..."):
            continue
        indented = line[0] in " \t"
        body = line.strip()
        if not indented:
            k, sep, rest = _split_key(body)
            if not sep:
                raise fail(file, f"expected 'key: value', got {body!r}", line=number)
            key = k
            rest = rest.strip()
            result[key] = _scalar_or_flow(rest, file, number) if rest else None
            continue
        if key is None:
            raise fail(file, f"unexpected indented line {body!r}", line=number)
        current = result.get(key)
        if body.startswith("- ") or body == "-":
            item = _scalar_or_flow(body[1:].strip(), file, number)
            if current is None:
                current = result[key] = []
            if not isinstance(current, list):
                raise fail(file, f"{key}: mixes a list and a mapping", line=number)
            current.append(item)
        else:
            k, sep, rest = _split_key(body)
            if not sep:
                raise fail(file, f"expected 'key: value' under {key}, got {body!r}", line=number)
            if current is None:
                current = result[key] = {}
            if not isinstance(current, dict):
                raise fail(file, f"{key}: mixes a list and a mapping", line=number)
            current[_scalar(k, file, number)] = _scalar_or_flow(rest.strip(), file, number)
    return result


def _uncomment(line: str) -> str:
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _split_key(body: str) -> tuple[str, str, str]:
    if body[:1] in "\"'":
        end = body.find(body[0], 1)
        if end > 0 and body[end + 1 : end + 2] == ":":
            return body[: end + 1], ":", body[end + 2 :]
    k, sep, rest = body.partition(": ")
    if not sep and body.endswith(":"):
        return body[:-1], ":", ""
    return k, sep.strip(), rest


def _scalar(text: str, file: str, line: int) -> object:
    text = text.strip()
    if not text:
        return ""
    if text[0] == '"':
        try:
            return json.loads(text)
        except ValueError:
            raise fail(file, f"bad quoted string {text}", line=line) from None
    if text[0] == "'":
        if len(text) < 2 or text[-1] != "'":
            raise fail(file, f"bad quoted string {text}", line=line)
        return text[1:-1].replace("''", "'")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _scalar_or_flow(text: str, file: str, line: int) -> object:
    if text.startswith("[") or text.startswith("{"):
        close = "]" if text[0] == "[" else "}"
        if not text.endswith(close):
            raise fail(file, f"unterminated {text[0]}", line=line)
        items = _split_flow(text[1:-1], file, line)
        if text[0] == "[":
            return [_scalar_or_flow(item, file, line) for item in items]
        mapping: dict[object, object] = {}
        for item in items:
            k, sep, rest = _split_key(item)
            if not sep:
                raise fail(file, f"expected 'key: value' in {text}", line=line)
            mapping[_scalar(k, file, line)] = _scalar_or_flow(rest.strip(), file, line)
        return mapping
    return _scalar(text, file, line)


def _split_flow(text: str, file: str, line: int) -> list[str]:
    items, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == "\\" and quote == '"':
                continue
            if ch == quote and (quote != '"' or text[i - 1] != "\\"):
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    if quote or depth:
        raise fail(file, "unbalanced brackets or quotes", line=line)
    last = text[start:].strip()
    if last:
        items.append(last)
    return items


def _yaml_names(data: dict[str, object], file: str) -> list[str]:
    names = data.get("names")
    if isinstance(names, list):
        return [str(n) for n in names]
    if isinstance(names, dict):
        result: list[str] = []
        for k in sorted(names, key=lambda k: k if isinstance(k, int) else -1):
            if not isinstance(k, int) or k != len(result):
                raise fail(file, f"names: keys must be 0, 1, 2, ... (got {k!r})")
            result.append(str(names[k]))
        return result
    raise fail(file, "names: missing or not a list or mapping")


# ----------------------------------------------------------------------------- Ultralytics


def _skeleton_labels(source: DatasetSource) -> dict[str, LabelSpec]:
    return {
        label.name: label for label in source.labels if label.sublabels or label.type == "skeleton"
    }


def _ultra_exporter(kind: str) -> Callable[..., None]:
    def export(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
        names = _names(source)
        index = {name: i for i, name in enumerate(names)}
        subset = _subset(source)
        header: dict[str, object] = {"path": ".", subset: f"{subset}.txt"}
        header["names"] = dict(enumerate(names))
        skeletons = _skeleton_labels(source)
        if kind == "pose":
            k = max((len(s.sublabels) for s in skeletons.values()), default=0)
            header["kpt_shape"] = [k, 3]
            header["kpt_names"] = {
                index[name]: [sub.name for sub in spec.sublabels]
                for name, spec in skeletons.items()
            }
        out.writestr("data.yaml", write_yaml(header))
        types = {
            "detect": {"rectangle"},
            "segment": {"polygon"},
            "pose": {"skeleton"},
            "obb": {"rectangle"},
        }[kind]
        listed: list[str] = []
        for frame, shapes, _tags in frame_shapes(source, types):
            rel = path_stem(frame.name)
            lines: list[str] = []
            for shape in shapes:
                if shape.type not in types or shape.label not in index:
                    continue
                cls = index[shape.label]
                if kind == "detect":
                    lines.append(_box_line(cls, shape.points, frame.width, frame.height))
                elif kind == "segment" and len(shape.points) >= 6:
                    lines.append(_points_line(cls, shape.points, frame.width, frame.height))
                elif kind == "obb":
                    corners = rect_corners(shape.points, shape.rotation)
                    flat = [v for xy in corners for v in xy]
                    lines.append(_points_line(cls, flat, frame.width, frame.height))
                elif kind == "pose" and shape.label in skeletons:
                    line = _pose_line(cls, shape, skeletons[shape.label], header, frame)
                    if line:
                        lines.append(line)
            out.writestr(f"labels/{subset}/{rel}.txt", "".join(f"{x}\n" for x in lines))
            image = f"images/{subset}/{rel}"
            member = write_image(out, source, frame, image) if save_images else None
            listed.append(member or f"{image}{image_ext(frame)}")
        out.writestr(f"{subset}.txt", "".join(f"{line}\n" for line in listed))

    return export


def _pose_line(
    cls: int, shape: Shape, spec: LabelSpec, header: dict[str, object], frame: FrameInfo
) -> str | None:
    kpt = header["kpt_shape"]
    assert isinstance(kpt, list)
    k = int(kpt[0])
    by_name = {e.label: e for e in shape.elements}
    visible = [
        v for e in shape.elements if not e.outside and len(e.points) >= 2 for v in e.points[:2]
    ]
    if not visible:
        return None
    w, h = max(frame.width, 1), max(frame.height, 1)
    values: list[str] = [_box_line(cls, list(bounds(visible)), frame.width, frame.height)]
    for i in range(k):
        element = by_name.get(spec.sublabels[i].name) if i < len(spec.sublabels) else None
        if element is None or element.outside or len(element.points) < 2:
            values.append("0 0 0")
        else:
            v = 1 if element.occluded else 2
            values.append(f"{num(element.points[0] / w)} {num(element.points[1] / h)} {v}")
    return " ".join(values)


def _ultra_reader(kind: str) -> Callable[..., ImportedDataset]:
    def read(path: Path, *, frame_sizes: FrameSizes | None = None) -> ImportedDataset:
        with Input(path) as src:
            if not src.is_zip:
                raise fail(src.file, "an Ultralytics YOLO dataset is a zip archive")
            yaml_member = src.find("data.yaml")
            if kind == "classify":
                return _read_classify(src, yaml_member)
            if yaml_member is None:
                raise fail(src.file, "data.yaml is missing")
            shown_yaml = src.shown(yaml_member)
            header = parse_yaml(src.text(yaml_member), shown_yaml)
            names = _yaml_names(header, shown_yaml)
            root = posixpath.dirname(yaml_member)
            prefix = f"{root}/" if root else ""
            kpt_count, kpt_names = _kpt_header(header, shown_yaml) if kind == "pose" else (0, {})
            label_files = [
                m for m in src.names() if m.startswith(f"{prefix}labels/") and m.endswith(".txt")
            ]
            listed: list[str] = []
            for key, value in header.items():
                if key in ("names", "path", "kpt_shape", "kpt_names"):
                    continue
                if isinstance(value, str) and value.endswith(".txt"):
                    member = f"{prefix}{safe_path(value)}"
                    if src.has(member):
                        listed.extend(line for _n, line in src.lines(member))

            def to_label(image: str) -> str:
                image = safe_path(image)
                if image.startswith("images/"):
                    image = "labels/" + image[len("images/") :]
                return prefix + image

            order = _order(label_files, listed, to_label)
            sizes = Sizes(frame_sizes, src)
            data = ImportedDataset(labels=label_specs(names))
            for number, (member, image) in enumerate(order):
                rel = member[len(prefix) + len("labels/") :].split("/", 1)[-1]
                name = safe_path(image).split("/", 2)[-1] if image else rel[: -len(".txt")]
                data.frame_names[number] = name
                shown = src.shown(member)
                for line, text in src.lines(member):
                    tokens = text.split()
                    label = _class(tokens[0], names, shown, line)
                    values = _numbers(tokens[1:], shown, line)
                    size = sizes.get(name, shown)
                    data.shapes.append(
                        _ultra_shape(kind, values, label, number, size, shown, line,
                                     kpt_count, kpt_names.get(names.index(label)))
                    )  # fmt: skip
            return data

    return read


def _kpt_header(header: dict[str, object], file: str) -> tuple[int, dict[int, list[str]]]:
    shape = header.get("kpt_shape")
    count = 0
    if shape is not None:
        if not isinstance(shape, list) or len(shape) != 2 or not isinstance(shape[0], int):
            raise fail(file, "kpt_shape: expected [keypoints, 3]")
        if shape[1] != 3:
            raise fail(file, "kpt_shape: only 3 values per keypoint (x y v) are supported")
        count = shape[0]
    raw = header.get("kpt_names")
    names: dict[int, list[str]] = {}
    if isinstance(raw, dict):
        for k, v in raw.items():
            if isinstance(k, int) and isinstance(v, list):
                names[k] = [str(x) for x in v]
    return count, names


def _ultra_shape(
    kind: str,
    values: list[float],
    label: str,
    frame: int,
    size: tuple[int, int],
    file: str,
    line: int,
    kpt_count: int,
    kpt_names: list[str] | None,
) -> Shape:
    if kind == "detect":
        if len(values) != 4:
            raise fail(file, f"expected 'class cx cy w h', got {len(values) + 1} values", line=line)
        return _box_shape(values, label, frame, size)
    if kind == "segment":
        if len(values) < 6 or len(values) % 2:
            raise fail(file, "expected 'class x1 y1 x2 y2 x3 y3 ...' (3+ points)", line=line)
        return Shape(type="polygon", frame=frame, label=label, points=_scale(values, size))
    if kind == "obb":
        if len(values) != 8:
            raise fail(file, "expected 'class x1 y1 x2 y2 x3 y3 x4 y4'", line=line)
        return _obb_shape(_scale(values, size), label, frame)
    # pose
    count = kpt_count or (len(values) - 4) // 3
    if len(values) != 4 + 3 * count or len(values) < 4:
        raise fail(file, f"expected 'class cx cy w h' and {count} 'x y v' keypoints", line=line)
    elements = []
    for i in range(count):
        x, y, v = values[4 + 3 * i : 7 + 3 * i]
        if v not in (0, 1, 2):
            raise fail(file, f"keypoint {i + 1}: visibility {v:g} is not 0, 1 or 2", line=line)
        name = kpt_names[i] if kpt_names and i < len(kpt_names) else str(i + 1)
        elements.append(
            Shape(
                type="points",
                frame=frame,
                label=name,
                points=[x * size[0], y * size[1]],
                outside=v == 0,
                occluded=v == 1,
            )
        )
    return Shape(type="skeleton", frame=frame, label=label, points=[], elements=elements)


def _obb_shape(corners: list[float], label: str, frame: int) -> Shape:
    (x1, y1, x2, y2, x3, y3, x4, y4) = corners
    cx, cy = (x1 + x2 + x3 + x4) / 4, (y1 + y2 + y3 + y4) / 4
    width = math.hypot(x2 - x1, y2 - y1)
    height = math.hypot(x3 - x2, y3 - y2)
    rotation = math.degrees(math.atan2(y2 - y1, x2 - x1)) % 360.0
    if math.isclose(rotation, 360.0):
        rotation = 0.0
    return Shape(
        type="rectangle",
        frame=frame,
        label=label,
        points=[cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2],
        rotation=rotation,
    )


# -------------------------------------------------------------------------- classification


def export_classify(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    names = _names(source)
    known = set(names)
    subset = _subset(source)
    out.writestr("data.yaml", write_yaml({"path": ".", "names": dict(enumerate(names))}))
    for name in names:
        out.writestr(zipfile.ZipInfo(f"{subset}/{safe_path(name)}/"), b"")
    for frame, _shapes, tags in source.frame_annotations():
        labels = list(dict.fromkeys(t.label for t in tags if t.label in known))
        rel = path_stem(frame.name)
        if save_images and labels:
            found = source.image(frame)
            if found is not None:
                ext = posixpath.splitext(found[0])[1] or image_ext(frame)
                for label in labels:
                    out.writestr(f"{subset}/{safe_path(label)}/{rel}{ext}", found[1])
                continue
        out.writestr(f"labels/{subset}/{rel}.txt", "".join(f"{x}\n" for x in labels))


def _read_classify(src: Input, yaml_member: str | None) -> ImportedDataset:
    names: list[str] = []
    prefix = ""
    if yaml_member is not None:
        shown = src.shown(yaml_member)
        names = _yaml_names(parse_yaml(src.text(yaml_member), shown), shown)
        root = posixpath.dirname(yaml_member)
        prefix = f"{root}/" if root else ""
    return read_class_folders(src, prefix, names, labels_dir="labels/", subset_level=True)


def read_class_folders(
    src: Input, prefix: str, names: list[str], *, labels_dir: str, subset_level: bool
) -> ImportedDataset:
    """Tags from ``[<subset>/]<class>/<image>`` folders and ``<labels_dir>[<subset>/]<stem>
    .txt`` lists of class names; frames in sorted name order."""
    declared = list(names)
    strict = bool(names)
    frames: dict[str, list[str]] = {}
    depth = 1 if subset_level else 0
    for folder in src.dirs():
        if folder.startswith(prefix):
            parts = folder[len(prefix) :].split("/")
            if (
                len(parts) == depth + 1
                and parts[0] + "/" != labels_dir
                and parts[depth] not in declared
                and parts[depth] != "no_label"
            ):
                declared.append(parts[depth])
    for member in sorted(src.names()):
        if not member.startswith(prefix):
            continue
        rel = member[len(prefix) :]
        ext = posixpath.splitext(rel)[1].lower()
        if rel.startswith(labels_dir) and ext == ".txt":
            parts = rel[len(labels_dir) :].split("/", depth)
            if len(parts) <= depth:
                continue
            name = parts[-1][: -len(".txt")]
            labels = frames.setdefault(name, [])
            shown = src.shown(member)
            for line, text in src.lines(member):
                if strict and text not in names:
                    raise fail(shown, f"class {text!r} is unknown", line=line)
                if text not in declared:
                    declared.append(text)
                if text not in labels:
                    labels.append(text)
        elif ext in IMAGE_EXTS:
            parts = rel.split("/", depth + 1)
            if len(parts) <= depth + 1:
                continue
            label, name = parts[depth], parts[depth + 1]
            labels = frames.setdefault(name, [])
            if label == "no_label":
                continue
            if strict and label not in names:
                raise fail(src.shown(member), f"class folder {label!r} is unknown")
            if label not in declared:
                declared.append(label)
            if label not in labels:
                labels.append(label)
    data = ImportedDataset(labels=label_specs(declared))
    ordered = sorted(frames.items(), key=lambda item: path_stem(item[0]))
    for number, (name, labels) in enumerate(ordered):
        data.frame_names[number] = name
        data.tags.extend(Tag(frame=number, label=label) for label in labels)
    return data


register(Format("YOLO 1.1", "ZIP", "1.1", export_yolo, read_yolo, slug="yolo"))
register(
    Format(
        "Ultralytics YOLO Detection 1.0",
        "ZIP",
        "1.0",
        _ultra_exporter("detect"),
        _ultra_reader("detect"),
        slug="ultralytics_yolo_detection",
    )
)
register(
    Format(
        "Ultralytics YOLO Segmentation 1.0",
        "ZIP",
        "1.0",
        _ultra_exporter("segment"),
        _ultra_reader("segment"),
        slug="ultralytics_yolo_segmentation",
    )
)
register(
    Format(
        "Ultralytics YOLO Pose 1.0",
        "ZIP",
        "1.0",
        _ultra_exporter("pose"),
        _ultra_reader("pose"),
        slug="ultralytics_yolo_pose",
    )
)
register(
    Format(
        "Ultralytics YOLO Oriented Bounding Boxes 1.0",
        "ZIP",
        "1.0",
        _ultra_exporter("obb"),
        _ultra_reader("obb"),
        slug="ultralytics_yolo_oriented_bounding_boxes",
    )
)
register(
    Format(
        "Ultralytics YOLO Classification 1.0",
        "ZIP",
        "1.0",
        export_classify,
        _ultra_reader("classify"),
        slug="ultralytics_yolo_classification",
    )
)
