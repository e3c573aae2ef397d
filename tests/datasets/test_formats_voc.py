"""Pascal VOC 1.0: round trip, the XML read with ElementTree, bad input."""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

from ._sources_b import (
    assert_same,
    expected_shapes,
    export_zip,
    frame_stem,
    imported_shapes,
    invalid,
    make_source,
    read,
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
