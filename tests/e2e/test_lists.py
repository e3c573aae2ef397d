"""Flow 10: list envelopes, paging, search, sorting, filters, organisations, trailing slashes.

Each test works as a fresh ordinary user, who sees only what it creates, so counts are exact.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cvat_sdk import Client
from cvat_sdk.core.filters import F

from conftest import Server

from .helpers import Credentials, token_http

NAMES = ["alpha-2", "Alpha-10", "beta", "gamma-alpha", "delta"]


@pytest.fixture
def own_http(server: Server, user: Credentials) -> Iterator[httpx.Client]:
    with token_http(server, user) as http:
        yield http


@pytest.fixture
def project_id(own_http: httpx.Client) -> int:
    response = own_http.post("/api/projects", json={"name": "listing project",
                                                     "labels": [{"name": "l"}]})  # fmt: skip
    assert response.status_code == 201
    value = response.json()["id"]
    assert isinstance(value, int)
    return value


@pytest.fixture
def task_ids(own_http: httpx.Client, project_id: int) -> dict[str, int]:
    """Five tasks of the user, the last two inside its project."""
    ids = {}
    for i, name in enumerate(NAMES):
        body: dict[str, Any] = {"name": name}
        if i >= 3:
            body["project_id"] = project_id
        else:
            body["labels"] = [{"name": "l"}]
        response = own_http.post("/api/tasks", json=body)
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    return ids


def _page(http: httpx.Client, url: str, **params: Any) -> dict[str, Any]:
    response = http.get(url, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


def _names(http: httpx.Client, **params: Any) -> list[str]:
    body = _page(http, "/api/tasks", page_size=100, **params)
    return [task["name"] for task in body["results"]]


def test_paging_with_absolute_links(
    own_http: httpx.Client, server: Server, task_ids: dict[str, int]
) -> None:
    first = _page(own_http, "/api/tasks", page_size=2)
    assert first["count"] == 5
    assert first["previous"] is None
    assert len(first["results"]) == 2

    seen = [task["id"] for task in first["results"]]
    page = first
    pages = 1
    while page["next"]:
        assert page["next"].startswith(f"{server.url}/api/tasks")
        following = own_http.get(page["next"])  # followed verbatim, as the SDK would
        assert following.status_code == 200
        page = following.json()
        pages += 1
        assert page["previous"].startswith(f"{server.url}/api/tasks")
        seen.extend(task["id"] for task in page["results"])
    assert pages == 3
    assert len(page["results"]) == 1
    assert page["next"] is None
    assert seen == sorted(task_ids.values(), reverse=True)  # default order: -id

    past = own_http.get("/api/tasks", params={"page_size": 2, "page": 4})
    assert past.status_code == 404
    empty_first = _page(own_http, "/api/tasks", name="no such task")
    assert (empty_first["count"], empty_first["results"], empty_first["next"]) == (0, [], None)


def test_sdk_collects_every_page(user_client: Client, task_ids: dict[str, int]) -> None:
    tasks = user_client.tasks.list(page_size=2)
    assert sorted(t.id for t in tasks) == sorted(task_ids.values())
    raw = json.loads(user_client.tasks.list(return_json=True, page_size=3))
    assert sorted(t["id"] for t in raw) == sorted(task_ids.values())


def test_search_and_simple_filters(
    own_http: httpx.Client, project_id: int, task_ids: dict[str, int]
) -> None:
    assert sorted(_names(own_http, search="ALPHA")) == ["Alpha-10", "alpha-2", "gamma-alpha"]
    assert _names(own_http, name="beta") == ["beta"]
    assert sorted(_names(own_http, project_id=project_id)) == ["delta", "gamma-alpha"]
    projects = _page(own_http, "/api/projects", search="listing")
    assert [p["id"] for p in projects["results"]] == [project_id]
    assert _page(own_http, "/api/projects", name="listing project")["count"] == 1
    assert _page(own_http, "/api/projects", name="listing")["count"] == 0


def test_sorting(own_http: httpx.Client, task_ids: dict[str, int]) -> None:
    # "Alpha-10" sorts first both by code point and by a case-insensitive collation.
    expected = ["Alpha-10", "alpha-2", "beta", "delta", "gamma-alpha"]
    assert _names(own_http, sort="name") == expected
    assert _names(own_http, sort="-name") == list(reversed(expected))
    ids = [t["id"] for t in _page(own_http, "/api/tasks", sort="-id")["results"]]
    assert ids == sorted(task_ids.values(), reverse=True)
    ids = [t["id"] for t in _page(own_http, "/api/tasks", sort="id")["results"]]
    assert ids == sorted(task_ids.values())
    # Two keys: grouped by project (where the empty project goes is the backend's business),
    # then by name within each group.
    grouped = _names(own_http, sort="-project_id,name")
    in_project = ["delta", "gamma-alpha"]
    assert [n for n in grouped if n in in_project] == in_project
    assert [n for n in grouped if n not in in_project] == ["Alpha-10", "alpha-2", "beta"]
    start = grouped.index("delta")
    assert grouped[start : start + 2] == in_project


def test_json_logic_filters(
    own_http: httpx.Client, user_client: Client, task_ids: dict[str, int], project_id: int
) -> None:
    def filtered(expression: dict[str, Any]) -> list[str]:
        return sorted(_names(own_http, filter=json.dumps(expression)))

    assert filtered({"==": [{"var": "name"}, "beta"]}) == ["beta"]
    assert filtered({"in": ["ta", {"var": "name"}]}) == ["beta", "delta"]
    assert filtered({"in": ["-", {"var": "name"}]}) == ["Alpha-10", "alpha-2", "gamma-alpha"]
    assert filtered({"and": [{"==": [{"var": "project_id"}, project_id]},
                             {"!=": [{"var": "name"}, "delta"]}]}) == ["gamma-alpha"]  # fmt: skip
    assert filtered({"or": [{"==": [{"var": "name"}, "beta"]},
                            {"==": [{"var": "name"}, "delta"]}]}) == ["beta", "delta"]  # fmt: skip
    assert filtered({"in": [{"var": "name"}, ["beta", "delta", "nope"]]}) == ["beta", "delta"]
    assert filtered({"!": {"var": "project_id"}}) == ["Alpha-10", "alpha-2", "beta"]
    ids = sorted(task_ids.values())
    assert filtered({"<=": [ids[1], {"var": "id"}, ids[3]]}) == sorted(
        name for name, tid in task_ids.items() if ids[1] <= tid <= ids[3]
    )

    # The SDK's own filter builders produce the same expressions.
    via_sdk = user_client.tasks.list(filter=F.name == "beta")
    assert [t.name for t in via_sdk] == ["beta"]
    lookups = user_client.tasks.list(id__gte=ids[3])
    assert sorted(t.id for t in lookups) == ids[3:]
    bad = own_http.get("/api/tasks", params={"filter": "{not json"})
    assert bad.status_code == 400
    unknown_field = own_http.get("/api/tasks", params={"filter": '{"==":[{"var":"nope"},1]}'})
    assert unknown_field.status_code == 400


def test_organisations(own_http: httpx.Client, task_ids: dict[str, int]) -> None:
    assert _page(own_http, "/api/tasks", org="")["count"] == 5
    assert _page(own_http, "/api/projects", org="")["count"] == 1
    task = next(iter(task_ids.values()))
    assert _page(own_http, "/api/jobs", org="", task_id=task)["count"] == 0
    assert _page(own_http, "/api/labels", org="", task_id=task)["count"] == 1
    for url in ("/api/tasks", "/api/projects", "/api/jobs"):
        assert own_http.get(url, params={"org": "unknown"}).status_code == 404, url
    assert own_http.get("/api/tasks", headers={"X-Organization": "unknown"}).status_code == 404
    assert own_http.get("/api/tasks", headers={"X-Organization": ""}).status_code == 200


def test_trailing_slash_variants(
    own_http: httpx.Client, task_ids: dict[str, int], project_id: int
) -> None:
    task = task_ids["beta"]
    paths = ["/api/tasks", "/api/projects", "/api/jobs", f"/api/tasks/{task}",
             f"/api/projects/{project_id}", "/api/users/self", "/api/server/about"]  # fmt: skip
    for path in paths:
        for variant in (path, path + "/"):
            response = own_http.get(variant, follow_redirects=False)
            assert response.status_code == 200, variant
    for variant in ("/api/labels", "/api/labels/"):
        response = own_http.get(variant, params={"task_id": task}, follow_redirects=False)
        assert response.status_code == 200, variant
    for variant in ("/api/projects", "/api/projects/"):
        response = own_http.post(variant, json={"name": f"slash {variant}"},
                                 follow_redirects=False)  # fmt: skip
        assert response.status_code == 201, variant
    for variant in (f"/api/tasks/{task}", f"/api/tasks/{task}/"):
        response = own_http.patch(variant, json={"subset": "train"}, follow_redirects=False)
        assert response.status_code == 200, variant
        assert response.json()["subset"] == "train"


def test_other_users_objects_are_invisible(
    server: Server, own_http: httpx.Client, task_ids: dict[str, int], project_id: int
) -> None:
    with token_http(server, server.create_user()) as stranger:
        assert _page(stranger, "/api/tasks")["count"] == 0
        assert _page(stranger, "/api/projects")["count"] == 0
        assert stranger.get(f"/api/tasks/{task_ids['beta']}").status_code == 404
        assert stranger.get(f"/api/projects/{project_id}").status_code == 404
        assert stranger.get("/api/labels", params={"project_id": project_id}).status_code == 404


def test_bad_paging_parameters(own_http: httpx.Client) -> None:
    for params in ({"page": "0"}, {"page": "x"}, {"page_size": "-1"}):
        response = own_http.get("/api/tasks", params=params)
        assert 400 <= response.status_code < 500, params


def test_paging_is_stable_with_equal_sort_keys(own_http: httpx.Client) -> None:
    created = []
    for _ in range(5):
        response = own_http.post("/api/tasks", json={"name": "same", "labels": [{"name": "l"}]})
        created.append(response.json()["id"])
    seen: list[int] = []
    for page in (1, 2, 3):
        body = _page(own_http, "/api/tasks", sort="name", page_size=2, page=page)
        seen.extend(task["id"] for task in body["results"])
    assert sorted(seen) == sorted(created)


def test_label_lists_page_and_keep_their_owner(
    own_http: httpx.Client, server: Server, project_id: int
) -> None:
    names = [f"label-{i}" for i in range(5)]
    created = own_http.post(
        "/api/projects", json={"name": "many labels", "labels": [{"name": n} for n in names]}
    )
    owner = created.json()["id"]
    first = _page(own_http, "/api/labels", project_id=owner, page_size=2)
    assert first["count"] == 5
    assert first["next"].startswith(f"{server.url}/api/labels")
    assert f"project_id={owner}" in first["next"]
    listed = [label["name"] for label in first["results"]]
    page = first
    while page["next"]:
        page = own_http.get(page["next"]).json()
        listed.extend(label["name"] for label in page["results"])
    assert listed == names  # labels are ordered by id
    searched = _page(own_http, "/api/labels", project_id=owner, search="LABEL-3")
    assert [label["name"] for label in searched["results"]] == ["label-3"]


def test_sort_on_an_unknown_field_is_a_400(own_http: httpx.Client) -> None:
    assert own_http.get("/api/tasks", params={"sort": "no_such_field"}).status_code == 400
    assert own_http.get("/api/projects", params={"sort": "-no_such_field"}).status_code == 400


def test_dates_are_iso_utc_with_microseconds(
    own_http: httpx.Client, task_ids: dict[str, int]
) -> None:
    stamp = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
    task = _page(own_http, "/api/tasks", name="beta")["results"][0]
    project = _page(own_http, "/api/projects")["results"][0]
    for item in (task, project):
        for key in ("created_date", "updated_date"):
            assert stamp.match(item[key]), (key, item[key])


def test_no_tasks_in_a_strangers_project(
    server: Server, project_id: int, task_ids: dict[str, int]
) -> None:
    with token_http(server, server.create_user()) as stranger:
        response = stranger.post("/api/tasks", json={"name": "intruder", "project_id": project_id})
        assert response.status_code in (403, 404)
        patch = stranger.patch(f"/api/tasks/{task_ids['beta']}", json={"name": "taken"})
        assert patch.status_code in (403, 404)
        assert stranger.delete(f"/api/tasks/{task_ids['beta']}").status_code in (403, 404)


def test_form_encoded_spaces_in_filters(own_http: httpx.Client, user_client: Client) -> None:
    made = user_client.tasks.create({"name": "two words here", "labels": [{"name": "l"}]})
    # The SDK form-encodes the query: "two+words+here".
    assert [t.id for t in user_client.tasks.list(name="two words here")] == [made.id]
    assert [t.id for t in user_client.tasks.list(search="words here")] == [made.id]
    raw = own_http.get("/api/tasks?name=two+words+here")
    assert [t["id"] for t in raw.json()["results"]] == [made.id]


def test_wrong_method_is_a_405(own_http: httpx.Client, task_ids: dict[str, int]) -> None:
    assert own_http.put(f"/api/tasks/{task_ids['beta']}", json={}).status_code == 405
    assert own_http.delete("/api/tasks").status_code == 405
