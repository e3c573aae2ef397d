"""Segmentation mask 1.1: class and instance masks as PNG files (the VOC segmentation layout).

Layout: ``labelmap.txt`` (``background:0,0,0::`` then ``name:r,g,b::`` per label; a label
without a colour, or whose colour is taken, gets the next free colour of the VOC palette),
``SegmentationClass/<frame path without extension>.png`` (palette PNG: index 0 background,
label i at index i + 1 with the label's colour), ``SegmentationObject/<...>.png`` (palette
PNG: object k of the frame at index k, VOC palette colours; a 16-bit grey PNG above 254
objects), ``ImageSets/Segmentation/<subset>.txt`` (one per subset of the frames) and, with
images, ``JPEGImages/<...>``. The mask and image folders are shared by every subset: a frame
path an earlier frame already took goes under its subset's folder, as in VOC (``voc``).
Reading, a frame's subset is the ``ImageSets/Segmentation`` list naming it (``default`` when
none does, if the archive has lists).

Shapes are drawn with Pillow's ImageDraw in ``z_order`` order (later ones cover earlier
ones): polygons, rectangles (rotation applied), ellipses (as 72-point polygons) and masks;
track shapes included. Reading gives every object of SegmentationObject back as a CVAT
``mask`` shape (run lengths over its box), labelled by the most frequent class colour
under it; without SegmentationObject, every class colour of a frame is one mask. The masks
are pixel-exact copies of the PNGs, i.e. of the rasterised shapes: a polygon comes back as
the pixels ImageDraw filled for it (its outline included), minus what later shapes covered.
(An import with ``conv_mask_to_poly`` turns the masks into polygons when it is applied:
:mod:`labelbay.datasets.masks`.)
"""

from __future__ import annotations

import dataclasses
import io
import math
import posixpath
import zipfile
from array import array
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

from labelbay.datasets.formats.common import (
    Input,
    UniquePaths,
    decode_mask,
    encode_mask,
    fail,
    hex_rgb,
    path_stem,
    rect_corners,
    subset_dir,
    write_image,
)
from labelbay.datasets.formats.rle import fill_runs
from labelbay.datasets.formats.voc import read_labelmap, write_labelmap
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

_DRAWN = ("polygon", "rectangle", "ellipse", "mask")
_VOID = 255
_ON, _BIT = [0] + [255] * 255, [0] + [1] * 255
"""Pillow lookup tables: 0 stays 0, anything else becomes 255 (``_BIT``: 1)."""


def voc_palette() -> list[tuple[int, int, int]]:
    """The PASCAL VOC colour map: the bits of the index spread over r, g, b, high first."""
    colors = []
    for index in range(256):
        r = g = b = 0
        value = index
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        colors.append((r, g, b))
    return colors


def label_colors(labels: list[LabelSpec]) -> list[LabelSpec]:
    """The labels with distinct colours, none black (the background)."""
    used = {(0, 0, 0)}
    spare = iter(voc_palette()[1:])
    result = []
    for label in labels:
        rgb = hex_rgb(label.color)
        while rgb is None or rgb in used:
            rgb = next(spare, None)
            if rgb is None:  # more than 255 labels: any unused colour
                rgb = (len(used) % 256, len(used) // 256 % 256, 7)
        used.add(rgb)
        result.append(dataclasses.replace(label, color="#{:02x}{:02x}{:02x}".format(*rgb)))
    return result


def _polygon(shape: Shape) -> list[tuple[float, float]] | None:
    if shape.type == "polygon" and len(shape.points) >= 6:
        return list(zip(shape.points[0::2], shape.points[1::2], strict=False))
    if shape.type == "rectangle" and len(shape.points) >= 4:
        return rect_corners(shape.points, shape.rotation)
    if shape.type == "ellipse" and len(shape.points) >= 4:
        cx, cy, right, top = shape.points[:4]
        rx, ry = abs(right - cx), abs(cy - top)
        angle = math.radians(shape.rotation)
        cos, sin = math.cos(angle), math.sin(angle)
        out = []
        for i in range(72):
            t = 2 * math.pi * i / 72
            dx, dy = rx * math.cos(t), ry * math.sin(t)
            out.append((cx + dx * cos - dy * sin, cy + dx * sin + dy * cos))
        return out
    return None


def _draw(images: list[Image.Image], values: list[int], shape: Shape) -> bool:
    if shape.type == "mask":
        decoded = decode_mask(shape.points)
        if decoded is None:
            return False
        left, top, width, height, runs = decoded
        bits = fill_runs([max(run, 0) for run in runs], width * height)
        stencil = Image.frombytes("L", (width, height), bytes(bits)).point(_ON)
        for image, fill in zip(images, values, strict=True):
            image.paste(fill, (left, top, left + width, top + height), stencil)
        return True
    polygon = _polygon(shape)
    if polygon is None:
        return False
    for image, fill in zip(images, values, strict=True):
        ImageDraw.Draw(image).polygon(polygon, fill=fill, outline=fill)
    return True


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def export(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    labels = label_colors(list(source.labels))
    write_labelmap(out, labels, background=True)
    index = {label.name: i + 1 for i, label in enumerate(labels)}
    class_palette = [0, 0, 0]
    for label in labels:
        class_palette.extend(hex_rgb(label.color) or (0, 0, 0))
    object_palette = [c for rgb in voc_palette() for c in rgb]
    paths = UniquePaths()
    for subset, run in subset_runs(frame_shapes(source, _DRAWN), lambda item: item[0]):
        listed: list[str] = []
        for frame, shapes, _tags in run:
            rel = paths.take(path_stem(frame.name), subset)
            listed.append(rel)
            kept = [s for s in shapes if s.type in _DRAWN and s.label in index]
            kept.sort(key=lambda s: s.z_order)
            class_png = _class_png(frame, kept, index, class_palette)
            out.writestr(f"SegmentationClass/{rel}.png", class_png)
            out.writestr(f"SegmentationObject/{rel}.png", _object_png(frame, kept, object_palette))
            if save_images:
                write_image(out, source, frame, f"JPEGImages/{rel}")
        listing = "".join(f"{r}\n" for r in listed)
        out.writestr(f"ImageSets/Segmentation/{subset_dir(subset)}.txt", listing)


def _size(frame: FrameInfo) -> tuple[int, int]:
    return max(frame.width, 1), max(frame.height, 1)


def _class_png(
    frame: FrameInfo, shapes: list[Shape], index: dict[str, int], palette: list[int]
) -> bytes:
    classes = Image.new("P", _size(frame), 0)
    classes.putpalette(palette)
    for shape in shapes:
        _draw([classes], [index[shape.label]], shape)
    return _png(classes)


def _object_png(frame: FrameInfo, shapes: list[Shape], palette: list[int]) -> bytes:
    wide = len(shapes) >= _VOID
    objects = Image.new("I" if wide else "P", _size(frame), 0)
    if not wide:
        objects.putpalette(palette)
    number = 0
    for shape in shapes:
        if _draw([objects], [number + 1], shape):
            number += 1
    if wide:
        objects = objects.convert("I;16")
    return _png(objects)


def _open_png(src: Input, member: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(src.read(member)))
        image.load()
    except Exception as exc:
        raise fail(src.shown(member), f"not a readable image ({exc})") from None
    return image


def _stencils(image: Image.Image) -> Iterator[Image.Image]:
    """One 0/255 stencil per object index of an instance mask (0 and 255 are not objects
    in 8-bit masks; 0 is not one in 16-bit masks); RGB masks: one per colour."""
    if image.mode in ("P", "L"):
        plain = Image.frombytes("L", image.size, image.tobytes()) if image.mode == "P" else image
        for value in sorted(v for _n, v in plain.getcolors(256) or [] if v not in (0, _VOID)):
            yield plain.point([255 if i == value else 0 for i in range(256)])
        return
    if image.mode.startswith("I"):
        values = array("i")
        values.frombytes(image.convert("I").tobytes())
        where: dict[int, list[int]] = {}
        for position, value in enumerate(values):
            if value:
                where.setdefault(value, []).append(position)
        for value in sorted(where):
            data = bytearray(image.size[0] * image.size[1])
            for position in where[value]:
                data[position] = 255
            yield Image.frombytes("L", image.size, bytes(data))
        return
    rgb = image.convert("RGB")
    for _n, color in sorted(rgb.getcolors(rgb.size[0] * rgb.size[1]) or []):
        if color != (0, 0, 0):
            yield _color_stencil(rgb, color)


def _color_stencil(image: Image.Image, color: tuple[int, int, int]) -> Image.Image:
    bands = [
        band.point([255 if i == value else 0 for i in range(256)])
        for band, value in zip(image.split(), color, strict=True)
    ]
    return ImageChops.multiply(ImageChops.multiply(bands[0], bands[1]), bands[2])


def _mask_shape(stencil: Image.Image, frame: int, label: str) -> list[Shape]:
    """The stencil's pixels as a mask shape (none when it is empty)."""
    box = stencil.getbbox()
    if box is None:
        return []
    left, top, right, bottom = box
    bits = stencil.crop(box).point(_BIT).tobytes()
    points = encode_mask(bits, left, top, right - left, bottom - top)
    return [Shape(type="mask", frame=frame, label=label, points=points)]


def read(path: Path) -> ImportedDataset:
    """Every object (without SegmentationObject: every class colour) of a frame as a CVAT
    ``mask`` shape."""
    with Input(path) as src:
        if not src.is_zip:
            raise fail(src.file, "a segmentation mask dataset is a zip archive")
        labelmap = src.find("labelmap.txt")
        if labelmap is None:
            raise fail(src.file, "labelmap.txt is missing")
        root = posixpath.dirname(labelmap)
        prefix = f"{root}/" if root else ""
        labels = [label for label in read_labelmap(src, labelmap) if label.name != "background"]
        by_color: dict[tuple[int, int, int], str] = {}
        for label in labels:
            rgb = hex_rgb(label.color)
            if rgb is not None:
                by_color.setdefault(rgb, label.name)
        class_dir, object_dir = f"{prefix}SegmentationClass/", f"{prefix}SegmentationObject/"
        rels = sorted(
            {
                m[len(d) : -len(".png")]
                for d in (class_dir, object_dir)
                for m in src.names()
                if m.startswith(d) and m.lower().endswith(".png")
            }
        )
        subset_of, has_lists = _subsets(src, f"{prefix}ImageSets/Segmentation/", set(rels))
        order = list(dict.fromkeys([*subset_of, *rels]))
        data = ImportedDataset(labels=labels)
        for number, rel in enumerate(order):
            data.frame_names[number] = rel
            if has_lists:
                data.frame_subsets[number] = subset_of.get(rel, "default")
            class_member, object_member = f"{class_dir}{rel}.png", f"{object_dir}{rel}.png"
            if not src.has(class_member):
                raise fail(src.shown(object_member), f"{class_member} is missing")
            classes = _open_png(src, class_member).convert("RGB")
            shown = src.shown(class_member)
            unknown = [
                c
                for _n, c in classes.getcolors(classes.size[0] * classes.size[1]) or []
                if c != (0, 0, 0)
            ]
            unknown = [c for c in unknown if c not in by_color]
            if unknown:
                raise fail(shown, f"colour {unknown[0]} is not in labelmap.txt")
            if src.has(object_member):
                objects = _open_png(src, object_member)
                if objects.size != classes.size:
                    raise fail(src.shown(object_member), "its size differs from the class mask")
                for stencil in _stencils(objects):
                    label = _majority(classes, stencil, by_color)
                    if label is None:
                        continue
                    data.shapes.extend(_mask_shape(stencil, number, label))
            else:
                for rgb, label in by_color.items():
                    stencil = _color_stencil(classes, rgb)
                    data.shapes.extend(_mask_shape(stencil, number, label))
        return data


def _subsets(src: Input, folder: str, rels: set[str]) -> tuple[dict[str, str], bool]:
    """Frame path -> subset from the ``<folder><subset>.txt`` lists (in list order, the first
    list naming a frame wins), and whether there are lists at all."""
    subset_of: dict[str, str] = {}
    found = False
    for member in sorted(src.names()):
        rest = member[len(folder) :]
        if not member.startswith(folder) or "/" in rest or not rest.endswith(".txt"):
            continue
        found = True
        for _n, text in src.lines(member):
            rel = text.split()[0]
            if rel in rels:
                subset_of.setdefault(rel, rest[: -len(".txt")])
    return subset_of, found


def _majority(
    classes: Image.Image, stencil: Image.Image, by_color: dict[tuple[int, int, int], str]
) -> str | None:
    box = stencil.getbbox()
    if box is None:
        return None
    crop, mask = classes.crop(box), stencil.crop(box)
    sentinel = next(
        (c, 1, 2) for c in range(256) if (c, 1, 2) not in by_color and (c, 1, 2) != (0, 0, 0)
    )
    under = Image.composite(crop, Image.new("RGB", crop.size, sentinel), mask)
    counts = sorted(
        ((n, c) for n, c in under.getcolors(crop.size[0] * crop.size[1]) or [] if c in by_color),
        reverse=True,
    )
    return by_color[counts[0][1]] if counts else None


register(Format("Segmentation mask 1.1", "ZIP", "1.1", export, read, slug="segmentation_mask"))
