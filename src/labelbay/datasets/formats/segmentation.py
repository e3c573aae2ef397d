"""Segmentation mask 1.1: class and instance masks as PNG files (the VOC segmentation layout).

Layout: ``labelmap.txt`` (``background:0,0,0::`` then ``name:r,g,b::`` per label; a label
without a colour, or whose colour is taken, gets the next free colour of the VOC palette),
``SegmentationClass/<frame path without extension>.png`` (palette PNG: index 0 background,
label i at index i + 1 with the label's colour), ``SegmentationObject/<...>.png`` (palette
PNG: object k of the frame at index k, VOC palette colours; a 16-bit grey PNG above 254
objects), ``ImageSets/Segmentation/<subset>.txt`` and, with images, ``JPEGImages/<...>``.

Shapes are drawn with Pillow's ImageDraw in ``z_order`` order (later ones cover earlier
ones): polygons, rectangles (rotation applied), ellipses (as 72-point polygons) and masks;
track shapes included. Reading gives every object of SegmentationObject back as a CVAT
``mask`` shape (run lengths over its box), labelled by the most frequent class colour
under it; without SegmentationObject, every class colour of a frame is one mask. The masks
are pixel-exact copies of the PNGs, i.e. of the rasterised shapes: a polygon comes back as
the pixels ImageDraw filled for it (its outline included), minus what later shapes covered.
With ``read(path, as_polygons=True)`` (CVAT's ``conv_mask_to_poly``) each object comes back
as polygons instead, traced along the pixel edges by :func:`contours`: vertices on pixel
corners, so a polygon's box is its mask's box plus one pixel right and down; holes are
filled; one polygon per 8-connected part.
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

from labelbay.datasets.formats._common_b import (
    Input,
    decode_mask,
    encode_mask,
    fail,
    frame_shapes,
    hex_rgb,
    path_stem,
    rect_corners,
    safe_path,
    write_image,
)
from labelbay.datasets.formats.voc import read_labelmap, write_labelmap
from labelbay.datasets.model import DatasetSource, FrameInfo, ImportedDataset, LabelSpec, Shape
from labelbay.datasets.registry import Format, register

_DRAWN = ("polygon", "rectangle", "ellipse", "mask")
_VOID = 255


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
        bits = bytearray()
        value = 0
        for run in runs:
            bits.extend(bytes([value]) * max(run, 0))
            value = 255 - value
        bits = bits[: width * height].ljust(width * height, b"\0")
        stencil = Image.frombytes("L", (width, height), bytes(bits))
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
    subset = safe_path(source.subset or "default").replace("/", "_")
    listed: list[str] = []
    for frame, shapes, _tags in frame_shapes(source, _DRAWN):
        rel = path_stem(frame.name)
        listed.append(rel)
        kept = [s for s in shapes if s.type in _DRAWN and s.label in index]
        kept.sort(key=lambda s: s.z_order)
        out.writestr(f"SegmentationClass/{rel}.png", _class_png(frame, kept, index, class_palette))
        out.writestr(f"SegmentationObject/{rel}.png", _object_png(frame, kept, object_palette))
        if save_images:
            write_image(out, source, frame, f"JPEGImages/{rel}")
    out.writestr(f"ImageSets/Segmentation/{subset}.txt", "".join(f"{r}\n" for r in listed))


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


def _mask_shape(stencil: Image.Image, frame: int, label: str) -> Shape | None:
    box = stencil.getbbox()
    if box is None:
        return None
    left, top, right, bottom = box
    crop = stencil.crop(box)
    bits = [1 if b else 0 for b in crop.tobytes()]
    points = encode_mask(bits, left, top, right - left, bottom - top)
    return Shape(type="mask", frame=frame, label=label, points=points)


_TURNS = {
    # direction -> the directions to try next: left turn, straight on, right turn
    (1, 0): ((0, -1), (1, 0), (0, 1)),
    (0, 1): ((1, 0), (0, 1), (-1, 0)),
    (-1, 0): ((0, 1), (-1, 0), (0, -1)),
    (0, -1): ((-1, 0), (0, -1), (1, 0)),
}


def contours(stencil: Image.Image) -> list[list[float]]:
    """The outer outlines of a 0/255 stencil as polygons along the pixel edges.

    Every pixel side between the object and the background is an edge walked with the
    object on its right (clockwise on screen). Edges are chained; where two pixels touch only
    at a corner the walk turns left, through the corner, so they share one outline
    (8-connectivity; the outline touches itself there). Outlines of negative area are holes
    and are dropped; straight runs are merged into one segment. Vertices are pixel corners:
    the polygon covers exactly the pixels of the outline (holes filled)."""
    box = stencil.getbbox()
    if box is None:
        return []
    left, top = box[0], box[1]
    crop = stencil.crop(box)
    width, height = crop.size
    bits = crop.tobytes()

    def on(x: int, y: int) -> bool:
        return 0 <= x < width and 0 <= y < height and bits[y * width + x] != 0

    edges: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for y in range(height):
        for x in range(width):
            if not on(x, y):
                continue
            if not on(x, y - 1):
                edges.setdefault((x, y), []).append((1, 0))
            if not on(x + 1, y):
                edges.setdefault((x + 1, y), []).append((0, 1))
            if not on(x, y + 1):
                edges.setdefault((x + 1, y + 1), []).append((-1, 0))
            if not on(x - 1, y):
                edges.setdefault((x, y + 1), []).append((0, -1))
    polygons: list[list[float]] = []
    while edges:
        start = next(iter(edges))
        direction = edges[start].pop()
        if not edges[start]:
            del edges[start]
        vertices = [start]
        point = (start[0] + direction[0], start[1] + direction[1])
        while point != start:
            options = edges.get(point, [])
            step = next(d for d in _TURNS[direction] if d in options)
            options.remove(step)
            if not options:
                del edges[point]
            if step != direction:
                vertices.append(point)
            direction = step
            point = (point[0] + step[0], point[1] + step[1])
        if len(vertices) > 1 and _straight(vertices[-1], vertices[0], vertices[1]):
            vertices.pop(0)
        area = sum(
            a[0] * b[1] - b[0] * a[1]
            for a, b in zip(vertices, vertices[1:] + vertices[:1], strict=True)
        )
        if area > 0 and len(vertices) >= 3:
            polygons.append([float(v) for x, y in vertices for v in (x + left, y + top)])
    return polygons


def _straight(a: tuple[int, int], b: tuple[int, int], c: tuple[int, int]) -> bool:
    return (b[0] - a[0]) * (c[1] - b[1]) == (b[1] - a[1]) * (c[0] - b[0])


def _shapes(stencil: Image.Image, frame: int, label: str, as_polygons: bool) -> list[Shape]:
    if as_polygons:
        return [
            Shape(type="polygon", frame=frame, label=label, points=points)
            for points in contours(stencil)
        ]
    shape = _mask_shape(stencil, frame, label)
    return [shape] if shape is not None else []


def read(path: Path, *, as_polygons: bool = False) -> ImportedDataset:
    """Masks as CVAT ``mask`` shapes, or with ``as_polygons`` (CVAT's
    ``conv_mask_to_poly``) as polygons along the pixel edges (see :func:`contours`)."""
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
        listing = src.find(f"{prefix}ImageSets/Segmentation/default.txt")
        order: list[str] = []
        if listing is not None:
            order = [t.split()[0] for _n, t in src.lines(listing) if t.split()[0] in rels]
        order = list(dict.fromkeys(order + rels))
        data = ImportedDataset(labels=labels)
        for number, rel in enumerate(order):
            data.frame_names[number] = rel
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
                    data.shapes.extend(_shapes(stencil, number, label, as_polygons))
            else:
                for rgb, label in by_color.items():
                    stencil = _color_stencil(classes, rgb)
                    data.shapes.extend(_shapes(stencil, number, label, as_polygons))
        return data


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
