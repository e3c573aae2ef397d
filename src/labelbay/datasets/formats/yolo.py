"""YOLO 1.1 (Darknet), and what it shares with the Ultralytics formats (``yolo_ultralytics``).

Layout: ``obj.names`` (one class a line), ``obj.data`` (``classes``, one
``<subset> = data/<subset>.txt`` line per subset, ``names``, ``backup``), per subset
``<subset>.txt`` listing its images as ``data/obj_<subset>_data/<frame path>`` and
``obj_<subset>_data/<frame path without extension>.txt`` with ``class cx cy w h`` lines
normalised to the image size (rectangles only; rotation ignored), the images next to them.

YOLO has no "default" subset: frames of the subset ``default`` are written as ``train``
(unless a subset is already called ``train``), so they come back in ``train``: the one
subset name a round trip does not keep. Reading, a frame's subset is the ``<subset>`` of its
``obj_<subset>_data`` folder, else the ``obj.data`` key (or list file) listing it.

Coordinates are normalised, so the importer needs the images' sizes: from ``frame_sizes``
(frame name -> (width, height), the task's frames) or from the images in the archive.
"""

from __future__ import annotations

import math
import posixpath
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from labelbay.datasets.formats.common import (
    FrameSizes,
    Input,
    Sizes,
    bounds,
    fail,
    image_ext,
    label_specs,
    num,
    path_stem,
    safe_path,
    subset_dir,
    write_image,
)
from labelbay.datasets.model import (
    DatasetSource,
    FrameInfo,
    ImportedDataset,
    Shape,
    subset_runs,
)
from labelbay.datasets.registry import Format, register
from labelbay.datasets.tracks import frame_shapes

_OBJ_DATA_KEYS = ("classes", "names", "backup", "eval")
"""Keys of ``obj.data`` that are not subsets."""


def class_names(source: DatasetSource) -> list[str]:
    return [label.name for label in source.labels]


def written_subsets(frames: Iterable[FrameInfo]) -> dict[str, str]:
    """Each subset of ``frames`` (in order) -> the name its files get: ``default`` becomes
    ``train`` unless a subset is called ``train`` already; no frames: ``{"default": "train"}``."""
    names = {subset: subset_dir(subset) for subset in dict.fromkeys(f.subset for f in frames)}
    if not names:
        names = {"default": "default"}
    if "train" not in names.values():
        names = {s: "train" if d == "default" else d for s, d in names.items()}
    return names


def lines_text(lines: Iterable[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def box_line(cls: int, points: list[float], width: int, height: int) -> str:
    x1, y1, x2, y2 = bounds(points[:4])
    w, h = max(width, 1), max(height, 1)
    values = ((x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h)
    return " ".join([str(cls), *(num(v) for v in values)])


def points_line(cls: int, points: Iterable[float], width: int, height: int) -> str:
    w, h = max(width, 1), max(height, 1)
    values = [num(v / (w if i % 2 == 0 else h)) for i, v in enumerate(points)]
    return " ".join([str(cls), *values])


def numbers(tokens: list[str], file: str, line: int) -> list[float]:
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


def class_of(token: str, names: list[str], file: str, line: int) -> str:
    try:
        index = int(token)
    except ValueError:
        raise fail(file, f"class {token!r} is not an integer", line=line) from None
    if not 0 <= index < len(names):
        raise fail(file, f"class {index} is unknown (there are {len(names)} classes)", line=line)
    return names[index]


def box_shape(values: list[float], label: str, frame: int, size: tuple[int, int]) -> Shape:
    cx, cy = values[0] * size[0], values[1] * size[1]
    w, h = values[2] * size[0], values[3] * size[1]
    return Shape(
        type="rectangle",
        frame=frame,
        label=label,
        points=[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2],
    )


def scale(values: list[float], size: tuple[int, int]) -> list[float]:
    return [v * (size[0] if i % 2 == 0 else size[1]) for i, v in enumerate(values)]


def order_labels(
    label_files: list[str], listed: list[tuple[str, str]], to_label: Callable[[str], str]
) -> list[tuple[str, str, str]]:
    """Label files in the order their images are listed (``listed``: image path and the
    subset of the list naming it), then the unlisted ones sorted: ``(label file, listed
    image path or "", subset of its list or "")``."""
    present = set(label_files)
    order: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for image, subset in listed:
        candidate = posixpath.splitext(to_label(image))[0] + ".txt"
        if candidate in present and candidate not in seen:
            seen.add(candidate)
            order.append((candidate, image, subset))
    order.extend((m, "", "") for m in sorted(present - seen))
    return order


# ------------------------------------------------------------------------------ YOLO 1.1


def export_yolo(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    names = class_names(source)
    index = {name: i for i, name in enumerate(names)}
    subsets = written_subsets(source.frames)
    out.writestr("obj.names", lines_text(names))
    listed: dict[str, list[str]] = {}
    runs = subset_runs(frame_shapes(source, {"rectangle"}), lambda item: item[0])
    for subset, run in runs:
        written = subsets.get(subset) or subset_dir(subset)
        folder = f"obj_{written}_data"
        images = listed.setdefault(written, [])
        for frame, shapes, _tags in run:
            rel = path_stem(frame.name)
            lines = [
                box_line(index[s.label], s.points, frame.width, frame.height)
                for s in shapes
                if s.type == "rectangle" and s.label in index
            ]
            out.writestr(f"{folder}/{rel}.txt", lines_text(lines))
            member = write_image(out, source, frame, f"{folder}/{rel}") if save_images else None
            images.append(f"data/{member or f'{folder}/{rel}{image_ext(frame)}'}")
    if not listed:
        listed = {name: [] for name in subsets.values()}
    for written, images in listed.items():
        out.writestr(f"{written}.txt", lines_text(images))
    subset_lines = "".join(f"{written} = data/{written}.txt\n" for written in listed)
    out.writestr(
        "obj.data",
        f"classes = {len(names)}\n{subset_lines}names = data/obj.names\nbackup = backup/\n",
    )


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
        order = order_labels(label_files, listed, lambda image: f"{prefix}{_strip_data(image)}")
        sizes = Sizes(frame_sizes, src)
        data = ImportedDataset(labels=label_specs(names))
        for number, (member, image, listed_subset) in enumerate(order):
            folder, rel = member[len(prefix) :].split("/", 1)
            name = _strip_data(image).split("/", 1)[-1] if image else rel[: -len(".txt")]
            data.frame_names[number] = name
            data.frame_subsets[number] = _folder_subset(folder) or listed_subset or "default"
            shown = src.shown(member)
            size: tuple[int, int] | None = None
            for line, text in src.lines(member):
                tokens = text.split()
                if len(tokens) != 5:
                    raise fail(shown, f"expected 'class cx cy w h', got {text!r}", line=line)
                label = class_of(tokens[0], names, shown, line)
                values = numbers(tokens[1:], shown, line)
                size = size or sizes.get(name, shown)
                data.shapes.append(box_shape(values, label, number, size))
        return data


def _folder_subset(folder: str) -> str:
    """``obj_train_data`` -> ``train``; ``""`` for a folder not named that way."""
    if folder.startswith("obj_") and folder.endswith("_data") and len(folder) > len("obj__data"):
        return folder[len("obj_") : -len("_data")]
    return ""


def _strip_data(image: str) -> str:
    image = safe_path(image)
    return image[len("data/") :] if image.startswith("data/") else image


def _listed_images(src: Input, prefix: str, names_member: str) -> list[tuple[str, str]]:
    """``(image path, subset)`` from the image lists at the dataset root: those ``obj.data``
    names (``train = data/train.txt``), in its order, then any other ``*.txt`` there sorted
    (their subset: the file name without ``.txt``)."""
    lists: list[tuple[str, str]] = []
    data_member = f"{prefix}obj.data"
    if src.has(data_member):
        for _n, text in src.lines(data_member):
            key, sep, value = (part.strip() for part in text.partition("="))
            if sep and key not in _OBJ_DATA_KEYS and value.endswith(".txt"):
                lists.append((f"{prefix}{_strip_data(value)}", key))
    for member in sorted(src.names()):
        if (
            member.startswith(prefix)
            and member.endswith(".txt")
            and "/" not in member[len(prefix) :]
            and member != names_member
        ):
            lists.append((member, posixpath.basename(member)[: -len(".txt")]))
    listed: list[tuple[str, str]] = []
    done: set[str] = set()
    for member, subset in lists:
        if member in done or not src.has(member):
            continue
        done.add(member)
        listed.extend((line, subset) for _n, line in src.lines(member))
    return listed


register(Format("YOLO 1.1", "ZIP", "1.1", export_yolo, read_yolo, slug="yolo"))
