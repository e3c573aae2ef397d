"""End-to-end access rules, through the real cvat-sdk and plain HTTP against ``labelbay serve``.

Who sees what: owners see their projects and tasks, assignees see their jobs (and nothing else
of the task), administrators see everything, and anonymous callers see only the server's about
page. What a user may not see answers 404, exactly as if it did not exist.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cvat_sdk import Client, make_client
from cvat_sdk.api_client import exceptions
from cvat_sdk.core.proxies.projects import Project
from cvat_sdk.core.proxies.tasks import ResourceType, Task
from cvat_sdk.core.uploading import DataUploader

from media import good_images, json_body, write_files

if TYPE_CHECKING:
    from conftest import Server

LABELS = [{"name": "cat"}, {"name": "dog"}]


@dataclass
class Account:
    username: str
    password: str
    id: int
    sdk: Client
    http: httpx.Client
    """Signed in with the login token (``Authorization: Token <key>``)."""


def open_account(server: Server, stack: ExitStack, *, superuser: bool = False) -> Account:
    username, password = server.create_user(superuser=superuser)
    sdk = stack.enter_context(
        make_client(server.host, port=server.port, credentials=(username, password))
    )
    http = stack.enter_context(httpx.Client(base_url=server.url, timeout=60))
    login = http.post("/api/auth/login", json={"username": username, "password": password})
    login.raise_for_status()
    http.headers["Authorization"] = f"Token {login.json()['key']}"
    me = http.get("/api/users/self")
    me.raise_for_status()
    return Account(username, password, me.json()["id"], sdk, http)


def make_task(
    owner: Account,
    folder: Path,
    *,
    frames: int,
    segment_size: int = 0,
    project_id: int | None = None,
) -> Task:
    spec: dict[str, Any] = {"name": f"task-{owner.username}-{secrets.token_hex(3)}"}
    if project_id is None:
        spec["labels"] = LABELS
    else:
        spec["project_id"] = project_id
    if segment_size:
        spec["segment_size"] = segment_size
    files = write_files(folder / secrets.token_hex(4), good_images(frames))
    return owner.sdk.tasks.create_from_data(
        spec, resources=files, resource_type=ResourceType.LOCAL, status_check_period=1
    )


def make_project(owner: Account) -> Project:
    return owner.sdk.projects.create(
        {"name": f"project-{owner.username}-{secrets.token_hex(3)}", "labels": LABELS}
    )


def all_ids(client: httpx.Client, path: str, **params: Any) -> set[int]:
    """Ids of every object of a list endpoint, following ``next`` through all pages."""
    ids: set[int] = set()
    response = client.get(path, params={"page_size": 100, **params})
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        ids.update(item["id"] for item in page["results"])
        if not page["next"]:
            return ids
        response = client.get(page["next"])


@dataclass
class World:
    alice: Account
    bob: Account
    carol: Account
    """Owns nothing; the tests assign her things of Alice's."""
    nobody: Account
    """Owns nothing and is never assigned anything."""
    admin: Account
    alice_project: Project
    alice_task: Task
    """Four frames, two jobs of two frames; labels of its own."""
    alice_project_task: Task
    """One frame, inside ``alice_project``."""
    bob_project: Project
    bob_task: Task


@pytest.fixture(scope="module")
def world(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("access")
    with ExitStack() as stack:
        alice = open_account(server, stack)
        bob = open_account(server, stack)
        carol = open_account(server, stack)
        nobody = open_account(server, stack)
        admin = open_account(server, stack, superuser=True)
        alice_project = make_project(alice)
        bob_project = make_project(bob)
        yield World(
            alice=alice,
            bob=bob,
            carol=carol,
            nobody=nobody,
            admin=admin,
            alice_project=alice_project,
            alice_task=make_task(alice, folder, frames=4, segment_size=2),
            alice_project_task=make_task(alice, folder, frames=1, project_id=alice_project.id),
            bob_project=bob_project,
            bob_task=make_task(bob, folder, frames=2),
        )


def job_ids(account: Account, task_id: int) -> list[int]:
    """The jobs of a task as its owner sees them, in frame order."""
    jobs = account.http.get("/api/jobs", params={"task_id": task_id, "sort": "start_frame"})
    assert jobs.status_code == 200, jobs.text
    return [job["id"] for job in jobs.json()["results"]]


def assert_error(response: httpx.Response, status: int | tuple[int, ...]) -> dict[str, Any]:
    """The response has the status (one of them, for a tuple) and a JSON ``detail``."""
    allowed = status if isinstance(status, tuple) else (status,)
    assert response.status_code in allowed, (
        f"{response.request.method} {response.request.url} answered "
        f"{response.status_code}, expected {status}: {response.text}"
    )
    body = json_body(response.content)
    assert isinstance(body.get("detail"), str) and body["detail"], body
    return body


# --- anonymous callers ---------------------------------------------------------------------


def anonymous_paths(world: World) -> list[str]:
    task = world.alice_task.id
    job = job_ids(world.alice, task)[0]
    return [
        "/api/tasks",
        "/api/projects",
        "/api/jobs",
        f"/api/labels?task_id={task}",
        "/api/users/self",
        f"/api/tasks/{task}",
        f"/api/projects/{world.alice_project.id}",
        f"/api/jobs/{job}",
        f"/api/tasks/{task}/data/meta",
        f"/api/tasks/{task}/data/?type=frame&number=0&quality=original",
        f"/api/tasks/{task}/data/?type=chunk&number=0&quality=compressed",
        f"/api/tasks/{task}/preview",
        f"/api/jobs/{job}/data?type=frame&number=0&quality=original",
        f"/api/jobs/{job}/data/meta",
        f"/api/tasks/{task}/annotations/",
    ]


def test_anonymous_requests_are_refused_with_401(server: Server, world: World) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        for path in anonymous_paths(world):
            assert_error(anonymous.get(path), 401)
        assert_error(anonymous.post("/api/tasks", json={"name": "anonymous"}), 401)
        assert_error(anonymous.delete(f"/api/tasks/{world.alice_task.id}"), 401)
        assert_error(
            anonymous.post(f"/api/tasks/{world.alice_task.id}/data/", headers={"Upload-Start": ""}),
            401,
        )
    # Nothing of the above changed the task.
    assert world.alice.sdk.tasks.retrieve(world.alice_task.id).size == 4


def test_anonymous_request_with_a_bad_token_is_refused(server: Server, world: World) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for header in ("Token not-a-real-key", "Bearer not-a-real-key"):
            assert_error(client.get("/api/tasks", headers={"Authorization": header}), 401)


def test_about_works_anonymously(server: Server) -> None:
    about = httpx.get(f"{server.url}/api/server/about", timeout=30)
    assert about.status_code == 200, about.text
    body = about.json()
    for key in ("name", "description", "version", "logo_url", "subtitle"):
        assert isinstance(body[key], str), key


def test_sdk_without_credentials_gets_unauthorized(server: Server, world: World) -> None:
    with make_client(server.host, port=server.port) as client:
        with pytest.raises(exceptions.UnauthorizedException) as caught:
            client.tasks.retrieve(world.alice_task.id)
        assert caught.value.status == 401
        assert json_body(caught.value.body)["detail"]


# --- owners only see their own ---------------------------------------------------------------


def test_lists_do_not_show_other_users_objects(world: World) -> None:
    # Other tests assign Bob things of Alice's, so only the world's own objects are compared.
    alice, bob = world.alice, world.bob
    alice_tasks = {world.alice_task.id, world.alice_project_task.id}
    alice_jobs = set(job_ids(alice, world.alice_task.id)) | set(
        job_ids(alice, world.alice_project_task.id)
    )
    assert len(alice_jobs) == 3

    bob_tasks = {t.id for t in bob.sdk.tasks.list()}
    assert world.bob_task.id in bob_tasks
    assert not bob_tasks & alice_tasks
    bob_projects = {p.id for p in bob.sdk.projects.list()}
    assert world.bob_project.id in bob_projects
    assert world.alice_project.id not in bob_projects
    bob_jobs = {j.id for j in bob.sdk.jobs.list()}
    assert set(job_ids(bob, world.bob_task.id)) <= bob_jobs
    assert not bob_jobs & alice_jobs

    # The same through filters that name Alice's objects.
    assert all_ids(bob.http, "/api/tasks", project_id=world.alice_project.id) == set()
    assert all_ids(bob.http, "/api/tasks", owner=alice.username) == set()
    assert all_ids(bob.http, "/api/tasks", search=world.alice_task.name) == set()
    assert all_ids(bob.http, "/api/jobs", task_id=world.alice_task.id) == set()
    assert all_ids(bob.http, "/api/projects", name=world.alice_project.name) == set()

    # And the other way round.
    assert world.bob_task.id not in {t.id for t in alice.sdk.tasks.list()}
    assert world.bob_project.id not in {p.id for p in alice.sdk.projects.list()}
    assert not set(job_ids(bob, world.bob_task.id)) & {j.id for j in alice.sdk.jobs.list()}

    # A user with nothing sees nothing.
    for path in ("/api/tasks", "/api/projects", "/api/jobs"):
        assert all_ids(world.nobody.http, path) == set(), path


def test_other_users_task_cannot_be_read_changed_or_deleted(world: World) -> None:
    bob, task = world.bob, world.alice_task
    with pytest.raises(exceptions.NotFoundException):
        bob.sdk.tasks.retrieve(task.id)
    assert_error(bob.http.get(f"/api/tasks/{task.id}"), 404)
    assert_error(bob.http.patch(f"/api/tasks/{task.id}", json={"name": "taken by bob"}), 404)
    assert_error(bob.http.patch(f"/api/tasks/{task.id}", json={"owner_id": bob.id}), 404)
    assert_error(bob.http.delete(f"/api/tasks/{task.id}"), 404)
    with pytest.raises(exceptions.NotFoundException):
        bob.sdk.api_client.tasks_api.destroy(task.id)
    # A task inside Alice's project is just as private.
    assert_error(bob.http.delete(f"/api/tasks/{world.alice_project_task.id}"), 404)

    kept = world.alice.sdk.tasks.retrieve(task.id)
    assert kept.name == task.name
    assert kept.owner.id == world.alice.id
    assert kept.size == 4
    assert world.alice.sdk.tasks.retrieve(world.alice_project_task.id).size == 1


def test_other_users_project_cannot_be_read_changed_or_deleted(world: World) -> None:
    bob, project = world.bob, world.alice_project
    with pytest.raises(exceptions.NotFoundException):
        bob.sdk.projects.retrieve(project.id)
    assert_error(bob.http.patch(f"/api/projects/{project.id}", json={"name": "bob's"}), 404)
    assert_error(bob.http.delete(f"/api/projects/{project.id}"), 404)
    assert_error(bob.http.get(f"/api/projects/{project.id}/preview"), 404)
    # Nor can Bob put a task of his into Alice's project, or move his task there.
    assert_error(bob.http.post("/api/tasks", json={"name": "x", "project_id": project.id}), 404)
    assert_error(
        bob.http.patch(f"/api/tasks/{world.bob_task.id}", json={"project_id": project.id}), 404
    )

    kept = world.alice.sdk.projects.retrieve(project.id)
    assert kept.name == project.name
    assert {t.id for t in kept.get_tasks()} == {world.alice_project_task.id}
    assert world.bob.sdk.tasks.retrieve(world.bob_task.id).project_id is None


def test_other_users_media_and_labels_are_not_readable(world: World) -> None:
    bob, task = world.bob, world.alice_task
    first_job = job_ids(world.alice, task.id)[0]
    label_ids = [label.id for label in task.get_labels()]
    project_label = world.alice_project.get_labels()[0].id
    not_found = [
        f"/api/tasks/{task.id}/data/meta",
        f"/api/tasks/{task.id}/data/?type=frame&number=0&quality=original",
        f"/api/tasks/{task.id}/data/?type=frame&number=0&quality=compressed",
        f"/api/tasks/{task.id}/data/?type=chunk&number=0&quality=original",
        f"/api/tasks/{task.id}/preview",
        f"/api/tasks/{task.id}/annotations/",
        f"/api/jobs/{first_job}",
        f"/api/jobs/{first_job}/data?type=frame&number=0&quality=original",
        f"/api/jobs/{first_job}/data?type=chunk&index=0&quality=original",
        f"/api/jobs/{first_job}/data/meta",
        f"/api/jobs/{first_job}/preview",
        f"/api/jobs/{first_job}/annotations/",
        f"/api/labels?task_id={task.id}",
        f"/api/labels?job_id={first_job}",
        f"/api/labels?project_id={world.alice_project.id}",
        f"/api/labels?task_id={world.alice_project_task.id}",
        f"/api/labels/{label_ids[0]}",
        f"/api/labels/{project_label}",
    ]
    for path in not_found:
        assert_error(bob.http.get(path), 404)

    # The SDK sees the same.
    with pytest.raises(exceptions.NotFoundException):
        bob.sdk.api_client.tasks_api.retrieve_data(
            task.id, number=0, type="frame", quality="original"
        )
    with pytest.raises(exceptions.NotFoundException):
        bob.sdk.api_client.tasks_api.retrieve_data_meta(task.id)
    with pytest.raises(exceptions.NotFoundException):
        bob.sdk.jobs.retrieve(first_job)

    # Writes are refused the same way, and change nothing.
    assert_error(
        bob.http.patch(f"/api/tasks/{task.id}/data/meta", json={"deleted_frames": [0]}), 404
    )
    assert_error(bob.http.patch(f"/api/labels/{label_ids[0]}", json={"name": "bob"}), 404)
    assert_error(bob.http.delete(f"/api/labels/{label_ids[1]}"), 404)
    assert_error(bob.http.delete(f"/api/tasks/{task.id}/annotations/"), 404)
    assert_error(bob.http.patch(f"/api/jobs/{first_job}", json={"state": "completed"}), 404)
    assert_error(bob.http.post(f"/api/tasks/{task.id}/data/", headers={"Upload-Start": ""}), 404)

    meta = world.alice.sdk.tasks.retrieve(task.id).get_meta()
    assert meta.deleted_frames == []
    assert [label.name for label in task.get_labels()] == ["cat", "dog"]
    assert world.alice.sdk.jobs.retrieve(first_job).state == "new"


def test_other_users_background_requests_are_private(world: World, tmp_path: Path) -> None:
    files = write_files(tmp_path, good_images(1))
    task = world.alice.sdk.tasks.create({"name": "requests", "labels": LABELS})
    url = world.alice.sdk.api_map.make_endpoint_url(
        world.alice.sdk.api_client.tasks_api.create_data_endpoint.path, kwsub={"id": task.id}
    )
    response = DataUploader(world.alice.sdk).upload_files(url, files, image_quality=70)
    rq_id = json_body(response.data)["rq_id"]
    assert world.alice.http.get(f"/api/requests/{rq_id}").status_code == 200
    assert_error(world.bob.http.get(f"/api/requests/{rq_id}"), 404)


# --- assignees see their jobs ------------------------------------------------------------------


def test_assigned_job_is_visible_to_its_assignee_and_nothing_else(
    world: World, tmp_path: Path
) -> None:
    alice, bob = world.alice, world.bob
    task = make_task(alice, tmp_path, frames=4, segment_size=2)
    first, second = job_ids(alice, task.id)
    job = alice.sdk.jobs.retrieve(second)
    job.update({"assignee": bob.id})
    assert job.assignee.id == bob.id

    # Bob's job list now holds that job, and no other job of the task.
    listed = {j.id for j in bob.sdk.jobs.list()}
    assert second in listed
    assert first not in listed
    assert all_ids(bob.http, "/api/jobs", task_id=task.id) == {second}
    assert all_ids(bob.http, "/api/jobs", assignee=bob.username, task_id=task.id) == {second}

    mine = bob.sdk.jobs.retrieve(second)
    assert (mine.task_id, mine.start_frame, mine.stop_frame) == (task.id, 2, 3)
    expected = list(good_images(4).values())
    for frame in (2, 3):
        assert mine.get_frame(frame, quality="original").read() == expected[frame]
    assert mine.get_frame(2, quality="compressed").read()[:2] == b"\xff\xd8"
    meta = mine.get_meta()
    assert [f.name for f in meta.frames] == ["good_2.png", "good_3.png"]
    assert [label.name for label in mine.get_labels()] == ["cat", "dog"]
    assert mine.get_preview().read()
    chunk = bob.http.get(f"/api/jobs/{second}/data", params={"type": "chunk", "index": 0,
                                                          "quality": "original"})  # fmt: skip
    assert chunk.status_code == 200, chunk.text

    # Bob may work on the job.
    mine.update({"state": "in progress"})
    assert mine.state == "in progress"
    assert alice.sdk.jobs.retrieve(second).state == "in progress"

    # ... but gets nothing else of the task: not the task, its other job, or frames outside
    # his job's range.
    with pytest.raises(exceptions.NotFoundException):
        bob.sdk.tasks.retrieve(task.id)
    assert task.id not in {t.id for t in bob.sdk.tasks.list()}
    with pytest.raises(exceptions.NotFoundException):
        bob.sdk.jobs.retrieve(first)
    assert_error(bob.http.get(f"/api/jobs/{first}/data/meta"), 404)
    assert_error(bob.http.get(f"/api/tasks/{task.id}/data/meta"), 404)
    assert_error(
        bob.http.get(f"/api/tasks/{task.id}/data/",
                     params={"type": "frame", "number": 2, "quality": "original"}),
        404,
    )  # fmt: skip
    assert_error(bob.http.get("/api/labels", params={"task_id": task.id}), 404)
    outside = bob.http.get(
        f"/api/jobs/{second}/data", params={"type": "frame", "number": 0, "quality": "original"}
    )
    assert 400 <= outside.status_code < 500, outside.text
    assert_error(bob.http.patch(f"/api/tasks/{task.id}", json={"name": "bob's now"}), 404)
    assert_error(bob.http.delete(f"/api/tasks/{task.id}"), 404)
    assert alice.sdk.tasks.retrieve(task.id).name == task.name

    # Unassigning takes it all away again.
    alice.sdk.jobs.retrieve(second).update({"assignee": None})
    with pytest.raises(exceptions.NotFoundException):
        bob.sdk.jobs.retrieve(second)
    assert second not in {j.id for j in bob.sdk.jobs.list()}


def test_only_the_task_owner_may_assign_its_jobs(world: World, tmp_path: Path) -> None:
    alice, bob, carol = world.alice, world.bob, world.carol
    task = make_task(alice, tmp_path, frames=2, segment_size=1)
    first, second = job_ids(alice, task.id)
    alice.sdk.jobs.retrieve(first).update({"assignee": bob.id})

    # Carol sees nothing of the task: 404 (403 would also keep the job safe).
    for assignee in (carol.id, None):
        assert_error(
            carol.http.patch(f"/api/jobs/{first}", json={"assignee": assignee}), (403, 404)
        )
    with pytest.raises((exceptions.NotFoundException, exceptions.ForbiddenException)):
        carol.sdk.jobs.retrieve(second)

    # Bob works on the job but may not hand it on, nor give it up by himself.
    for assignee in (carol.id, alice.id, None):
        assert_error(bob.http.patch(f"/api/jobs/{first}", json={"assignee": assignee}), (403, 404))
    with pytest.raises((exceptions.ForbiddenException, exceptions.NotFoundException)):
        bob.sdk.jobs.retrieve(first).update({"assignee": carol.id})
    # Nor take the task's other job.
    assert_error(bob.http.patch(f"/api/jobs/{second}", json={"assignee": bob.id}), (403, 404))

    assert alice.sdk.jobs.retrieve(first).assignee.id == bob.id
    assert alice.sdk.jobs.retrieve(second).assignee is None


def test_task_assignee_sees_the_task(world: World, tmp_path: Path) -> None:
    alice, carol = world.alice, world.carol
    task = make_task(alice, tmp_path, frames=1)
    assert_error(carol.http.get(f"/api/tasks/{task.id}"), 404)
    task.update({"assignee_id": carol.id})
    assert carol.sdk.tasks.retrieve(task.id).size == 1
    assert task.id in {t.id for t in carol.sdk.tasks.list()}
    assert set(job_ids(carol, task.id)) == set(job_ids(alice, task.id))
    task.update({"assignee_id": None})
    assert_error(carol.http.get(f"/api/tasks/{task.id}"), 404)


ASSIGNEE_REQUESTS = [
    # (method, body, expected status); body values "<admin>", "<carol>" stand for their ids.
    # Hand-overs go to the admin, who sees everything anyway, so that a wrongly accepted one
    # changes no other user's view.
    ("PATCH", {"name": "renamed by carol"}, 200),
    ("PATCH", {"owner_id": "<carol>"}, 403),
    ("PATCH", {"assignee_id": "<admin>"}, 403),
    ("PATCH", {"assignee_id": None}, 403),
    ("DELETE", None, 403),
]


def assignee_attempts(
    world: World, make: Callable[[], str], cases: list[tuple[str, Any, int]]
) -> list[str]:
    """Carol, the assignee, sends each request to a fresh object made by ``make`` (which
    returns its path); returns what did not answer as expected, for one readable failure."""
    ids = {"<admin>": world.admin.id, "<carol>": world.carol.id}
    wrong = []
    for method, body, expected in cases:
        path = make()
        payload = None if body is None else {k: ids.get(v, v) for k, v in body.items()}
        response = world.carol.http.request(method, path, json=payload)
        if response.status_code != expected:
            wrong.append(
                f"{method} {path} {payload} -> {response.status_code} "
                f"(expected {expected}): {response.text[:100]}"
            )
        owner_view = world.alice.http.get(path)
        if expected != 200 and owner_view.status_code != 200:
            wrong.append(f"  ... and afterwards the owner gets {owner_view.status_code} for {path}")
    return wrong


def test_task_assignee_may_work_on_the_task_but_not_delete_or_hand_it_over(
    world: World, tmp_path: Path
) -> None:
    """CVAT's sandbox rules (iam tasks.csv): the task's assignee may view and edit the
    task's description, data and annotations, but only the owner (or the project's owner or
    assignee, or an admin) may delete it or change its owner or assignee."""

    def assigned_task() -> str:
        task = make_task(world.alice, tmp_path, frames=1)
        task.update({"assignee_id": world.carol.id})
        return f"/api/tasks/{task.id}"

    wrong = assignee_attempts(world, assigned_task, ASSIGNEE_REQUESTS)
    assert not wrong, "\n".join(wrong)


def test_project_assignee_may_not_delete_the_project_or_hand_it_over(world: World) -> None:
    """CVAT's sandbox rules (iam projects.csv): only the owner (or an admin) deletes a
    project or changes its owner or assignee; the assignee may view it and edit its
    description."""

    def assigned_project() -> str:
        project = make_project(world.alice)
        project.update({"assignee_id": world.carol.id})
        return f"/api/projects/{project.id}"

    wrong = assignee_attempts(world, assigned_project, ASSIGNEE_REQUESTS)
    assert not wrong, "\n".join(wrong)


def test_project_owner_may_assign_jobs_of_tasks_in_her_project(
    world: World, tmp_path: Path
) -> None:
    """CVAT's sandbox rules (iam jobs.csv): a job's assignee may be changed by the owner or
    assignee of its task or of its project. Here the task was made by the project's assignee."""
    alice, bob, carol = world.alice, world.bob, world.carol
    project = make_project(alice)
    project.update({"assignee_id": bob.id})
    task = make_task(bob, tmp_path, frames=2, segment_size=1, project_id=project.id)
    first, _ = job_ids(alice, task.id)

    job = alice.sdk.jobs.retrieve(first)
    job.update({"assignee": carol.id})
    assert job.assignee.id == carol.id
    assert first in {j.id for j in carol.sdk.jobs.list()}


# --- administrators see everything ------------------------------------------------------------


def test_superuser_sees_everything(world: World, http: httpx.Client) -> None:
    tasks = {world.alice_task.id, world.alice_project_task.id, world.bob_task.id}
    projects = {world.alice_project.id, world.bob_project.id}
    jobs = set(job_ids(world.alice, world.alice_task.id)) | set(
        job_ids(world.bob, world.bob_task.id)
    )
    for client in (http, world.admin.http):
        assert tasks <= all_ids(client, "/api/tasks")
        assert projects <= all_ids(client, "/api/projects")
        assert jobs <= all_ids(client, "/api/jobs")
    admin = world.admin.sdk
    assert tasks <= {t.id for t in admin.tasks.list()}
    assert projects <= {p.id for p in admin.projects.list()}
    assert jobs <= {j.id for j in admin.jobs.list()}
    task = admin.tasks.retrieve(world.alice_task.id)
    assert task.size == 4
    assert task.get_frame(0, quality="original").read() == next(iter(good_images(1).values()))
    assert [label.name for label in task.get_labels()] == ["cat", "dog"]
    assert admin.projects.retrieve(world.bob_project.id).name == world.bob_project.name
    assert http.get(f"/api/tasks/{world.bob_task.id}/data/meta").status_code == 200


# --- session cookies and CSRF ---------------------------------------------------------------------


def test_session_cookie_needs_csrf_header_for_writes_and_dies_at_logout(server: Server) -> None:
    username, password = server.create_user()
    with make_client(server.host, port=server.port, credentials=(username, password)) as sdk:
        cookies = {name: morsel.value for name, morsel in sdk.api_client.cookies.items()}
        assert set(cookies) >= {"sessionid", "csrftoken"}
        csrf = cookies["csrftoken"]
        with httpx.Client(base_url=server.url, timeout=30, cookies=cookies) as browser:
            # Reads need no CSRF token.
            assert browser.get("/api/users/self").json()["username"] == username
            # Writes without the header, or with a wrong one, are refused.
            assert_error(browser.post("/api/tasks", json={"name": "no-csrf"}), 403)
            assert_error(
                browser.post("/api/tasks", json={"name": "bad-csrf"},
                             headers={"X-CSRFToken": csrf[::-1]}),
                403,
            )  # fmt: skip
            assert_error(browser.delete("/api/tasks/1"), 403)
            names = {t.name for t in sdk.tasks.list()}
            assert not names & {"no-csrf", "bad-csrf"}
            # With the header, the same request works.
            created = browser.post(
                "/api/tasks", json={"name": "with-csrf"}, headers={"X-CSRFToken": csrf}
            )
            assert created.status_code == 201, created.text
            assert created.json()["owner"]["username"] == username
            # The SDK's own session works too, then logs out.
            assert "with-csrf" in {t.name for t in sdk.tasks.list()}
            sdk.logout()
            # The session is gone server-side: the old cookies no longer sign in.
            assert_error(browser.get("/api/users/self"), 401)
            assert_error(browser.get("/api/tasks"), 401)
            assert_error(
                browser.post("/api/tasks", json={"name": "after-logout"},
                             headers={"X-CSRFToken": csrf}),
                401,
            )  # fmt: skip
        with pytest.raises(exceptions.UnauthorizedException):
            sdk.tasks.list()


def test_logout_of_one_session_keeps_other_sessions(server: Server) -> None:
    username, password = server.create_user()
    with (
        make_client(server.host, port=server.port, credentials=(username, password)) as first,
        make_client(server.host, port=server.port, credentials=(username, password)) as second,
    ):
        first.logout()
        assert second.api_client.users_api.retrieve_self()[0].username == username


def test_wrong_password_is_refused(server: Server) -> None:
    username, _ = server.create_user()
    response = httpx.post(
        f"{server.url}/api/auth/login", json={"username": username, "password": "wrong"}, timeout=30
    )
    assert 400 <= response.status_code < 500, response.text
    assert "sessionid" not in response.cookies
