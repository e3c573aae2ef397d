"""The annotation endpoints through HTTP: status codes, both slash variants, error bodies.

A small app holds only this router and the error handlers, with the session and the user
overridden, so that these tests do not depend on the rest of the API being wired up.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from annotations_world import World, build_world, database_engine, rolled_back_session
from fastapi import FastAPI
from fastapi.responses import ORJSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from labelbay.annotations.routes import router
from labelbay.api.deps import get_current_user, get_session
from labelbay.api.errors import install_error_handlers


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    yield from database_engine(tmp_path_factory, "annotations_routes")


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    yield from rolled_back_session(engine)


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


@pytest.fixture
def client(session: Session, world: World) -> Iterator[TestClient]:
    app = FastAPI(default_response_class=ORJSONResponse, redirect_slashes=False)
    install_error_handlers(app)
    app.include_router(router, prefix="/api")
    app.dependency_overrides[get_session] = lambda: session
    app.dependency_overrides[get_current_user] = lambda: world.user
    with TestClient(app) as test_client:
        yield test_client


def box(w: World, frame: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "rectangle",
        "frame": frame,
        "label_id": w.labels["car"],
        "points": [1, 2, 30, 40.5],
        **extra,
    }


EMPTY: dict[str, list[Any]] = {"tags": [], "shapes": [], "tracks": [], "intervals": []}


def test_get_answers_on_both_slash_variants(client: TestClient, world: World) -> None:
    for path in (
        f"/api/tasks/{world.task.id}/annotations/",
        f"/api/tasks/{world.task.id}/annotations",
    ):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json() == {"version": 0, **EMPTY}


def test_put_saves_and_returns_labeled_data(client: TestClient, world: World) -> None:
    url = f"/api/tasks/{world.task.id}/annotations/"
    body = {"shapes": [box(world, 1)], "tags": [{"frame": 2, "label_id": world.labels["car"]}]}

    saved = client.put(url, json=body)
    got = client.get(url)

    assert saved.status_code == 200
    assert saved.headers["content-type"] == "application/json"
    assert got.json() == saved.json()
    shape = got.json()["shapes"][0]
    assert shape["points"] == [1.0, 2.0, 30.0, 40.5]
    assert shape["source"] == "manual" and shape["group"] == 0 and shape["elements"] == []
    assert got.json()["version"] == 1


def test_patch_needs_an_action(client: TestClient, world: World) -> None:
    url = f"/api/tasks/{world.task.id}/annotations/"
    for query in ("", "?action=", "?action=upsert"):
        response = client.patch(url + query, json={"shapes": []})
        assert response.status_code == 400, query
        assert response.json()["detail"].startswith("action: ")
        assert response.json()["code"] == "invalid_action"


def test_patch_create_update_delete(client: TestClient, world: World) -> None:
    url = f"/api/tasks/{world.task.id}/annotations/"

    created = client.patch(url + "?action=create", json={"shapes": [box(world, 1)]})
    assert created.status_code == 200
    shape = created.json()["shapes"][0]
    moved = client.patch(url + "?action=update", json={"shapes": [shape | {"frame": 7}]})
    assert moved.status_code == 200
    assert moved.json()["shapes"][0] == shape | {"frame": 7}
    unknown = client.patch(url + "?action=update", json={"shapes": [shape | {"id": 999999}]})
    assert unknown.status_code == 400
    assert unknown.json()["detail"] == "shapes[0].id: there is no shape 999999 here"
    assert unknown.json()["field"] == "shapes[0].id"
    deleted = client.patch(url + "?action=delete", json=moved.json())
    assert deleted.status_code == 200
    assert deleted.json()["shapes"] == moved.json()["shapes"]
    assert client.get(url).json()["shapes"] == []


def test_delete_answers_204_and_empties_the_task(client: TestClient, world: World) -> None:
    url = f"/api/tasks/{world.task.id}/annotations/"
    client.put(url, json={"shapes": [box(world, 1)]})

    response = client.delete(url)

    assert response.status_code == 204
    assert response.content == b""
    assert client.get(url).json()["shapes"] == []


def test_job_endpoints_work_on_the_jobs_frames(client: TestClient, world: World) -> None:
    task_url = f"/api/tasks/{world.task.id}/annotations/"
    job_url = f"/api/jobs/{world.jobs[1].id}/annotations"
    client.put(task_url, json={"shapes": [box(world, f) for f in (1, 6, 11)]})

    assert [s["frame"] for s in client.get(job_url).json()["shapes"]] == [6]
    assert client.put(job_url, json={"shapes": [box(world, 8)]}).status_code == 200
    outside = client.patch(job_url + "/?action=create", json={"shapes": [box(world, 12)]})
    assert outside.status_code == 400
    assert outside.json()["detail"].startswith("shapes[0].frame: frame 12 is outside the job")
    assert client.delete(job_url + "/").status_code == 204
    assert [s["frame"] for s in client.get(task_url).json()["shapes"]] == [1, 11]


def test_unknown_task_or_job_is_404(client: TestClient) -> None:
    assert client.get("/api/tasks/999999/annotations/").status_code == 404
    assert client.put("/api/jobs/999999/annotations/", json={}).status_code == 404


def test_malformed_payloads_are_400_naming_the_field(client: TestClient, world: World) -> None:
    url = f"/api/tasks/{world.task.id}/annotations/"
    bad_type = client.put(url, json={"shapes": [box(world, 1, type="circle")]})
    assert bad_type.status_code == 400
    assert "shapes.0.type" in bad_type.json()["fields"]
    not_a_number = client.put(
        url,
        content=b'{"shapes": [{"type": "points", "frame": 1, "label_id": 1, "points": [NaN, 1]}]}',
        headers={"content-type": "application/json"},
    )
    assert not_a_number.status_code == 400
    unknown_label = client.put(url, json={"shapes": [box(world, 1, label_id=999999)]})
    assert unknown_label.status_code == 400
    assert unknown_label.json()["detail"].startswith("shapes[0].label_id: label 999999")


def test_post_is_not_served_here(client: TestClient, world: World) -> None:
    assert client.post(f"/api/tasks/{world.task.id}/annotations/", json={}).status_code == 405
