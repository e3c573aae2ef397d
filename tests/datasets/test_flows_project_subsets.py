"""Subsets through a project's export and a project dataset import (spec 8.4), end to end with
the real server and cvat-sdk.

A project export gives each task's frames under its task's subset; importing the archive into
a new project (``create_from_dataset``) makes one task per subset, called
``<file stem>_<subset>`` with ``subset`` set, its frames that subset's images, its annotations
that subset's; each new task gets its frames and chunks pre-generated like an uploaded one. A
failure in any subset leaves no task and no stored media behind.
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from cvat_sdk import Client
from cvat_sdk.core.proxies.tasks import Task

from conftest import Server
from delivery.helpers import prepare_request, wait_prepared
from e2e.helpers import create_task, noise_images
from labelbay.datasets.actors import split_subsets
from labelbay.datasets.model import ImportedDataset, Shape
from labelbay.errors import Invalid

LABELS: list[dict[str, Any]] = [{"name": "car"}, {"name": "person"}]
# Three tasks by id: train, val, train again. The export must still give all of "train"
# together (tasks ordered by subset, then id).
PARTS = [
    ("train", ["a_0.png", "a_1.png"]),
    ("val", ["b_0.png", "b_1.png", "b_2.png"]),
    ("train", ["c_0.png"]),
]


def _need(http: httpx.Client, exporter: str, importer: str) -> None:
    body = http.get("/api/server/annotation/formats").json()
    assert exporter in {f["name"] for f in body["exporters"]}, f"{exporter!r} is not listed"
    assert importer in {f["name"] for f in body["importers"]}, f"{importer!r} is not listed"


def _wait(http: httpx.Client, rq_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        body: dict[str, Any] = http.get(f"/api/requests/{rq_id}").json()
        if body["status"] in ("finished", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def _by_name(task: Task) -> list[tuple[str, str, str, tuple[float, ...]]]:
    """The task's shapes keyed by frame *name*: (frame name, label, type, points)."""
    names = [frame.name for frame in task.get_meta().frames]
    labels = {label.id: label.name for label in task.get_labels()}
    return sorted(
        (names[s.frame], labels[s.label_id], s.type.value, tuple(round(p, 1) for p in s.points))
        for s in task.get_annotations().shapes
    )


def _source_project(client: Client, tmp_path: Path, name: str) -> tuple[int, dict[str, list]]:
    """A project of three tasks (train, val, train); returns its id and, by subset, the frame
    names and the shapes (by frame name) an import must give back."""
    project = client.projects.create({"name": name, "labels": LABELS})
    ids = {label.name: label.id for label in project.get_labels()}
    boxes = {
        "a_1.png": ("car", [1.0, 2.0, 20.0, 15.0]),
        "b_0.png": ("person", [3.0, 3.0, 10.0, 10.0]),
        "b_2.png": ("car", [4.0, 5.0, 30.0, 25.0]),
        "c_0.png": ("person", [5.0, 6.0, 30.0, 20.0]),
    }
    expected: dict[str, list] = {"train": [[], []], "val": [[], []]}
    for i, (subset, names) in enumerate(PARTS):
        images = noise_images(tmp_path / f"part{i}", names, size=(48, 32), seed=i)
        task = create_task(client, images, name=f"{name} {i}", project_id=project.id, subset=subset)
        shapes = []
        for frame, file_name in enumerate(names):
            expected[subset][0].append(file_name)
            if file_name in boxes:
                label, points = boxes[file_name]
                shapes.append(
                    {"type": "rectangle", "frame": frame, "label_id": ids[label], "points": points}
                )
                expected[subset][1].append((file_name, label, "rectangle", tuple(points)))
        task.set_annotations({"shapes": shapes})
    for subset in expected:
        expected[subset][0].sort()
        expected[subset][1].sort()
    return project.id, expected


@pytest.mark.parametrize(
    ("fmt", "importer"),
    [
        ("COCO 1.0", "COCO 1.0"),
        ("Datumaro 1.0", "Datumaro 1.0"),
        ("CVAT for images 1.1", "CVAT 1.1"),
    ],
)
def test_project_subsets_export_and_import_as_one_task_each(
    client: Client, http: httpx.Client, tmp_path: Path, fmt: str, importer: str
) -> None:
    _need(http, fmt, importer)
    source_id, expected = _source_project(client, tmp_path, f"subsets {fmt}")
    archive = tmp_path / "p_subsets.zip"
    client.projects.retrieve(source_id).export_dataset(fmt, archive, include_images=True)
    with zipfile.ZipFile(archive) as z:
        pictures = sorted(Path(m).name for m in z.namelist() if m.endswith(".png"))
    assert pictures == sorted(expected["train"][0] + expected["val"][0])

    project = client.projects.create_from_dataset(
        {"name": f"from subsets {fmt}", "labels": LABELS},
        dataset_path=str(archive), dataset_format=importer,
    )  # fmt: skip
    tasks = sorted(project.get_tasks(), key=lambda t: t.id)
    assert sorted((t.subset, t.name) for t in tasks) == [
        ("train", "p_subsets_train"),
        ("val", "p_subsets_val"),
    ]
    for listed in tasks:
        task = client.tasks.retrieve(listed.id)
        names, shapes = expected[task.subset]
        assert sorted(f.name for f in task.get_meta().frames) == names, task.subset
        assert _by_name(task) == shapes, task.subset

    # The request's result is the first new task; every task gets its chunks pre-generated.
    listed_rq = http.get(
        "/api/requests", params={"action": "import", "project_id": project.id}
    ).json()["results"]
    assert len(listed_rq) == 1, listed_rq
    assert listed_rq[0]["status"] == "finished"
    assert listed_rq[0]["result_id"] == tasks[0].id
    for listed in tasks:
        assert prepare_request(http, listed.id)["operation"]["task_id"] == listed.id
        final, _progress = wait_prepared(http, listed.id)
        assert final["status"] == "finished", final


def test_a_track_ends_with_its_task_in_a_project_export(client: Client, tmp_path: Path) -> None:
    """Tasks 0 and 2 are both "train": in the export task 2's frame follows task 0's last
    frame, and a track of task 0 that is still visible there must not spill onto it."""
    project = client.projects.create({"name": "track ends", "labels": LABELS})
    car = next(label.id for label in project.get_labels() if label.name == "car")
    for i, (subset, names) in enumerate(PARTS):
        images = noise_images(tmp_path / f"part{i}", names, size=(48, 32), seed=i)
        task = create_task(client, images, name=f"track {i}", project_id=project.id, subset=subset)
        if i == 0:
            keyframe = {"type": "rectangle", "frame": 0, "points": [1.0, 1.0, 9.0, 9.0]}
            task.set_annotations({"tracks": [
                {"frame": 0, "label_id": car, "shapes": [keyframe]},
            ]})  # fmt: skip
    archive = tmp_path / "track_ends.zip"
    client.projects.retrieve(project.id).export_dataset("COCO 1.0", archive, include_images=False)
    with zipfile.ZipFile(archive) as z:
        train = json.loads(z.read("annotations/instances_train.json"))
    names = {image["id"]: image["file_name"] for image in train["images"]}
    boxed = sorted(names[a["image_id"]] for a in train["annotations"])
    assert boxed == ["a_0.png", "a_1.png"]


@pytest.mark.parametrize(
    ("fmt", "importer"), [("COCO 1.0", "COCO 1.0"), ("CVAT for images 1.1", "CVAT 1.1")]
)
def test_same_frame_names_in_two_tasks_of_a_subset_both_survive(
    client: Client, tmp_path: Path, fmt: str, importer: str
) -> None:
    """Two tasks of one subset whose frames have the same names: the export keeps both (the
    later task's under ``task_<id>/``) and an import gives every frame its own boxes back."""
    project = client.projects.create({"name": f"twins {fmt}", "labels": LABELS})
    car = next(label.id for label in project.get_labels() if label.name == "car")
    made = []
    for i in range(2):
        images = noise_images(tmp_path / f"twin{i}", ["x.png", "y.png"], size=(48, 32), seed=i)
        task = create_task(client, images, name=f"twin {i}", project_id=project.id)
        box = {"type": "rectangle", "frame": 1, "label_id": car, "points": [i, i, 20.0, 20.0]}
        task.set_annotations({"shapes": [box]})
        made.append(task)
    archive = tmp_path / "twins.zip"
    client.projects.retrieve(project.id).export_dataset(fmt, archive, include_images=True)
    with zipfile.ZipFile(archive) as z:
        pictures = sorted(m for m in z.namelist() if m.endswith(".png"))
        originals = {m: z.read(m) for m in pictures}
    later = f"task_{made[1].id}/"
    assert len(pictures) == 4, pictures
    assert sum(later in m for m in pictures) == 2, pictures
    assert len(set(originals.values())) == 4  # four different images, none overwritten

    copy = client.projects.create_from_dataset(
        {"name": f"twins back {fmt}", "labels": LABELS},
        dataset_path=str(archive), dataset_format=importer,
    )  # fmt: skip
    (listed,) = copy.get_tasks()
    task = client.tasks.retrieve(listed.id)
    assert sorted(f.name for f in task.get_meta().frames) == sorted(
        ["x.png", "y.png", f"{later}x.png", f"{later}y.png"]
    )
    assert _by_name(task) == sorted([
        ("y.png", "car", "rectangle", (0.0, 0.0, 20.0, 20.0)),
        (f"{later}y.png", "car", "rectangle", (1.0, 1.0, 20.0, 20.0)),
    ])  # fmt: skip


def _coco(images: list[str], categories: list[str], boxes: list[tuple[int, str]]) -> bytes:
    """A COCO file: images by name, and one box per (image index, category name)."""
    cats = {name: i + 1 for i, name in enumerate(categories)}
    return json.dumps({
        "licenses": [], "info": {},
        "categories": [{"id": i, "name": n, "supercategory": ""} for n, i in cats.items()],
        "images": [{"id": i + 1, "file_name": name, "width": 48, "height": 32}
                   for i, name in enumerate(images)],
        "annotations": [{"id": k + 1, "image_id": image + 1, "category_id": cats[category],
                         "segmentation": [], "area": 20.0, "bbox": [1, 1, 4, 5], "iscrowd": 0,
                         "attributes": {}}
                        for k, (image, category) in enumerate(boxes)],
    }).encode()  # fmt: skip


Subsets = dict[str, tuple[list[str], list[str], list[tuple[int, str]]]]
"""subset -> (image names, category names, boxes as (image index, category name))."""


def _cvat_xml(subsets: Subsets) -> bytes:
    """CVAT for images: ``<image name subset>`` elements with one box per listed box."""
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations><version>1.1</version>"]
    number = 0
    for subset, (names, _categories, boxes) in subsets.items():
        for i, name in enumerate(names):
            lines.append(f'<image id="{number}" name="{name}" subset="{subset}" width="48" '
                         'height="32">')  # fmt: skip
            lines.extend(
                f'<box label="{label}" occluded="0" xtl="1" ytl="1" xbr="5" ybr="6"/>'
                for image, label in boxes
                if image == i
            )
            lines.append("</image>")
            number += 1
    lines.append("</annotations>")
    return "\n".join(lines).encode()


def _archive(fmt: str, path: Path, tmp_path: Path, subsets: Subsets) -> Path:
    """A zip of ``fmt`` (COCO: ``annotations/instances_<subset>.json``; CVAT:
    ``annotations.xml``) with the images under ``images/<subset>/``."""
    with zipfile.ZipFile(path, "w") as out:
        if fmt == "CVAT 1.1":
            out.writestr("annotations.xml", _cvat_xml(subsets))
        for subset, (names, categories, boxes) in subsets.items():
            if fmt == "COCO 1.0":
                data = _coco(names, categories, boxes)
                out.writestr(f"annotations/instances_{subset}.json", data)
            for image in noise_images(tmp_path / f"img_{subset}", names, size=(48, 32)):
                out.write(image, f"images/{subset}/{image.name}")
    return path


ARCHIVES = ["COCO 1.0", "CVAT 1.1"]


@pytest.mark.parametrize("fmt", ARCHIVES)
def test_same_file_name_in_two_subsets(client: Client, tmp_path: Path, fmt: str) -> None:
    """``0.png`` in both subsets: each task gets its own image and its own box."""
    archive = _archive(
        fmt,
        tmp_path / "twins.zip",
        tmp_path,
        {
            "train": (["0.png", "1.png"], ["car"], [(0, "car")]),
            "val": (["0.png"], ["car", "person"], [(0, "person")]),
        },
    )
    project = client.projects.create_from_dataset(
        {"name": f"twins {fmt}", "labels": LABELS}, dataset_path=str(archive), dataset_format=fmt
    )
    tasks = {t.subset: client.tasks.retrieve(t.id) for t in project.get_tasks()}
    assert sorted(tasks) == ["train", "val"]
    assert [f.name for f in tasks["train"].get_meta().frames] == ["0.png", "1.png"]
    assert [f.name for f in tasks["val"].get_meta().frames] == ["0.png"]
    assert [s[:3] for s in _by_name(tasks["train"])] == [("0.png", "car", "rectangle")]
    assert [s[:3] for s in _by_name(tasks["val"])] == [("0.png", "person", "rectangle")]


@pytest.mark.parametrize("fmt", ARCHIVES)
def test_failure_in_second_subset_leaves_nothing(
    server: Server, client: Client, http: httpx.Client, tmp_path: Path, fmt: str
) -> None:
    """The "train" task is made first; "val" has a label the project lacks: the import fails
    naming it, and neither task nor any stored frame stays."""
    archive = _archive(
        fmt,
        tmp_path / "half_bad.zip",
        tmp_path,
        {
            "train": (["t_0.png", "t_1.png"], ["car"], [(1, "car")]),
            "val": (["v_0.png"], ["dog"], [(0, "dog")]),
        },
    )
    project = client.projects.create({"name": f"half bad {fmt}", "labels": LABELS})
    media = server.data_dir / "media" / "data"
    media.mkdir(parents=True, exist_ok=True)
    stored = set(media.iterdir())
    tasks_before = http.get("/api/tasks", params={"page_size": 1000}).json()["count"]
    with pytest.raises(Exception) as caught:
        project.import_dataset(fmt, archive)
    message = str(caught.value)
    assert "dog" in message and "val" in message, message
    assert project.get_tasks() == []
    assert http.get("/api/tasks", params={"page_size": 1000}).json()["count"] == tasks_before
    assert set(media.iterdir()) == stored
    leftovers = server.data_dir / "uploads" / "project-import"
    assert not leftovers.exists() or not any(leftovers.iterdir())
    # The request says why.
    failed = http.get(
        "/api/requests", params={"action": "import", "project_id": project.id}
    ).json()["results"]
    assert [r["status"] for r in failed] == ["failed"]
    assert "dog" in failed[0]["message"]


# How an archive's images are shared out among subsets (no server needed) ---------------------


def _members(*names: str) -> list[zipfile.ZipInfo]:
    return [zipfile.ZipInfo(name) for name in names]


def _split(data: ImportedDataset, *names: str) -> dict[str, list[str]]:
    parts = split_subsets(data, _members(*names), "d.zip")
    return {part.subset: [info.filename for info in part.images] for part in parts}


def test_images_follow_their_frames_then_their_folders() -> None:
    data = ImportedDataset(
        shapes=[
            Shape("rectangle", 0, "car", [0, 0, 1, 1]),
            Shape("rectangle", 2, "car", [0, 0, 1, 1]),
        ],
        frame_names={0: "a", 1: "sub/b.png", 2: "c.jpg"},
        frame_subsets={0: "val", 1: "val", 2: "train"},
    )
    got = _split(
        data,
        "images/train/a.png",  # named by frame 0 (by stem): val, whatever its folder says
        "images/x/sub/b.png",  # named by frame 1 (a tail of its path): val
        "c.jpg",
        "obj_train_data/d.png",  # named by no frame: YOLO's folder of "train"
        "images/val/e.png",  # named by no frame: the folder of "val"
        "elsewhere/f.png",  # neither: "default"
        "SegmentationClass/a.png",  # a mask, not a frame
    )
    assert got == {
        "val": ["images/train/a.png", "images/x/sub/b.png", "images/val/e.png"],
        "train": ["c.jpg", "obj_train_data/d.png"],
        "default": ["elsewhere/f.png"],
    }


def test_a_name_in_two_subsets_needs_a_subset_folder() -> None:
    data = ImportedDataset(frame_names={0: "0.png", 1: "0.png"}, frame_subsets={0: "a", 1: "b"})
    assert _split(data, "images/b/0.png", "images/a/0.png") == {
        "a": ["images/a/0.png"],
        "b": ["images/b/0.png"],
    }
    with pytest.raises(Invalid, match="subsets a, b"):
        _split(data, "0.png")


def test_annotations_without_images_and_clashing_names_are_refused() -> None:
    data = ImportedDataset(
        shapes=[Shape("rectangle", 1, "car", [0, 0, 1, 1])],
        frame_names={0: "x.png", 1: "y.png"},
        frame_subsets={0: "a", 1: "b"},
    )
    with pytest.raises(Invalid, match="subset 'b' has annotations"):
        _split(data, "images/a/x.png")
    with pytest.raises(Invalid, match=r"both called 'x\.png'"):
        _split(data, "images/a/x.png", "more/a/x.png", "images/b/y.png")
    with pytest.raises(Invalid, match="no images"):
        _split(ImportedDataset())


def test_frame_names_are_the_tails_frames_name_and_never_leave_the_folder() -> None:
    data = ImportedDataset(
        frame_names={0: "x.png", 1: "task_7/x.png", 2: "../up.png", 3: "c:/d.png"},
        frame_subsets={0: "default", 1: "default", 2: "default", 3: "default"},
    )
    members = ("images/default/x.png", "images/default/task_7/x.png", "../up.png", "c:/d.png")
    (part,) = split_subsets(data, _members(*members), "d.zip")
    assert part.names == {
        "images/default/x.png": "x.png",
        "images/default/task_7/x.png": "task_7/x.png",
        "../up.png": "up.png",  # a frame may say "..": the file still lands inside the area
        "c:/d.png": "d.png",
    }
