"""Dataset export and annotation import end to end: real ``labelbay serve``, real cvat-sdk and
cvat-cli 2.80.0 as clients (API spec, section 8).

Round trips export a task, import the file into a fresh task with the same images, and compare
the annotations by label name, frame, type, points and attribute names. Bad input (unknown
format, malformed or truncated file, unknown label, frame not in the task) must fail with a
message and leave the target task's annotations exactly as they were.

Formats come from ``labelbay.datasets.formats``; every format the server lists is exported
and imported back through the API at least once here.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from cvat_sdk import Client
from cvat_sdk.core.proxies.tasks import Task

from conftest import ADMIN, Server
from e2e.helpers import create_task, login_key, noise_images, run_cli

CVAT_EXPORT, CVAT_IMPORT = "CVAT for images 1.1", "CVAT 1.1"
COCO = "COCO 1.0"
NAMES = [f"img_{i:02d}.png" for i in range(4)]
LABELS: list[dict[str, Any]] = [
    {"name": "car", "attributes": [
        {"name": "color", "mutable": False, "input_type": "select",
         "values": ["red", "blue"]},
        {"name": "parked", "mutable": True, "input_type": "checkbox", "values": ["false"]},
    ]},
    {"name": "person", "attributes": []},
]  # fmt: skip


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return noise_images(tmp_path_factory.mktemp("images"), NAMES, size=(64, 48))


def _formats(http: httpx.Client) -> tuple[set[str], set[str]]:
    body = http.get("/api/server/annotation/formats").json()
    return {f["name"] for f in body["exporters"]}, {f["name"] for f in body["importers"]}


def _need(http: httpx.Client, exporter: str | None = None, importer: str | None = None) -> None:
    exporters, importers = _formats(http)
    assert not exporter or exporter in exporters, f"exporter {exporter!r} is not listed"
    assert not importer or importer in importers, f"importer {importer!r} is not listed"


def _label_ids(task: Task) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    labels = {label.name: label for label in task.get_labels()}
    specs = {
        (name, attr.name): attr.id for name, label in labels.items() for attr in label.attributes
    }
    return {name: label.id for name, label in labels.items()}, specs


def _annotate(task: Task, *, polygons: bool = True) -> None:
    ids, specs = _label_ids(task)
    shapes: list[dict[str, Any]] = [
        {"type": "rectangle", "frame": 0, "label_id": ids["car"], "points": [1, 2, 30, 20],
         "attributes": [{"spec_id": specs[("car", "color")], "value": "blue"},
                        {"spec_id": specs[("car", "parked")], "value": "true"}]},
        {"type": "rectangle", "frame": 2, "label_id": ids["person"], "points": [5, 5, 15, 40]},
        {"type": "rectangle", "frame": 3, "label_id": ids["car"], "points": [0, 0, 10, 10],
         "attributes": [{"spec_id": specs[("car", "color")], "value": "red"},
                        {"spec_id": specs[("car", "parked")], "value": "false"}]},
    ]  # fmt: skip
    if polygons:
        shapes.append(
            {
                "type": "polygon",
                "frame": 1,
                "label_id": ids["person"],
                "points": [10, 10, 40, 12, 30, 40],
            }
        )
    task.set_annotations({"shapes": shapes})


def _summary(task: Task) -> list[tuple[Any, ...]]:
    """Shapes as comparable tuples: frame, label name, type, points, attributes by name."""
    labels = {label.id: label for label in task.get_labels()}
    names = {
        attr.id: attr.name for label in labels.values() for attr in label.attributes
    }  # fmt: skip
    out = []
    for shape in task.get_annotations().shapes:
        attrs = tuple(sorted((names[a.spec_id], a.value) for a in shape.attributes))
        points = tuple(round(p, 2) for p in shape.points)
        out.append((shape.frame, labels[shape.label_id].name, shape.type.value, points, attrs))
    return sorted(out)


def _fresh_task(client: Client, images: list[Path], name: str) -> Task:
    return create_task(client, images, name=name, labels=LABELS)


def _raw_annotations(http: httpx.Client, task_id: int) -> dict[str, Any]:
    body = http.get(f"/api/tasks/{task_id}/annotations").json()
    body.pop("version", None)
    return body


def _wait(http: httpx.Client, rq_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = http.get(f"/api/requests/{rq_id}").json()
        if body["status"] in ("finished", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


# Formats listing and bad requests -------------------------------------------------------------


def test_formats_listing_shape(http: httpx.Client) -> None:
    body = http.get("/api/server/annotation/formats").json()
    assert set(body) == {"importers", "exporters"}
    for item in body["importers"] + body["exporters"]:
        assert set(item) >= {"name", "ext", "version", "enabled", "dimension"}
        assert item["dimension"] in ("2D", "3D")


def test_unknown_format_is_400(client: Client, http: httpx.Client, images: list[Path]) -> None:
    task = _fresh_task(client, images, "unknown format")
    for kind, obj_id in (("tasks", task.id), ("jobs", task.get_jobs()[0].id)):
        response = http.post(f"/api/{kind}/{obj_id}/dataset/export", params={"format": "Nope 9"})
        assert response.status_code == 400, response.text
        assert "Nope 9" in response.text
    # Import: the finishing request names the format.
    url = f"/api/tasks/{task.id}/annotations/"
    assert http.post(url, headers={"Upload-Start": ""}).status_code == 202
    created = http.post(
        url,
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "2",
            "Upload-Metadata": "filename YS5qc29u",
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["Location"].startswith("http://")
    done = http.patch(
        created.headers["Location"],
        content=b"{}",
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert done.status_code == 204, done.text
    finish = http.post(
        url,
        params={"format": "Nope 9", "filename": created.headers["Upload-Filename"]},
        headers={"Upload-Finish": ""},
    )
    assert finish.status_code == 400, finish.text
    assert http.get("/api/requests/nope/result").status_code == 404


def test_result_of_unfinished_or_foreign_request(server: Server, http: httpx.Client) -> None:
    # An import request has no result file: 404 once finished/failed, never a crash.
    other = server.create_user()
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Token {login_key(server, other)}"}
    ) as stranger:
        listed = http.get("/api/requests").json()["results"]
        if listed:
            assert stranger.get(f"/api/requests/{listed[0]['id']}/result").status_code == 404


# Round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exporter", "importer", "images_too"),
    [
        (CVAT_EXPORT, CVAT_IMPORT, False),
        (CVAT_EXPORT, CVAT_IMPORT, True),
        (COCO, COCO, False),
        (COCO, COCO, True),
    ],
)
def test_round_trip(
    client: Client, http: httpx.Client, images: list[Path], tmp_path: Path,
    exporter: str, importer: str, images_too: bool,
) -> None:  # fmt: skip
    _need(http, exporter, importer)
    source = _fresh_task(client, images, f"round trip {exporter}")
    _annotate(source)
    expected = _summary(source)
    archive = tmp_path / "export.zip"
    source.export_dataset(exporter, archive, include_images=images_too)
    with zipfile.ZipFile(archive) as z:
        members = z.namelist()
    pictures = [m for m in members if m.lower().endswith(".png")]
    assert len(pictures) == (len(NAMES) if images_too else 0), members

    target = _fresh_task(client, images, f"import {importer}")
    target.import_annotations(importer, archive)
    assert _summary(target) == expected


# Formats whose files hold rectangles with their labels (and frames by name or number): each
# exported by the server, imported into a fresh task, gives the same boxes back.
BOX_FORMATS = {
    "CVAT for video 1.1": "CVAT 1.1",
    "Datumaro 1.0": "Datumaro 1.0",
    "YOLO 1.1": "YOLO 1.1",
    "Ultralytics YOLO Detection 1.0": "Ultralytics YOLO Detection 1.0",
    "Ultralytics YOLO Oriented Bounding Boxes 1.0": "Ultralytics YOLO Oriented Bounding Boxes 1.0",
    "Pascal VOC 1.0": "Pascal VOC 1.0",
    "LabelMe 3.0": "LabelMe 3.0",
    "MOT 1.1": "MOT 1.1",
}
# Formats of other kinds of annotations: the import must finish and find what the export
# wrote (shapes of the kinds the format keeps).
OTHER_FORMATS = {
    "COCO Keypoints 1.0": "COCO Keypoints 1.0",
    "Segmentation mask 1.1": "Segmentation mask 1.1",
    "Ultralytics YOLO Segmentation 1.0": "Ultralytics YOLO Segmentation 1.0",
    "Ultralytics YOLO Pose 1.0": "Ultralytics YOLO Pose 1.0",
    "Ultralytics YOLO Classification 1.0": "Ultralytics YOLO Classification 1.0",
    "ImageNet 1.0": "ImageNet 1.0",
}


SKELETON_FORMATS = {"COCO Keypoints 1.0", "Ultralytics YOLO Pose 1.0"}


def _boxes(task: Task) -> list[tuple[Any, ...]]:
    labels = {label.id: label.name for label in task.get_labels()}
    boxes = [
        (s.frame, labels[s.label_id], tuple(round(p, 1) for p in s.points))
        for s in task.get_annotations().shapes
        if s.type.value == "rectangle"
    ]
    for track in task.get_annotations().tracks:  # MOT and CVAT video give tracks back
        for s in track.shapes:
            if not s.outside and s.type.value == "rectangle":
                boxes.append(
                    (s.frame, labels[track.label_id], tuple(round(p, 1) for p in s.points))
                )
    return sorted(set(boxes))


def test_every_listed_format_is_covered(http: httpx.Client) -> None:
    exporters, importers = _formats(http)
    covered = {CVAT_EXPORT, COCO, *BOX_FORMATS, *OTHER_FORMATS}
    assert exporters == covered, exporters ^ covered
    assert {CVAT_IMPORT, COCO, *BOX_FORMATS.values(), *OTHER_FORMATS.values()} <= importers


@pytest.mark.parametrize("exporter", sorted(BOX_FORMATS))
def test_box_formats_round_trip_through_the_server(
    client: Client, http: httpx.Client, images: list[Path], tmp_path: Path, exporter: str
) -> None:
    importer = BOX_FORMATS[exporter]
    _need(http, exporter, importer)
    source = _fresh_task(client, images, f"boxes {exporter}")
    _annotate(source, polygons=False)
    expected = _boxes(source)
    archive = tmp_path / "export.zip"
    source.export_dataset(exporter, archive, include_images=False)
    target = _fresh_task(client, images, f"boxes back {importer}")
    target.import_annotations(importer, archive)
    assert _boxes(target) == expected


@pytest.mark.parametrize("exporter", sorted(OTHER_FORMATS))
def test_other_formats_export_and_import_through_the_server(
    client: Client, http: httpx.Client, images: list[Path], tmp_path: Path, exporter: str
) -> None:
    importer = OTHER_FORMATS[exporter]
    _need(http, exporter, importer)
    source = _fresh_task(client, images, f"other {exporter}")
    _annotate(source)
    ids, _ = _label_ids(source)
    tags = [{"frame": 0, "label_id": ids["car"]}, {"frame": 1, "label_id": ids["person"]}]
    added = http.patch(
        f"/api/tasks/{source.id}/annotations", params={"action": "create"}, json={"tags": tags}
    )
    assert added.status_code == 200, added.text
    archive = tmp_path / "export.zip"
    source.export_dataset(exporter, archive, include_images=True)
    target = _fresh_task(client, images, f"other back {importer}")
    target.import_annotations(importer, archive)
    got = target.get_annotations()
    found = len(got.shapes) + len(got.tags) + len(got.tracks)
    if exporter in SKELETON_FORMATS:
        # No skeletons in this task: nothing to write or read (the format tests in
        # tests/datasets/test_formats_*.py round-trip skeletons).
        assert found == 0
    else:
        assert found > 0, exporter


def test_download_name_from_result(
    client: Client, http: httpx.Client, images: list[Path], tmp_path: Path
) -> None:
    _need(http, CVAT_EXPORT)
    fmt = CVAT_EXPORT
    task = _fresh_task(client, images, "named: a/b*c")
    started = http.post(f"/api/tasks/{task.id}/dataset/export", params={"format": fmt})
    assert started.status_code == 202, started.text
    body = _wait(http, started.json()["rq_id"])
    assert body["status"] == "finished", body
    assert body["result_url"].endswith(f"/api/requests/{body['id']}/result")
    response = http.get(body["result_url"])
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="task_named_ a_b_c_dataset_')
    assert disposition.endswith('.zip"')
    zipfile.ZipFile(io.BytesIO(response.content)).testzip()
    # The SDK saves it under that name when given a directory.
    folder = tmp_path / "out"
    folder.mkdir()
    task.export_dataset(fmt, folder, include_images=False)
    assert [p.suffix for p in folder.iterdir()] == [".zip"]


def test_same_export_twice_while_running(
    client: Client, http: httpx.Client, images: list[Path]
) -> None:
    _need(http, CVAT_EXPORT)
    fmt = CVAT_EXPORT
    task = _fresh_task(client, images, "dedupe")
    ids, _specs = _label_ids(task)
    many = [
        {
            "type": "rectangle",
            "frame": i % len(NAMES),
            "label_id": ids["person"],
            "points": [i % 50, 1, i % 50 + 5, 9],
        }
        for i in range(20_000)
    ]
    http.put(f"/api/tasks/{task.id}/annotations", json={"shapes": many}).raise_for_status()
    url = f"/api/tasks/{task.id}/dataset/export"
    first = http.post(url, params={"format": fmt, "save_images": "true"})
    second = http.post(url, params={"format": fmt, "save_images": "true"})
    assert first.status_code == second.status_code == 202
    one, two = first.json()["rq_id"], second.json()["rq_id"]
    if one != two:
        # Only allowed if the first had already finished when the second arrived.
        body = _wait(http, one)
        assert body["status"] == "finished"
        assert body["finished_date"] <= _wait(http, two)["created_date"]
    else:
        assert _wait(http, one)["status"] == "finished"
    # Other parameters are another export.
    third = http.post(url, params={"format": fmt, "save_images": "false"})
    assert third.json()["rq_id"] != one


# cvat-cli -------------------------------------------------------------------------------------


def test_cli_export_and_import(
    server: Server, client: Client, http: httpx.Client, images: list[Path], tmp_path: Path
) -> None:
    _need(http, CVAT_EXPORT, CVAT_IMPORT)
    source = _fresh_task(client, images, "cli export")
    _annotate(source)
    out = tmp_path / "cli.zip"
    run_cli(server, ADMIN, "task", "export-dataset", str(source.id), str(out),
            "--format", CVAT_EXPORT, home=tmp_path / "home")  # fmt: skip
    assert zipfile.is_zipfile(out)
    target = _fresh_task(client, images, "cli import")
    run_cli(server, ADMIN, "task", "import-dataset", str(target.id), str(out),
            "--format", CVAT_IMPORT, home=tmp_path / "home")  # fmt: skip
    assert _summary(target) == _summary(source)


# Bad files ------------------------------------------------------------------------------------


def _coco(file_names: list[str], category: str = "car") -> bytes:
    return json.dumps({
        "licenses": [], "info": {},
        "categories": [{"id": 1, "name": category, "supercategory": ""}],
        "images": [{"id": i + 1, "file_name": name, "width": 64, "height": 48}
                   for i, name in enumerate(file_names)],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [],
                         "area": 20.0, "bbox": [1, 1, 4, 5], "iscrowd": 0, "attributes": {}}],
    }).encode()  # fmt: skip


def _import_fails(task: Task, fmt: str, path: Path, *expected: str) -> None:
    with pytest.raises(Exception) as caught:
        task.import_annotations(fmt, path)
    message = str(caught.value)
    for text in expected:
        assert text in message, message


@pytest.mark.parametrize("case", ["malformed", "unknown label", "unknown frame", "truncated"])
def test_bad_import_leaves_task_unchanged(
    client: Client, http: httpx.Client, images: list[Path], tmp_path: Path, case: str
) -> None:
    _need(http, COCO, COCO)
    task = _fresh_task(client, images, f"bad import {case}")
    _annotate(task)
    before = _raw_annotations(http, task.id)
    if case == "malformed":
        path = tmp_path / "broken_annotations.json"
        path.write_bytes(b'{"images": [ oops')
        _import_fails(task, COCO, path, "broken_annotations.json")
    elif case == "unknown label":
        path = tmp_path / "dog.json"
        path.write_bytes(_coco([NAMES[0]], category="dog"))
        _import_fails(task, COCO, path, "dog")
    elif case == "unknown frame":
        path = tmp_path / "frames.json"
        path.write_bytes(_coco(["not_in_task.png"]))
        _import_fails(task, COCO, path, "not_in_task")
    else:
        archive = tmp_path / "whole.zip"
        task.export_dataset(COCO, archive, include_images=True)
        path = tmp_path / "truncated.zip"
        data = archive.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        _import_fails(task, COCO, path, "truncated.zip")
    assert _raw_annotations(http, task.id) == before


def test_import_unknown_label_cvat(
    client: Client, http: httpx.Client, images: list[Path], tmp_path: Path
) -> None:
    _need(http, CVAT_EXPORT, CVAT_IMPORT)
    other = create_task(client, images, name="other labels", labels=[{"name": "dog"}])
    ids = {label.name: label.id for label in other.get_labels()}
    other.set_annotations({"shapes": [
        {"type": "rectangle", "frame": 0, "label_id": ids["dog"], "points": [1, 1, 5, 5]},
    ]})  # fmt: skip
    archive = tmp_path / "dog.zip"
    other.export_dataset(CVAT_EXPORT, archive, include_images=False)
    task = _fresh_task(client, images, "cvat unknown label")
    _annotate(task)
    before = _raw_annotations(http, task.id)
    _import_fails(task, CVAT_IMPORT, archive, "dog")
    assert _raw_annotations(http, task.id) == before


def test_append_mode_and_job_import(
    client: Client, http: httpx.Client, images: list[Path], tmp_path: Path
) -> None:
    _need(http, COCO, COCO)
    task = _fresh_task(client, images, "append")
    _annotate(task, polygons=False)
    count = len(task.get_annotations().shapes)
    path = tmp_path / "one.json"
    path.write_bytes(_coco([NAMES[0]]))
    url = f"/api/tasks/{task.id}/annotations/"
    with path.open("rb") as f:
        started = http.post(
            url, params={"format": COCO, "import_mode": "append"},
            files={"annotation_file": ("one.json", f, "application/json")},
        )  # fmt: skip
    assert started.status_code == 202, started.text
    assert _wait(http, started.json()["rq_id"])["status"] == "finished"
    assert len(task.get_annotations().shapes) == count + 1
    # Through a job: its own frames only.
    job = sorted(task.get_jobs(), key=lambda j: j.start_frame)[0]
    job.import_annotations(COCO, path)
    shapes = task.get_annotations().shapes
    assert [(s.frame, s.type.value) for s in shapes] == [(0, "rectangle")]
