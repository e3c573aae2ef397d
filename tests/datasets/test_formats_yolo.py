"""YOLO 1.1 and the Ultralytics YOLO formats: round trips, the files read directly, bad input."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import pytest

from labelbay.datasets.formats.common import rect_corners
from labelbay.datasets.formats.yolo_yaml import parse_yaml
from labelbay.datasets.model import Tag

from ._sources_b import (
    SPLIT,
    SPLIT_TAGS,
    assert_same,
    expected_shapes,
    export_zip,
    frame_stem,
    imported_shapes,
    imported_subsets,
    imported_tags,
    invalid,
    make_source,
    read,
    sizes,
    split_source,
    truncate,
    write_zip,
)
from .conftest import H, W

YOLO = "YOLO 1.1"
DETECT = "Ultralytics YOLO Detection 1.0"
SEGMENT = "Ultralytics YOLO Segmentation 1.0"
POSE = "Ultralytics YOLO Pose 1.0"
OBB = "Ultralytics YOLO Oriented Bounding Boxes 1.0"
CLASSIFY = "Ultralytics YOLO Classification 1.0"


@pytest.mark.parametrize("fmt", [YOLO, DETECT])
def test_boxes_round_trip(tmp_path: Path, fmt: str) -> None:
    source = make_source()
    path = export_zip(fmt, source, tmp_path / "out.zip")
    data = read(fmt, path, frame_sizes=sizes(source))
    assert [label.name for label in data.labels] == ["car", "person", "weather", "body"]
    assert len(data.frame_names) == len(source.frames)
    assert_same(imported_shapes(data, "rectangle"), expected_shapes(source, "rectangle"))
    assert all(s.rotation == 0 for s in data.shapes)


@pytest.mark.parametrize("fmt", [YOLO, DETECT])
def test_boxes_with_images_take_sizes_from_images(tmp_path: Path, fmt: str) -> None:
    source = make_source(with_images=True)
    path = export_zip(fmt, source, tmp_path / "out.zip", save_images=True)
    data = read(fmt, path)
    assert data.frame_names[0] == "dir/frame_000.png"
    assert_same(imported_shapes(data, "rectangle"), expected_shapes(source, "rectangle"))


def test_yolo_files_read_directly(tmp_path: Path) -> None:
    path = export_zip(YOLO, make_source(), tmp_path / "out.zip")
    with zipfile.ZipFile(path) as z:
        assert z.read("obj.names").decode().split() == ["car", "person", "weather", "body"]
        data = dict(line.split(" = ") for line in z.read("obj.data").decode().splitlines() if line)
        assert data["classes"] == "4" and data["names"] == "data/obj.names"
        train = z.read("train.txt").decode().split()
        assert train[0] == "data/obj_train_data/dir/frame_000.png"
        rows = [
            line.split()
            for line in z.read("obj_train_data/dir/frame_000.txt").decode().splitlines()
        ]
    cls, cx, cy, w, h = rows[0]
    assert cls == "0"
    x1, y1, x2, y2 = 1.5, 2.25, 20.0, 30.5
    for got, want in zip(
        (cx, cy, w, h),
        ((x1 + x2) / 2 / W, (y1 + y2) / 2 / H, (x2 - x1) / W, (y2 - y1) / H),
        strict=True,
    ):
        assert math.isclose(float(got), want, rel_tol=1e-9)
    # the rotated rectangle: rotation ignored, its stored box written
    assert [float(v) for v in rows[1][1:]] == pytest.approx([10 / W, 15 / H, 10 / W, 20 / H])


def test_segmentation_round_trip(tmp_path: Path) -> None:
    source = make_source()
    path = export_zip(SEGMENT, source, tmp_path / "out.zip")
    data = read(SEGMENT, path, frame_sizes=sizes(source))
    assert_same(imported_shapes(data, "polygon"), expected_shapes(source, "polygon"))
    assert {s.type for s in data.shapes} == {"polygon"}


def test_obb_round_trip(tmp_path: Path) -> None:
    source = make_source()
    path = export_zip(OBB, source, tmp_path / "out.zip")
    data = read(OBB, path, frame_sizes=sizes(source))
    rotated = [s for s in data.shapes if s.frame == 0 and abs(s.rotation) > 1e-3]
    assert len(rotated) == 1
    assert rotated[0].rotation == pytest.approx(30.0, rel=1e-6)
    assert rotated[0].points == pytest.approx([5, 5, 15, 25], rel=1e-6)
    with zipfile.ZipFile(path) as z:
        line = z.read("labels/train/dir/frame_000.txt").decode().splitlines()[1].split()
    corners = [v for x, y in rect_corners([5, 5, 15, 25], 30.0) for v in (x / W, y / H)]
    assert [float(v) for v in line[1:]] == pytest.approx(corners, rel=1e-6)
    assert_same(imported_shapes(data, "rectangle"), expected_shapes(source, "rectangle"), abs_=1e-6)


def test_pose_round_trip(tmp_path: Path) -> None:
    source = make_source()
    path = export_zip(POSE, source, tmp_path / "out.zip")
    with zipfile.ZipFile(path) as z:
        header = parse_yaml(z.read("data.yaml").decode(), "data.yaml")
        line = z.read("labels/train/dir/frame_003.txt").decode().split()
    assert header["kpt_shape"] == [2, 3]
    assert line[0] == "3" and line[7] == "2" and line[10] == "1"
    data = read(POSE, path, frame_sizes=sizes(source))
    (skeleton,) = data.shapes
    assert skeleton.type == "skeleton" and skeleton.label == "body" and skeleton.frame == 3
    head, foot = skeleton.elements
    assert (head.label, foot.label) == ("head", "foot")
    assert head.points == pytest.approx([10, 10]) and not head.occluded
    assert foot.points == pytest.approx([12, 30]) and foot.occluded


def test_pose_without_skeletons_writes_empty_labels(tmp_path: Path) -> None:
    source = make_source()
    source.labels = source.labels[:3]
    path = export_zip(POSE, source, tmp_path / "out.zip")
    data = read(POSE, path, frame_sizes=sizes(source))
    assert data.shapes == []


@pytest.mark.parametrize("with_images", [True, False])
def test_classification_round_trip(tmp_path: Path, with_images: bool) -> None:
    source = make_source(with_images=with_images)
    path = export_zip(CLASSIFY, source, tmp_path / "out.zip", save_images=with_images)
    data = read(CLASSIFY, path)
    got = sorted((data.frame_names[t.frame].split(".")[0], t.label) for t in data.tags)
    assert got == [("dir/frame_000", "weather"), ("dir/frame_002", "weather")]
    assert [label.name for label in data.labels] == ["car", "person", "weather", "body"]
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    if with_images:
        assert "train/weather/dir/frame_000.png" in names
    else:
        assert "labels/train/dir/frame_000.txt" in names


def test_data_yaml_styles(tmp_path: Path) -> None:
    for names in (
        "names: [car, 'per son']",
        "names:\n  - car\n  - per son",
        'names: {0: car, 1: "per son"}',
    ):
        path = write_zip(
            tmp_path / "d.zip",
            {
                "data.yaml": f"# comment\npath: ../x\ntrain: images/train\n{names}\n",
                "labels/train/a.txt": "1 0.5 0.5 0.5 0.5\n",
            },
        )
        data = read(DETECT, path, frame_sizes={"a.jpg": (100, 200)})
        assert [label.name for label in data.labels] == ["car", "per son"]
        assert data.shapes[0].label == "per son"
        assert data.shapes[0].points == pytest.approx([25, 50, 75, 150])


def test_yolo_bad_lines(tmp_path: Path) -> None:
    base = {"obj.names": "car\nperson\n", "train.txt": "data/obj_train_data/a.jpg\n"}
    path = write_zip(
        tmp_path / "a.zip", {**base, "obj_train_data/a.txt": "0 0.5 0.5 0.1 0.1\n0 0.5 0.5\n"}
    )
    error = invalid(
        YOLO, path, "a.zip/obj_train_data/a.txt", "line 2", frame_sizes={"a.jpg": (9, 9)}
    )
    assert error.detail["line"] == 2
    path = write_zip(tmp_path / "b.zip", {**base, "obj_train_data/a.txt": "7 0.5 0.5 0.1 0.1\n"})
    invalid(
        YOLO,
        path,
        "obj_train_data/a.txt",
        "line 1",
        "class 7 is unknown",
        frame_sizes={"a.jpg": (10, 10)},
    )
    path = write_zip(tmp_path / "c.zip", {**base, "obj_train_data/a.txt": "0 x 0.5 0.1 0.1\n"})
    invalid(YOLO, path, "line 1", "'x' is not a number", frame_sizes={"a.jpg": (10, 10)})
    path = write_zip(tmp_path / "d.zip", {**base, "obj_train_data/a.txt": "0 0.5 0.5 0.1 0.1\n"})
    invalid(YOLO, path, "obj_train_data/a.txt", "size of image")
    invalid(YOLO, write_zip(tmp_path / "e.zip", {"train.txt": ""}), "e.zip", "obj.names")


def test_ultralytics_bad_input(tmp_path: Path) -> None:
    yaml = "names:\n  0: car\n"
    path = write_zip(
        tmp_path / "a.zip", {"data.yaml": yaml, "labels/train/a.txt": "0 0.5 0.5 0.1\n"}
    )
    invalid(DETECT, path, "labels/train/a.txt", "line 1", frame_sizes={"a": (10, 10)})
    path = write_zip(
        tmp_path / "b.zip", {"data.yaml": yaml, "labels/train/a.txt": "\n3 0 0 1 0 1 1\n"}
    )
    invalid(SEGMENT, path, "labels/train/a.txt", "line 2", "class 3", frame_sizes={"a": (10, 10)})
    path = write_zip(
        tmp_path / "c.zip",
        {
            "data.yaml": yaml + "kpt_shape: [1, 3]\n",
            "labels/train/a.txt": "0 .5 .5 .1 .1 .5 .5 7\n",
        },
    )
    invalid(POSE, path, "line 1", "visibility 7", frame_sizes={"a": (10, 10)})
    path = write_zip(tmp_path / "d.zip", {"data.yaml": "names: [car\n"})
    invalid(DETECT, path, "d.zip/data.yaml", "line 1")
    invalid(
        DETECT, write_zip(tmp_path / "e.zip", {"labels/train/a.txt": ""}), "data.yaml is missing"
    )
    path = write_zip(tmp_path / "f.zip", {"data.yaml": yaml, "labels/train/a.txt": "dog\n"})
    invalid(CLASSIFY, path, "labels/train/a.txt", "line 1", "'dog'")


@pytest.mark.parametrize("fmt", [YOLO, DETECT, SEGMENT, POSE, OBB, CLASSIFY])
def test_truncated_zip(tmp_path: Path, fmt: str) -> None:
    path = export_zip(fmt, make_source(with_images=True), tmp_path / "out.zip", save_images=True)
    invalid(fmt, truncate(path), "cut_out.zip")


def test_data_yaml_reads_with_pyyaml(tmp_path: Path) -> None:
    import yaml  # an independent reader of data.yaml (PyYAML, a test dependency)

    source = make_source()
    source.labels = [*source.labels[:3], source.labels[3].__class__("a: 'b' # c")]
    path = export_zip(POSE, source, tmp_path / "out.zip")
    with zipfile.ZipFile(path) as z:
        text = z.read("data.yaml").decode()
    parsed = yaml.safe_load(text)
    assert parsed["names"] == {0: "car", 1: "person", 2: "weather", 3: "a: 'b' # c"}
    assert parse_yaml(text, "data.yaml")["names"] == parsed["names"]
    assert parsed["kpt_shape"] == [0, 3]


# ------------------------------------------------------------------------------ subsets


def test_yolo_writes_each_subset(tmp_path: Path) -> None:
    source = split_source()
    path = export_zip(YOLO, source, tmp_path / "out.zip")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        obj_data = z.read("obj.data").decode().splitlines()
        train = z.read("train.txt").decode().split()
        val = z.read("val.txt").decode().split()
    assert obj_data == [
        "classes = 4",
        "train = data/train.txt",
        "val = data/val.txt",
        "names = data/obj.names",
        "backup = backup/",
    ]
    assert train == [f"data/obj_train_data/dir/frame_{i:03d}.png" for i in range(3)]
    assert val == [f"data/obj_val_data/dir/frame_{i:03d}.png" for i in range(3, 6)]
    assert "obj_val_data/dir/frame_004.txt" in names
    assert "obj_train_data/dir/frame_004.txt" not in names
    assert names.count("obj.names") == 1
    data = read(YOLO, path, frame_sizes=sizes(source))
    assert imported_subsets(data) == SPLIT
    assert_same(imported_shapes(data, "rectangle"), expected_shapes(source, "rectangle"))


def test_yolo_default_subset_comes_back_as_train(tmp_path: Path) -> None:
    source = make_source()
    data = read(YOLO, export_zip(YOLO, source, tmp_path / "a.zip"), frame_sizes=sizes(source))
    assert set(data.frame_subsets.values()) == {"train"}
    # beside a real "train" subset, "default" keeps its name
    source = split_source(subsets=("train", "default"))
    path = export_zip(YOLO, source, tmp_path / "b.zip")
    with zipfile.ZipFile(path) as z:
        assert "default = data/default.txt" in z.read("obj.data").decode().splitlines()
    data = read(YOLO, path, frame_sizes=sizes(source))
    assert [s for s, _stem in imported_subsets(data)] == ["default"] * 3 + ["train"] * 3


def test_yolo_same_names_in_two_subsets_stay_two_frames(tmp_path: Path) -> None:
    source = split_source(same_names=True)
    data = read(YOLO, export_zip(YOLO, source, tmp_path / "o.zip"), frame_sizes=sizes(source))
    assert imported_subsets(data) == [
        (subset, f"frame_{i:03d}") for subset in ("train", "val") for i in range(3)
    ]
    # the car track's boxes of frames 4 and 5 are in val, under the names of frames 1 and 2
    val_boxes = [s for s in data.shapes if data.frame_subsets[s.frame] == "val"]
    assert sorted(frame_stem(data, s.frame) for s in val_boxes) == ["frame_001", "frame_002"]


@pytest.mark.parametrize("fmt", [DETECT, SEGMENT, POSE, OBB])
def test_ultralytics_writes_each_subset(tmp_path: Path, fmt: str) -> None:
    import yaml

    source = split_source(with_images=True)
    path = export_zip(fmt, source, tmp_path / "out.zip", save_images=True)
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        header = yaml.safe_load(z.read("data.yaml").decode())
        val = z.read("val.txt").decode().split()
    assert (header["path"], header["train"], header["val"]) == (".", "train.txt", "val.txt")
    assert header["names"] == {0: "car", 1: "person", 2: "weather", 3: "body"}
    assert val == [f"images/val/dir/frame_{i:03d}.png" for i in range(3, 6)]
    assert {"labels/train/dir/frame_000.txt", "labels/val/dir/frame_005.txt"} <= names
    assert {"images/train/dir/frame_002.png", "images/val/dir/frame_003.png"} <= names
    assert "labels/train/dir/frame_003.txt" not in names
    data = read(fmt, path)
    assert imported_subsets(data) == SPLIT
    if fmt == DETECT:
        assert_same(imported_shapes(data, "rectangle"), expected_shapes(source, "rectangle"))
    if fmt == SEGMENT:
        assert_same(imported_shapes(data, "polygon"), expected_shapes(source, "polygon"))


def test_ultralytics_subset_from_the_labels_folder(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "d.zip",
        {
            "data.yaml": "names: [car]\ntrain: images/train\nvalid: valid.txt\n",
            "valid.txt": "images/valid/b.jpg\n",
            "labels/train/a.txt": "0 0.5 0.5 0.5 0.5\n",
            "labels/valid/b.txt": "0 0.5 0.5 0.5 0.5\n",
            "labels/c.txt": "",
        },
    )
    data = read(DETECT, path, frame_sizes={"a.jpg": (10, 10), "b.jpg": (10, 10)})
    got = {data.frame_names[n]: data.frame_subsets[n] for n in data.frame_names}
    assert got == {"a": "train", "b.jpg": "valid", "c": "default"}


@pytest.mark.parametrize("with_images", [True, False])
def test_classification_writes_each_subset(tmp_path: Path, with_images: bool) -> None:
    source = split_source(with_images=with_images)
    source.tags.append(Tag(4, "car"))
    path = export_zip(CLASSIFY, source, tmp_path / "out.zip", save_images=with_images)
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
    assert {"train/car/", "val/car/", "val/body/", "train/weather/"} <= names
    if with_images:
        assert {"train/weather/dir/frame_000.png", "val/car/dir/frame_004.png"} <= names
    else:
        assert {"labels/train/dir/frame_000.txt", "labels/val/dir/frame_004.txt"} <= names
    data = read(CLASSIFY, path)
    assert imported_tags(data) == SPLIT_TAGS
    assert imported_subsets(data) == SPLIT  # untagged frames: empty label lists
