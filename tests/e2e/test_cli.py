"""Flow 9: the real cvat-cli 2.80.0, run as a subprocess (``python -m cvat_cli``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cvat_sdk import Client
from cvat_sdk.exceptions import ApiException

from conftest import Server

from .helpers import (
    Credentials,
    assert_jpeg,
    assert_same_pixels,
    frame_names,
    jobs_in_order,
    noise_images,
    run_cli,
)

LABELS = json.dumps([{"name": "car", "attributes": [
    {"name": "parked", "mutable": True, "input_type": "checkbox", "values": ["false"]},
]}, {"name": "person"}])  # fmt: skip


def _printed_id(stdout: str) -> int:
    """``create`` prints the new id and nothing else on stdout."""
    assert stdout.strip().isdigit(), stdout
    return int(stdout)


def _listed_ids(stdout: str) -> list[int]:
    return [int(line) for line in stdout.split()]


def test_task_lifecycle(
    server: Server, user: Credentials, user_client: Client, tmp_path: Path
) -> None:
    files = noise_images(tmp_path / "in", ["b.png", "a.png", "c.png"], size=(24, 16))
    home = tmp_path / "home"

    created = run_cli(server, user, "task", "create", "cli task", "local",
                      *map(str, files), "--labels", LABELS, home=home)  # fmt: skip
    task_id = _printed_id(created.stdout)

    task = user_client.tasks.retrieve(task_id)
    assert task.name == "cli task"
    assert task.size == 3
    assert frame_names(task) == ["a.png", "b.png", "c.png"]
    labels = {label.name: label for label in task.get_labels()}
    assert sorted(labels) == ["car", "person"]
    assert [a.name for a in labels["car"].attributes] == ["parked"]

    assert task_id in _listed_ids(run_cli(server, user, "task", "ls", home=home).stdout)
    listed = json.loads(run_cli(server, user, "task", "ls", "--json", home=home).stdout)
    [entry] = [t for t in listed if t["id"] == task_id]
    assert entry["name"] == "cli task"
    assert entry["size"] == 3

    outdir = tmp_path / "out"
    run_cli(server, user, "task", "frames", str(task_id), "0", "1",
            "--outdir", str(outdir), "--quality", "original", home=home)  # fmt: skip
    written = sorted(p.name for p in outdir.iterdir())
    assert written == [f"task_{task_id}_frame_000000.png", f"task_{task_id}_frame_000001.png"]
    assert_same_pixels(outdir / written[0], files[1])  # frame 0 is a.png
    assert_same_pixels(outdir / written[1], files[0])

    compressed = tmp_path / "compressed"
    run_cli(server, user, "task", "frames", str(task_id), "2",
            "--outdir", str(compressed), "--quality", "compressed", home=home)  # fmt: skip
    [jpeg] = list(compressed.iterdir())
    assert jpeg.name == f"task_{task_id}_frame_000002.jpg"
    assert_jpeg(jpeg.read_bytes(), (24, 16))

    run_cli(server, user, "task", "delete", str(task_id), home=home)
    with pytest.raises(ApiException) as caught:
        user_client.tasks.retrieve(task_id)
    assert caught.value.status == 404
    assert task_id not in _listed_ids(run_cli(server, user, "task", "ls", home=home).stdout)
    # Deleting what is already gone is not an error for the CLI.
    run_cli(server, user, "task", "delete", str(task_id), home=home)


def test_task_create_with_data_options(
    server: Server, user: Credentials, user_client: Client, tmp_path: Path
) -> None:
    files = noise_images(tmp_path, [f"f{i}.png" for i in range(6)])

    created = run_cli(
        server, user, "task", "create", "cli options", "local", *map(str, files),
        "--labels", LABELS, "--segment_size", "2", "--chunk_size", "1",
        "--image_quality", "55", "--frame_step", "2", "--sorting-method", "natural",
        home=tmp_path / "home",
    )  # fmt: skip

    task = user_client.tasks.retrieve(_printed_id(created.stdout))
    meta = task.get_meta()
    assert [f.name for f in meta.frames] == ["f0.png", "f2.png", "f4.png"]
    assert meta.frame_filter == "step=2"
    assert (meta.chunk_size, meta.image_quality) == (1, 55)
    assert [(j.start_frame, j.stop_frame) for j in jobs_in_order(task)] == [(0, 1), (2, 2)]


def test_task_create_inside_a_project(
    server: Server, user: Credentials, user_client: Client, tmp_path: Path
) -> None:
    project = user_client.projects.create({"name": "cli host", "labels": [{"name": "tree"}]})
    files = noise_images(tmp_path, ["t.png"])

    # The CLI sends "labels": [] together with project_id.
    created = run_cli(server, user, "task", "create", "in project", "local", str(files[0]),
                      "--project_id", str(project.id), home=tmp_path / "home")  # fmt: skip

    task = user_client.tasks.retrieve(_printed_id(created.stdout))
    assert task.project_id == project.id
    assert [label.name for label in task.get_labels()] == ["tree"]


def test_project_lifecycle(
    server: Server, user: Credentials, user_client: Client, tmp_path: Path
) -> None:
    home = tmp_path / "home"

    created = run_cli(server, user, "project", "create", "cli project", "--labels", LABELS,
                      home=home)  # fmt: skip
    project_id = _printed_id(created.stdout)

    project = user_client.projects.retrieve(project_id)
    assert project.name == "cli project"
    assert sorted(label.name for label in project.get_labels()) == ["car", "person"]
    assert project_id in _listed_ids(run_cli(server, user, "project", "ls", home=home).stdout)
    listed = json.loads(run_cli(server, user, "project", "ls", "--json", home=home).stdout)
    assert [p["name"] for p in listed if p["id"] == project_id] == ["cli project"]

    run_cli(server, user, "project", "delete", str(project_id), home=home)
    with pytest.raises(ApiException) as caught:
        user_client.projects.retrieve(project_id)
    assert caught.value.status == 404
    assert project_id not in _listed_ids(run_cli(server, user, "project", "ls", home=home).stdout)


def test_wrong_password_exits_with_1(server: Server, user: Credentials, tmp_path: Path) -> None:
    result = run_cli(server, (user[0], "wrong-password"), "task", "ls",
                     home=tmp_path / "home", check=False)  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr


def test_failed_upload_exits_with_1(server: Server, user: Credentials, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    result = run_cli(server, user, "task", "create", "broken", "local", str(broken),
                     "--labels", LABELS, home=tmp_path / "home", check=False)  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
