"""Datumaro import streams its input (any key order, truncated files, errors deep in a big
file); subsets: one file each on export, ``frame_subsets`` and unique frames on import."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from labelbay.datasets import registry
from labelbay.datasets.formats import jsonread
from labelbay.datasets.model import ImportedDataset, Track, TrackShape

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

NAME = "Datumaro 1.0"


def big_doc(count: int, *, first_frame: int = 0, name: str = "img") -> dict[str, Any]:
    """A Datumaro document of ``count`` items with two boxes each."""
    return {
        "dm_format_version": "1.0",
        "categories": {"label": {"labels": [{"name": "car", "parent": ""}, {"name": "dog"}]}},
        "items": [
            {
                "id": f"{name}_{i:05d}",
                "attr": {"frame": first_frame + i},
                "image": {"path": f"{name}_{i:05d}.png", "size": [48, 64]},
                "annotations": [
                    {"id": 2 * i, "type": "bbox", "label_id": 0, "bbox": [i % 50, 1, 4, 5]},
                    {
                        "id": 2 * i + 1,
                        "type": "bbox",
                        "label_id": 1,
                        "bbox": [1.5, 2, 3, 4],
                        "attributes": {"occluded": True, "kind": "x"},
                    },
                ],
            }
            for i in range(count)
        ],
    }


def items_first(doc: dict[str, Any]) -> dict[str, Any]:
    return {"items": doc["items"], **{k: v for k, v in doc.items() if k != "items"}}


def summary(data: ImportedDataset) -> tuple[Any, ...]:
    return (
        sorted(shape_key(s) for s in data.shapes),
        sorted((t.frame, t.label) for t in data.tags),
        [(t.label, [(s.frame, s.outside) for s in t.shapes]) for t in data.tracks],
        [label.name for label in data.labels],
        data.frame_names,
        data.frame_subsets,
    )


def test_items_before_categories(tmp_path: Path, source: MemorySource) -> None:
    exported = export_zip(NAME, source, tmp_path / "out.zip")
    with zipfile.ZipFile(exported) as archive:
        doc = json.loads(archive.read("annotations/default.json"))
    expected = summary(read(NAME, exported))
    late = write_zip(
        tmp_path / "late.zip", {"annotations/default.json": json.dumps(items_first(doc))}
    )
    assert summary(read(NAME, late)) == expected
    # A big file: the items are read in a second pass over the zip member.
    doc = big_doc(3000)
    body = json.dumps(items_first(doc)).encode()
    assert len(body) > 10 * jsonread.CHUNK_SIZE
    usual = write_zip(tmp_path / "usual.zip", {"annotations/default.json": json.dumps(doc)})
    late = write_zip(tmp_path / "late_big.zip", {"annotations/default.json": body})
    got = read(NAME, late)
    assert len(got.shapes) == 6000 and summary(got) == summary(read(NAME, usual))
    dog = got.shapes[1]
    assert (dog.label, dog.points, dog.occluded, dog.attributes) == (
        "dog",
        [1.5, 2.0, 4.5, 6.0],
        True,
        {"kind": "x"},
    )


def test_truncated_json_fails_cleanly(tmp_path: Path) -> None:
    body = json.dumps(big_doc(2000)).encode()
    path = write_zip(tmp_path / "cut.zip", {"annotations/train.json": body[: len(body) // 3]})
    invalid(NAME, path, "annotations/train.json", "ends too early", "truncated")


def test_wrong_type_deep_in_an_item_names_it(tmp_path: Path) -> None:
    doc = big_doc(3000)
    doc["items"][2345]["annotations"][1]["bbox"][2] = "wide"
    path = tmp_path / "default.json"
    path.write_text(json.dumps(items_first(doc)))
    invalid(
        NAME,
        path,
        "default.json: items[2345].annotations[1].bbox[2]: expected a number",
        "(item 'img_02345')",
    )


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        ('{"categories": {}, "items": {}}', ["top level.items", "expected a list"]),
        ('{"categories": [], "items": []}', ["top level.categories", "expected an object"]),
        ('"items"', ["top level: expected an object"]),
        ('{"categories": {}, "items": [{"id": "a", "annotations": 5}]}', ["items[0].annotations"]),
    ],
)
def test_layout_errors(tmp_path: Path, body: str, needles: list[str]) -> None:
    path = tmp_path / "default.json"
    path.write_text(body)
    invalid(NAME, path, "default.json", *needles)


def test_reading_holds_one_item_at_a_time(tmp_path: Path) -> None:
    noise = "n" * 10_000  # ignored by the importer; parsed whole, 20 MB of it
    path = tmp_path / "default.json"
    with path.open("w") as out:
        out.write('{"categories": {"label": {"labels": [{"name": "car"}]}}, "items": [')
        for i in range(2000):
            item = {
                "id": f"f{i}",
                "annotations": [{"type": "bbox", "label_id": 0, "bbox": [1, 1, 2, 2]}],
                "note": noise,
            }
            out.write(("," if i else "") + json.dumps(item))
        out.write("]}")
    size = path.stat().st_size
    registry.importer(NAME)  # the format modules loaded before measuring
    data, peak = peak_memory(lambda: read(NAME, path))
    assert len(data.shapes) == 2000
    assert peak < size / 10, f"peak {peak} bytes for a {size}-byte file"


# --------------------------------------------------------------------------------------------
# Subsets
# --------------------------------------------------------------------------------------------


def test_two_subsets_export_two_files_and_import_back(tmp_path: Path) -> None:
    source = make_source(with_images=True)
    source.frames = [replace(f, subset="train" if f.number < 3 else "val") for f in source.frames]
    # A track lives in one task, so in one subset: here on the "val" frames.
    source.track_list = [
        Track(
            "car",
            3,
            [
                TrackShape(3, "rectangle", [0, 0, 10, 10]),
                TrackShape(4, "rectangle", [5, 5, 15, 15]),
                TrackShape(5, "rectangle", [5, 5, 15, 15], outside=True),
            ],
        )
    ]
    single = read(NAME, export_zip(NAME, make_source(), tmp_path / "one.zip"))
    path = export_zip(NAME, source, tmp_path / "two.zip", save_images=True)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        docs = {s: json.loads(archive.read(f"annotations/{s}.json")) for s in ("train", "val")}
    assert "annotations/default.json" not in names
    for frame in source.frames:
        assert f"images/{frame.subset}/{frame.name}" in names
    assert [i["attr"]["frame"] for i in docs["train"]["items"]] == [0, 1, 2]
    assert [i["attr"]["frame"] for i in docs["val"]["items"]] == [3, 4, 5]
    for doc in docs.values():
        assert len(doc["categories"]["label"]["labels"]) == 6
    tracked = {
        subset: [i["attr"]["frame"] for i in doc["items"] for a in i["annotations"]
                 if "track_id" in a["attributes"]]
        for subset, doc in docs.items()
    }  # fmt: skip
    assert tracked == {"train": [], "val": [3, 4]}
    data = read(NAME, path)
    # Labelbay numbers frames on from subset to subset: the numbers are kept.
    assert data.frame_names == {f.number: f.name for f in source.frames}
    assert data.frame_subsets == {n: "train" if n < 3 else "val" for n in range(6)}
    got, want = summary(data), summary(single)
    assert (got[0], got[1], got[3]) == (want[0], want[1], want[3])
    assert got[2] == [("car", [(3, False), (4, False), (5, True)])]


def test_frames_counted_from_zero_in_each_file_stay_unique(tmp_path: Path) -> None:
    train, val = big_doc(3, name="t"), big_doc(2, name="v")
    # A track in "val" on its frames 0 and 1.
    for i, item in enumerate(val["items"]):
        item["annotations"][0]["attributes"] = {"track_id": 7, "keyframe": True}
        item["annotations"][0]["bbox"] = [i, i, 2, 2]
    path = write_zip(
        tmp_path / "p.zip",
        {"annotations/val.json": json.dumps(val), "annotations/train.json": json.dumps(train)},
    )
    data = read(NAME, path)
    # Files in name order: train (frames 0-2), then val, moved up to 3-4.
    assert data.frame_names == {
        0: "t_00000.png",
        1: "t_00001.png",
        2: "t_00002.png",
        3: "v_00000.png",
        4: "v_00001.png",
    }
    assert data.frame_subsets == {0: "train", 1: "train", 2: "train", 3: "val", 4: "val"}
    assert sorted((s.frame, s.label) for s in data.shapes if s.frame >= 3) == [
        (3, "dog"),
        (4, "dog"),
    ]
    (track,) = data.tracks
    assert [(s.frame, s.points) for s in track.shapes] == [
        (3, [0.0, 0.0, 2.0, 2.0]),
        (4, [1.0, 1.0, 3.0, 3.0]),
    ]
    # A bare file is "default", whatever its name.
    bare = tmp_path / "val.json"
    bare.write_text(json.dumps(val))
    assert set(read(NAME, bare).frame_subsets.values()) == {"default"}
