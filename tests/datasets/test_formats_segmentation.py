"""Segmentation mask 1.1: masks back as CVAT masks (pixel-exact), PNGs read with Pillow,
bad input."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from labelbay.datasets.model import FrameInfo, Shape

from ._sources_b import MemorySource, export_zip, invalid, make_source, read, truncate, write_zip
from .conftest import LABELS, mask_points

SEG = "Segmentation mask 1.1"
W, H = 40, 30
SUBSETS = ("train", "val")
EVERY_LABEL = [(0, "car"), (0, "person"), (1, "car"), (1, "person")]
"""(frame, label) of the shapes of ``_source()``, sorted."""


def _in(frame: FrameInfo, subset: str, **changes: str) -> FrameInfo:
    return dataclasses.replace(frame, subset=subset, **changes)


def _source() -> MemorySource:
    frames = [FrameInfo(0, "a/one.jpg", W, H), FrameInfo(1, "two.png", W, H)]
    shapes = [
        Shape("polygon", 0, "person", [2.5, 2, 12, 3, 8.2, 14.7]),
        Shape("rectangle", 0, "car", [20, 5, 30, 12]),
        Shape("mask", 1, "person", mask_points(["0110", "1111", "0100"], 10, 20)),
        Shape("rectangle", 1, "car", [1, 1, 6, 6], rotation=45),
    ]
    return MemorySource("seg", LABELS, frames, shapes)


def _pixels(shape: Shape) -> set[tuple[int, int]]:
    """The pixels of a shape, drawn independently with Pillow / decoded from CVAT's RLE."""
    if shape.type == "mask":
        *runs, left, top, right, _bottom = (int(v) for v in shape.points)
        width = right - left + 1
        out, index, value = set(), 0, 0
        for run in runs:
            if value:
                out |= {
                    (left + (index + k) % width, top + (index + k) // width) for k in range(run)
                }
            index, value = index + run, 1 - value
        return out
    image = Image.new("L", (W, H), 0)
    if shape.type == "rectangle" and not shape.rotation:
        x1, y1, x2, y2 = shape.points
        xy = [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
    elif shape.type == "rectangle":
        import math

        x1, y1, x2, y2 = shape.points
        cx, cy, a = (x1 + x2) / 2, (y1 + y2) / 2, math.radians(shape.rotation)
        xy = [
            (cx + (x - cx) * math.cos(a) - (y - cy) * math.sin(a),
             cy + (x - cx) * math.sin(a) + (y - cy) * math.cos(a))
            for x, y in [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
        ]  # fmt: skip
    else:
        xy = list(zip(shape.points[0::2], shape.points[1::2], strict=True))
    ImageDraw.Draw(image).polygon(xy, fill=1, outline=1)
    return {(x, y) for y in range(H) for x in range(W) if image.getpixel((x, y))}


def test_round_trip_pixel_exact(tmp_path: Path) -> None:
    source = _source()
    data = read(SEG, export_zip(SEG, source, tmp_path / "out.zip"))
    assert data.frame_names == {0: "a/one", 1: "two"}
    assert {s.type for s in data.shapes} == {"mask"}
    assert len(data.shapes) == len(source.shapes)
    for original in source.shapes:
        matches = [
            s for s in data.shapes if s.frame == original.frame and s.label == original.label
        ]
        (got,) = matches
        want = _pixels(original)
        assert _pixels(got) == want
        # the mask's box is the shape's box to 1 px
        if original.type != "mask":
            xs, ys = original.points[0::2], original.points[1::2]
            left, top, right, bottom = got.points[-4:]
            if not original.rotation:
                assert abs(left - min(xs)) <= 1 and abs(top - min(ys)) <= 1
                assert abs(right - max(xs)) <= 1 and abs(bottom - max(ys)) <= 1


def test_overlap_keeps_the_top_shape(tmp_path: Path) -> None:
    source = _source()
    source.shapes[0].z_order = 5
    source.shapes[1].points = [5, 2, 30, 12]  # under the polygon
    data = read(SEG, export_zip(SEG, source, tmp_path / "out.zip"))
    person = next(s for s in data.shapes if s.frame == 0 and s.label == "person")
    car = next(s for s in data.shapes if s.frame == 0 and s.label == "car")
    assert _pixels(person) == _pixels(source.shapes[0])
    assert not _pixels(person) & _pixels(car)


def test_pngs_read_with_pillow(tmp_path: Path) -> None:
    path = export_zip(SEG, _source(), tmp_path / "out.zip")
    with zipfile.ZipFile(path) as z:
        classes = Image.open(io.BytesIO(z.read("SegmentationClass/a/one.png"))).convert("RGB")
        objects = Image.open(io.BytesIO(z.read("SegmentationObject/a/one.png")))
        labelmap = z.read("labelmap.txt").decode().splitlines()
        listing = z.read("ImageSets/Segmentation/default.txt").decode().split()
    assert labelmap[1:3] == ["background:0,0,0::", "car:255,0,0::"]
    assert listing == ["a/one", "two"]
    assert classes.size == (W, H)
    assert classes.getpixel((25, 8)) == (255, 0, 0)
    assert classes.getpixel((7, 5)) == (0, 255, 0)
    assert classes.getpixel((39, 29)) == (0, 0, 0)
    assert objects.mode == "P"
    assert objects.getpixel((7, 5)) == 1 and objects.getpixel((25, 8)) == 2
    assert objects.getpixel((0, 29)) == 0


def test_full_source_exports(tmp_path: Path) -> None:
    source = make_source(with_images=True)
    path = export_zip(SEG, source, tmp_path / "out.zip", save_images=True)
    with zipfile.ZipFile(path) as z:
        assert "JPEGImages/dir/frame_000.png" in z.namelist()
    data = read(SEG, path)
    assert len(data.frame_names) == 6
    assert {s.label for s in data.shapes} == {"car", "person"}


def test_class_masks_only(tmp_path: Path) -> None:
    path = export_zip(SEG, _source(), tmp_path / "out.zip")
    stripped = tmp_path / "classes.zip"
    with zipfile.ZipFile(path) as z, zipfile.ZipFile(stripped, "w") as out:
        for name in z.namelist():
            if not name.startswith("SegmentationObject/"):
                out.writestr(name, z.read(name))
    data = read(SEG, stripped)
    assert sorted((s.frame, s.label) for s in data.shapes) == EVERY_LABEL


def test_bad_input(tmp_path: Path) -> None:
    good = export_zip(SEG, _source(), tmp_path / "out.zip")
    invalid(SEG, truncate(good), "cut_out.zip")
    with zipfile.ZipFile(good) as z:
        members = {n: z.read(n) for n in z.namelist()}
    broken = dict(members, **{"labelmap.txt": "# x\nbackground:0,0,0::\ncar:300,0,0::\n"})
    error = invalid(SEG, write_zip(tmp_path / "a.zip", broken), "a.zip/labelmap.txt", "line 3")
    assert error.detail["line"] == 3
    missing = dict(members, **{"labelmap.txt": "background:0,0,0::\nperson:0,255,0::\n"})
    invalid(
        SEG, write_zip(tmp_path / "b.zip", missing), "SegmentationClass/a/one.png", "(255, 0, 0)"
    )
    corrupt = dict(members, **{"SegmentationObject/two.png": b"\x89PNG\r\n\x1a\nnope"})
    invalid(SEG, write_zip(tmp_path / "c.zip", corrupt), "c.zip/SegmentationObject/two.png")
    no_map = {n: d for n, d in members.items() if n != "labelmap.txt"}
    invalid(SEG, write_zip(tmp_path / "d.zip", no_map), "labelmap.txt is missing")


@pytest.mark.parametrize("count", [3, 300])
def test_many_objects(tmp_path: Path, count: int) -> None:
    frames = [FrameInfo(0, "f.png", 40, 40)]
    shapes = [
        Shape("rectangle", 0, "car", [i % 20 * 2, i // 20 * 2, i % 20 * 2 + 1, i // 20 * 2 + 1])
        for i in range(count)
    ]
    data = read(SEG, export_zip(SEG, MemorySource("m", LABELS, frames, shapes), tmp_path / "o.zip"))
    assert len(data.shapes) == count


def test_writes_each_subset(tmp_path: Path) -> None:
    source = _source()
    source.frames = [_in(f, SUBSETS[f.number]) for f in source.frames]
    path = export_zip(SEG, source, tmp_path / "out.zip")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        train = z.read("ImageSets/Segmentation/train.txt").decode().split()
        val = z.read("ImageSets/Segmentation/val.txt").decode().split()
    assert (train, val) == (["a/one"], ["two"])
    assert "ImageSets/Segmentation/default.txt" not in names
    assert names.count("labelmap.txt") == 1
    data = read(SEG, path)
    assert data.frame_names == {0: "a/one", 1: "two"}
    assert data.frame_subsets == {0: "train", 1: "val"}
    assert sorted((s.frame, s.label) for s in data.shapes) == EVERY_LABEL


def test_same_names_in_two_subsets_do_not_overwrite(tmp_path: Path) -> None:
    source = _source()
    source.frames = [_in(f, SUBSETS[f.number], name="a/one.jpg") for f in source.frames]
    path = export_zip(SEG, source, tmp_path / "out.zip")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        val = z.read("ImageSets/Segmentation/val.txt").decode().split()
    assert len(names) == len(set(names))
    assert val == ["val/a/one"] and "SegmentationObject/val/a/one.png" in names
    data = read(SEG, path)
    assert data.frame_names == {0: "a/one", 1: "val/a/one"}
    assert data.frame_subsets == {0: "train", 1: "val"}
    assert {s.type for s in data.shapes if s.frame == 1} == {"mask"}
    assert len([s for s in data.shapes if s.frame == 1]) == 2
