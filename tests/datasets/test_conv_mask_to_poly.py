"""``conv_mask_to_poly`` on annotation and project dataset imports (spec 8.3, 8.4): true (the
default, as in CVAT) writes each connected region of an imported mask as a polygon, the
polygons of one mask sharing a group; false keeps the mask.

The HTTP tests import a COCO file with one RLE mask of two blobs through the real server and
cvat-sdk; the others check the tracing itself (``labelbay.datasets.masks``).
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from cvat_sdk import Client
from cvat_sdk.core.proxies.tasks import Task

from e2e.helpers import create_task, noise_images
from labelbay.datasets import masks

W, H = 64, 48
IMAGE = "m_0.png"
# Two blobs, inclusive pixel bounds (x0, y0, x1, y1).
BLOBS = [(5, 5, 14, 14), (30, 20, 39, 27)]
COCO = "COCO 1.0"


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return noise_images(tmp_path_factory.mktemp("mask_images"), [IMAGE], size=(W, H))


def _bitmap() -> np.ndarray:
    bitmap = np.zeros((H, W), dtype=np.uint8)
    for x0, y0, x1, y1 in BLOBS:
        bitmap[y0 : y1 + 1, x0 : x1 + 1] = 1
    return bitmap


def _coco_counts(bitmap: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE: runs over the image column by column, zeros first."""
    flat = bitmap.flatten(order="F")
    counts, current, run = [], 0, 0
    for value in flat.tolist():
        if value == current:
            run += 1
        else:
            counts.append(run)
            current, run = value, 1
    counts.append(run)
    return counts


def _coco_json() -> bytes:
    return json.dumps({
        "licenses": [], "info": {},
        "categories": [{"id": 1, "name": "person", "supercategory": ""}],
        "images": [{"id": 1, "file_name": IMAGE, "width": W, "height": H}],
        "annotations": [{
            "id": 1, "image_id": 1, "category_id": 1, "iscrowd": 1, "area": 180.0,
            "bbox": [5, 5, 35, 23], "attributes": {},
            "segmentation": {"counts": _coco_counts(_bitmap()), "size": [H, W]},
        }],
    }).encode()  # fmt: skip


def _shapes(task: Task) -> list[Any]:
    return sorted(task.get_annotations().shapes, key=lambda s: min(s.points[0::2]))


def _assert_polygons(task: Task) -> None:
    shapes = _shapes(task)
    assert [s.type.value for s in shapes] == ["polygon", "polygon"], shapes
    groups = {s.group for s in shapes}
    assert len(groups) == 1 and groups != {0}, groups
    for shape, (x0, y0, x1, y1) in zip(shapes, BLOBS, strict=True):
        xs, ys = shape.points[0::2], shape.points[1::2]
        assert (min(xs), min(ys), max(xs), max(ys)) == (x0, y0, x1, y1)


def _assert_mask(task: Task) -> None:
    shapes = _shapes(task)
    assert [s.type.value for s in shapes] == ["mask"], shapes
    left, top, bitmap = masks.decode(shapes[0].points)
    assert (left, top) == (5, 5)
    whole = np.zeros((H, W), dtype=np.uint8)
    whole[top : top + bitmap.shape[0], left : left + bitmap.shape[1]] = bitmap
    assert np.array_equal(whole, _bitmap())


@pytest.mark.parametrize("conv", [None, True, False])
def test_task_import_converts_masks_unless_told_not_to(
    client: Client, images: list[Path], tmp_path: Path, conv: bool | None
) -> None:
    task = create_task(client, images, name=f"mask {conv}", labels=[{"name": "person"}])
    path = tmp_path / "mask.json"
    path.write_bytes(_coco_json())
    task.import_annotations(COCO, path, conv_mask_to_poly=conv)
    if conv is False:
        _assert_mask(task)
    else:
        _assert_polygons(task)


def test_job_import_keeps_the_mask_when_asked(
    client: Client, images: list[Path], tmp_path: Path
) -> None:
    task = create_task(client, images, name="job mask", labels=[{"name": "person"}])
    path = tmp_path / "mask.json"
    path.write_bytes(_coco_json())
    job = task.get_jobs()[0]
    job.import_annotations(COCO, path, conv_mask_to_poly=False)
    _assert_mask(task)
    job.import_annotations(COCO, path)
    _assert_polygons(task)


def test_one_shot_upload_takes_the_query_parameter(
    client: Client, http: httpx.Client, images: list[Path], tmp_path: Path
) -> None:
    task = create_task(client, images, name="one shot mask", labels=[{"name": "person"}])
    response = http.post(
        f"/api/tasks/{task.id}/annotations/",
        params={"format": COCO, "conv_mask_to_poly": "false"},
        files={"annotation_file": ("mask.json", _coco_json(), "application/json")},
    )
    assert response.status_code == 202, response.text
    rq = response.json()["rq_id"]
    for _ in range(600):
        body = http.get(f"/api/requests/{rq}").json()
        if body["status"] in ("finished", "failed"):
            break
        time.sleep(0.1)
    assert body["status"] == "finished", body
    _assert_mask(task)


def test_a_flag_that_is_not_a_boolean_is_refused(
    client: Client, http: httpx.Client, images: list[Path]
) -> None:
    task = create_task(client, images, name="odd flag", labels=[{"name": "person"}])
    before = http.get(f"/api/tasks/{task.id}/annotations").json()
    response = http.post(
        f"/api/tasks/{task.id}/annotations/",
        params={"format": COCO, "conv_mask_to_poly": "perhaps"},
        files={"annotation_file": ("mask.json", _coco_json(), "application/json")},
    )
    assert response.status_code == 400, response.text
    assert "conv_mask_to_poly" in response.text
    after = http.get(f"/api/tasks/{task.id}/annotations").json()
    assert after["shapes"] == before["shapes"] == []


@pytest.mark.parametrize("conv", [None, False])
def test_project_import_converts_masks_unless_told_not_to(
    client: Client, images: list[Path], tmp_path: Path, conv: bool | None
) -> None:
    archive = tmp_path / "masks.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("annotations/instances_default.json", _coco_json())
        out.write(images[0], f"images/default/{IMAGE}")
    project = client.projects.create_from_dataset(
        {"name": f"masks {conv}", "labels": [{"name": "person"}]},
        dataset_path=str(archive), dataset_format=COCO, conv_mask_to_poly=conv,
    )  # fmt: skip
    (listed,) = project.get_tasks()
    task = client.tasks.retrieve(listed.id)
    if conv is False:
        _assert_mask(task)
    else:
        _assert_polygons(task)


# The tracing -----------------------------------------------------------------------------------


def _points(rows: list[str], left: int = 0, top: int = 0) -> list[float]:
    """A CVAT mask: runs over the box row by row, zeros first, then [l, t, r, b]."""
    runs: list[float] = []
    current, run = "0", 0
    for bit in "".join(rows):
        if bit == current:
            run += 1
        else:
            runs.append(run)
            current, run = bit, 1
    runs.append(run)
    return [*runs, left, top, left + len(rows[0]) - 1, top + len(rows) - 1]


def _bounds(polygon: list[float]) -> tuple[float, float, float, float]:
    xs, ys = polygon[0::2], polygon[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def test_regions_become_polygons_largest_first() -> None:
    rows = [
        "11000000",
        "11000000",
        "00001111",
        "00001111",
        "00001111",
    ]
    found = masks.polygons(_points(rows, left=10, top=20))
    assert [_bounds(p) for p in found] == [(14, 22, 17, 24), (10, 20, 11, 21)]


def test_diagonal_touch_is_one_region_and_holes_are_lost() -> None:
    ring = ["1111", "1001", "1111"]
    assert [_bounds(p) for p in masks.polygons(_points(ring))] == [(0, 0, 3, 2)]
    corner = ["1100", "1100", "0011", "0011"]
    assert len(masks.polygons(_points(corner))) == 1


def test_thin_regions_become_rectangles_along_pixel_edges() -> None:
    assert masks.polygons(_points(["0000", "0100"], left=3, top=7)) == [
        [4.0, 8.0, 5.0, 8.0, 5.0, 9.0, 4.0, 9.0]
    ]
    line = masks.polygons(_points(["111"], left=2, top=2))
    assert [_bounds(p) for p in line] == [(2, 2, 5, 3)]


def test_empty_mask_gives_nothing_and_bad_points_are_refused() -> None:
    assert masks.polygons(_points(["000", "000"])) == []
    with pytest.raises(masks.MaskError, match="inverted"):
        masks.polygons([1, 1, 5, 5, 2, 2])
    with pytest.raises(masks.MaskError, match="cover"):
        masks.polygons([0, 10, 0, 0, 1, 1])
    with pytest.raises(masks.MaskError):
        masks.polygons([1, 2])
