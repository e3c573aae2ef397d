"""The annotation service against a real, migrated database (SQLite, or PostgreSQL when
``LABELBAY_TEST_DATABASE_URL`` is set)."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
from annotations_world import World, build_world, database_engine, rolled_back_session
from pydantic import ValidationError
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from labelbay.annotations import service
from labelbay.annotations.errors import AnnotationInvalid, AnnotationNotFound, UnknownAction
from labelbay.annotations.models import Annotation, TrackedShape
from labelbay.annotations.schemas import LabeledDataWrite
from labelbay.errors import Invalid
from labelbay.labels.schemas import LabelWrite
from labelbay.labels.service import label_index
from labelbay.tasks.schemas import TaskCreate
from labelbay.tasks.service import create_task


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    yield from database_engine(tmp_path_factory, "annotations_service")


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    yield from rolled_back_session(engine)


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


def data(**objects: Any) -> LabeledDataWrite:
    return LabeledDataWrite.model_validate(objects)


def without_ids(value: Any) -> Any:
    """The value with every ``id`` key removed (responses carry server ids)."""
    if isinstance(value, dict):
        return {k: without_ids(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


def rect(w: World, frame: int, x: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {
        "type": "rectangle",
        "frame": frame,
        "label_id": w.labels["car"],
        "points": [x, 2.0, x + 10, 20.0],
        **extra,
    }


def full(obj: dict[str, Any], **defaults: Any) -> dict[str, Any]:
    """A request object with every field the response has, so that they compare equal."""
    return {"group": 0, "source": "manual", "attributes": [], **defaults, **obj}


def full_shape(obj: dict[str, Any], *, element: bool = False) -> dict[str, Any]:
    out = full(obj, occluded=False, outside=False, z_order=0, rotation=0.0)
    if not element:
        out["elements"] = [full_shape(e, element=True) for e in out.get("elements", [])]
    return out


def full_track(obj: dict[str, Any], *, element: bool = False) -> dict[str, Any]:
    out = full(obj)
    out["shapes"] = [
        {"occluded": False, "outside": False, "z_order": 0, "rotation": 0.0, "attributes": [], **s}
        for s in out["shapes"]
    ]
    if not element:
        out["elements"] = [full_track(e, element=True) for e in out.get("elements", [])]
    return out


def every_kind(w: World) -> dict[str, Any]:
    """One object of every kind, every field set to a value other than its default."""
    car, body = w.labels["car"], w.labels["body"]
    head, hand = w.labels["body.head"], w.labels["body.hand"]
    color, parked = w.specs["car.color"], w.specs["car.parked"]
    visible = w.specs["body.hand.visible"]

    def shape(kind: str, points: list[float], **extra: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "frame": 3,
            "label_id": car,
            "points": points,
            "group": 2,
            "source": "auto",
            "occluded": True,
            "outside": False,
            "z_order": -3,
            "rotation": 12.5,
            "attributes": [{"spec_id": color, "value": "blue"}],
            "elements": [],
            **extra,
        }

    return {
        "tags": [
            {
                "frame": 0,
                "label_id": car,
                "group": 1,
                "source": "file",
                "attributes": [{"spec_id": parked, "value": "true"}],
            },
        ],
        "shapes": [
            shape("rectangle", [0.1, 0.2, 10.000000000000002, 1e-7], score=0.75),
            shape("ellipse", [50.0, 50.0, 60.5, 40.25]),
            shape("polygon", [1.0, 1.0, 5.0, 1.0, 3.0, 4.0]),
            shape("polyline", [1.0, 1.0, 123456.78901234567, 2.0]),
            shape("points", [7.0, 8.0]),
            shape("cuboid", [float(i) + 0.5 for i in range(16)]),
            shape("mask", [3.0, 5.0, 2.0, 10.0, 20.0, 12.0, 21.0]),
            {
                "type": "skeleton",
                "frame": 4,
                "label_id": body,
                "points": [],
                "group": 0,
                "source": "manual",
                "occluded": False,
                "outside": False,
                "z_order": 1,
                "rotation": 0.0,
                "attributes": [],
                "elements": [
                    {
                        "type": "points",
                        "frame": 4,
                        "label_id": head,
                        "points": [5.0, 6.0],
                        "group": 0,
                        "source": "manual",
                        "occluded": False,
                        "outside": True,
                        "z_order": 1,
                        "rotation": 0.0,
                        "attributes": [],
                    },
                    {
                        "type": "points",
                        "frame": 4,
                        "label_id": hand,
                        "points": [7.0, 9.5],
                        "group": 0,
                        "source": "manual",
                        "occluded": True,
                        "outside": False,
                        "z_order": 1,
                        "rotation": 0.0,
                        "attributes": [{"spec_id": visible, "value": "false"}],
                    },
                ],
            },
        ],
        "tracks": [
            {
                "frame": 1,
                "label_id": car,
                "group": 3,
                "source": "semi-auto",
                "attributes": [{"spec_id": color, "value": "red"}],
                "shapes": [
                    {
                        "type": "rectangle",
                        "frame": 1,
                        "points": [1.0, 2.0, 3.0, 4.0],
                        "occluded": False,
                        "outside": False,
                        "z_order": 0,
                        "rotation": 0.0,
                        "attributes": [{"spec_id": parked, "value": "false"}],
                    },
                    {
                        "type": "rectangle",
                        "frame": 3,
                        "points": [2.0, 3.0, 4.0, 5.5],
                        "occluded": True,
                        "outside": True,
                        "z_order": 2,
                        "rotation": 90.0,
                        "attributes": [],
                    },
                ],
                "elements": [],
            },
            {
                "frame": 2,
                "label_id": body,
                "group": 0,
                "source": "manual",
                "attributes": [],
                "shapes": [
                    {
                        "type": "skeleton",
                        "frame": 2,
                        "points": [],
                        "occluded": False,
                        "outside": False,
                        "z_order": 0,
                        "rotation": 0.0,
                        "attributes": [],
                    },
                ],
                "elements": [
                    {
                        "frame": 2,
                        "label_id": head,
                        "group": 0,
                        "source": "manual",
                        "attributes": [],
                        "shapes": [
                            {
                                "type": "points",
                                "frame": 2,
                                "points": [1.0, 1.0],
                                "occluded": False,
                                "outside": False,
                                "z_order": 0,
                                "rotation": 0.0,
                                "attributes": [],
                            },
                            {
                                "type": "points",
                                "frame": 4,
                                "points": [2.0, 2.0],
                                "occluded": False,
                                "outside": True,
                                "z_order": 0,
                                "rotation": 0.0,
                                "attributes": [],
                            },
                        ],
                    },
                    {
                        "frame": 2,
                        "label_id": hand,
                        "group": 0,
                        "source": "manual",
                        "attributes": [{"spec_id": visible, "value": "true"}],
                        "shapes": [
                            {
                                "type": "points",
                                "frame": 2,
                                "points": [3.0, 3.0],
                                "occluded": True,
                                "outside": False,
                                "z_order": 0,
                                "rotation": 0.0,
                                "attributes": [{"spec_id": visible, "value": "true"}],
                            },
                        ],
                    },
                ],
            },
        ],
    }


# Round trips ---------------------------------------------------------------------------------


def test_put_then_get_round_trips_every_kind_exactly(session: Session, world: World) -> None:
    sent = every_kind(world)
    saved = service.replace_annotations(session, world.task, data(**copy.deepcopy(sent)))
    got = service.get_annotations(session, world.task)

    assert got == saved
    assert without_ids(got) == {"version": 1, "intervals": [], **sent}
    assert got["shapes"][0]["score"] == 0.75
    assert "score" not in got["shapes"][1]
    assert all("elements" not in e for e in got["shapes"][7]["elements"])
    assert all("elements" not in e for e in got["tracks"][1]["elements"])
    ids = [o["id"] for kind in ("tags", "shapes", "tracks") for o in got[kind]]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids)
    assert [s["id"] for s in got["shapes"]] == sorted(s["id"] for s in got["shapes"])
    keyframe_ids = [s["id"] for t in got["tracks"] for s in t["shapes"]]
    assert all(isinstance(i, int) for i in keyframe_ids)


def test_omitted_fields_come_back_as_defaults(session: Session, world: World) -> None:
    car = world.labels["car"]
    sent: dict[str, Any] = {
        "tags": [{"frame": 0, "label_id": car}],
        "shapes": [{"type": "points", "frame": 1, "label_id": car, "points": [1, 2]}],
        "tracks": [
            {
                "frame": 2,
                "label_id": car,
                "shapes": [{"type": "points", "frame": 2, "points": [3, 4]}],
            }
        ],
    }
    service.replace_annotations(session, world.task, data(**sent))
    got = without_ids(service.get_annotations(session, world.task))

    assert got["tags"] == [full({"frame": 0, "label_id": car})]
    assert got["shapes"] == [
        full_shape({"type": "points", "frame": 1, "label_id": car, "points": [1.0, 2.0]})
    ]
    assert got["tracks"] == [
        full_track(
            sent["tracks"][0] | {"shapes": [{"type": "points", "frame": 2, "points": [3.0, 4.0]}]}
        )
    ]
    assert isinstance(got["shapes"][0]["points"][0], float)


def test_empty_task_reads_as_empty_labeled_data(session: Session, world: World) -> None:
    assert service.get_annotations(session, world.task) == {
        "version": 0,
        "tags": [],
        "shapes": [],
        "tracks": [],
        "intervals": [],
    }


def test_put_replaces_everything_and_ignores_ids(session: Session, world: World) -> None:
    first = service.replace_annotations(session, world.task, data(shapes=[rect(world, 1)]))
    old_id = first["shapes"][0]["id"]
    second = service.replace_annotations(
        session, world.task, data(shapes=[rect(world, 2, id=old_id), rect(world, 3)])
    )
    got = service.get_annotations(session, world.task)

    assert got == second
    assert [s["frame"] for s in got["shapes"]] == [2, 3]
    assert old_id not in [s["id"] for s in got["shapes"]]  # ids are never reused
    assert session.scalar(select(func.count()).select_from(Annotation)) == 2


def test_extra_keys_from_echoed_responses_are_ignored(session: Session, world: World) -> None:
    saved = service.replace_annotations(session, world.task, data(**every_kind(world)))
    echoed = copy.deepcopy(saved)
    echoed["shapes"][0]["something_new"] = {"nested": True}
    echoed["tracks"][0]["shapes"][0]["extra"] = 1
    again = service.replace_annotations(session, world.task, data(**echoed))

    assert without_ids(again) == without_ids(saved) | {"version": 2}


# PATCH -----------------------------------------------------------------------------------------


def test_patch_create_adds_objects_and_returns_them_with_ids(
    session: Session, world: World
) -> None:
    service.replace_annotations(session, world.task, data(shapes=[rect(world, 1)]))
    created = service.patch_annotations(
        session,
        world.task,
        data(
            shapes=[rect(world, 2, id=12345)], tags=[{"frame": 5, "label_id": world.labels["car"]}]
        ),
        action="create",
    )
    got = service.get_annotations(session, world.task)

    assert len(created["shapes"]) == 1 and len(created["tags"]) == 1
    assert created["shapes"][0]["id"] != 12345
    assert created["shapes"][0] in got["shapes"]
    assert created["tags"] == got["tags"]
    assert len(got["shapes"]) == 2
    assert created["version"] == got["version"] == 2


def test_patch_update_replaces_objects_wholesale_and_keeps_ids(
    session: Session, world: World
) -> None:
    saved = service.replace_annotations(session, world.task, data(**every_kind(world)))
    skeleton = copy.deepcopy(saved["shapes"][7])
    skeleton["elements"] = skeleton["elements"][:1]
    skeleton["elements"][0]["points"] = [50.0, 60.0]
    skeleton["z_order"] = 9
    track = copy.deepcopy(saved["tracks"][0])
    track["shapes"] = [track["shapes"][1] | {"frame": 8, "points": [9.0, 9.0, 10.0, 10.0]}]
    track["attributes"] = []
    tag = copy.deepcopy(saved["tags"][0]) | {"frame": 6, "source": "manual"}

    updated = service.update_annotations(
        session, world.task, data(shapes=[skeleton], tracks=[track], tags=[tag])
    )
    got = service.get_annotations(session, world.task)

    assert [s["id"] for s in updated["shapes"]] == [skeleton["id"]]
    assert without_ids(updated["shapes"][0]) == without_ids(skeleton)
    assert without_ids(updated["tracks"][0]) == without_ids(track)
    assert updated["tags"] == got["tags"] == [tag]
    by_id = {s["id"]: s for s in got["shapes"]}
    assert by_id[skeleton["id"]] == updated["shapes"][0]
    assert [t["id"] for t in got["tracks"]] == [t["id"] for t in saved["tracks"]]
    assert got["tracks"][0] == updated["tracks"][0]
    assert got["tracks"][1] == saved["tracks"][1]
    for untouched in saved["shapes"][:7]:
        assert by_id[untouched["id"]] == untouched
    # the replaced skeleton's old element and the track's old keyframes are gone
    assert session.scalar(select(func.count()).select_from(TrackedShape)) == 1 + 1 + 2 + 1
    assert session.scalar(select(func.count()).where(Annotation.parent_id == skeleton["id"])) == 1


def test_patch_update_of_unknown_id_names_it(session: Session, world: World) -> None:
    saved = service.replace_annotations(
        session,
        world.task,
        data(shapes=[rect(world, 1)], tags=[{"frame": 0, "label_id": world.labels["car"]}]),
    )
    shape_id, tag_id = saved["shapes"][0]["id"], saved["tags"][0]["id"]

    with pytest.raises(AnnotationNotFound, match=r"^shapes\[1\]\.id: there is no shape 999999"):
        service.update_annotations(
            session,
            world.task,
            data(shapes=[rect(world, 1, id=shape_id), rect(world, 1, id=999999)]),
        )
    with pytest.raises(AnnotationNotFound, match=rf"^shapes\[0\]\.id: there is no shape {tag_id}"):
        service.update_annotations(session, world.task, data(shapes=[rect(world, 1, id=tag_id)]))
    with pytest.raises(AnnotationInvalid, match=r"^shapes\[0\]\.id: an id is needed"):
        service.update_annotations(session, world.task, data(shapes=[rect(world, 1)]))
    with pytest.raises(AnnotationInvalid, match=r"^shapes\[1\]\.id: shape \d+ is listed twice"):
        service.update_annotations(
            session,
            world.task,
            data(shapes=[rect(world, 1, id=shape_id), rect(world, 2, id=shape_id)]),
        )
    # an object of another job is unknown to this job
    with pytest.raises(AnnotationNotFound, match=r"^shapes\[0\]\.id"):
        service.update_annotations(
            session, world.task, data(shapes=[rect(world, 6, id=shape_id)]), job=world.jobs[1]
        )


def test_patch_delete_removes_objects_and_returns_them(session: Session, world: World) -> None:
    saved = service.replace_annotations(session, world.task, data(**every_kind(world)))
    doomed = {
        "shapes": [saved["shapes"][7], saved["shapes"][0]],
        "tracks": [saved["tracks"][1]],
        "tags": [{"id": 999999, "frame": 0, "label_id": world.labels["car"]}],
    }
    deleted = service.patch_annotations(
        session, world.task, data(**copy.deepcopy(doomed)), action="delete"
    )
    got = service.get_annotations(session, world.task)

    assert deleted["shapes"] == [saved["shapes"][0], saved["shapes"][7]]
    assert deleted["tracks"] == [saved["tracks"][1]]
    assert deleted["tags"] == []
    assert got["shapes"] == saved["shapes"][1:7]
    assert got["tracks"] == saved["tracks"][:1]
    assert got["tags"] == saved["tags"]
    remaining_keyframes = len(saved["tracks"][0]["shapes"])
    assert session.scalar(select(func.count()).select_from(TrackedShape)) == remaining_keyframes
    assert session.scalar(select(func.count()).where(Annotation.parent_id.is_not(None))) == 0


def test_patch_delete_by_ids_as_the_sdk_sends_them(session: Session, world: World) -> None:
    saved = service.replace_annotations(
        session, world.task, data(shapes=[rect(world, f) for f in range(10)])
    )
    ids = {s["id"] for s in saved["shapes"][::2]}
    echoed = copy.deepcopy(
        {"tags": [], "tracks": [], "shapes": [s for s in saved["shapes"] if s["id"] in ids]}
    )
    service.patch_annotations(session, world.task, data(**echoed), action="delete")

    assert [s["frame"] for s in service.get_annotations(session, world.task)["shapes"]] == [
        1,
        3,
        5,
        7,
        9,
    ]


@pytest.mark.parametrize("action", [None, "", "remove", "CREATE"])
def test_patch_requires_a_known_action(session: Session, world: World, action: str | None) -> None:
    with pytest.raises(UnknownAction, match=r"^action: ") as caught:
        service.patch_annotations(session, world.task, data(), action=action)
    assert caught.value.status == 400


# Jobs ----------------------------------------------------------------------------------------


def test_job_put_replaces_only_the_jobs_frames(session: Session, world: World) -> None:
    car = world.labels["car"]
    service.replace_annotations(
        session,
        world.task,
        data(
            shapes=[rect(world, f) for f in (0, 4, 5, 9, 10, 19)],
            tags=[{"frame": 3, "label_id": car}, {"frame": 7, "label_id": car}],
            tracks=[
                {
                    "frame": 4,
                    "label_id": car,
                    "shapes": [rect(world, 4) | {"frame": 4}, rect(world, 6) | {"frame": 6}],
                },
                {"frame": 5, "label_id": car, "shapes": [rect(world, 5)]},
            ],
        ),
    )
    job = world.jobs[1]  # frames 5-9
    before = service.get_annotations(session, world.task)

    saved = service.replace_annotations(
        session, world.task, data(shapes=[rect(world, 8, x=100.0)]), job=job
    )
    got = service.get_annotations(session, world.task)

    assert [s["frame"] for s in got["shapes"]] == [0, 4, 10, 19, 8]
    assert [t["frame"] for t in got["tags"]] == [3]
    # the track starting on frame 4 belongs to job 0 although it reaches frame 6
    assert got["tracks"] == before["tracks"][:1]
    assert service.get_annotations(session, world.task, job=job) == saved
    assert (
        service.get_annotations(session, world.task, frame_range=(0, 4))["shapes"]
        == (before["shapes"][:2])
    )


def test_job_get_sees_objects_on_its_frames_and_tracks_starting_there(
    session: Session, world: World
) -> None:
    saved = service.replace_annotations(session, world.task, data(**every_kind(world)))
    first, second = world.jobs[0], world.jobs[1]

    assert service.get_annotations(session, world.task, job=first) == saved
    assert service.get_annotations(session, world.task, job=second) == {
        "version": saved["version"],
        "tags": [],
        "shapes": [],
        "tracks": [],
        "intervals": [],
    }


def test_job_writes_reject_frames_outside_the_job(session: Session, world: World) -> None:
    job = world.jobs[1]
    with pytest.raises(
        AnnotationInvalid, match=r"^shapes\[0\]\.frame: frame 4 is outside the job's frames 5-9"
    ):
        service.replace_annotations(session, world.task, data(shapes=[rect(world, 4)]), job=job)
    with pytest.raises(AnnotationInvalid, match=r"^tracks\[0\]\.frame: frame 10 "):
        service.create_annotations(
            session,
            world.task,
            data(
                tracks=[{"frame": 10, "label_id": world.labels["car"], "shapes": [rect(world, 10)]}]
            ),
            job=job,
        )


def test_delete_all_of_a_job_then_of_the_task(session: Session, world: World) -> None:
    service.replace_annotations(session, world.task, data(**every_kind(world)))
    service.create_annotations(session, world.task, data(shapes=[rect(world, 12)]))

    service.delete_all(session, world.task, job=world.jobs[2])
    assert len(service.get_annotations(session, world.task)["shapes"]) == 8
    service.delete_all(session, world.task, job=world.jobs[0])
    assert service.get_annotations(session, world.task)["shapes"] == []
    service.create_annotations(session, world.task, data(**every_kind(world)))
    service.delete_all(session, world.task)

    got = service.get_annotations(session, world.task)
    assert got["tags"] == got["shapes"] == got["tracks"] == []
    assert session.scalar(select(func.count()).select_from(Annotation)) == 0
    assert session.scalar(select(func.count()).select_from(TrackedShape)) == 0


def test_other_tasks_annotations_are_untouched(session: Session, world: World) -> None:
    other = build_world(session, username="someone-else")
    theirs = service.replace_annotations(session, other.task, data(**every_kind(other)))
    service.replace_annotations(session, world.task, data(**every_kind(world)))
    service.delete_all(session, world.task)
    service.delete_all(session, world.task, frame_range=(0, 19))

    assert service.get_annotations(session, other.task) == theirs
    with pytest.raises(AnnotationInvalid, match=r"^shapes\[0\]\.label_id: label \d+ is not a"):
        service.create_annotations(session, world.task, data(shapes=[rect(other, 1)]))


# Dates and versions --------------------------------------------------------------------------


def test_every_mutation_advances_dates_and_version(session: Session, world: World) -> None:
    task, job = world.task, world.jobs[0]
    task_dates, job_dates, versions = [task.updated_date], [job.updated_date], [0]

    def record() -> None:
        task_dates.append(task.updated_date)
        job_dates.append(job.updated_date)
        versions.append(task.annotations_version)

    saved = service.replace_annotations(session, task, data(shapes=[rect(world, 1)]))
    record()
    service.create_annotations(session, task, data(shapes=[rect(world, 2)]), job=job)
    record()
    shape = rect(world, 3, id=saved["shapes"][0]["id"])
    service.patch_annotations(session, task, data(shapes=[shape]), action="update")
    record()
    service.delete_annotations(session, task, data(), job=job)
    record()
    service.delete_all(session, task, job=job)
    record()
    service.delete_all(session, task)
    record()

    assert all(a < b for a, b in pairwise(task_dates))
    assert all(a < b for a, b in pairwise(job_dates))
    assert versions == [0, 1, 2, 3, 4, 5, 6]
    assert service.get_annotations(session, task)["version"] == 6


# Validation ----------------------------------------------------------------------------------


def invalid_payloads(w: World) -> list[tuple[dict[str, Any], str]]:
    car, person, body = w.labels["car"], w.labels["person"], w.labels["body"]
    head, hand = w.labels["body.head"], w.labels["body.hand"]
    color, visible, age = w.specs["car.color"], w.specs["body.hand.visible"], w.specs["person.age"]

    def shape(kind: str, points: list[float], **extra: Any) -> dict[str, Any]:
        return {
            "shapes": [
                rect(w, 1),
                {"type": kind, "frame": 1, "label_id": car, "points": points, **extra},
            ]
        }

    def skeleton(*elements: dict[str, Any]) -> dict[str, Any]:
        return {
            "shapes": [
                {
                    "type": "skeleton",
                    "frame": 1,
                    "label_id": body,
                    "points": [],
                    "elements": list(elements),
                }
            ]
        }

    def point(label_id: int, **extra: Any) -> dict[str, Any]:
        return {"type": "points", "frame": 1, "label_id": label_id, "points": [1, 1], **extra}

    def track(*shapes: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"tracks": [{"frame": 1, "label_id": car, "shapes": list(shapes), **extra}]}

    return [
        ({"shapes": [rect(w, 20)]}, "shapes[0].frame: frame 20 is outside the task's frames 0-19"),
        ({"tags": [{"frame": 25, "label_id": car}]}, "tags[0].frame: frame 25 is outside"),
        (
            {"shapes": [rect(w, 1) | {"label_id": 999999}]},
            "shapes[0].label_id: label 999999 is not a label of this task",
        ),
        (
            {
                "tags": [
                    {"frame": 1, "label_id": car, "attributes": [{"spec_id": age, "value": "1"}]}
                ]
            },
            f"tags[0].attributes[0].spec_id: attribute {age} is not an attribute of label {car}",
        ),
        (
            {
                "tags": [
                    {
                        "frame": 1,
                        "label_id": car,
                        "attributes": [
                            {"spec_id": color, "value": "red"},
                            {"spec_id": color, "value": "blue"},
                        ],
                    }
                ]
            },
            f"tags[0].attributes[1].spec_id: attribute {color} is repeated",
        ),
        (
            {
                "tags": [
                    {
                        "frame": 1,
                        "label_id": person,
                        "attributes": [{"spec_id": 999999, "value": "x"}],
                    }
                ]
            },
            "tags[0].attributes[0].spec_id",
        ),
        (shape("rectangle", [1, 2, 3]), "shapes[1].points: a rectangle needs 4 numbers"),
        (shape("ellipse", [1, 2, 3, 4, 5]), "shapes[1].points: a ellipse needs 4 numbers"),
        (shape("polygon", [1, 2, 3, 4]), "shapes[1].points: a polygon needs an even count"),
        (shape("polygon", [1, 2, 3, 4, 5, 6, 7]), "shapes[1].points: a polygon needs"),
        (shape("polyline", [1, 2]), "shapes[1].points: a polyline needs"),
        (shape("points", [1]), "shapes[1].points: a points needs"),
        (shape("points", []), "shapes[1].points: a points needs"),
        (shape("cuboid", [1.0] * 15), "shapes[1].points: a cuboid needs 16 numbers, not 15"),
        (shape("mask", [1, 2, 3, 4]), "shapes[1].points: a mask needs"),
        (shape("mask", [5, 10, 2, 3, 2]), "shapes[1].points: the mask's box"),
        (shape("skeleton", []), f"shapes[1].type: label {car} is not a skeleton label"),
        (
            shape("rectangle", [1, 2, 3, 4], elements=[point(head)]),
            "shapes[1].elements: only skeletons have elements",
        ),
        (
            {
                "shapes": [
                    {"type": "rectangle", "frame": 1, "label_id": body, "points": [1, 2, 3, 4]}
                ]
            },
            "shapes[0].type: label",
        ),
        ({"shapes": [point(head)]}, f"shapes[0].label_id: label {head} is a skeleton point"),
        (skeleton(), "shapes[0].elements: a skeleton needs at least one element"),
        (skeleton(point(car)), f"shapes[0].elements[0].label_id: label {car} is not a point"),
        (
            skeleton(point(head), point(head)),
            f"shapes[0].elements[1].label_id: label {head} appears twice",
        ),
        (skeleton(point(head), point(hand, frame=2)), "shapes[0].elements[1].frame"),
        (
            skeleton(point(head), point(hand, type="rectangle", points=[1, 2, 3, 4])),
            "shapes[0].elements[1].type: skeleton elements are points",
        ),
        (skeleton(point(hand, points=[1, 2, 3])), "shapes[0].elements[0].points"),
        (
            skeleton(point(hand, attributes=[{"spec_id": color, "value": "red"}])),
            f"shapes[0].elements[0].attributes[0].spec_id: attribute {color} is not an attribute"
            f" of label {hand}",
        ),
        (
            {
                "shapes": [
                    {
                        "type": "skeleton",
                        "frame": 1,
                        "label_id": body,
                        "points": [1, 2],
                        "elements": [point(head)],
                    }
                ]
            },
            "shapes[0].points: a skeleton needs no",
        ),
        (track(), "tracks[0].shapes: a track needs at least one shape"),
        (track(rect(w, 1), rect(w, 20)), "tracks[0].shapes[1].frame: frame 20 is outside"),
        (track(rect(w, 1), rect(w, 1)), "tracks[0].shapes[1].frame: the track has two shapes"),
        (
            track(rect(w, 1), {"type": "points", "frame": 2, "points": [1, 2]}),
            "tracks[0].shapes[1].type: a track keeps one type (rectangle), not points",
        ),
        (track(rect(w, 1) | {"points": [1, 2]}), "tracks[0].shapes[0].points: a rectangle"),
        (
            track(rect(w, 1) | {"attributes": [{"spec_id": visible, "value": "true"}]}),
            f"tracks[0].shapes[0].attributes[0].spec_id: attribute {visible}",
        ),
        (
            track(rect(w, 1), elements=[{"frame": 1, "label_id": head, "shapes": [point(head)]}]),
            "tracks[0].elements: only skeleton tracks have elements",
        ),
        (
            {
                "tracks": [
                    {
                        "frame": 1,
                        "label_id": body,
                        "shapes": [{"type": "skeleton", "frame": 1, "points": []}],
                    }
                ]
            },
            "tracks[0].elements: a skeleton track needs elements",
        ),
        (
            {
                "tracks": [
                    {
                        "frame": 1,
                        "label_id": body,
                        "shapes": [{"type": "skeleton", "frame": 1, "points": []}],
                        "elements": [
                            {
                                "frame": 1,
                                "label_id": hand,
                                "shapes": [{"type": "points", "frame": 30, "points": [1, 1]}],
                            }
                        ],
                    }
                ]
            },
            "tracks[0].elements[0].shapes[0].frame: frame 30 is outside",
        ),
        (
            {
                "tracks": [
                    {
                        "frame": 1,
                        "label_id": body,
                        "shapes": [{"type": "skeleton", "frame": 1, "points": []}],
                        "elements": [{"frame": 1, "label_id": hand, "shapes": []}],
                    }
                ]
            },
            "tracks[0].elements[0].shapes: a track needs at least one shape",
        ),
    ]


def test_every_validation_error_names_the_field(session: Session, world: World) -> None:
    for payload, message in invalid_payloads(world):
        with pytest.raises(Invalid) as caught:
            service.replace_annotations(session, world.task, data(**payload))
        assert caught.value.status == 400
        assert caught.value.message.startswith(message), (payload, caught.value.message)
        assert caught.value.detail["field"] == caught.value.message.split(":")[0]
    # nothing was written by the failed calls
    assert session.scalar(select(func.count()).select_from(Annotation)) == 0
    assert world.task.annotations_version == 0


def test_a_task_without_data_has_no_frames(session: Session, world: World) -> None:
    bare = create_task(
        session, TaskCreate(name="bare", labels=[LabelWrite(name="x")]), owner=world.user
    )
    label = label_index(session, project_id=None, task_id=bare.id)
    with pytest.raises(AnnotationInvalid, match=r"^tags\[0\]\.frame: the task has no frames"):
        service.create_annotations(
            session, bare, data(tags=[{"frame": 0, "label_id": next(iter(label))}])
        )
    assert service.get_annotations(session, bare)["tags"] == []


@pytest.mark.parametrize(
    ("payload", "location"),
    [
        ({"shapes": [{"type": "circle", "frame": 0, "label_id": 1}]}, ("shapes", 0, "type")),
        ({"shapes": [{"type": "points", "frame": -1, "label_id": 1}]}, ("shapes", 0, "frame")),
        (
            {
                "shapes": [
                    {"type": "points", "frame": 0, "label_id": 1, "points": [float("nan"), 1]}
                ]
            },
            ("shapes", 0, "points", 0),
        ),
        (
            {
                "shapes": [
                    {"type": "points", "frame": 0, "label_id": 1, "points": [1, float("inf")]}
                ]
            },
            ("shapes", 0, "points", 1),
        ),
        (
            {"shapes": [{"type": "points", "frame": 0, "label_id": 1, "rotation": 361}]},
            ("shapes", 0, "rotation"),
        ),
        (
            {"shapes": [{"type": "points", "frame": 0, "label_id": 1, "score": 1.5}]},
            ("shapes", 0, "score"),
        ),
        ({"tags": [{"frame": 0, "label_id": 1, "source": ""}]}, ("tags", 0, "source")),
        ({"tags": [{"frame": 0, "label_id": 1, "group": -1}]}, ("tags", 0, "group")),
        (
            {"tags": [{"frame": 0, "label_id": 1, "attributes": [{"spec_id": 1, "value": 5}]}]},
            ("tags", 0, "attributes", 0, "value"),
        ),
        (
            {
                "tags": [
                    {"frame": 0, "label_id": 1, "attributes": [{"spec_id": 1, "value": "x" * 4097}]}
                ]
            },
            ("tags", 0, "attributes", 0, "value"),
        ),
        ({"tracks": [{"frame": 0, "label_id": 1}]}, ("tracks", 0, "shapes")),
    ],
)
def test_request_models_reject_malformed_values(
    payload: dict[str, Any], location: tuple[object, ...]
) -> None:
    with pytest.raises(ValidationError) as caught:
        LabeledDataWrite.model_validate(payload)
    assert [tuple(e["loc"]) for e in caught.value.errors()] == [location]


def test_request_models_accept_integers_and_fill_defaults() -> None:
    parsed = LabeledDataWrite.model_validate(
        {
            "shapes": [
                {
                    "type": "rectangle",
                    "frame": 0,
                    "label_id": 1,
                    "points": [1, 2, 3.5, 4],
                    "rotation": 90,
                }
            ],
            "version": 3,
            "unknown": "ignored",
        }
    )
    shape = parsed.shapes[0]
    assert shape.points == [1.0, 2.0, 3.5, 4.0]
    assert (shape.group, shape.source, shape.occluded, shape.z_order) == (None, "manual", False, 0)
    assert (parsed.tags, parsed.tracks, parsed.intervals) == ([], [], [])


# Scale ---------------------------------------------------------------------------------------


def test_hundred_thousand_rectangles_put_and_get(
    session: Session, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    car, color = world.labels["car"], world.specs["car.color"]
    payload = {
        "shapes": [
            {
                "type": "rectangle",
                "frame": i % 20,
                "label_id": car,
                "points": [i, i + 0.5, i + 10, i + 20.25],
                "attributes": [{"spec_id": color, "value": "red"}],
            }
            for i in range(100_000)
        ]
    }

    started = time.perf_counter()
    parsed = data(**payload)
    parsed_at = time.perf_counter()
    saved = service.replace_annotations(session, world.task, parsed)
    saved_at = time.perf_counter()
    got = service.get_annotations(session, world.task)
    read_at = time.perf_counter()
    job = service.get_annotations(session, world.task, job=world.jobs[3])
    job_at = time.perf_counter()
    service.replace_annotations(session, world.task, data(), job=world.jobs[0])
    replaced_at = time.perf_counter()

    assert got == saved
    assert len(got["shapes"]) == 100_000 and len(job["shapes"]) == 25_000
    assert got["shapes"][99_999]["points"] == [99_999.0, 99_999.5, 100_009.0, 100_019.25]
    assert len(service.get_annotations(session, world.task)["shapes"]) == 75_000
    with capsys.disabled():
        print(  # a benchmark figure for the reader, not an assertion
            f"\n100k rectangles on {session.get_bind().dialect.name}: "
            f"validate {parsed_at - started:.2f}s, PUT {saved_at - parsed_at:.2f}s, "
            f"GET {read_at - saved_at:.2f}s, job GET {job_at - read_at:.2f}s, "
            f"job PUT (25k deleted) {replaced_at - job_at:.2f}s"
        )
