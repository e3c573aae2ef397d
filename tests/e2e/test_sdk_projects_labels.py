"""Flow 6: projects, labels with every attribute type, skeletons, and label changes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from cvat_sdk import Client, models
from cvat_sdk.core.proxies.projects import Project
from cvat_sdk.core.proxies.tasks import Task
from cvat_sdk.exceptions import ApiException

from .helpers import as_datetime, create_task, jobs_in_order, noise_images

SKELETON_SVG = (
    '<line x1="30" y1="30" x2="60" y2="60" stroke="black" data-type="edge" '
    'data-node-from="1" data-node-to="2"></line>'
    '<circle r="1.5" stroke="black" fill="#b3b3b3" cx="30" cy="30" stroke-width="0.1" '
    'data-type="element node" data-element-id="1" data-node-id="1" data-label-name="head">'
    "</circle>"
    '<circle r="1.5" stroke="black" fill="#b3b3b3" cx="60" cy="60" stroke-width="0.1" '
    'data-type="element node" data-element-id="2" data-node-id="2" data-label-name="hand">'
    "</circle>"
)

CAR_ATTRIBUTES: list[dict[str, Any]] = [
    {"name": "parked", "mutable": True, "input_type": "checkbox", "values": ["false"],
     "default_value": "false"},
    {"name": "kind", "mutable": False, "input_type": "radio", "values": ["sedan", "truck"],
     "default_value": "truck"},
    {"name": "speed", "mutable": True, "input_type": "number", "values": ["0", "200", "5"],
     "default_value": "50"},
    {"name": "plate", "mutable": False, "input_type": "text", "values": ["unknown"],
     "default_value": "unknown"},
    {"name": "paint", "mutable": True, "input_type": "select",
     "values": ["red", "blue", "green"], "default_value": "blue"},
]  # fmt: skip

PROJECT_LABELS: list[dict[str, Any]] = [
    {"name": "car", "color": "#ff0000", "type": "rectangle", "attributes": CAR_ATTRIBUTES},
    {"name": "person", "attributes": [
        {"name": "age", "mutable": False, "input_type": "number", "values": ["0", "120", "1"]},
    ]},
    {"name": "pose", "type": "skeleton", "color": "#00ff00", "svg": SKELETON_SVG, "sublabels": [
        {"name": "head", "type": "points", "color": "#0000ff"},
        {"name": "hand", "type": "points", "attributes": [
            {"name": "side", "mutable": False, "input_type": "select",
             "values": ["left", "right"], "default_value": "left"},
        ]},
    ]},
]  # fmt: skip

COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _by_name(labels: list[Any]) -> dict[str, Any]:
    return {label.name: label for label in labels}


def _attributes(label: Any) -> list[dict[str, Any]]:
    return [
        {"name": a.name, "mutable": a.mutable, "input_type": str(a.input_type.value),
         "values": list(a.values), "default_value": a.default_value}
        for a in label.attributes
    ]  # fmt: skip


@pytest.fixture
def project(client: Client) -> Project:
    return client.projects.create({"name": "zoo", "labels": PROJECT_LABELS})


@pytest.fixture
def project_task(client: Client, project: Project, tmp_path: Path) -> Task:
    files = noise_images(tmp_path, ["p0.png", "p1.png", "p2.png"])
    return create_task(client, files, name="in project", project_id=project.id, segment_size=2)


def test_project_labels_keep_every_attribute_type(project: Project) -> None:
    labels = _by_name(project.get_labels())
    assert sorted(labels) == ["car", "person", "pose"]  # sublabels are not listed on top

    car = labels["car"]
    assert car.color == "#ff0000"
    assert car.type == "rectangle"
    assert _attributes(car) == CAR_ATTRIBUTES
    assert all(isinstance(a.id, int) for a in car.attributes)

    person = labels["person"]
    assert COLOR.match(person.color)
    assert person.type == "any"
    [age] = person.attributes
    assert (age.input_type.value, list(age.values)) == ("number", ["0", "120", "1"])
    assert isinstance(age.default_value, str)

    pose = labels["pose"]
    assert pose.type == "skeleton"
    assert pose.color == "#00ff00"
    assert [s.name for s in pose.sublabels] == ["head", "hand"]
    head, hand = pose.sublabels
    assert head.color == "#0000ff"
    assert COLOR.match(hand.color)
    assert all(s.type == "points" and s.has_parent for s in pose.sublabels)
    assert _attributes(hand) == [
        {"name": "side", "mutable": False, "input_type": "select",
         "values": ["left", "right"], "default_value": "left"},
    ]  # fmt: skip
    for marker in ('data-type="edge"', 'data-node-id="1"', 'data-node-id="2"'):
        assert marker in pose.svg
    assert project.labels.url


def test_task_in_project_uses_project_labels(
    client: Client, project: Project, project_task: Task
) -> None:
    project_label_ids = sorted(label.id for label in project.get_labels())
    assert project_task.project_id == project.id
    assert sorted(label.id for label in project_task.get_labels()) == project_label_ids
    for job in project_task.get_jobs():
        assert sorted(label.id for label in job.get_labels()) == project_label_ids
        assert job.project_id == project.id
    assert [t.id for t in project.get_tasks()] == [project_task.id]
    project.fetch()
    assert project.tasks.count == 1
    assert client.tasks.retrieve(project_task.id).project_name == "zoo"


def test_labels_endpoint_by_task_job_and_project(
    http: httpx.Client, project: Project, project_task: Task, client: Client, tmp_path: Path
) -> None:
    def ids(**params: Any) -> list[int]:
        response = http.get("/api/labels", params=params)
        assert response.status_code == 200, response.text
        return [label["id"] for label in response.json()["results"]]

    expected = sorted(label.id for label in project.get_labels())
    job = jobs_in_order(project_task)[1]
    assert ids(task_id=project_task.id) == expected  # ordered by id
    assert ids(job_id=job.id) == expected
    assert ids(project_id=project.id) == expected
    assert ids(project_id=project.id, name="car") == [_by_name(project.get_labels())["car"].id]
    two_owners = {"task_id": project_task.id, "project_id": project.id}
    assert http.get("/api/labels", params=two_owners).status_code == 400
    assert http.get("/api/labels").status_code == 400

    alone = create_task(client, noise_images(tmp_path, ["solo.png"]), name="no project")
    own = http.get("/api/labels", params={"task_id": alone.id}).json()["results"]
    assert sorted(label["name"] for label in own) == ["car", "person"]
    assert all(label["task_id"] == alone.id for label in own)
    assert not set(ids(task_id=alone.id)) & set(expected)


def test_task_in_project_may_not_bring_labels(http: httpx.Client, project: Project) -> None:
    rejected = http.post(
        "/api/tasks", json={"name": "x", "project_id": project.id, "labels": [{"name": "y"}]}
    )
    assert rejected.status_code == 400
    # The CLI always sends "labels": [] alongside project_id; that is fine.
    accepted = http.post("/api/tasks", json={"name": "x", "project_id": project.id, "labels": []})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["project_id"] == project.id


def test_patch_label_rename_add_attribute(
    http: httpx.Client, client: Client, tmp_path: Path
) -> None:
    task = create_task(client, noise_images(tmp_path, ["l.png"]), name="label edits")
    car = _by_name(task.get_labels())["car"]
    before = as_datetime(task.updated_date)

    renamed = http.patch(f"/api/labels/{car.id}", json={"name": "vehicle", "color": "#123456"})

    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["color"]) == ("vehicle", "#123456")
    task.fetch()
    after_rename = as_datetime(task.updated_date)
    assert after_rename > before

    extra = {"name": "dirty", "mutable": True, "input_type": "checkbox", "values": ["false"]}
    added = http.patch(f"/api/labels/{car.id}", json={"attributes": [extra]})
    assert added.status_code == 200, added.text
    [attribute] = added.json()["attributes"]
    assert (attribute["name"], attribute["input_type"]) == ("dirty", "checkbox")
    assert isinstance(attribute["default_value"], str)
    task.fetch()
    after_attribute = as_datetime(task.updated_date)
    assert after_attribute > after_rename

    labels = _by_name(task.get_labels())
    assert sorted(labels) == ["person", "vehicle"]
    assert [a.name for a in labels["vehicle"].attributes] == ["dirty"]

    gone = {**extra, "id": attribute["id"], "deleted": True}
    dropped = http.patch(f"/api/labels/{car.id}", json={"attributes": [gone]})
    assert dropped.status_code == 200, dropped.text
    assert dropped.json()["attributes"] == []
    task.fetch()
    assert as_datetime(task.updated_date) > after_attribute


def test_delete_label_through_task_patch(client: Client, tmp_path: Path) -> None:
    task = create_task(client, noise_images(tmp_path, ["d.png"]), name="label delete")
    person = _by_name(task.get_labels())["person"]
    before = as_datetime(task.updated_date)

    task.update(
        models.PatchedTaskWriteRequest(
            labels=[models.PatchedLabelRequest(id=person.id, name="person", deleted=True)]
        )
    )

    assert sorted(_by_name(task.get_labels())) == ["car"]
    assert as_datetime(task.updated_date) > before

    task.update({"labels": [{"name": "bike", "color": "#abcdef"}]})
    labels = _by_name(task.get_labels())
    assert sorted(labels) == ["bike", "car"]
    assert labels["bike"].color == "#abcdef"


def test_project_label_change_advances_its_tasks(
    http: httpx.Client, project: Project, project_task: Task
) -> None:
    before_task = as_datetime(project_task.updated_date)
    project.fetch()
    before_project = as_datetime(project.updated_date)
    person = _by_name(project.get_labels())["person"]

    response = http.patch(f"/api/labels/{person.id}", json={"name": "human"})

    assert response.status_code == 200, response.text
    project_task.fetch()
    project.fetch()
    assert as_datetime(project_task.updated_date) > before_task
    assert as_datetime(project.updated_date) > before_project
    assert "human" in _by_name(project_task.get_labels())

    project.update({"labels": [{"id": person.id, "name": "human", "deleted": True}]})
    assert "human" not in _by_name(project.get_labels())
    project_task.fetch()
    assert "human" not in _by_name(project_task.get_labels())


def test_delete_label_endpoint(http: httpx.Client, client: Client, tmp_path: Path) -> None:
    task = create_task(client, noise_images(tmp_path, ["e.png"]), name="label endpoint delete")
    car = _by_name(task.get_labels())["car"]
    before = as_datetime(task.updated_date)

    assert http.delete(f"/api/labels/{car.id}").status_code == 204

    assert http.get(f"/api/labels/{car.id}").status_code == 404
    assert sorted(_by_name(task.get_labels())) == ["person"]
    task.fetch()
    assert as_datetime(task.updated_date) > before


def test_label_errors(http: httpx.Client, client: Client, tmp_path: Path) -> None:
    duplicate = http.post(
        "/api/projects", json={"name": "dup", "labels": [{"name": "a"}, {"name": "a"}]}
    )
    assert 400 <= duplicate.status_code < 500
    assert http.get("/api/projects", params={"name": "dup"}).json()["count"] == 0

    bad_labels: list[dict[str, Any]] = [
        {"name": "a", "attributes": [
            {"name": "x", "mutable": False, "input_type": "slider", "values": []}]},
        {"name": "a", "attributes": [
            {"name": "x", "mutable": False, "input_type": "number", "values": ["10", "1", "1"]}]},
        {"name": "a", "attributes": [
            {"name": "x", "mutable": False, "input_type": "select", "values": []}]},
        {"name": "a", "color": "red"},
        {"name": ""},
    ]  # fmt: skip
    for label in bad_labels:
        response = http.post("/api/projects", json={"name": "bad", "labels": [label]})
        assert response.status_code == 400, label
    assert http.get("/api/projects", params={"name": "bad"}).json()["count"] == 0

    task = create_task(client, noise_images(tmp_path, ["e.png"]), name="label errors")
    labels = _by_name(task.get_labels())
    clash = http.patch(f"/api/labels/{labels['car'].id}", json={"name": "person"})
    assert 400 <= clash.status_code < 500
    added_twice = http.patch(f"/api/tasks/{task.id}", json={"labels": [{"name": "car"}]})
    assert 400 <= added_twice.status_code < 500
    assert sorted(_by_name(task.get_labels())) == ["car", "person"]

    with pytest.raises(ApiException) as caught:
        client.projects.create({"name": "dup sdk", "labels": [{"name": "z"}, {"name": "z"}]})
    assert 400 <= caught.value.status < 500


def test_delete_project_deletes_its_tasks(
    client: Client, project: Project, project_task: Task
) -> None:
    project.remove()
    for fetch in (lambda: client.projects.retrieve(project.id),
                  lambda: client.tasks.retrieve(project_task.id)):  # fmt: skip
        with pytest.raises(ApiException) as caught:
            fetch()
        assert caught.value.status == 404
