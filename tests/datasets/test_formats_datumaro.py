"""Datumaro 1.0: round trips, the JSON layout checked field by field, bad input."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from labelbay.datasets.model import Track
from labelbay.datasets.tracks import interpolate
from labelbay.errors import Invalid

from .conftest import H, MemorySource, W, export_zip, invalid, make_source, read, shape_key

NAME = "Datumaro 1.0"
TYPES = {
    "bbox",
    "polygon",
    "polyline",
    "points",
    "ellipse",
    "cuboid_2d",
    "mask",
    "skeleton",
    "label",
}


def load(path: Path, member: str = "annotations/default.json") -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read(member))


def effective(track: Track, frame: int) -> tuple:
    """A track's visible state on a frame, its attributes merged (what survives a trip)."""
    state = interpolate(track, frame)
    if state is None or state.outside:
        return (frame, None)
    return (
        frame,
        state.type,
        tuple(round(v, 2) for v in state.points),
        state.occluded,
        state.z_order,
        tuple(sorted({**track.attributes, **state.attributes}.items())),
    )


def test_round_trip(tmp_path: Path, source: MemorySource) -> None:
    data = read(NAME, export_zip(NAME, source, tmp_path / "out.zip"))
    assert sorted(shape_key(s) for s in data.shapes) == sorted(shape_key(s) for s in source.shapes)
    assert sorted((t.frame, t.label, t.group) for t in data.tags) == [
        (0, "weather", 0),
        (2, "weather", 1),
    ]
    assert len(data.tracks) == 2
    frames = [f.number for f in source.frames]
    for original, got in zip(source.track_list, data.tracks, strict=True):
        assert got.label == original.label
        assert [effective(got, f) for f in frames] == [effective(original, f) for f in frames]
        assert all(s.keyframe for s in got.shapes)
    car = data.tracks[0]
    assert [(s.frame, s.outside) for s in car.shapes] == [
        (0, False),
        (2, False),
        (3, True),
        (4, False),
    ]
    assert car.attributes == {"parked": "false"}
    assert data.frame_names == {f.number: f.name for f in source.frames}
    assert [label.name for label in data.labels] == ["car", "person", "weather", "body"]
    assert [a.name for a in data.labels[0].attributes] == ["color", "parked", "speed"]
    assert [s.name for s in data.labels[3].sublabels] == ["head", "foot"]


def test_skeleton_track_round_trip(tmp_path: Path) -> None:
    from labelbay.datasets.model import TrackShape

    source = make_source()
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
    data = read(NAME, export_zip(NAME, source, tmp_path / "out.zip"))
    (track,) = data.tracks
    assert [(s.frame, s.outside) for s in track.shapes] == [(0, False), (2, True)]
    head = next(e for e in track.elements if e.label == "head")
    assert [(s.frame, s.points) for s in head.shapes if not s.outside] == [
        (0, [1.0, 1.0]),
        (1, [3.0, 3.0]),
    ]
    foot = next(e for e in track.elements if e.label == "foot")
    assert foot.shapes[0].occluded


def test_layout(tmp_path: Path, source: MemorySource) -> None:
    doc = load(export_zip(NAME, source, tmp_path / "out.zip"))
    assert set(doc) >= {"categories", "items"}
    labels = doc["categories"]["label"]["labels"]
    assert [(lb["name"], lb["parent"]) for lb in labels] == [
        ("car", ""),
        ("person", ""),
        ("weather", ""),
        ("body", ""),
        ("head", "body"),
        ("foot", "body"),
    ]
    assert labels[0]["attributes"] == ["color", "parked", "speed"]
    assert doc["categories"]["points"]["items"] == [
        {"label_id": 3, "labels": ["head", "foot"], "joints": []}
    ]
    items = doc["items"]
    assert [i["id"] for i in items] == [f"dir/frame_{n:03d}" for n in range(6)]
    ids: set[int] = set()
    for item in items:
        assert isinstance(item["attr"]["frame"], int)
        assert item["image"]["size"] == [H, W]
        for ann in item["annotations"]:
            assert ann["type"] in TYPES
            assert isinstance(ann["id"], int) and ann["id"] not in ids
            ids.add(ann["id"])
            assert 0 <= ann["label_id"] < len(labels)
            assert isinstance(ann["group"], int)
            assert isinstance(ann["attributes"], dict)
            if ann["type"] == "bbox":
                assert len(ann["bbox"]) == 4
            if ann["type"] in ("polygon", "polyline", "points"):
                assert len(ann["points"]) % 2 == 0
            if ann["type"] == "points":
                assert len(ann["visibility"]) == len(ann["points"]) // 2
    first = items[0]["annotations"]
    assert first[0]["bbox"] == [1.5, 2.25, 18.5, 28.25]
    assert first[0]["attributes"] == {
        "occluded": False,
        "rotation": 0.0,
        "color": "blue",
        "parked": True,
        "speed": 12,
    }
    tracked = [a for a in first if "track_id" in a["attributes"]]
    assert [(a["attributes"]["track_id"], a["attributes"]["keyframe"]) for a in tracked] == [
        (0, True)
    ]
    second = [a for a in items[1]["annotations"] if a["attributes"].get("track_id") == 0]
    assert second[0]["attributes"]["keyframe"] is False and second[0]["bbox"] == [5, 5, 10, 10]
    ellipse = next(a for a in items[2]["annotations"] if a["type"] == "ellipse")
    assert ellipse["points"] == [20, 15, 40, 25]
    mask = next(a for a in items[2]["annotations"] if a["type"] == "mask")
    decoded = mask_utils.decode({"size": mask["rle"]["size"], "counts": mask["rle"]["counts"]})
    assert decoded.shape == (H, W) and int(decoded.sum()) == 7
    assert np.argwhere(decoded)[0].tolist() == [20, 11]
    skeleton = next(a for a in items[3]["annotations"] if a["type"] == "skeleton")
    assert [(e["label_id"], e["points"]) for e in skeleton["elements"]] == [
        (4, [10, 10]),
        (5, [12, 30]),
    ]
    labels_on_0 = [a for a in first if a["type"] == "label"]
    assert len(labels_on_0) == 1 and labels_on_0[0]["label_id"] == 2


def test_save_images(tmp_path: Path) -> None:
    source = make_source(with_images=True)
    path = export_zip(NAME, source, tmp_path / "out.zip", save_images=True)
    with zipfile.ZipFile(path) as archive:
        for frame in source.frames:
            assert archive.read(f"images/default/{frame.name}") == source.images[frame.number]


def test_bare_json(tmp_path: Path) -> None:
    path = tmp_path / "default.json"
    path.write_text(
        json.dumps(
            {
                "categories": {"label": {"labels": [{"name": "a"}]}},
                "items": [
                    {
                        "id": "x",
                        "annotations": [{"type": "bbox", "label_id": 0, "bbox": [1, 1, 2, 2]}],
                    },
                    {"id": "y", "annotations": []},
                ],
            }
        )
    )
    # A bare file is read whatever its name.
    data = read(NAME, path)
    assert [(s.frame, s.points) for s in data.shapes] == [(0, [1.0, 1.0, 3.0, 3.0])]
    assert data.frame_names == {0: "x", 1: "y"}


def _write(tmp_path: Path, body: object | str) -> Path:
    path = tmp_path / "default.json"
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


CATS = {"label": {"labels": [{"name": "a", "parent": ""}]}}


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        ('{\n"items": [}', ["default.json", "line 2", "malformed JSON"]),
        ({"categories": CATS}, ["top level.items", "missing"]),
        (
            {"categories": {"label": {"labels": [{"parent": ""}]}}, "items": []},
            ["categories.label.labels[0].name", "missing"],
        ),
        ({"categories": CATS, "items": [{"annotations": []}]}, ["items[0].id", "missing"]),
        (
            {
                "categories": CATS,
                "items": [{"id": "x", "annotations": [{"type": "caption3d", "label_id": 0}]}],
            },
            ["items[0].annotations[0].type", "unknown annotation type 'caption3d'"],
        ),
        (
            {
                "categories": CATS,
                "items": [
                    {
                        "id": "x",
                        "annotations": [{"type": "bbox", "label_id": 4, "bbox": [0, 0, 1, 1]}],
                    }
                ],
            },
            ["items[0].annotations[0].label_id", "no label has index 4"],
        ),
        (
            {
                "categories": CATS,
                "items": [{"id": "x", "annotations": [{"type": "bbox", "label_id": 0}]}],
            },
            ["items[0].annotations[0].bbox", "missing"],
        ),
        (
            {
                "categories": CATS,
                "items": [
                    {
                        "id": "x",
                        "annotations": [{"type": "polygon", "label_id": 0, "points": [1, 2, 3]}],
                    }
                ],
            },
            ["items[0].annotations[0].points", "pairs"],
        ),
        (
            {
                "categories": CATS,
                "items": [
                    {
                        "id": "x",
                        "annotations": [
                            {"type": "mask", "label_id": 0, "rle": {"counts": "!!", "size": [2, 2]}}
                        ],
                    }
                ],
            },
            ["items[0].annotations[0].rle.counts", "unexpected character"],
        ),
    ],
)
def test_bad_input(tmp_path: Path, body: object, needles: list[str]) -> None:
    invalid(NAME, _write(tmp_path, body), *needles)


def test_zip_without_annotations(tmp_path: Path) -> None:
    path = tmp_path / "d.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("default.json", b"{}")
    with pytest.raises(Invalid, match=r"d\.zip: the archive holds no annotations/<subset>\.json"):
        read(NAME, path)
