"""Pascal VOC 1.0: round trip, the XML read with ElementTree, bad input."""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

from labelbay.datasets.model import Tag

from ._sources_b import (
    SPLIT,
    assert_same,
    expected_shapes,
    export_zip,
    frame_stem,
    imported_shapes,
    imported_subsets,
    invalid,
    make_source,
    read,
    split_source,
    truncate,
    write_zip,
)

VOC = "Pascal VOC 1.0"


def test_round_trip(tmp_path: Path) -> None:
    source = make_source()
    data = read(VOC, export_zip(VOC, source, tmp_path / "out.zip"))
    assert_same(imported_shapes(data, "rectangle"), expected_shapes(source, "rectangle"))
    assert data.frame_names[0] == "dir/frame_000.png"
    first = next(s for s in data.shapes if s.frame == 0 and s.points[0] == 1.5)
    assert first.attributes == {"color": "blue", "parked": "true", "speed": "12"}
    assert next(s for s in data.shapes if s.frame == 0 and s.points[0] == 5).occluded
    occluded = {frame_stem(data, s.frame) for s in data.shapes if s.occluded}
    assert occluded == {"frame_000", "frame_004", "frame_005"}
    assert sorted((frame_stem(data, t.frame), t.label) for t in data.tags) == [
        ("frame_000", "weather"),
        ("frame_002", "weather"),
    ]
    assert [(label.name, label.color) for label in data.labels][:2] == [
        ("car", "#ff0000"),
        ("person", "#00ff00"),
    ]


def test_files_read_with_elementtree(tmp_path: Path) -> None:
    source = make_source(with_images=True)
    path = export_zip(VOC, source, tmp_path / "out.zip", save_images=True)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        root = ET.fromstring(z.read("Annotations/dir/frame_000.xml"))
        listing = z.read("ImageSets/Main/default.txt").decode().split()
        tags = z.read("ImageSets/Main/weather_default.txt").decode().splitlines()
        labelmap = z.read("labelmap.txt").decode().splitlines()
    assert "JPEGImages/dir/frame_000.png" in names
    assert root.findtext("filename") == "frame_000.png"
    assert root.findtext("size/width") == "64" and root.findtext("size/height") == "48"
    objects = root.findall("object")
    assert [o.findtext("name") for o in objects] == ["car", "car", "car"]
    box = objects[0].find("bndbox")
    assert box is not None
    assert [float(box.findtext(t) or "") for t in ("xmin", "ymin", "xmax", "ymax")] == [
        1.5,
        2.25,
        20.0,
        30.5,
    ]
    attrs = {a.findtext("name"): a.findtext("value") for a in objects[0].iter("attribute")}
    assert attrs == {"color": "blue", "parked": "true", "speed": "12"}
    assert objects[1].findtext("occluded") == "1"
    assert listing == [f"dir/frame_{i:03d}" for i in range(6)]
    assert tags[:2] == ["dir/frame_000 1", "dir/frame_001 -1"]
    assert "car:255,0,0::" in labelmap


def test_bare_xml_file(tmp_path: Path) -> None:
    path = tmp_path / "img1.xml"
    path.write_text(
        "<annotation><filename>img1.jpg</filename><object><name>dog</name><difficult>1"
        "</difficult><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax>"
        "</bndbox></object></annotation>"
    )
    data = read(VOC, path)
    assert data.frame_names == {0: "img1.jpg"}
    (shape,) = data.shapes
    assert (shape.label, shape.points, shape.attributes) == (
        "dog",
        [1, 2, 3, 4],
        {"difficult": "true"},
    )


def test_bad_input(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "a.zip", {"Annotations/x.xml": "<annotation>\n<object>\n</annotation>"}
    )
    error = invalid(VOC, path, "a.zip/Annotations/x.xml", "line 3")
    assert error.detail["line"] == 3
    path = write_zip(
        tmp_path / "b.zip",
        {
            "Annotations/x.xml": "<annotation><object><name>car</name><bndbox><xmin>a</xmin>"
            "</bndbox></object></annotation>"
        },
    )
    invalid(VOC, path, "b.zip/Annotations/x.xml", "object 1", "<xmin>")
    path = write_zip(
        tmp_path / "c.zip",
        {
            "Annotations/x.xml": "<annotation/>",
            "ImageSets/Main/car_default.txt": "x 1\nx maybe\n",
        },
    )
    invalid(VOC, path, "c.zip/ImageSets/Main/car_default.txt", "line 2")
    path = write_zip(
        tmp_path / "d.zip", {"Annotations/x.xml": "<annotation/>", "labelmap.txt": "car:1,2::\n"}
    )
    invalid(VOC, path, "d.zip/labelmap.txt", "line 1")
    invalid(VOC, write_zip(tmp_path / "e.zip", {"x.txt": ""}), "e.zip", "Annotations")
    out = export_zip(VOC, make_source(with_images=True), tmp_path / "out.zip", save_images=True)
    invalid(VOC, truncate(out), "cut_out.zip")


def test_writes_each_subset(tmp_path: Path) -> None:
    source = split_source()
    path = export_zip(VOC, source, tmp_path / "out.zip")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        train = z.read("ImageSets/Main/train.txt").decode().split()
        val = z.read("ImageSets/Main/val.txt").decode().split()
        weather = z.read("ImageSets/Main/weather_train.txt").decode().splitlines()
    assert train == [f"dir/frame_{i:03d}" for i in range(3)]
    assert val == [f"dir/frame_{i:03d}" for i in range(3, 6)]
    assert weather == ["dir/frame_000 1", "dir/frame_001 -1", "dir/frame_002 1"]
    assert "ImageSets/Main/weather_val.txt" not in names  # no weather tag in val
    assert names.count("labelmap.txt") == 1
    data = read(VOC, path)
    assert imported_subsets(data) == SPLIT
    assert_same(imported_shapes(data, "rectangle"), expected_shapes(source, "rectangle"))
    assert sorted(frame_stem(data, t.frame) for t in data.tags) == ["frame_000", "frame_002"]


def test_subset_names_with_underscores(tmp_path: Path) -> None:
    source = split_source(subsets=("my_train", "val"))
    source.tags.append(Tag(4, "weather"))
    path = export_zip(VOC, source, tmp_path / "out.zip")
    with zipfile.ZipFile(path) as z:
        assert "ImageSets/Main/weather_my_train.txt" in z.namelist()
    data = read(VOC, path)
    assert {label.name for label in data.labels} >= {"weather"}
    assert "weather_my" not in {label.name for label in data.labels}
    got = sorted((data.frame_subsets[t.frame], frame_stem(data, t.frame)) for t in data.tags)
    assert got == [("my_train", "frame_000"), ("my_train", "frame_002"), ("val", "frame_004")]


def test_same_names_in_two_subsets_do_not_overwrite(tmp_path: Path) -> None:
    source = split_source(same_names=True, with_images=True)
    path = export_zip(VOC, source, tmp_path / "out.zip", save_images=True)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        val = z.read("ImageSets/Main/val.txt").decode().split()
        assert z.read("JPEGImages/val/dir/frame_000.png") == source.images[3]
    assert len(names) == len(set(names))
    assert val == [f"val/dir/frame_{i:03d}" for i in range(3)]
    data = read(VOC, path)
    assert len(data.frame_names) == 6
    frames = {(data.frame_subsets[n], name) for n, name in data.frame_names.items()}
    assert ("val", "val/dir/frame_001.png") in frames and ("train", "dir/frame_001.png") in frames
    # the car track on frame 4 (val, named like frame 1) is on its own frame
    car_boxes = {data.frame_names[s.frame] for s in data.shapes if s.points[0] == 30}
    assert car_boxes == {"val/dir/frame_001.png", "val/dir/frame_002.png"}
