"""COCO 1.0 and COCO Keypoints 1.0: round trips, pycocotools as an independent reader, bad
input."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from labelbay.datasets import registry
from labelbay.datasets.formats.rle import (
    coco_counts_to_mask,
    decode_rle_string,
    encode_rle_string,
    mask_to_coco_counts,
)
from labelbay.datasets.model import Shape
from labelbay.errors import Invalid

from .conftest import (
    H,
    MemorySource,
    W,
    expected_track_frames,
    export_zip,
    invalid,
    make_source,
    mask_points,
    read,
    shape_key,
)

COCO_NAME, KEYPOINTS = "COCO 1.0", "COCO Keypoints 1.0"


def instances(path: Path, tmp_path: Path, member: str = "annotations/instances_default.json"):
    with zipfile.ZipFile(path) as archive:
        archive.extract(member, tmp_path / "x")
    return tmp_path / "x" / member


def bitmap(shape_points: list[float]) -> np.ndarray:
    """A mask shape's points as a full-image bitmap (independent of the module's code)."""
    *runs, left, top, right, bottom = (int(v) for v in shape_points)
    w, h = right - left + 1, bottom - top + 1
    flat = np.zeros(w * h, dtype=np.uint8)
    pos, value = 0, 0
    for run in runs:
        flat[pos : pos + run] = value
        pos += run
        value ^= 1
    full = np.zeros((H, W), dtype=np.uint8)
    full[top : bottom + 1, left : right + 1] = flat.reshape(h, w)
    return full


def kept(shape: Shape) -> bool:
    return shape.type in ("rectangle", "polygon", "mask")


def test_registered() -> None:
    assert registry.exporter(COCO_NAME).importer is not None
    assert registry.exporter(KEYPOINTS).importer is not None


def test_round_trip(tmp_path: Path, source: MemorySource) -> None:
    path = export_zip(COCO_NAME, source, tmp_path / "out.zip")
    data = read(COCO_NAME, path)
    everything = [*source.shapes, *expected_track_frames()]
    # COCO keeps neither z_order nor group.
    expected = sorted(shape_key(replace(s, z_order=0, group=0)) for s in everything if kept(s))
    not_ellipse = [s for s in data.shapes if (s.type, s.label, s.frame) != ("polygon", "car", 2)]
    assert sorted(shape_key(s) for s in not_ellipse) == expected
    # The ellipse became a polygon through its extreme points.
    ellipse = [s for s in data.shapes if s.frame == 2 and s.label == "car" and s.type == "polygon"]
    assert len(ellipse) == 1 and len(ellipse[0].points) == 64
    xs, ys = ellipse[0].points[0::2], ellipse[0].points[1::2]
    assert min(xs) > 19 and max(xs) < 41 and min(ys) > 13 and max(ys) < 27
    assert data.frame_names == {i: f.name for i, f in enumerate(source.frames)}
    assert [label.name for label in data.labels] == ["car", "person", "weather", "body"]
    assert data.tags == [] and data.tracks == []


def test_pycocotools_reads_the_export(tmp_path: Path, source: MemorySource) -> None:
    path = export_zip(COCO_NAME, source, tmp_path / "out.zip")
    coco = COCO(str(instances(path, tmp_path)))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == [
        "car",
        "person",
        "weather",
        "body",
    ]
    assert [c["id"] for c in coco.loadCats(coco.getCatIds())] == [1, 2, 3, 4]
    images = coco.loadImgs(coco.getImgIds())
    assert next((i["id"], i["file_name"], i["width"], i["height"]) for i in images) == (
        1,
        "dir/frame_000.png",
        W,
        H,
    )
    # Frame 0: 2 rectangles + 1 polygon + the track's box.
    first = coco.loadAnns(coco.getAnnIds(imgIds=[1]))
    assert len(first) == 4
    box = first[0]
    assert box["bbox"] == [1.5, 2.25, 18.5, 28.25]
    assert box["segmentation"] == [] and box["iscrowd"] == 0
    assert box["attributes"] == {
        "occluded": False,
        "rotation": 0.0,
        "color": "blue",
        "parked": True,
        "speed": 12,
    }
    assert first[1]["attributes"]["rotation"] == 30.0
    polygon = first[2]
    assert coco.annToMask(polygon).shape == (H, W)
    assert polygon["area"] == pytest.approx(81.0)
    assert polygon["bbox"] == [1, 1, 9, 9]
    # The mask on frame 2: exactly its pixels.
    mask_shape = next(s for s in source.shapes if s.type == "mask")
    crowd = coco.loadAnns(coco.getAnnIds(imgIds=[3], iscrowd=True))
    assert len(crowd) == 1 and crowd[0]["iscrowd"] == 1
    assert np.array_equal(coco.annToMask(crowd[0]), bitmap(mask_shape.points))
    assert crowd[0]["area"] == 7
    assert crowd[0]["bbox"] == [10, 20, 4, 3]
    # Polylines, points and skeletons are not instances.
    assert coco.getAnnIds(imgIds=[2]) and all(
        a["category_id"] == 1 or a["segmentation"]
        for a in coco.loadAnns(coco.getAnnIds(imgIds=[2]))
    )
    assert coco.getAnnIds(catIds=[4]) == []


def test_save_images_and_subset(tmp_path: Path) -> None:
    source = make_source(with_images=True)
    source.frames = [replace(f, subset="train") for f in source.frames]
    source.subset = "train"
    path = export_zip(COCO_NAME, source, tmp_path / "out.zip", save_images=True)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert "annotations/instances_train.json" in names
        for frame in source.frames:
            assert archive.read(f"images/train/{frame.name}") == source.images[frame.number]
    assert len(read(COCO_NAME, path).shapes) > 0


def test_bare_json_with_foreign_content(tmp_path: Path) -> None:
    full = np.zeros((H, W), dtype=np.uint8, order="F")
    full[5:9, 3:7] = 1
    full[20, 30] = 1
    rle = mask_utils.encode(np.asfortranarray(full))
    body = {
        "images": [
            {"id": 10, "file_name": "a/b/c.jpg", "width": W, "height": H},
            {"id": 3, "file_name": "d.jpg", "width": W, "height": H},
        ],
        "categories": [{"id": 7, "name": "cat"}, {"id": 9, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 3, "category_id": 9, "bbox": [1, 2, 3, 4], "iscrowd": 0},
            {
                "id": 2,
                "image_id": 10,
                "category_id": 7,
                "segmentation": [[0, 0, 4, 0, 4, 4], [10, 10, 14, 10, 14, 14]],
                "bbox": [0, 0, 14, 14],
                "iscrowd": 0,
            },
            {
                "id": 3,
                "image_id": 10,
                "category_id": 9,
                "segmentation": {"counts": rle["counts"].decode(), "size": [H, W]},
                "iscrowd": 1,
                "attributes": {"occluded": True, "kind": "x", "n": 2.0, "ok": False},
            },
        ],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(body))
    data = read(COCO_NAME, path)
    assert data.frame_names == {0: "a/b/c.jpg", 1: "d.jpg"}
    assert [label.name for label in data.labels] == ["cat", "dog"]
    rect = next(s for s in data.shapes if s.type == "rectangle")
    assert (rect.frame, rect.label, rect.points) == (1, "dog", [1, 2, 4, 6])
    polygons = [s for s in data.shapes if s.type == "polygon"]
    assert len(polygons) == 2 and polygons[0].group == polygons[1].group > 0
    mask = next(s for s in data.shapes if s.type == "mask")
    assert mask.frame == 0 and mask.occluded
    assert mask.attributes == {"kind": "x", "n": "2", "ok": "false"}
    assert mask.points[-4:] == [3, 5, 30, 20]
    assert np.array_equal(bitmap(mask.points), full)


def test_rle_helpers_match_pycocotools() -> None:
    rng = np.random.default_rng(7)
    for _ in range(25):
        full = (rng.random((H, W)) > 0.7).astype(np.uint8)
        encoded = mask_utils.encode(np.asfortranarray(full))
        counts = decode_rle_string(encoded["counts"].decode())
        assert encode_rle_string(counts) == encoded["counts"].decode()
        points = coco_counts_to_mask(counts, W, H)
        assert points is not None
        assert np.array_equal(bitmap(points), full)
        assert mask_to_coco_counts(points, W, H) == counts
    assert coco_counts_to_mask([W * H], W, H) is None


def test_mask_partly_outside_the_image_is_clipped() -> None:
    points = mask_points(["11", "11"], W - 1, H - 1)
    counts = mask_to_coco_counts(points, W, H)
    assert sum(counts) == W * H and sum(counts[1::2]) == 1


def test_keypoints_round_trip(tmp_path: Path, source: MemorySource) -> None:
    path = export_zip(KEYPOINTS, source, tmp_path / "kp.zip")
    member = "annotations/person_keypoints_default.json"
    coco = COCO(str(instances(path, tmp_path, member)))
    cats = coco.loadCats(coco.getCatIds())
    assert [(c["name"], c["keypoints"]) for c in cats] == [("body", ["head", "foot"])]
    (ann,) = coco.loadAnns(coco.getAnnIds())
    assert ann["keypoints"] == [10, 10, 2, 12, 30, 1] and ann["num_keypoints"] == 2
    assert ann["bbox"] == [10, 10, 2, 20]
    data = read(KEYPOINTS, path)
    (skeleton,) = data.shapes
    original = next(s for s in source.shapes if s.type == "skeleton")
    assert shape_key(skeleton) == shape_key(original)
    assert [s.name for s in data.labels[0].sublabels] == ["head", "foot"]


def _write(tmp_path: Path, body: object | str) -> Path:
    path = tmp_path / "instances_default.json"
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


GOOD_IMAGE = {"id": 1, "file_name": "a.jpg", "width": 4, "height": 4}
GOOD_CAT = {"id": 1, "name": "car"}


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        ('{"images": [\n  {"id": 1,,}]}', ["instances_default.json", "line 2", "malformed JSON"]),
        ([], ["top level", "expected an object"]),
        ({"images": [], "annotations": []}, ["categories", "is missing"]),
        ({"categories": [GOOD_CAT], "images": [{"id": 1}]}, ["images[0].file_name", "missing"]),
        (
            {
                "categories": [GOOD_CAT],
                "images": [GOOD_IMAGE],
                "annotations": [{"id": 1, "image_id": 1, "category_id": 5, "bbox": [0, 0, 1, 1]}],
            },
            ["annotations[0].category_id", "no category has id 5"],
        ),
        (
            {
                "categories": [GOOD_CAT],
                "images": [GOOD_IMAGE],
                "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]}],
            },
            ["annotations[0].image_id", "no image has id 2"],
        ),
        (
            {
                "categories": [GOOD_CAT],
                "images": [GOOD_IMAGE],
                "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, "x", 1, 1]}],
            },
            ["annotations[0].bbox[1]", "expected a number"],
        ),
        (
            {
                "categories": [GOOD_CAT],
                "images": [GOOD_IMAGE],
                "annotations": [
                    {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 2, 3]]}
                ],
            },
            ["annotations[0].segmentation[0]", "at least 3"],
        ),
        (
            {
                "categories": [GOOD_CAT],
                "images": [GOOD_IMAGE],
                "annotations": [
                    {
                        "id": 1,
                        "image_id": 1,
                        "category_id": 1,
                        "segmentation": {"counts": [3, 100], "size": [4, 4]},
                    }
                ],
            },
            ["annotations[0].segmentation.counts", "cover"],
        ),
        (
            {
                "categories": [GOOD_CAT],
                "images": [GOOD_IMAGE],
                "annotations": [
                    {
                        "id": 1,
                        "image_id": 1,
                        "category_id": 1,
                        "segmentation": {"counts": [3, 100], "size": [100000, 100000]},
                    }
                ],
            },
            ["annotations[0].segmentation.counts", "larger than"],
        ),
    ],
)
def test_bad_input(tmp_path: Path, body: object, needles: list[str]) -> None:
    invalid(COCO_NAME, _write(tmp_path, body), *needles)


def test_zip_without_annotations(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("images/default/a.jpg", b"x")
    with pytest.raises(Invalid, match=r"x\.zip: the archive holds no COCO annotation JSON"):
        read(COCO_NAME, path)
