"""COCO import streams its input: any key order, truncated and malformed files, errors deep in
a big file, memory that does not grow with the file; and subsets, export and import."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from labelbay.datasets import registry
from labelbay.datasets.formats import jsonread
from labelbay.datasets.model import ImportedDataset

from .conftest import (
    MemorySource,
    export_zip,
    invalid,
    make_source,
    peak_memory,
    read,
    shape_key,
    write_zip,
)

COCO_NAME, KEYPOINTS = "COCO 1.0", "COCO Keypoints 1.0"


def big_coco(count: int, *, width: int = 640) -> dict[str, Any]:
    """A COCO document of ``count`` boxes on ``count // 10`` images, in the usual key order."""
    images = max(count // 10, 1)
    return {
        "info": {},
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}],
        "images": [
            {"id": i + 1, "file_name": f"img_{i:05d}.jpg", "width": width, "height": 480}
            for i in range(images)
        ],
        "annotations": [
            {
                "id": k + 1,
                "image_id": k % images + 1,
                "category_id": k % 2 + 1,
                "bbox": [k % 100, 2.5, 10, 20],
                "iscrowd": 0,
                "attributes": {"occluded": k % 3 == 0, "color": "blue" if k % 2 else "red"},
            }
            for k in range(count)
        ],
    }


def reordered(doc: dict[str, Any], *keys: str) -> dict[str, Any]:
    """``doc`` with ``keys`` first, in that order (JSON keeps insertion order)."""
    return {**{k: doc[k] for k in keys}, **{k: v for k, v in doc.items() if k not in keys}}


def summary(data: ImportedDataset) -> tuple[Any, ...]:
    return (
        sorted(shape_key(s) for s in data.shapes),
        [label.name for label in data.labels],
        data.frame_names,
        data.frame_subsets,
    )


# --------------------------------------------------------------------------------------------
# Key order
# --------------------------------------------------------------------------------------------


def test_annotations_before_images_and_categories_small_file(
    tmp_path: Path, source: MemorySource
) -> None:
    exported = export_zip(COCO_NAME, source, tmp_path / "out.zip")
    with zipfile.ZipFile(exported) as archive:
        doc = json.loads(archive.read("annotations/instances_default.json"))
    expected = summary(read(COCO_NAME, exported))
    for order in (("annotations", "images", "categories"), ("images", "annotations")):
        path = tmp_path / "instances_default.json"
        path.write_text(json.dumps(reordered(doc, *order)))
        assert summary(read(COCO_NAME, path)) == expected, order


def test_annotations_before_categories_in_a_big_zip_member(tmp_path: Path) -> None:
    # Far bigger than one read (64 KiB): the annotations are met before the categories, so
    # the member is read again from its start.
    doc = big_coco(6000)
    usual = tmp_path / "usual.json"
    usual.write_text(json.dumps(doc))
    late = json.dumps(reordered(doc, "images", "annotations", "categories")).encode()
    assert len(late) > 10 * jsonread.CHUNK_SIZE
    path = write_zip(tmp_path / "late.zip", {"annotations/instances_default.json": late})
    expected = read(COCO_NAME, usual)
    got = read(COCO_NAME, path)
    assert len(got.shapes) == 6000
    assert summary(got) == summary(expected)
    first = got.shapes[0]
    assert (first.frame, first.label, first.points) == (0, "car", [0.0, 2.5, 10.0, 22.5])
    assert first.occluded and first.attributes == {"color": "red"}


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_truncated_json_fails_cleanly(tmp_path: Path) -> None:
    body = json.dumps(big_coco(3000), indent=1).encode()
    path = tmp_path / "instances_default.json"
    path.write_bytes(body[: len(body) * 2 // 3])
    invalid(COCO_NAME, path, "instances_default.json", "ends too early", "truncated")
    # The same inside an archive (a whole zip whose member is cut).
    cut = write_zip(
        tmp_path / "cut.zip", {"annotations/instances_train.json": body[: len(body) // 2]}
    )
    invalid(COCO_NAME, cut, "annotations/instances_train.json", "ends too early")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "instances_default.json"
    path.write_bytes(b"")
    invalid(COCO_NAME, path, "instances_default.json", "line 1, column 1", "ends too early")


@pytest.mark.parametrize("late", [False, True])
def test_wrong_type_deep_in_an_annotation_names_it(tmp_path: Path, late: bool) -> None:
    doc = big_coco(5000)
    doc["annotations"][3456]["bbox"] = [0, "x", 1, 1]
    if late:  # read in the second pass: the index must still be right
        doc = reordered(doc, "annotations")
    path = tmp_path / "instances_default.json"
    path.write_text(json.dumps(doc))
    invalid(
        COCO_NAME,
        path,
        "instances_default.json: annotations[3456].bbox[1]: expected a number",
        "(annotation id 3457)",
    )
    doc = big_coco(5000)
    doc["annotations"][4999]["category_id"] = 9
    path.write_text(json.dumps(doc))
    invalid(
        COCO_NAME,
        path,
        "annotations[4999].category_id: no category has id 9",
        "(annotation id 5000)",
    )


def test_syntax_error_deep_in_a_big_file_gives_its_line(tmp_path: Path) -> None:
    doc = big_coco(4000)
    lines = json.dumps(doc, indent=1).split("\n")
    broken = next(i for i, line in enumerate(lines) if '"id": 3000' in line)
    lines[broken] = lines[broken].replace('"id": 3000,', '"id": 3000,,')
    path = tmp_path / "instances_default.json"
    path.write_text("\n".join(lines))
    column = lines[broken].index(",,") + 2
    invalid(COCO_NAME, path, f"line {broken + 1}, column {column}", "malformed JSON")


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        ('{"categories": [], "images": [], "annotations": {}}', ["top level.annotations", "list"]),
        ('{"categories": [], "images": {}, "annotations": []}', ["top level.images", "list"]),
        ("[1, 2]", ["top level: expected an object"]),
        ('{"categories": [], "images": [], "annotations": [] } x', ["trailing garbage"]),
        ('{"categories": [], "images": [], "annotations": [1]}', ["annotations[0]", "object"]),
    ],
)
def test_layout_errors(tmp_path: Path, body: str, needles: list[str]) -> None:
    path = tmp_path / "instances_default.json"
    path.write_text(body)
    invalid(COCO_NAME, path, "instances_default.json", *needles)


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------


def test_reading_holds_one_annotation_at_a_time(tmp_path: Path) -> None:
    # ~20 MB of annotations, each with big fields the importer ignores: parsed whole, the
    # file would take more than its size; streamed, it takes one annotation at a time.
    noise = {"text": "n" * 10_000, "numbers": list(range(50))}
    path = tmp_path / "instances_default.json"
    with path.open("w") as out:
        out.write('{"categories": [{"id": 1, "name": "car"}], ')
        out.write('"images": [{"id": 1, "file_name": "a.jpg", "width": 9, "height": 9}], ')
        out.write('"annotations": [')
        for k in range(2000):
            ann = {"id": k, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "x": noise}
            out.write(("," if k else "") + json.dumps(ann))
        out.write("]}")
    size = path.stat().st_size
    assert size > 20_000_000
    registry.importer(COCO_NAME)  # the format modules loaded before measuring
    data, peak = peak_memory(lambda: read(COCO_NAME, path))
    assert len(data.shapes) == 2000
    # Streamed: well under a megabyte (a read buffer, one annotation, 2000 small shapes).
    assert peak < size / 10, f"peak {peak} bytes for a {size}-byte file"


def test_imported_shapes_share_attributes_and_floats(tmp_path: Path) -> None:
    path = tmp_path / "instances_default.json"
    path.write_text(json.dumps(big_coco(100)))
    data = read(COCO_NAME, path)
    blue = [s for s in data.shapes if s.attributes == {"color": "blue"}]
    assert len(blue) == 50 and all(s.attributes is blue[0].attributes for s in blue)
    assert all(s.label is data.shapes[1].label for s in data.shapes if s.label == "person")
    # Integral coordinates are shared float objects (10.0 here); others are kept as read.
    assert data.shapes[0].points == [0.0, 2.5, 10.0, 22.5]
    assert data.shapes[0].points[2] is data.shapes[10].points[0]
    assert all(type(v) is float for s in data.shapes for v in s.points)


# --------------------------------------------------------------------------------------------
# Subsets
# --------------------------------------------------------------------------------------------


def two_subsets(source: MemorySource) -> MemorySource:
    """Frames 0-2 in "train", 3-5 in "val"."""
    source.frames = [replace(f, subset="train" if f.number < 3 else "val") for f in source.frames]
    source.subset = "train"
    return source


def image_names(doc: dict[str, Any]) -> dict[int, str]:
    return {image["id"]: image["file_name"] for image in doc["images"]}


def test_two_subsets_export_two_files_and_import_back(tmp_path: Path) -> None:
    source = two_subsets(make_source(with_images=True))
    single = read(COCO_NAME, export_zip(COCO_NAME, make_source(), tmp_path / "one.zip"))
    path = export_zip(COCO_NAME, source, tmp_path / "two.zip", save_images=True)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        docs = {
            subset: json.loads(archive.read(f"annotations/instances_{subset}.json"))
            for subset in ("train", "val")
        }
    assert "annotations/instances_default.json" not in names
    for frame in source.frames:
        assert f"images/{frame.subset}/{frame.name}" in names
    for subset, numbers in (("train", range(3)), ("val", range(3, 6))):
        doc = docs[subset]
        assert image_names(doc) == {i + 1: source.frames[n].name for i, n in enumerate(numbers)}
        assert [c["name"] for c in doc["categories"]] == ["car", "person", "weather", "body"]
        ids = [a["id"] for a in doc["annotations"]]
        assert ids == list(range(1, len(ids) + 1))
    # The car track is visible on 0, 1, 2 (train) and 4, 5 (val): its boxes go with them.
    tracked = {
        subset: sorted(
            image_names(doc)[a["image_id"]]
            for a in doc["annotations"]
            if a["bbox"] in ([0, 0, 10, 10], [5, 5, 10, 10], [10, 10, 10, 10], [30, 30, 10, 10])
        )
        for subset, doc in docs.items()
    }
    assert tracked == {
        "train": [f"dir/frame_00{n}.png" for n in (0, 1, 2)],
        "val": [f"dir/frame_00{n}.png" for n in (4, 5)],
    }
    data = read(COCO_NAME, path)
    assert data.frame_subsets == {n: "train" if n < 3 else "val" for n in range(6)}
    assert data.frame_names == {f.number: f.name for f in source.frames}
    assert sorted(shape_key(s) for s in data.shapes) == sorted(shape_key(s) for s in single.shapes)


def test_two_subsets_keypoints(tmp_path: Path) -> None:
    source = two_subsets(make_source())
    path = export_zip(KEYPOINTS, source, tmp_path / "kp.zip")
    with zipfile.ZipFile(path) as archive:
        train = json.loads(archive.read("annotations/person_keypoints_train.json"))
        val = json.loads(archive.read("annotations/person_keypoints_val.json"))
    assert train["annotations"] == []
    # The skeleton is on frame 3, the first of "val": image 1 of that file.
    (skeleton,) = val["annotations"]
    assert skeleton["image_id"] == 1 and image_names(val)[1] == "dir/frame_003.png"
    data = read(KEYPOINTS, path)
    assert [(s.type, s.frame) for s in data.shapes] == [("skeleton", 3)]
    assert data.frame_subsets[3] == "val" and data.frame_subsets[0] == "train"


def test_frames_stay_unique_across_files_and_subsets_come_from_names(tmp_path: Path) -> None:
    def doc(name: str) -> str:
        return json.dumps(
            {
                "categories": [{"id": 1, "name": "car"}],
                "images": [{"id": 1, "file_name": f"{name}.jpg"}],
                "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}],
            }
        )

    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as out:
        out.writestr("annotations/instances_val.json", doc("v"))
        out.writestr("annotations/instances_train.json", doc("t"))
        out.writestr("annotations/extra.json", doc("e"))
    data = read(COCO_NAME, path)
    # Files in name order: extra, instances_train, instances_val.
    assert data.frame_names == {0: "e.jpg", 1: "t.jpg", 2: "v.jpg"}
    assert data.frame_subsets == {0: "default", 1: "train", 2: "val"}
    assert sorted(s.frame for s in data.shapes) == [0, 1, 2]
    # A bare file is "default" whatever its name.
    bare = tmp_path / "instances_val.json"
    bare.write_text(doc("b"))
    assert read(COCO_NAME, bare).frame_subsets == {0: "default"}


def test_no_frames_still_writes_a_file(tmp_path: Path) -> None:
    source = make_source()
    source.frames, source.shapes, source.tags, source.track_list = [], [], [], []
    source.subset = "test"
    path = export_zip(COCO_NAME, source, tmp_path / "empty.zip")
    with zipfile.ZipFile(path) as archive:
        doc = json.loads(archive.read("annotations/instances_test.json"))
    assert doc["images"] == [] and doc["annotations"] == [] and len(doc["categories"]) == 4
