"""The Ultralytics YOLO family: detection, segmentation, pose, oriented boxes, classification.

Layout: ``data.yaml`` (``path: .``, one ``<subset>: <subset>.txt`` key per subset, ``names``
as ``index: name``; pose adds ``kpt_shape`` and ``kpt_names``), per subset
``labels/<subset>/<frame path without extension>.txt``, ``images/<subset>/<frame path>`` and
``<subset>.txt`` listing its images. As in YOLO 1.1 (``yolo``), the subset ``default`` is
written as ``train`` unless a subset is called ``train`` already. Lines per task type:

* detection: ``class cx cy w h``
* segmentation: ``class x1 y1 x2 y2 ...`` (polygons)
* pose: ``class cx cy w h`` then ``x y v`` per keypoint (v: 0 absent, 1 occluded,
  2 visible); the box is the box of the skeleton's visible points
* oriented boxes: ``class x1 y1 ... x4 y4``, the rotated rectangle's corners
* classification: images in ``<subset>/<class>/``; without images,
  ``labels/<subset>/<frame path without extension>.txt`` with one class name a line; every
  subset folder has an entry for each class

Reading, a frame's subset is the folder under ``labels/`` (classification: the top folder),
else the ``data.yaml`` key listing it. Coordinates are normalised, so the importers need the
images' sizes: from ``frame_sizes`` (frame name -> (width, height), the task's frames) or from
the images in the archive. ``data.yaml`` is written and read by ``yolo_yaml`` (no YAML library).
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Callable
from pathlib import Path

from labelbay.datasets.formats.common import (
    FrameSizes,
    Input,
    Sizes,
    bounds,
    corners_rect,
    fail,
    image_ext,
    label_specs,
    num,
    path_stem,
    rect_corners,
    safe_path,
    subset_dir,
    write_image,
)
from labelbay.datasets.formats.imagenet import read_class_folders, write_class_folders
from labelbay.datasets.formats.yolo import (
    box_line,
    box_shape,
    class_names,
    class_of,
    lines_text,
    numbers,
    order_labels,
    points_line,
    scale,
    written_subsets,
)
from labelbay.datasets.formats.yolo_yaml import parse_yaml, write_yaml, yaml_names
from labelbay.datasets.model import (
    DatasetSource,
    FrameInfo,
    ImportedDataset,
    LabelSpec,
    Shape,
    subset_runs,
)
from labelbay.datasets.registry import Format, register
from labelbay.datasets.tracks import frame_shapes

_TYPES = {
    "detect": {"rectangle"},
    "segment": {"polygon"},
    "pose": {"skeleton"},
    "obb": {"rectangle"},
}
_RESERVED = ("path", "names", "kpt_shape", "kpt_names", "nc", "download")
"""data.yaml keys that are not subsets."""


def _skeleton_labels(source: DatasetSource) -> dict[str, LabelSpec]:
    return {
        label.name: label for label in source.labels if label.sublabels or label.type == "skeleton"
    }


def _ultra_exporter(kind: str) -> Callable[..., None]:
    types = _TYPES[kind]

    def export(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
        names = class_names(source)
        index = {name: i for i, name in enumerate(names)}
        subsets = written_subsets(source.frames)
        header: dict[str, object] = {"path": "."}
        for written in subsets.values():
            if written not in _RESERVED:
                header[written] = f"{written}.txt"
        header["names"] = dict(enumerate(names))
        skeletons = _skeleton_labels(source)
        kpt_count = max((len(s.sublabels) for s in skeletons.values()), default=0)
        if kind == "pose":
            header["kpt_shape"] = [kpt_count, 3]
            header["kpt_names"] = {
                index[name]: [sub.name for sub in spec.sublabels]
                for name, spec in skeletons.items()
            }
        out.writestr("data.yaml", write_yaml(header))
        listed: dict[str, list[str]] = {}
        for subset, run in subset_runs(frame_shapes(source, types), lambda item: item[0]):
            written = subsets.get(subset) or subset_dir(subset)
            images = listed.setdefault(written, [])
            for frame, shapes, _tags in run:
                rel = path_stem(frame.name)
                lines: list[str] = []
                for shape in shapes:
                    if shape.type in types and shape.label in index:
                        line = _line(kind, index[shape.label], shape, frame, skeletons, kpt_count)
                        if line:
                            lines.append(line)
                out.writestr(f"labels/{written}/{rel}.txt", lines_text(lines))
                image = f"images/{written}/{rel}"
                member = write_image(out, source, frame, image) if save_images else None
                images.append(member or f"{image}{image_ext(frame)}")
        if not listed:
            listed = {written: [] for written in subsets.values()}
        for written, images in listed.items():
            out.writestr(f"{written}.txt", lines_text(images))

    return export


def _line(
    kind: str,
    cls: int,
    shape: Shape,
    frame: FrameInfo,
    skeletons: dict[str, LabelSpec],
    kpt_count: int,
) -> str | None:
    if kind == "detect":
        return box_line(cls, shape.points, frame.width, frame.height)
    if kind == "segment":
        if len(shape.points) < 6:
            return None
        return points_line(cls, shape.points, frame.width, frame.height)
    if kind == "obb":
        corners = rect_corners(shape.points, shape.rotation)
        flat = [v for xy in corners for v in xy]
        return points_line(cls, flat, frame.width, frame.height)
    spec = skeletons.get(shape.label)
    return _pose_line(cls, shape, spec, kpt_count, frame) if spec is not None else None


def _pose_line(
    cls: int, shape: Shape, spec: LabelSpec, kpt_count: int, frame: FrameInfo
) -> str | None:
    by_name = {e.label: e for e in shape.elements}
    visible = [
        v for e in shape.elements if not e.outside and len(e.points) >= 2 for v in e.points[:2]
    ]
    if not visible:
        return None
    w, h = max(frame.width, 1), max(frame.height, 1)
    values: list[str] = [box_line(cls, list(bounds(visible)), frame.width, frame.height)]
    for i in range(kpt_count):
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
            return _read_labels(kind, src, yaml_member, frame_sizes)

    return read


def _read_labels(
    kind: str, src: Input, yaml_member: str, frame_sizes: FrameSizes | None
) -> ImportedDataset:
    shown_yaml = src.shown(yaml_member)
    header = parse_yaml(src.text(yaml_member), shown_yaml)
    names = yaml_names(header, shown_yaml)
    root = posixpath.dirname(yaml_member)
    prefix = f"{root}/" if root else ""
    kpt_count, kpt_names = _kpt_header(header, shown_yaml) if kind == "pose" else (0, {})
    label_dir = f"{prefix}labels/"
    label_files = [m for m in src.names() if m.startswith(label_dir) and m.endswith(".txt")]
    listed: list[tuple[str, str]] = []
    for key, value in header.items():
        if key in _RESERVED or not isinstance(value, str) or not value.endswith(".txt"):
            continue
        member = f"{prefix}{safe_path(value)}"
        if src.has(member):
            listed.extend((line, str(key)) for _n, line in src.lines(member))

    def to_label(image: str) -> str:
        image = safe_path(image)
        if image.startswith("images/"):
            image = "labels/" + image[len("images/") :]
        return prefix + image

    sizes = Sizes(frame_sizes, src)
    data = ImportedDataset(labels=label_specs(names))
    for number, (member, image, listed_subset) in enumerate(
        order_labels(label_files, listed, to_label)
    ):
        under = member[len(label_dir) :]
        first, nested, rest = under.partition("/")
        subset, rel = (first, rest) if nested else ("", under)
        name = safe_path(image).split("/", 2)[-1] if image else rel[: -len(".txt")]
        data.frame_names[number] = name
        data.frame_subsets[number] = subset or listed_subset or "default"
        shown = src.shown(member)
        for line, text in src.lines(member):
            tokens = text.split()
            label = class_of(tokens[0], names, shown, line)
            values = numbers(tokens[1:], shown, line)
            size = sizes.get(name, shown)
            kpts = kpt_names.get(names.index(label))
            data.shapes.append(
                _shape(kind, values, label, number, size, shown, line, kpt_count, kpts)
            )
    return data


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


def _shape(
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
        return box_shape(values, label, frame, size)
    if kind == "segment":
        if len(values) < 6 or len(values) % 2:
            raise fail(file, "expected 'class x1 y1 x2 y2 x3 y3 ...' (3+ points)", line=line)
        return Shape(type="polygon", frame=frame, label=label, points=scale(values, size))
    if kind == "obb":
        if len(values) != 8:
            raise fail(file, "expected 'class x1 y1 x2 y2 x3 y3 x4 y4'", line=line)
        points, rotation = corners_rect(scale(values, size))
        return Shape(type="rectangle", frame=frame, label=label, points=points, rotation=rotation)
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


# -------------------------------------------------------------------------- classification


def export_classify(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    names = class_names(source)
    subsets = written_subsets(source.frames)
    out.writestr("data.yaml", write_yaml({"path": ".", "names": dict(enumerate(names))}))
    for written in dict.fromkeys(subsets.values()):
        for folder in dict.fromkeys(safe_path(name) for name in names):
            out.writestr(zipfile.ZipInfo(f"{written}/{folder}/"), b"")
    write_class_folders(
        source, out, save_images=save_images, no_label=None,
        base=lambda subset: f"{subsets.get(subset) or subset_dir(subset)}/",
    )  # fmt: skip


def _read_classify(src: Input, yaml_member: str | None) -> ImportedDataset:
    names: list[str] = []
    prefix = ""
    if yaml_member is not None:
        shown = src.shown(yaml_member)
        names = yaml_names(parse_yaml(src.text(yaml_member), shown), shown)
        root = posixpath.dirname(yaml_member)
        prefix = f"{root}/" if root else ""
    return read_class_folders(src, prefix, names, labels_dir="labels/", subset_level=True)


_KINDS = (
    ("Detection", "detect", "detection"),
    ("Segmentation", "segment", "segmentation"),
    ("Pose", "pose", "pose"),
    ("Oriented Bounding Boxes", "obb", "oriented_bounding_boxes"),
)
for _title, _kind, _slug in _KINDS:
    register(
        Format(
            f"Ultralytics YOLO {_title} 1.0",
            "ZIP",
            "1.0",
            _ultra_exporter(_kind),
            _ultra_reader(_kind),
            slug=f"ultralytics_yolo_{_slug}",
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
