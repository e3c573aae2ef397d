"""CVAT XML 1.1: images and video exporters, the importer, and bad input."""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from labelbay.datasets import registry
from labelbay.datasets.model import Shape, Track, TrackShape
from labelbay.errors import Invalid

from .conftest import (
    MemorySource,
    expected_track_frames,
    export_zip,
    invalid,
    make_source,
    read,
    shape_key,
)

IMAGES, VIDEO, IMPORTER = "CVAT for images 1.1", "CVAT for video 1.1", "CVAT 1.1"


def test_registered() -> None:
    listing = registry.listing()
    exporters = {f["name"] for f in listing["exporters"]}
    importers = {f["name"] for f in listing["importers"]}
    assert {IMAGES, VIDEO} <= exporters
    assert IMPORTER in importers
    assert registry.importer("CVAT XML 1.1").name == IMPORTER


def test_images_round_trip(tmp_path: Path, source: MemorySource) -> None:
    data = read(IMPORTER, export_zip(IMAGES, source, tmp_path / "out.zip"))
    expected = sorted(shape_key(s) for s in [*source.shapes, *expected_track_frames()])
    assert sorted(shape_key(s) for s in data.shapes) == expected
    assert data.tracks == []
    assert sorted((t.frame, t.label, t.group) for t in data.tags) == [
        (0, "weather", 0),
        (2, "weather", 1),
    ]
    assert data.frame_names == {f.number: f.name for f in source.frames}
    # The label specification comes back with attributes and sublabels.
    assert [label.name for label in data.labels] == ["car", "person", "weather", "body"]
    car = data.labels[0]
    assert car.attribute("color") is not None
    assert car.attribute("color").values == ("red", "blue")
    assert car.attribute("color").mutable and not car.attribute("parked").mutable
    assert [s.name for s in data.labels[3].sublabels] == ["head", "foot"]
    sources = {s.source for s in data.shapes}
    assert sources == {"manual", "auto"}


def test_images_xml_by_an_independent_reader(tmp_path: Path, source: MemorySource) -> None:
    path = export_zip(IMAGES, source, tmp_path / "out.zip")
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["annotations.xml"]
        root = ET.fromstring(archive.read("annotations.xml"))
    assert root.tag == "annotations"
    assert root.findtext("version") == "1.1"
    assert root.findtext("meta/task/name") == "demo task"
    assert root.findtext("meta/task/size") == "6"
    labels = root.findall("meta/task/labels/label")
    assert [lb.findtext("name") for lb in labels] == [
        "car",
        "person",
        "weather",
        "body",
        "head",
        "foot",
    ]
    assert labels[4].findtext("parent") == "body"
    images = root.findall("image")
    assert next((i.get("id"), i.get("name"), i.get("width"), i.get("height")) for i in images) == (
        "0",
        "dir/frame_000.png",
        "64",
        "48",
    )
    assert len(images) == 6
    first = images[0]
    box = first.find("box")
    assert box is not None
    assert {
        k: box.get(k) for k in ("label", "xtl", "ytl", "xbr", "ybr", "occluded", "z_order")
    } == {
        "label": "car",
        "xtl": "1.50",
        "ytl": "2.25",
        "xbr": "20.00",
        "ybr": "30.50",
        "occluded": "0",
        "z_order": "0",
    }
    assert {a.get("name"): a.text for a in box.findall("attribute")} == {
        "color": "blue",
        "parked": "true",
        "speed": "12",
    }
    rotated = first.findall("box")[1]
    assert rotated.get("rotation") == "30.00" and rotated.get("occluded") == "1"
    assert first.find("polygon").get("points") == "1.00,1.00;10.00,1.00;10.00,10.00;1.00,10.00"
    assert first.find("tag").get("label") == "weather"
    second = images[1]
    assert second.find("polyline").get("group_id") == "3"
    assert second.find("points").get("points") == "3.00,4.00;7.00,8.00"
    ellipse = images[2].find("ellipse")
    assert [ellipse.get(k) for k in ("cx", "cy", "rx", "ry", "rotation")] == [
        "30.00",
        "20.00",
        "10.00",
        "5.00",
        "10.00",
    ]
    mask = images[2].find("mask")
    assert [mask.get(k) for k in ("left", "top", "width", "height")] == ["10", "20", "4", "3"]
    assert mask.get("rle") == "1, 2, 1, 4, 1, 1, 2"
    skeleton = images[3].find("skeleton")
    assert [(p.get("label"), p.get("points"), p.get("occluded")) for p in skeleton] == [
        ("head", "10.00,10.00", "0"),
        ("foot", "12.00,30.00", "1"),
    ]
    # The track is hidden on frame 3 (outside) and holds its last keyframe on frame 5.
    assert [b.get("xtl") for b in images[3].findall("box")] == []
    assert [b.get("xtl") for b in images[5].findall("box")] == ["30.00"]
    assert root.find("track") is None


def test_video_round_trip(tmp_path: Path, source: MemorySource) -> None:
    data = read(IMPORTER, export_zip(VIDEO, source, tmp_path / "out.zip"))
    assert data.shapes == []
    car, person = data.tracks[0], data.tracks[1]  # the tracks come first, in order
    original = source.track_list[0]
    assert car.attributes == {"parked": "false"}
    assert [
        (s.frame, s.points, s.outside, s.occluded, s.keyframe, s.attributes) for s in car.shapes
    ] == [
        (s.frame, [float(v) for v in s.points], s.outside, s.occluded, True, s.attributes)
        for s in original.shapes
    ]
    assert person.attributes == {"name": "Bob"}
    assert [(s.frame, s.outside, s.z_order) for s in person.shapes] == [
        (1, False, 1),
        (3, False, 1),
        (4, True, 0),
    ]
    # Every standalone shape came back as a track: visible on its frame, outside on the next.
    singles = [t for t in data.tracks if t is not car and t is not person]
    assert len(singles) == len(source.shapes)
    for shape in source.shapes:
        match = [
            t
            for t in singles
            if t.frame == shape.frame and t.label == shape.label and t.shapes[0].type == shape.type
        ]
        assert match, shape
        track = match[0]
        assert [(s.frame, s.outside) for s in track.shapes] == [
            (shape.frame, False),
            (shape.frame + 1, True),
        ]
        if shape.type == "skeleton":
            assert sorted(e.label for e in track.elements) == ["foot", "head"]
    skeleton = next(t for t in singles if t.label == "body")
    head = next(e for e in skeleton.elements if e.label == "head")
    assert head.shapes[0].points == [10.0, 10.0]
    assert sorted((t.frame, t.label) for t in data.tags) == [(0, "weather"), (2, "weather")]


def test_video_xml_by_an_independent_reader(tmp_path: Path, source: MemorySource) -> None:
    path = export_zip(VIDEO, source, tmp_path / "out.zip")
    with zipfile.ZipFile(path) as archive:
        root = ET.fromstring(archive.read("annotations.xml"))
    assert root.findtext("meta/task/mode") == "interpolation"
    assert root.findtext("meta/task/original_size/width") == "64"
    assert root.find("image") is None
    tracks = root.findall("track")
    assert tracks[0].get("id") == "0" and tracks[0].get("label") == "car"
    boxes = tracks[0].findall("box")
    assert [(b.get("frame"), b.get("keyframe"), b.get("outside")) for b in boxes] == [
        ("0", "1", "0"),
        ("1", "0", "0"),
        ("2", "1", "0"),
        ("3", "1", "1"),
        ("4", "1", "0"),
        ("5", "0", "0"),
    ]
    assert boxes[1].get("xtl") == "5.00"
    assert len({t.get("id") for t in tracks}) == len(tracks)
    assert [t.get("frame") for t in root.findall("tag")] == ["0", "2"]


def test_save_images(tmp_path: Path) -> None:
    source = make_source(with_images=True)
    for fmt in (IMAGES, VIDEO):
        path = export_zip(fmt, source, tmp_path / "with_images.zip", save_images=True)
        with zipfile.ZipFile(path) as archive:
            for frame in source.frames:
                assert archive.read(f"images/{frame.name}") == source.images[frame.number]
        if fmt == IMAGES:
            assert read(IMPORTER, path).frame_names[0] == "dir/frame_000.png"


def test_bare_xml_and_nested_zip(tmp_path: Path, source: MemorySource) -> None:
    path = export_zip(IMAGES, source, tmp_path / "out.zip")
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("annotations.xml")
    bare = tmp_path / "mine.xml"
    bare.write_bytes(xml)
    assert len(read(IMPORTER, bare).shapes) == len(read(IMPORTER, path).shapes)
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(nested, "w") as archive:
        archive.writestr("export/annotations.xml", xml)
        archive.writestr("export/images/readme.txt", b"x")
    assert len(read(IMPORTER, nested).shapes) == len(read(IMPORTER, path).shapes)


def test_minimal_foreign_file(tmp_path: Path) -> None:
    """A file without <meta>, with legacy spellings (true/false), imports."""
    path = tmp_path / "a.xml"
    path.write_text(
        '<?xml version="1.0"?><annotations><version>1.1</version>'
        '<image id="7" name="x/y.jpg" width="10" height="10">'
        '<box label="car" occluded="false" xtl="1" ytl="2" xbr="3" ybr="4"/>'
        '<polygon label="car" points="1,1;2,2;3,1" occluded="1" z_order="-1"/>'
        "</image></annotations>"
    )
    data = read(IMPORTER, path)
    assert [(s.type, s.frame, s.points, s.occluded, s.z_order) for s in data.shapes] == [
        ("rectangle", 7, [1.0, 2.0, 3.0, 4.0], False, 0),
        ("polygon", 7, [1.0, 1.0, 2.0, 2.0, 3.0, 1.0], True, -1),
    ]
    assert data.frame_names == {7: "x/y.jpg"}
    assert data.labels == []


def _xml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "annotations.xml"
    path.write_text(body)
    return path


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        (
            "<annotations>\n<image id='0' name='a'>\n<box label='x'</image></annotations>",
            ["annotations.xml", "line 3", "malformed XML"],
        ),
        (
            "<annotations><image id='0' name='a.jpg'><bogus/></image></annotations>",
            ["annotations.xml", "<image id='0' name='a.jpg'>", "unknown element <bogus>"],
        ),
        (
            "<annotations><image id='0' name='a'><box label='x' ytl='1' xbr='2' ybr='3'/>"
            "</image></annotations>",
            ["annotations.xml", "<box", "'xtl'"],
        ),
        (
            "<annotations><image id='0' name='a'><box label='x' xtl='one' ytl='1' xbr='2'"
            " ybr='3'/></image></annotations>",
            ["xtl='one' is not a number"],
        ),
        (
            "<annotations><image id='0' name='a'><polygon label='x' points='1,2;3'/>"
            "</image></annotations>",
            ["points", "'3' is not 'x,y'"],
        ),
        (
            "<annotations><image name='a'/></annotations>",
            ["<image", "'id'"],
        ),
        ("<dataset/>", ["root element is <dataset>"]),
        ("<annotations><frames/></annotations>", ["unknown element <frames>"]),
        (
            "<annotations><track id='1' label='x'><box frame='z' xtl='1' ytl='1' xbr='2'"
            " ybr='2'/></track></annotations>",
            ["<track id='1'", "frame='z' is not an integer"],
        ),
        ("", ["annotations.xml", "malformed XML"]),
    ],
)
def test_bad_input(tmp_path: Path, body: str, needles: list[str]) -> None:
    invalid(IMPORTER, _xml(tmp_path, body), *needles)


def test_zip_without_xml(tmp_path: Path) -> None:
    path = tmp_path / "empty.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", b"nothing")
    with pytest.raises(Invalid, match=r"empty\.zip: the archive holds no annotations\.xml"):
        read(IMPORTER, path)


def test_exporter_streams_frames(tmp_path: Path) -> None:
    """The exporter pulls frames one at a time (a source that is consumed lazily)."""
    source = make_source()
    pulled: list[int] = []
    original = source.frame_annotations

    def lazily():
        for item in original():
            pulled.append(item[0].number)
            yield item

    source.frame_annotations = lazily  # type: ignore[method-assign]
    export_zip(IMAGES, source, tmp_path / "out.zip")
    assert pulled == [0, 1, 2, 3, 4, 5]


def test_unknown_shape_type_is_skipped(tmp_path: Path) -> None:
    source = make_source()
    source.shapes.append(Shape("weird", 0, "car", [1, 2]))
    data = read(IMPORTER, export_zip(IMAGES, source, tmp_path / "out.zip"))
    assert all(s.type != "weird" for s in data.shapes)


def test_video_skeleton_track(tmp_path: Path) -> None:
    source = make_source()
    source.shapes, source.tags = [], []
    source.track_list = [
        Track(
            "body",
            0,
            [TrackShape(0, "skeleton", []), TrackShape(2, "skeleton", [], outside=True)],
            elements=[
                Track(
                    "head", 0, [TrackShape(0, "points", [1, 1]), TrackShape(1, "points", [3, 3])]
                ),
                Track("foot", 0, [TrackShape(0, "points", [5, 5], occluded=True)]),
            ],
        )
    ]
    path = export_zip(VIDEO, source, tmp_path / "out.zip")
    with zipfile.ZipFile(path) as archive:
        root = ET.fromstring(archive.read("annotations.xml"))
    skeletons = root.findall("track/skeleton")
    assert [(s.get("frame"), s.get("outside")) for s in skeletons] == [
        ("0", "0"),
        ("1", "0"),
        ("2", "1"),
    ]
    assert [(p.get("label"), p.get("points"), p.get("keyframe")) for p in skeletons[1]] == [
        ("head", "3.00,3.00", "1"),
        ("foot", "5.00,5.00", "0"),
    ]
    (track,) = read(IMPORTER, path).tracks
    assert [(s.frame, s.outside) for s in track.shapes] == [(0, False), (2, True)]
    head = next(e for e in track.elements if e.label == "head")
    assert [(s.frame, s.points) for s in head.shapes] == [(0, [1.0, 1.0]), (1, [3.0, 3.0])]
    foot = next(e for e in track.elements if e.label == "foot")
    assert [(s.frame, s.occluded) for s in foot.shapes] == [(0, True)]
    # On images, the skeleton shows on frames 0 and 1 with its points interpolated.
    data = read(IMPORTER, export_zip(IMAGES, source, tmp_path / "images.zip"))
    assert [(s.frame, [e.points for e in s.elements]) for s in data.shapes] == [
        (0, [[1.0, 1.0], [5.0, 5.0]]),
        (1, [[3.0, 3.0], [5.0, 5.0]]),
    ]


def test_corrupt_zip_member(tmp_path: Path, source: MemorySource) -> None:
    path = export_zip(IMAGES, source, tmp_path / "out.zip")
    data = bytearray(path.read_bytes())
    # Damage the compressed bytes of annotations.xml (just after its local header).
    start = data.index(b"annotations.xml") + len("annotations.xml") + 200
    data[start : start + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(Invalid, match=r"annotations\.xml"):
        read(IMPORTER, path)


def two_subsets(*, with_images: bool = False) -> MemorySource:
    """make_source() with frames 0-2 in "train" and 3-5 in "val" (as a project gives them)."""
    source = make_source(with_images=with_images)
    source.frames = [
        dataclasses.replace(f, subset="train" if f.number < 3 else "val") for f in source.frames
    ]
    source.subset = "train"
    return source


def test_images_subsets_round_trip(tmp_path: Path) -> None:
    source = two_subsets(with_images=True)
    path = export_zip(IMAGES, source, tmp_path / "out.zip", save_images=True)
    with zipfile.ZipFile(path) as archive:
        root = ET.fromstring(archive.read("annotations.xml"))
        names = set(archive.namelist())
    assert (root.findtext("meta/task/subsets") or "").split("\n") == ["train", "val"]
    assert [(i.get("id"), i.get("subset")) for i in root.findall("image")] == [
        ("0", "train"),
        ("1", "train"),
        ("2", "train"),
        ("3", "val"),
        ("4", "val"),
        ("5", "val"),
    ]
    # Several subsets: each frame's file under images/<subset>/.
    assert {f"images/train/dir/frame_{i:03d}.png" for i in range(3)} <= names
    assert {f"images/val/dir/frame_{i:03d}.png" for i in range(3, 6)} <= names
    data = read(IMPORTER, path)
    assert data.frame_subsets == {0: "train", 1: "train", 2: "train", 3: "val", 4: "val", 5: "val"}
    assert data.frame_names == {f.number: f.name for f in source.frames}
    expected = sorted(shape_key(s) for s in [*source.shapes, *expected_track_frames()])
    assert sorted(shape_key(s) for s in data.shapes) == expected


def test_one_subset_is_listed_and_images_stay_flat(tmp_path: Path, source: MemorySource) -> None:
    source.images = {0: b"png bytes"}
    path = export_zip(IMAGES, source, tmp_path / "out.zip", save_images=True)
    with zipfile.ZipFile(path) as archive:
        root = ET.fromstring(archive.read("annotations.xml"))
        assert "images/dir/frame_000.png" in archive.namelist()
    assert root.findtext("meta/task/subsets") == "default"
    assert {i.get("subset") for i in root.findall("image")} == {"default"}
    assert set(read(IMPORTER, path).frame_subsets.values()) == {"default"}


def test_video_subsets(tmp_path: Path) -> None:
    source = two_subsets()
    source.track_list[1].shapes[0].frame = 3  # the person track starts in "val" now
    source.track_list[1].shapes[1].frame = 4
    source.track_list[1].shapes[2].frame = 5
    path = export_zip(VIDEO, source, tmp_path / "out.zip")
    with zipfile.ZipFile(path) as archive:
        root = ET.fromstring(archive.read("annotations.xml"))
    assert (root.findtext("meta/task/subsets") or "").split("\n") == ["train", "val"]
    tracks = root.findall("track")
    assert [(t.get("label"), t.get("subset")) for t in tracks[:2]] == [
        ("car", "train"),
        ("person", "val"),
    ]
    assert [(t.get("frame"), t.get("subset")) for t in root.findall("tag")] == [
        ("0", "train"),
        ("2", "train"),
    ]
    # A shape on the last frame of "train" does not reach into "val": one keyframe only.
    source.shapes = [Shape("rectangle", 2, "car", [1, 1, 2, 2])]
    source.track_list, source.tags = [], []
    data = read(IMPORTER, export_zip(VIDEO, source, tmp_path / "edge.zip"))
    assert [[(s.frame, s.outside) for s in t.shapes] for t in data.tracks] == [[(2, False)]]
    assert data.frame_subsets == {2: "train"}
