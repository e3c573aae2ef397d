"""Flow 5: annotations through the real cvat-sdk 2.80.0 against ``labelbay serve``.

Tasks and jobs: ``set_annotations`` (PUT), ``get_annotations``, ``update_annotations`` (PATCH
create/update/delete), ``remove_annotations`` with and without ids; ``TaskDataset`` reading the
annotations per frame. Round trips are compared exactly, server ids aside (spec 6.2).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from cvat_sdk import Client, models
from cvat_sdk.core.proxies.annotations import AnnotationUpdateAction
from cvat_sdk.core.proxies.jobs import Job
from cvat_sdk.core.proxies.tasks import Task
from cvat_sdk.datasets import TaskDataset
from cvat_sdk.exceptions import ApiException

from .helpers import as_datetime, create_task, jobs_in_order, noise_images

CREATE, UPDATE, DELETE = (
    AnnotationUpdateAction.CREATE,
    AnnotationUpdateAction.UPDATE,
    AnnotationUpdateAction.DELETE,
)
FRAMES = 10
SEGMENT = 5  # two jobs: frames 0-4 and 5-9
KINDS = ("tags", "shapes", "tracks")

SKELETON_SVG = (
    '<line x1="30" y1="30" x2="60" y2="60" data-type="edge" data-node-from="1" '
    'data-node-to="2"></line>'
    '<circle r="1.5" cx="30" cy="30" data-type="element node" data-element-id="1" '
    'data-node-id="1" data-label-name="head"></circle>'
    '<circle r="1.5" cx="60" cy="60" data-type="element node" data-element-id="2" '
    'data-node-id="2" data-label-name="hand"></circle>'
)
LABELS: list[dict[str, Any]] = [
    {"name": "car", "attributes": [
        {"name": "parked", "mutable": True, "input_type": "checkbox", "values": ["false"]},
        {"name": "kind", "mutable": False, "input_type": "radio", "values": ["sedan", "truck"]},
        {"name": "speed", "mutable": True, "input_type": "number", "values": ["0", "200", "5"]},
        {"name": "plate", "mutable": False, "input_type": "text", "values": ["unknown"]},
        {"name": "paint", "mutable": True, "input_type": "select",
         "values": ["red", "blue", "green"]},
    ]},
    {"name": "person", "attributes": [
        {"name": "age", "mutable": False, "input_type": "number", "values": ["0", "120", "1"]},
    ]},
    {"name": "pose", "type": "skeleton", "svg": SKELETON_SVG, "sublabels": [
        {"name": "head", "type": "points"},
        {"name": "hand", "type": "points", "attributes": [
            {"name": "side", "mutable": False, "input_type": "select",
             "values": ["left", "right"]},
        ]},
    ]},
]  # fmt: skip

# Numbers whose shortest decimal form is long or tiny: they must come back bit for bit.
AWKWARD = [0.1, 1 / 3, 1e-7, 12345.678901234]


# Fixtures --------------------------------------------------------------------------------------


@dataclass
class Annotated:
    """A task of ``FRAMES`` frames with ``LABELS``; names are dotted (``pose.hand.side``)."""

    task: Task
    jobs: list[Job]
    labels: dict[str, int]
    specs: dict[str, int]


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("annotated")
    return noise_images(folder, [f"f{i:02}.png" for i in range(FRAMES)], size=(8, 6), seed=5)


@pytest.fixture
def cache(client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache directory of this test's own for the dataset adapter."""
    monkeypatch.setattr(client.config, "cache_dir", tmp_path / "cache")
    return tmp_path / "cache"


@pytest.fixture
def world(client: Client, frames: list[Path]) -> Annotated:
    task = create_task(client, frames, name="annotations", labels=LABELS, segment_size=SEGMENT)
    labels: dict[str, int] = {}
    specs: dict[str, int] = {}
    for label in task.get_labels():
        entries = [(label.name, label)] + [(f"{label.name}.{s.name}", s) for s in label.sublabels]
        for name, entry in entries:
            labels[name] = entry.id
            specs.update({f"{name}.{a.name}": a.id for a in entry.attributes})
    jobs = jobs_in_order(task)
    assert [(j.start_frame, j.stop_frame) for j in jobs] == [(0, 4), (5, 9)]
    return Annotated(task, jobs, labels, specs)


# Payloads: plain dicts, turned into the SDK's request models -----------------------------------


def _attributes(obj: dict[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    if "attributes" in obj:
        out["attributes"] = [models.AttributeValRequest(**a) for a in obj["attributes"]]
    return out


def _shape(obj: dict[str, Any], model: type[Any] = models.LabeledShapeRequest) -> Any:
    fields = _attributes(obj) | {"type": models.ShapeType(obj["type"])}
    if "elements" in obj:
        fields["elements"] = [_shape(e, models.SubLabeledShapeRequest) for e in obj["elements"]]
    return model(**fields)


def _track(obj: dict[str, Any], model: type[Any] = models.LabeledTrackRequest) -> Any:
    fields = _attributes(obj)
    fields["shapes"] = [
        models.TrackedShapeRequest(**_attributes(k) | {"type": models.ShapeType(k["type"])})
        for k in obj["shapes"]
    ]
    if "elements" in obj:
        fields["elements"] = [_track(e, models.SubLabeledTrackRequest) for e in obj["elements"]]
    return model(**fields)


def _parts(data: dict[str, Any]) -> dict[str, list[Any]]:
    parts = {
        "tags": [models.LabeledImageRequest(**_attributes(t)) for t in data.get("tags", [])],
        "shapes": [_shape(s) for s in data.get("shapes", [])],
        "tracks": [_track(t) for t in data.get("tracks", [])],
    }
    return {kind: objects for kind, objects in parts.items() if kind in data}


def put_body(data: dict[str, Any]) -> models.LabeledDataRequest:
    return models.LabeledDataRequest(**_parts(data))


def patch_body(data: dict[str, Any]) -> models.PatchedLabeledDataRequest:
    return models.PatchedLabeledDataRequest(**_parts(data))


# What the server must answer: the request with every default filled in ------------------------


def _common(obj: dict[str, Any]) -> dict[str, Any]:
    return {"group": 0, "source": "manual", "attributes": [], **obj}


def _full_shape(obj: dict[str, Any], *, element: bool = False) -> dict[str, Any]:
    geometry = {"occluded": False, "outside": False, "z_order": 0, "rotation": 0.0}
    out = _common({**geometry, **obj})
    out["points"] = [float(p) for p in obj.get("points", [])]
    if not element:
        out["elements"] = [_full_shape(e, element=True) for e in obj.get("elements", [])]
    return out


def _full_keyframe(obj: dict[str, Any]) -> dict[str, Any]:
    geometry = {"occluded": False, "outside": False, "z_order": 0, "rotation": 0.0}
    return {**geometry, "attributes": [], **obj, "points": [float(p) for p in obj["points"]]}


def _full_track(obj: dict[str, Any], *, element: bool = False) -> dict[str, Any]:
    out = _common(obj)
    out["shapes"] = [_full_keyframe(k) for k in obj["shapes"]]
    if not element:
        out["elements"] = [_full_track(e, element=True) for e in obj.get("elements", [])]
    return out


def expected(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {
        "tags": [_common(t) for t in data.get("tags", [])],
        "shapes": [_full_shape(s) for s in data.get("shapes", [])],
        "tracks": [_full_track(t) for t in data.get("tracks", [])],
    }


def without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_ids(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


def read(source: Task | Job) -> dict[str, list[dict[str, Any]]]:
    """``get_annotations()`` as plain dicts: tags, shapes and tracks."""
    data = source.get_annotations().to_dict()
    return {kind: data[kind] for kind in KINDS}


def top_ids(data: dict[str, list[dict[str, Any]]]) -> dict[str, list[int]]:
    return {kind: [obj["id"] for obj in data[kind]] for kind in KINDS}


def every_kind(w: Annotated) -> dict[str, Any]:
    """Every shape type, tracks with several keyframes and a skeleton track, tags, attributes of
    every input type, and every optional field set to something other than its default."""
    car, person, pose = w.labels["car"], w.labels["person"], w.labels["pose"]
    head, hand = w.labels["pose.head"], w.labels["pose.hand"]
    s = w.specs
    car_values = [
        {"spec_id": s["car.parked"], "value": "true"},
        {"spec_id": s["car.kind"], "value": "sedan"},
        {"spec_id": s["car.speed"], "value": "42"},
        {"spec_id": s["car.plate"], "value": 'AB-123 ü "x"'},
        {"spec_id": s["car.paint"], "value": "green"},
    ]
    return {
        "tags": [
            {"frame": 0, "label_id": car, "group": 4, "source": "file", "attributes": car_values},
            {"frame": 9, "label_id": person, "source": "consensus",
             "attributes": [{"spec_id": s["person.age"], "value": "7"}]},
        ],
        "shapes": [
            {"type": "rectangle", "frame": 0, "label_id": car, "points": AWKWARD,
             "rotation": 30.5, "z_order": 3, "group": 1, "source": "auto", "score": 0.875,
             "occluded": True, "attributes": car_values},
            {"type": "polygon", "frame": 1, "label_id": person,
             "points": [1 / 3, 2 / 3, 10.0, 0.1, 5.5, 7.25, 3.0, 9.0], "z_order": -2,
             "source": "semi-auto", "score": 0.0},
            {"type": "polyline", "frame": 2, "label_id": car, "points": [0.0, 0.0, 7.5, 1e-7],
             "outside": True, "attributes": [{"spec_id": s["car.paint"], "value": "red"}]},
            {"type": "points", "frame": 3, "label_id": person, "points": [1.5, 2.5, 3.5, 4.5],
             "group": 2, "score": 1.0},
            {"type": "ellipse", "frame": 4, "label_id": car, "points": [50.0, 40.0, 60.5, 30.25],
             "rotation": 359.5},
            {"type": "cuboid", "frame": 5, "label_id": car,
             "points": [i + 0.125 for i in range(16)], "z_order": 1},
            {"type": "mask", "frame": 6, "label_id": person,
             "points": [2.0, 4.0, 3.0, 1.0, 2.0, 3.0, 4.0]},  # 9 pixels of a 3x3 box
            {"type": "skeleton", "frame": 7, "label_id": pose, "points": [], "group": 3,
             "z_order": 2, "elements": [
                {"type": "points", "frame": 7, "label_id": head, "points": [1 / 3, 2.0],
                 "outside": True},
                {"type": "points", "frame": 7, "label_id": hand, "points": [3.0, 4.0],
                 "occluded": True, "source": "auto",
                 "attributes": [{"spec_id": s["pose.hand.side"], "value": "right"}]},
            ]},
        ],
        "tracks": [
            {"frame": 0, "label_id": car, "group": 5, "source": "semi-auto",
             "attributes": [{"spec_id": s["car.kind"], "value": "truck"},
                            {"spec_id": s["car.plate"], "value": "XY 9"}],
             "shapes": [
                {"type": "rectangle", "frame": 0, "points": [1.0, 2.0, 3.0, 4.0],
                 "attributes": [{"spec_id": s["car.parked"], "value": "false"},
                                {"spec_id": s["car.speed"], "value": "10"}]},
                {"type": "rectangle", "frame": 2, "points": [2.0, 3.0, 4.0, 1e-7],
                 "occluded": True, "z_order": 4, "rotation": 90.0,
                 "attributes": [{"spec_id": s["car.speed"], "value": "12"}]},
                {"type": "rectangle", "frame": 4, "points": [2.0, 3.0, 4.0, 5.0],
                 "outside": True, "z_order": -1},
             ]},
            {"frame": 5, "label_id": pose, "shapes": [
                {"type": "skeleton", "frame": 5, "points": []},
                {"type": "skeleton", "frame": 8, "points": [], "outside": True, "z_order": 2},
             ], "elements": [
                {"frame": 5, "label_id": head, "shapes": [
                    {"type": "points", "frame": 5, "points": [1.0, 1.0]},
                    {"type": "points", "frame": 6, "points": [1.1, 1.2], "occluded": True},
                    {"type": "points", "frame": 8, "points": [2.0, 2.0], "outside": True},
                ]},
                {"frame": 5, "label_id": hand, "source": "auto",
                 "attributes": [{"spec_id": s["pose.hand.side"], "value": "left"}],
                 "shapes": [{"type": "points", "frame": 5, "points": AWKWARD[:2]}]},
             ]},
        ],
    }  # fmt: skip


def api_error(call: Callable[[], object]) -> dict[str, Any]:
    """The JSON body of the ``ApiException`` the call must raise, which must be a 400."""
    with pytest.raises(ApiException) as caught:
        call()
    assert caught.value.status == 400, caught.value.body
    body = json.loads(caught.value.body)
    assert isinstance(body, dict)
    return body


def updated(source: Task | Job) -> datetime:
    """The ``updated_date`` the server reports now."""
    return as_datetime(source.fetch().updated_date)


# Round trips -----------------------------------------------------------------------------------


def test_set_then_get_round_trips_every_kind_exactly(world: Annotated) -> None:
    sent = every_kind(world)

    world.task.set_annotations(put_body(sent))
    got = read(world.task)

    assert without_ids(got) == expected(sent)
    assert got["shapes"][0]["points"] == AWKWARD
    assert [repr(p) for p in got["shapes"][0]["points"]] == [repr(p) for p in AWKWARD]
    assert [s.get("score") for s in got["shapes"]] == [0.875, 0.0, None, 1.0] + [None] * 4
    ids = [o["id"] for kind in KINDS for o in got[kind]]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids)
    keyframe_ids = [k["id"] for t in got["tracks"] for k in t["shapes"]]
    keyframe_ids += [k["id"] for t in got["tracks"] for e in t["elements"] for k in e["shapes"]]
    assert all(isinstance(i, int) for i in keyframe_ids)
    # A second read gives the same objects with the same ids.
    assert read(world.task) == got


def test_omitted_values_come_back_as_defaults(world: Annotated) -> None:
    car, pose, head = world.labels["car"], world.labels["pose"], world.labels["pose.head"]
    sent = {
        "tags": [{"frame": 1, "label_id": car}],
        "shapes": [
            {"type": "rectangle", "frame": 2, "label_id": car, "points": [1, 2, 3, 4]},
            {"type": "skeleton", "frame": 3, "label_id": pose, "elements": [
                {"type": "points", "frame": 3, "label_id": head, "points": [5, 6]}]},
        ],
        "tracks": [{"frame": 0, "label_id": car, "shapes": [
            {"type": "rectangle", "frame": 0, "points": [0, 0, 1, 1]}]}],
    }  # fmt: skip

    world.task.set_annotations(put_body(sent))
    got = read(world.task)

    assert without_ids(got) == {
        "tags": [{"frame": 1, "label_id": car, "group": 0, "source": "manual", "attributes": []}],
        "shapes": [
            {"type": "rectangle", "frame": 2, "label_id": car, "points": [1.0, 2.0, 3.0, 4.0],
             "group": 0, "source": "manual", "attributes": [], "occluded": False,
             "outside": False, "z_order": 0, "rotation": 0.0, "elements": []},
            {"type": "skeleton", "frame": 3, "label_id": pose, "points": [], "group": 0,
             "source": "manual", "attributes": [], "occluded": False, "outside": False,
             "z_order": 0, "rotation": 0.0, "elements": [
                {"type": "points", "frame": 3, "label_id": head, "points": [5.0, 6.0],
                 "group": 0, "source": "manual", "attributes": [], "occluded": False,
                 "outside": False, "z_order": 0, "rotation": 0.0}]},
        ],
        "tracks": [{"frame": 0, "label_id": car, "group": 0, "source": "manual",
                    "attributes": [], "elements": [], "shapes": [
            {"type": "rectangle", "frame": 0, "points": [0.0, 0.0, 1.0, 1.0], "occluded": False,
             "outside": False, "z_order": 0, "rotation": 0.0, "attributes": []}]}],
    }  # fmt: skip
    assert all("score" not in s for s in got["shapes"])
    # What the SDK's response models make of it: typed values, the enum for the type.
    shape = world.task.get_annotations().shapes[0]
    assert (shape.type.value, shape.group, shape.source, shape.rotation) == (
        "rectangle", 0, "manual", 0.0
    )  # fmt: skip


def test_set_replaces_everything_and_ignores_ids(world: Annotated) -> None:
    first = every_kind(world)
    world.task.set_annotations(put_body(first))
    old = read(world.task)
    second = {"shapes": [{"type": "points", "frame": 2, "label_id": world.labels["car"],
                          "points": [1, 1], "id": old["shapes"][0]["id"]}]}  # fmt: skip

    world.task.set_annotations(put_body(second))
    got = read(world.task)

    assert without_ids(got) == without_ids(expected(second))
    old_ids = {o["id"] for kind in KINDS for o in old[kind]}
    assert got["shapes"][0]["id"] not in old_ids


# PATCH -----------------------------------------------------------------------------------------


def test_update_create_adds_objects_with_new_ids(world: Annotated) -> None:
    sent = every_kind(world)
    world.task.set_annotations(put_body({"tags": sent["tags"]}))
    before = read(world.task)

    world.task.update_annotations(
        patch_body({"shapes": sent["shapes"], "tracks": sent["tracks"]}), action=CREATE
    )
    got = read(world.task)

    assert without_ids(got) == expected(sent)
    assert got["tags"] == before["tags"]
    ids = [o["id"] for kind in KINDS for o in got[kind]]
    assert len(set(ids)) == len(ids)


def test_update_replaces_objects_wholesale_and_keeps_every_id(world: Annotated) -> None:
    sent = every_kind(world)
    world.task.set_annotations(put_body(sent))
    before = read(world.task)
    rectangle, car_track = before["shapes"][0], before["tracks"][0]
    car = world.labels["car"]
    # Left-out fields go back to their defaults: the object is replaced, not merged.
    new_rectangle = {
        "id": rectangle["id"],
        "type": "polygon",
        "frame": 2,
        "label_id": car,
        "points": [1 / 3, 0.1, 5.0, 5.0, 0.0, 9.0],
        "attributes": [{"spec_id": world.specs["car.paint"], "value": "blue"}],
    }
    new_track = {
        "id": car_track["id"],
        "frame": 1,
        "label_id": car,
        "shapes": [
            {"type": "rectangle", "frame": 1, "points": [9.0, 9.0, 10.0, 10.0], "z_order": 7},
            {"type": "rectangle", "frame": 3, "points": [9.5, 9.5, 10.0, 10.0], "outside": True},
        ],
    }
    new_tag = before["tags"][1] | {"frame": 8, "source": "manual"}  # echoed response object

    world.task.update_annotations(
        patch_body({"tags": [new_tag], "shapes": [new_rectangle], "tracks": [new_track]}),
        action=UPDATE,
    )
    got = read(world.task)

    assert top_ids(got) == top_ids(before)
    assert without_ids(got["shapes"][0]) == without_ids(_full_shape(new_rectangle))
    assert got["shapes"][0]["id"] == rectangle["id"] and "score" not in got["shapes"][0]
    assert got["shapes"][1:] == before["shapes"][1:]
    assert without_ids(got["tracks"][0]) == without_ids(_full_track(new_track))
    assert got["tracks"][1] == before["tracks"][1]
    assert got["tags"] == [before["tags"][0], new_tag]


def test_update_of_an_unknown_id_is_a_400_naming_it(world: Annotated) -> None:
    world.task.set_annotations(put_body({"tags": [{"frame": 0, "label_id": world.labels["car"]}]}))
    tag = read(world.task)["tags"][0]

    body = api_error(
        lambda: world.task.update_annotations(
            patch_body({"tags": [tag | {"id": tag["id"] + 100000}]}), action=UPDATE
        )
    )

    assert body["field"] == "tags[0].id"
    assert body["detail"].startswith("tags[0].id: ")


def test_update_delete_removes_the_objects_sent(world: Annotated) -> None:
    world.task.set_annotations(put_body(every_kind(world)))
    before = read(world.task)
    gone = {"shapes": [before["shapes"][7]], "tracks": [before["tracks"][1]]}

    world.task.update_annotations(patch_body(gone), action=DELETE)
    got = read(world.task)

    assert got["tags"] == before["tags"]
    assert got["shapes"] == before["shapes"][:7]
    assert got["tracks"] == before["tracks"][:1]


def test_remove_annotations_by_ids_removes_only_those(world: Annotated) -> None:
    world.task.set_annotations(put_body(every_kind(world)))
    before = read(world.task)
    doomed = [
        before["tags"][0]["id"],
        before["shapes"][0]["id"],
        before["shapes"][7]["id"],  # a skeleton with its elements
        before["tracks"][1]["id"],  # a skeleton track with its element tracks
    ]

    world.task.remove_annotations(ids=doomed)
    got = read(world.task)

    assert got == {
        "tags": before["tags"][1:],
        "shapes": before["shapes"][1:7],
        "tracks": before["tracks"][:1],
    }


def test_remove_annotations_empties_the_task(world: Annotated) -> None:
    world.task.set_annotations(put_body(every_kind(world)))

    world.task.remove_annotations()

    assert read(world.task) == {"tags": [], "shapes": [], "tracks": []}
    assert all(read(job) == {"tags": [], "shapes": [], "tracks": []} for job in world.jobs)


# Jobs ------------------------------------------------------------------------------------------


def _spread(w: Annotated) -> dict[str, Any]:
    """Objects on both jobs' frames; each track stays inside one job."""
    car, person = w.labels["car"], w.labels["person"]

    def box(frame: int) -> dict[str, Any]:
        return {"type": "rectangle", "frame": frame, "label_id": car, "points": [0, 0, frame, 1]}

    def track(frame: int) -> dict[str, Any]:
        return {"frame": frame, "label_id": person, "shapes": [
            {"type": "points", "frame": frame, "points": [1, 1]},
            {"type": "points", "frame": frame + 3, "points": [2, 2], "outside": True}]}  # fmt: skip

    return {
        "tags": [{"frame": 3, "label_id": car}, {"frame": 7, "label_id": person}],
        "shapes": [box(1), box(6), box(8), box(4)],
        "tracks": [track(0), track(5)],
    }


def _frames(data: dict[str, list[dict[str, Any]]]) -> dict[str, list[int]]:
    return {kind: [o["frame"] for o in data[kind]] for kind in KINDS}


def test_job_get_sees_only_its_frames(world: Annotated) -> None:
    world.task.set_annotations(put_body(_spread(world)))
    everything = read(world.task)

    first, second = (read(job) for job in world.jobs)

    assert _frames(first) == {"tags": [3], "shapes": [1, 4], "tracks": [0]}
    assert _frames(second) == {"tags": [7], "shapes": [6, 8], "tracks": [5]}
    by_id = {o["id"]: o for kind in KINDS for o in everything[kind]}
    assert all(by_id[o["id"]] == o for part in (first, second) for k in KINDS for o in part[k])


def test_job_set_replaces_only_the_jobs_frames(world: Annotated) -> None:
    world.task.set_annotations(put_body(_spread(world)))
    first_before = read(world.jobs[0])
    replacement = {"shapes": [{"type": "ellipse", "frame": 9, "label_id": world.labels["car"],
                               "points": [5, 5, 7, 3], "rotation": 1 / 3}]}  # fmt: skip

    world.jobs[1].set_annotations(put_body(replacement))

    assert read(world.jobs[0]) == first_before  # untouched, ids included
    assert without_ids(read(world.jobs[1])) == expected(replacement)
    got = read(world.task)
    assert _frames(got) == {"tags": [3], "shapes": [1, 4, 9], "tracks": [0]}


def test_job_patch_and_remove_stay_inside_the_job(world: Annotated) -> None:
    car = world.labels["car"]
    world.task.set_annotations(put_body(_spread(world)))
    first_before = read(world.jobs[0])
    job = world.jobs[1]

    job.update_annotations(
        patch_body({"shapes": [{"type": "points", "frame": 9, "label_id": car, "points": [3, 3]}]}),
        action=CREATE,
    )
    added = next(s for s in read(job)["shapes"] if s["frame"] == 9)
    job.update_annotations(
        patch_body({"shapes": [added | {"points": [4.0, 4.5], "z_order": 2}]}), action=UPDATE
    )
    changed = next(s for s in read(job)["shapes"] if s["id"] == added["id"])
    assert changed == added | {"points": [4.0, 4.5], "z_order": 2}

    job.remove_annotations(ids=[added["id"]])
    assert _frames(read(job)) == {"tags": [7], "shapes": [6, 8], "tracks": [5]}

    job.remove_annotations()
    assert read(job) == {"tags": [], "shapes": [], "tracks": []}
    assert read(world.jobs[0]) == first_before
    assert read(world.task) == first_before


def test_job_writes_outside_the_jobs_frames_are_400(world: Annotated) -> None:
    car = world.labels["car"]
    world.task.set_annotations(put_body(_spread(world)))
    before = read(world.task)
    job = world.jobs[1]  # frames 5-9
    foreign = before["shapes"][0]  # frame 1, the first job's

    put = api_error(lambda: job.set_annotations(put_body({"tags": [
        {"frame": 6, "label_id": car}, {"frame": 2, "label_id": car}]})))  # fmt: skip
    assert put["field"] == "tags[1].frame"
    assert "outside the job" in put["detail"]
    create = api_error(lambda: job.update_annotations(
        patch_body({"shapes": [foreign | {"frame": 4}]}), action=CREATE))  # fmt: skip
    assert create["field"] == "shapes[0].frame"
    update = api_error(lambda: job.update_annotations(
        patch_body({"shapes": [foreign | {"frame": 6}]}), action=UPDATE))  # fmt: skip
    assert update["field"] == "shapes[0].id"

    job.update_annotations(patch_body({"shapes": [foreign]}), action=DELETE)  # not its object
    assert read(world.task) == before


# Errors ----------------------------------------------------------------------------------------


def test_invalid_payloads_are_400_with_the_field_path(world: Annotated) -> None:
    car, person = world.labels["car"], world.labels["person"]
    world.task.set_annotations(put_body({"tags": [{"frame": 0, "label_id": car}]}))
    before, date = read(world.task), updated(world.task)

    def box(**extra: Any) -> dict[str, Any]:
        return {"type": "rectangle", "frame": 1, "label_id": car, "points": [0, 0, 1, 1], **extra}

    cases: list[tuple[dict[str, Any], str]] = [
        ({"shapes": [box(), box(label_id=999999)]}, "shapes[1].label_id"),
        ({"tags": [{"frame": 0, "label_id": car, "attributes": [
            {"spec_id": world.specs["person.age"], "value": "3"}]}]},
         "tags[0].attributes[0].spec_id"),
        ({"shapes": [box(frame=FRAMES)]}, "shapes[0].frame"),
        ({"tracks": [{"frame": 0, "label_id": person, "shapes": [
            {"type": "points", "frame": 0, "points": [1, 1]},
            {"type": "points", "frame": 12, "points": [1, 1]}]}]},
         "tracks[0].shapes[1].frame"),
        ({"shapes": [{"type": "skeleton", "frame": 0, "label_id": world.labels["pose"],
                      "elements": [{"type": "points", "frame": 0, "label_id": car,
                                    "points": [1, 1]}]}]},
         "shapes[0].elements[0].label_id"),
        ({"shapes": [box(points=[0, 0, 1])]}, "shapes[0].points"),
    ]  # fmt: skip
    for payload, field in cases:
        body = api_error(partial(world.task.set_annotations, put_body(payload)))
        assert body["field"] == field, body
        assert body["detail"].startswith(f"{field}: "), body
        created = api_error(
            partial(world.task.update_annotations, patch_body(payload), action=CREATE)
        )
        assert created["field"] == field, created

    assert read(world.task) == before
    assert updated(world.task) == date


# Dates and the dataset adapter -----------------------------------------------------------------


def test_every_mutation_advances_updated_date(world: Annotated) -> None:
    car = world.labels["car"]
    tag = {"frame": 6, "label_id": car}
    task, job = world.task, world.jobs[1]

    def newest_tag() -> dict[str, Any]:
        return read(task)["tags"][-1]

    mutations: list[tuple[str, Callable[[], object]]] = [
        ("task set", lambda: task.set_annotations(put_body(every_kind(world)))),
        ("task create", lambda: task.update_annotations(
            patch_body({"tags": [tag]}), action=CREATE)),
        ("task update", lambda: task.update_annotations(
            patch_body({"tags": [newest_tag() | {"frame": 7}]}), action=UPDATE)),
        ("task delete", lambda: task.update_annotations(
            patch_body({"tags": [newest_tag()]}), action=DELETE)),
        ("task remove ids", lambda: task.remove_annotations(ids=[read(task)["shapes"][0]["id"]])),
        ("job set", lambda: job.set_annotations(put_body({"tags": [tag]}))),
        ("job create", lambda: job.update_annotations(patch_body({"tags": [tag]}), action=CREATE)),
        ("job update", lambda: job.update_annotations(
            patch_body({"tags": [newest_tag() | {"frame": 8}]}), action=UPDATE)),
        ("job remove ids", lambda: job.remove_annotations(ids=[newest_tag()["id"]])),
        ("job remove", lambda: job.remove_annotations()),
        ("task remove", lambda: task.remove_annotations()),
    ]  # fmt: skip
    last_task, last_job = updated(task), updated(job)
    for name, mutate in mutations:
        mutate()
        now = updated(task)
        assert now > last_task, name
        last_task = now
        if name.startswith("job"):
            job_now = updated(job)
            assert job_now > last_job, name
            last_job = job_now


def test_task_dataset_reads_annotations_per_frame_and_sees_changes(
    world: Annotated, client: Client, cache: Path
) -> None:
    sent = every_kind(world)
    world.task.set_annotations(put_body(sent))
    saved = read(world.task)

    dataset = TaskDataset(client, world.task.id)

    assert [s.frame_index for s in dataset.samples] == list(range(FRAMES))
    for sample in dataset.samples:
        annotations = sample.annotations
        assert annotations is not None
        for kind in ("tags", "shapes"):
            on_frame = [o for o in saved[kind] if o["frame"] == sample.frame_index]
            assert [o.to_dict() for o in getattr(annotations, kind)] == on_frame, kind
    assert (cache / "servers").is_dir()

    # The adapter's cache is keyed on updated_date: a change must reach a new dataset.
    added = {"type": "points", "frame": 2, "label_id": world.labels["car"], "points": AWKWARD}
    world.task.update_annotations(patch_body({"shapes": [added]}), action=CREATE)
    world.task.remove_annotations(ids=[saved["tags"][0]["id"]])

    fresh = TaskDataset(client, world.task.id)

    frame_0, frame_2 = fresh.samples[0].annotations, fresh.samples[2].annotations
    assert frame_0 is not None and frame_2 is not None
    assert frame_0.tags == []
    assert [without_ids(s.to_dict()) for s in frame_2.shapes] == [
        without_ids(saved["shapes"][2]),
        _full_shape(added),
    ]
