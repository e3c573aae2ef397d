"""The annotation endpoints over HTTP against the real ``labelbay serve``: status codes, both
slash variants, error bodies naming the field, PATCH actions, job frame ranges.

Every test gets a task of its own (20 tiny frames, jobs of 5 frames, labels with attributes and
a skeleton), created through the API with cvat-sdk; the endpoints are then driven with httpx.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cvat_sdk import Client

from conftest import Server
from e2e.helpers import create_task, noise_images, sdk_client

FRAMES = 20
SEGMENT = 5  # four jobs: 0-4, 5-9, 10-14, 15-19

SKELETON_SVG = (
    '<circle r="1.5" cx="30" cy="30" data-type="element node" data-element-id="1" '
    'data-node-id="1" data-label-name="head"></circle>'
    '<circle r="1.5" cx="60" cy="60" data-type="element node" data-element-id="2" '
    'data-node-id="2" data-label-name="hand"></circle>'
)
LABELS: list[dict[str, Any]] = [
    {"name": "car", "attributes": [
        {"name": "color", "mutable": False, "input_type": "select", "values": ["red", "blue"]},
        {"name": "parked", "mutable": True, "input_type": "checkbox", "values": ["false"]},
    ]},
    {"name": "person", "type": "rectangle", "attributes": [
        {"name": "age", "mutable": False, "input_type": "number", "values": ["0", "99", "1"]},
    ]},
    {"name": "body", "type": "skeleton", "svg": SKELETON_SVG, "sublabels": [
        {"name": "head", "type": "points"},
        {"name": "hand", "type": "points", "attributes": [
            {"name": "visible", "mutable": False, "input_type": "checkbox", "values": ["true"]},
        ]},
    ]},
]  # fmt: skip
EMPTY: dict[str, list[Any]] = {"tags": [], "shapes": [], "tracks": [], "intervals": []}


@dataclass
class LiveTask:
    id: int
    jobs: list[int]  # ordered by start frame
    labels: dict[str, int]  # "car", "person", "body", "body.head", "body.hand"
    specs: dict[str, int]  # "car.color", "car.parked", "person.age", "body.hand.visible"

    @property
    def url(self) -> str:
        return f"/api/tasks/{self.id}/annotations/"

    def job_url(self, index: int) -> str:
        return f"/api/jobs/{self.jobs[index]}/annotations/"


@pytest.fixture(scope="module")
def sdk(server: Server) -> Iterator[Client]:
    with sdk_client(server) as client:
        yield client


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("frames")
    return noise_images(folder, [f"frame_{i:02}.png" for i in range(FRAMES)], size=(8, 6))


def _names(labels: list[dict[str, Any]]) -> tuple[dict[str, int], dict[str, int]]:
    """Label and attribute ids by dotted name (``body.hand``, ``body.hand.visible``)."""
    ids: dict[str, int] = {}
    specs: dict[str, int] = {}
    for label in labels:
        for name, entry in [(label["name"], label)] + [
            (f"{label['name']}.{sub['name']}", sub) for sub in label.get("sublabels", [])
        ]:
            ids[name] = entry["id"]
            specs.update({f"{name}.{a['name']}": a["id"] for a in entry["attributes"]})
    return ids, specs


@pytest.fixture
def task(sdk: Client, http: httpx.Client, frames: list[Path]) -> LiveTask:
    created = create_task(sdk, frames, name="annotated", labels=LABELS, segment_size=SEGMENT)
    listed = http.get("/api/labels", params={"task_id": created.id, "page_size": 100})
    assert listed.status_code == 200, listed.text
    labels, specs = _names(listed.json()["results"])
    jobs = http.get("/api/jobs", params={"task_id": created.id, "page_size": 100})
    assert jobs.status_code == 200, jobs.text
    ordered = sorted(jobs.json()["results"], key=lambda job: job["start_frame"])
    assert [(j["start_frame"], j["stop_frame"]) for j in ordered] == [
        (start, start + SEGMENT - 1) for start in range(0, FRAMES, SEGMENT)
    ]
    return LiveTask(created.id, [j["id"] for j in ordered], labels, specs)


def box(task: LiveTask, frame: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "rectangle",
        "frame": frame,
        "label_id": task.labels["car"],
        "points": [1, 2, 30, 40.5],
        **extra,
    }


def frames_of(body: dict[str, Any], kind: str = "shapes") -> list[int]:
    return [obj["frame"] for obj in body[kind]]


def test_get_answers_on_both_slash_variants(http: httpx.Client, task: LiveTask) -> None:
    for path in (task.url, task.url.rstrip("/"), task.job_url(0), task.job_url(0).rstrip("/")):
        response = http.get(path)
        assert response.status_code == 200, path
        assert response.json() == {"version": 0, **EMPTY}, path


def test_every_verb_answers_on_both_slash_variants(http: httpx.Client, task: LiveTask) -> None:
    for url in (task.url, task.job_url(1)):
        for path in (url, url.rstrip("/")):
            frame = 6
            put = http.put(path, json={"shapes": [box(task, frame)]})
            assert put.status_code == 200, (path, put.text)
            created = http.patch(path, params={"action": "create"}, json={"tags": [
                {"frame": frame, "label_id": task.labels["car"]}]})  # fmt: skip
            assert created.status_code == 200, (path, created.text)
            assert frames_of(http.get(path).json(), "tags") == [frame]
            deleted = http.delete(path)
            assert deleted.status_code == 204, path
            assert http.get(path).json()["shapes"] == []


def test_put_saves_and_returns_labeled_data(http: httpx.Client, task: LiveTask) -> None:
    body = {"shapes": [box(task, 1)], "tags": [{"frame": 2, "label_id": task.labels["car"]}]}

    saved = http.put(task.url, json=body)
    got = http.get(task.url)

    assert saved.status_code == 200
    assert saved.headers["content-type"] == "application/json"
    assert got.json() == saved.json()
    shape = got.json()["shapes"][0]
    assert shape["points"] == [1.0, 2.0, 30.0, 40.5]
    assert shape["source"] == "manual" and shape["group"] == 0 and shape["elements"] == []
    assert got.json()["version"] == 1


def test_put_round_trips_attributes_skeletons_and_tracks(
    http: httpx.Client, task: LiveTask
) -> None:
    car, body, head, hand = (task.labels[n] for n in ("car", "body", "body.head", "body.hand"))
    sent = {
        "shapes": [
            box(task, 3, attributes=[{"spec_id": task.specs["car.color"], "value": "blue"}]),
            {"type": "skeleton", "frame": 4, "label_id": body, "points": [], "elements": [
                {"type": "points", "frame": 4, "label_id": head, "points": [1, 2]},
                {"type": "points", "frame": 4, "label_id": hand, "points": [3, 4], "attributes": [
                    {"spec_id": task.specs["body.hand.visible"], "value": "false"}]},
            ]},
        ],
        "tracks": [{"frame": 0, "label_id": car, "shapes": [
            {"type": "rectangle", "frame": 0, "points": [0, 0, 1, 1]},
            {"type": "rectangle", "frame": 2, "points": [1, 1, 2, 2], "outside": True},
        ]}],
    }  # fmt: skip

    assert http.put(task.url, json=sent).status_code == 200
    got = http.get(task.url).json()

    car_box, skeleton = got["shapes"]
    assert car_box["attributes"] == sent["shapes"][0]["attributes"]
    assert [(e["label_id"], e["points"]) for e in skeleton["elements"]] == [
        (head, [1.0, 2.0]), (hand, [3.0, 4.0])
    ]  # fmt: skip
    assert skeleton["elements"][1]["attributes"][0]["value"] == "false"
    [track] = got["tracks"]
    assert [(k["frame"], k["outside"]) for k in track["shapes"]] == [(0, False), (2, True)]
    assert all(isinstance(k["id"], int) for k in track["shapes"])


def test_patch_needs_an_action(http: httpx.Client, task: LiveTask) -> None:
    for url in (task.url, task.job_url(0)):
        for query in ("", "?action=", "?action=upsert"):
            response = http.patch(url + query, json={"shapes": []})
            assert response.status_code == 400, (url, query)
            assert response.json()["detail"].startswith("action: ")
            assert response.json()["code"] == "invalid_action"
            assert response.json()["field"] == "action"


def test_patch_create_update_delete(http: httpx.Client, task: LiveTask) -> None:
    created = http.patch(task.url, params={"action": "create"}, json={"shapes": [box(task, 1)]})
    assert created.status_code == 200
    shape = created.json()["shapes"][0]
    assert isinstance(shape["id"], int)

    moved = http.patch(
        task.url, params={"action": "update"}, json={"shapes": [shape | {"frame": 7}]}
    )
    assert moved.status_code == 200
    assert moved.json()["shapes"][0] == shape | {"frame": 7}
    assert http.get(task.url).json()["shapes"] == [shape | {"frame": 7}]

    unknown = http.patch(
        task.url, params={"action": "update"}, json={"shapes": [shape | {"id": 999999}]}
    )
    assert unknown.status_code == 400
    assert unknown.json()["detail"] == "shapes[0].id: there is no shape 999999 here"
    assert unknown.json()["field"] == "shapes[0].id"
    assert unknown.json()["code"] == "annotation_not_found"

    deleted = http.patch(task.url, params={"action": "delete"}, json=moved.json())
    assert deleted.status_code == 200
    assert deleted.json()["shapes"] == moved.json()["shapes"]
    assert http.get(task.url).json()["shapes"] == []


def test_rejected_writes_change_nothing(http: httpx.Client, task: LiveTask) -> None:
    saved = http.put(task.url, json={"shapes": [box(task, 1)]}).json()
    before = http.get(f"/api/tasks/{task.id}").json()["updated_date"]

    bad = http.put(task.url, json={"shapes": [box(task, 2), box(task, 99)]})

    assert bad.status_code == 400
    assert bad.json()["field"] == "shapes[1].frame"
    assert http.get(task.url).json() == saved
    assert http.get(f"/api/tasks/{task.id}").json()["updated_date"] == before


def test_delete_answers_204_and_empties_the_task(http: httpx.Client, task: LiveTask) -> None:
    http.put(task.url, json={"shapes": [box(task, 1)]})

    response = http.delete(task.url)

    assert response.status_code == 204
    assert response.content == b""
    assert http.get(task.url).json()["shapes"] == []


def test_job_endpoints_work_on_the_jobs_frames(http: httpx.Client, task: LiveTask) -> None:
    job_url = task.job_url(1).rstrip("/")  # frames 5-9
    http.put(task.url, json={"shapes": [box(task, f) for f in (1, 6, 11)]})

    assert frames_of(http.get(job_url).json()) == [6]
    assert http.put(job_url, json={"shapes": [box(task, 8)]}).status_code == 200
    assert frames_of(http.get(task.url).json()) == [1, 11, 8]

    outside = http.patch(job_url + "/?action=create", json={"shapes": [box(task, 12)]})
    assert outside.status_code == 400
    assert outside.json()["detail"].startswith("shapes[0].frame: frame 12 is outside the job")
    assert outside.json()["field"] == "shapes[0].frame"

    other_job = http.get(task.url).json()["shapes"][0]  # frame 1, job 0
    foreign = http.patch(job_url + "/?action=update", json={"shapes": [other_job | {"frame": 7}]})
    assert foreign.status_code == 400
    assert foreign.json()["field"] == "shapes[0].id"

    assert http.delete(job_url + "/").status_code == 204
    assert frames_of(http.get(task.url).json()) == [1, 11]


def test_unknown_task_or_job_is_404(http: httpx.Client) -> None:
    assert http.get("/api/tasks/999999/annotations/").status_code == 404
    assert http.put("/api/jobs/999999/annotations/", json={}).status_code == 404
    assert http.patch("/api/jobs/999999/annotations?action=create", json={}).status_code == 404
    assert http.delete("/api/tasks/999999/annotations").status_code == 404


def test_anonymous_requests_are_refused(server: Server, task: LiveTask) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        assert anonymous.get(task.url).status_code == 401
        assert anonymous.put(task.url, json={}).status_code == 401


def test_malformed_payloads_are_400_naming_the_field(http: httpx.Client, task: LiveTask) -> None:
    bad_type = http.put(task.url, json={"shapes": [box(task, 1, type="circle")]})
    assert bad_type.status_code == 400
    assert "shapes.0.type" in bad_type.json()["fields"]

    not_a_number = http.put(
        task.url,
        content=b'{"shapes": [{"type": "points", "frame": 1, "label_id": 1, "points": [NaN, 1]}]}',
        headers={"content-type": "application/json"},
    )
    assert not_a_number.status_code == 400

    unknown_label = http.put(task.url, json={"shapes": [box(task, 1, label_id=999999)]})
    assert unknown_label.status_code == 400
    assert unknown_label.json()["detail"].startswith("shapes[0].label_id: label 999999")
    assert unknown_label.json()["field"] == "shapes[0].label_id"

    foreign_attribute = http.put(task.url, json={"shapes": [box(task, 1, attributes=[
        {"spec_id": task.specs["person.age"], "value": "3"}])]})  # fmt: skip
    assert foreign_attribute.status_code == 400
    assert foreign_attribute.json()["field"] == "shapes[0].attributes[0].spec_id"

    short = http.put(task.url, json={"shapes": [box(task, 1, points=[1, 2, 3])]})
    assert short.status_code == 400
    assert short.json()["field"] == "shapes[0].points"

    number_value = http.put(task.url, json={"tags": [{"frame": 0, "label_id": task.labels["car"],
        "attributes": [{"spec_id": task.specs["car.color"], "value": 5}]}]})  # fmt: skip
    assert number_value.status_code == 400
    assert "tags.0.attributes.0.value" in number_value.json()["fields"]


def test_post_does_not_write_annotations(http: httpx.Client, task: LiveTask) -> None:
    response = http.post(task.url, json={"shapes": [box(task, 1)]})
    assert 400 <= response.status_code < 500
    assert http.get(task.url).json() == {"version": 0, **EMPTY}
