"""LabelMe 3.0: round trip, the XML read with ElementTree, bad input."""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from labelbay.datasets.formats.labelme import decode_attributes, encode_attributes

from ._sources_b import (
    SPLIT,
    assert_same,
    expected_shapes,
    export_zip,
    imported_shapes,
    imported_subsets,
    invalid,
    make_source,
    read,
    split_source,
    truncate,
    write_zip,
)

LABELME = "LabelMe 3.0"


def test_round_trip(tmp_path: Path) -> None:
    source = make_source()
    source.shapes[0].attributes["note"] = "a, b = c\\d"
    data = read(LABELME, export_zip(LABELME, source, tmp_path / "out.zip"))
    assert data.frame_names[0] == "dir/frame_000.png"
    assert_same(imported_shapes(data, "polygon"), expected_shapes(source, "polygon"))
    rotated = [s for s in data.shapes if s.rotation]
    assert len(rotated) == 1 and rotated[0].rotation == pytest.approx(30)
    assert rotated[0].points == pytest.approx([5, 5, 15, 25])
    assert rotated[0].occluded
    assert_same(imported_shapes(data, "rectangle"), expected_shapes(source, "rectangle"))
    first = next(s for s in data.shapes if s.points[:2] == [1.5, 2.25])
    assert first.attributes == {
        "color": "blue",
        "parked": "true",
        "speed": "12",
        "note": "a, b = c\\d",
    }
    assert {s.type for s in data.shapes} == {"rectangle", "polygon"}


def test_files_read_with_elementtree(tmp_path: Path) -> None:
    path = export_zip(LABELME, make_source(with_images=True), tmp_path / "o.zip", save_images=True)
    with zipfile.ZipFile(path) as z:
        assert "default/dir/frame_000.png" in z.namelist()
        root = ET.fromstring(z.read("default/dir/frame_000.xml"))
    assert root.findtext("filename") == "frame_000.png"
    assert root.findtext("imagesize/nrows") == "48" and root.findtext("imagesize/ncols") == "64"
    objects = root.findall("object")
    polygon = next(o for o in objects if o.findtext("name") == "person" and o.find("type") is None)
    points = [
        (float(p.findtext("x") or ""), float(p.findtext("y") or "")) for p in polygon.iter("pt")
    ]
    assert points == [(1, 1), (10, 1), (10, 10), (1, 10)]
    assert objects[0].findtext("type") == "bounding_box"
    assert objects[1].findtext("occluded") == "yes"


def test_attribute_text() -> None:
    text = encode_attributes({"a": "1,2", "b=": "x"})
    assert decode_attributes(text, "f", "o") == {"a": "1,2", "b=": "x"}
    assert decode_attributes("flag, k=v", "f", "o") == {"flag": "true", "k": "v"}


def test_bad_input(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "a.zip", {"a.xml": "<annotation>\n<object>\n<name>x</annotation>"})
    invalid(LABELME, path, "a.zip/a.xml", "line 3")
    path = write_zip(
        tmp_path / "b.zip",
        {
            "a.xml": "<annotation><object><name>x</name><polygon><pt><x>1</x><y>q</y></pt>"
            "</polygon></object></annotation>"
        },
    )
    invalid(LABELME, path, "b.zip/a.xml", "object 1", "'q'")
    path = write_zip(
        tmp_path / "c.zip",
        {"a.xml": "<annotation><object><name>x</name><polygon><pt><x>1</x><y>1</y></pt>"
         "</polygon></object></annotation>"},
    )  # fmt: skip
    invalid(LABELME, path, "object 1", "3 points")
    invalid(LABELME, write_zip(tmp_path / "d.zip", {"a.txt": ""}), "d.zip", ".xml")
    out = export_zip(LABELME, make_source(with_images=True), tmp_path / "o.zip", save_images=True)
    invalid(LABELME, truncate(out), "cut_o.zip")


def test_writes_each_subset(tmp_path: Path) -> None:
    source = split_source(with_images=True)
    path = export_zip(LABELME, source, tmp_path / "out.zip", save_images=True)
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
    assert {"train/dir/frame_002.xml", "train/dir/frame_002.png", "val/dir/frame_003.xml"} <= names
    assert not any(name.startswith("default/") for name in names)
    data = read(LABELME, path)
    assert imported_subsets(data) == SPLIT
    assert data.frame_names[3] == "dir/frame_003.png"
    assert_same(imported_shapes(data, "polygon"), expected_shapes(source, "polygon"))


def test_subsets_of_files(tmp_path: Path) -> None:
    xml = "<annotation><filename>a.jpg</filename><folder>{}</folder></annotation>"
    path = write_zip(
        tmp_path / "s.zip",
        {
            "top.xml": xml.format(""),
            "imgs/b.xml": xml.format("imgs"),
            "train/imgs/c.xml": xml.format("imgs"),
            "val/d.xml": xml.format(""),
        },
    )
    data = read(LABELME, path)
    got = sorted(zip(data.frame_names.values(), data.frame_subsets.values(), strict=True))
    assert got == [
        ("a.jpg", "default"),
        ("a.jpg", "val"),
        ("imgs/a.jpg", "default"),
        ("imgs/a.jpg", "train"),
    ]


def test_same_names_in_two_subsets_stay_two_frames(tmp_path: Path) -> None:
    source = split_source(same_names=True)
    data = read(LABELME, export_zip(LABELME, source, tmp_path / "out.zip"))
    assert imported_subsets(data) == [
        (subset, f"frame_{i:03d}") for subset in ("train", "val") for i in range(3)
    ]
