"""Helpers of the backup tests: labelled tasks with annotations, comparisons by name, and
restores over plain HTTP."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from typing import Any, NamedTuple

import httpx
from cvat_sdk.core.proxies.tasks import Task

from e2e.helpers import jobs_in_order

SKELETON_SVG = (
    '<line x1="30" y1="30" x2="60" y2="60" data-type="edge" data-node-from="1" '
    'data-node-to="2"></line>'
    '<circle r="1.5" cx="30" cy="30" data-type="element node" data-element-id="1" '
    'data-node-id="1" data-label-name="head"></circle>'
    '<circle r="1.5" cx="60" cy="60" data-type="element node" data-element-id="2" '
    'data-node-id="2" data-label-name="hand"></circle>'
)
LABELS: list[dict[str, Any]] = [
    {"name": "car", "color": "#112233", "attributes": [
        {"name": "parked", "mutable": True, "input_type": "checkbox", "values": ["false"]},
        {"name": "kind", "mutable": False, "input_type": "radio", "values": ["sedan", "truck"]},
        {"name": "speed", "mutable": True, "input_type": "number", "values": ["0", "200", "5"]},
    ]},
    {"name": "person", "type": "rectangle", "attributes": [
        {"name": "age", "mutable": False, "input_type": "number", "values": ["0", "120", "1"],
         "default_value": "30"},
    ]},
    {"name": "pose", "type": "skeleton", "svg": SKELETON_SVG, "sublabels": [
        {"name": "head", "type": "points"},
        {"name": "hand", "type": "points", "attributes": [
            {"name": "side", "mutable": False, "input_type": "select",
             "values": ["left", "right"]},
        ]},
    ]},
]  # fmt: skip


class Person(NamedTuple):
    id: int
    username: str


class Names:
    """A task's labels and attribute specs: ``car``, ``pose.hand``, ``car.kind`` -> id."""

    def __init__(self, api: httpx.Client, task_id: int) -> None:
        response = api.get("/api/labels", params={"task_id": task_id, "page_size": 100})
        assert response.status_code == 200, response.text
        self.labels: dict[str, int] = {}
        self.specs: dict[str, int] = {}
        for label in response.json()["results"]:
            if label.get("parent_id"):
                continue
            entries = [(label["name"], label)] + [
                (f"{label['name']}.{s['name']}", s) for s in label["sublabels"]
            ]
            for name, entry in entries:
                self.labels[name] = entry["id"]
                self.specs.update({f"{name}.{a['name']}": a["id"] for a in entry["attributes"]})
        self.label_names = {v: k for k, v in self.labels.items()}
        self.spec_names = {v: k for k, v in self.specs.items()}


def label_shapes(
    api: httpx.Client, task_id: int | None = None, *, project_id: int | None = None
) -> list[dict[str, Any]]:
    """A task's (or a project's) labels without ids, for comparing two of them."""
    owner = {"task_id": task_id} if project_id is None else {"project_id": project_id}
    response = api.get("/api/labels", params={**owner, "page_size": 100})
    assert response.status_code == 200, response.text
    out = []
    for label in response.json()["results"]:
        if label.get("parent_id"):
            continue
        out.append(
            {
                "name": label["name"],
                "color": label["color"],
                "type": label["type"],
                "svg": label.get("svg"),
                "attributes": [_no_id(a) for a in label["attributes"]],
                "sublabels": [
                    {**_no_id(s), "attributes": [_no_id(a) for a in s["attributes"]]}
                    for s in label["sublabels"]
                ],
            }
        )
    return sorted(out, key=lambda label: label["name"])


def _no_id(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("id", "parent_id", "task_id", "project_id")}


def annotations(names: Names) -> dict[str, Any]:
    """A payload with every kind of object and every field set away from its default: tags,
    shapes with attributes, groups, z-order, rotation, occlusion, source and score, a skeleton,
    a track with keyframes and a skeleton track with elements."""
    n = names.labels
    s = names.specs
    return {
        "tags": [
            {"frame": 1, "label_id": n["car"], "attributes": [
                {"spec_id": s["car.kind"], "value": "truck"}]},
            {"frame": 2, "label_id": n["person"], "group": 4, "source": "semi-auto",
             "attributes": [{"spec_id": s["person.age"], "value": "50"}]},
        ],
        "shapes": [
            {"frame": 0, "label_id": n["car"], "type": "rectangle", "points": [1, 2, 30.5, 20.25],
             "rotation": 15.0, "occluded": True, "z_order": 2, "group": 3, "score": 0.75,
             "attributes": [{"spec_id": s["car.speed"], "value": "55"},
                            {"spec_id": s["car.parked"], "value": "true"}]},
            {"frame": 2, "label_id": n["person"], "type": "polygon",
             "points": [0.1, 1 / 3, 5, 5, 10, 1e-7], "source": "auto", "z_order": -1,
             "attributes": [{"spec_id": s["person.age"], "value": "41"}]},
            {"frame": 3, "label_id": n["pose"], "type": "skeleton", "points": [], "group": 5,
             "elements": [
                {"frame": 3, "label_id": n["pose.head"], "type": "points", "points": [3, 4],
                 "occluded": True},
                {"frame": 3, "label_id": n["pose.hand"], "type": "points", "points": [6, 7],
                 "outside": True,
                 "attributes": [{"spec_id": s["pose.hand.side"], "value": "left"}]},
            ]},
        ],
        "tracks": [
            {"frame": 0, "label_id": n["car"], "group": 1, "source": "semi-auto", "attributes": [
                {"spec_id": s["car.kind"], "value": "sedan"}],
             "shapes": [
                {"frame": 0, "type": "rectangle", "points": [1, 1, 5, 5], "rotation": 30.0,
                 "z_order": 1, "occluded": True,
                 "attributes": [{"spec_id": s["car.speed"], "value": "10"}]},
                {"frame": 2, "type": "rectangle", "points": [1.5, 1.5, 5.5, 5.5],
                 "attributes": [{"spec_id": s["car.speed"], "value": "20"}]},
                {"frame": 4, "type": "rectangle", "points": [2, 2, 6, 6], "outside": True},
            ]},
            {"frame": 1, "label_id": n["pose"], "group": 2,
             "shapes": [{"frame": 1, "type": "skeleton", "points": []}],
             "elements": [
                {"frame": 1, "label_id": n["pose.head"], "shapes": [
                    {"frame": 1, "type": "points", "points": [2, 3]},
                    {"frame": 3, "type": "points", "points": [4, 5], "occluded": True},
                ]},
                {"frame": 1, "label_id": n["pose.hand"],
                 "attributes": [{"spec_id": s["pose.hand.side"], "value": "right"}],
                 "shapes": [
                    {"frame": 1, "type": "points", "points": [7, 8]},
                    {"frame": 2, "type": "points", "points": [7, 9], "outside": True},
                ]},
            ]},
        ],
    }  # fmt: skip


def by_name(data: dict[str, Any], names: Names) -> dict[str, Any]:
    """Annotations with names for label and attribute ids, without object ids."""

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if key in ("id", "version"):
                    continue
                if key == "label_id":
                    out["label"] = names.label_names[item]
                elif key == "spec_id":
                    out["spec"] = names.spec_names[item]
                else:
                    out[key] = convert(item)
            return out
        if isinstance(value, list):
            return [convert(item) for item in value]
        return value

    return convert({k: data[k] for k in ("tags", "shapes", "tracks")})


# -- comparing tasks -------------------------------------------------------------------------


def task_settings(task: Task) -> dict[str, Any]:
    task.fetch()
    return {
        "name": task.name,
        "segment_size": task.segment_size,
        "overlap": task.overlap,
        "data_chunk_size": task.data_chunk_size,
        "image_quality": task.image_quality,
        "size": task.size,
        "mode": task.mode,
        "subset": task.subset,
        "bug_tracker": task.bug_tracker,
        "status": task.status,
        "assignee": task.assignee.username if task.assignee else None,
    }


def task_meta(task: Task) -> dict[str, Any]:
    meta = task.get_meta()
    return {
        "frames": [(f.name, f.width, f.height) for f in meta.frames],
        "deleted_frames": list(meta.deleted_frames),
        "start_frame": meta.start_frame,
        "stop_frame": meta.stop_frame,
        "frame_filter": meta.frame_filter,
        "chunk_size": meta.chunk_size,
        "image_quality": meta.image_quality,
        "size": meta.size,
    }


def task_jobs(task: Task) -> list[tuple[int, int, str, str, str | None]]:
    return [
        (j.start_frame, j.stop_frame, j.stage, j.state, j.assignee.username if j.assignee else None)
        for j in jobs_in_order(task)
    ]


def task_annotations(api: httpx.Client, task_id: int) -> dict[str, Any]:
    response = api.get(f"/api/tasks/{task_id}/annotations/")
    assert response.status_code == 200, response.text
    return by_name(response.json(), Names(api, task_id))


def assert_same_task(api: httpx.Client, original: Task, restored: Task) -> None:
    assert restored.id != original.id
    assert task_settings(restored) == task_settings(original)
    assert label_shapes(api, restored.id) == label_shapes(api, original.id)
    assert task_meta(restored) == task_meta(original)
    assert task_jobs(restored) == task_jobs(original)
    assert task_annotations(api, restored.id) == task_annotations(api, original.id)


def wait_request(api: httpx.Client, rq_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(f"/api/requests/{rq_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] in ("finished", "failed"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def task_ids(api: httpx.Client) -> set[int]:
    response = api.get("/api/tasks", params={"page_size": 1000})
    assert response.status_code == 200, response.text
    return {t["id"] for t in response.json()["results"]}


def project_ids(api: httpx.Client) -> set[int]:
    response = api.get("/api/projects", params={"page_size": 1000})
    assert response.status_code == 200, response.text
    return {p["id"] for p in response.json()["results"]}


def restore_via_http(api: httpx.Client, collection: str, payload: bytes, name: str) -> str:
    """Upload-Start, one-piece TUS upload, Upload-Finish; returns the request id."""
    import base64

    url = f"/api/{collection}/backup/"
    start = api.post(url, params={"filename": name}, headers={"Upload-Start": ""})
    assert start.status_code == 202, start.text
    created = api.post(
        url,
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(len(payload)),
            "Upload-Metadata": f"filename {base64.b64encode(name.encode()).decode()}",
        },
    )
    assert created.status_code == 201, created.text
    stored = created.headers["Upload-Filename"]
    patch = api.patch(
        created.headers["Location"],
        content=payload,
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert patch.status_code == 204, patch.text
    finish = api.post(url, params={"filename": stored}, headers={"Upload-Finish": ""})
    assert finish.status_code == 202, finish.text
    rq_id = finish.json()["rq_id"]
    assert isinstance(rq_id, str)
    return rq_id


def rezip(data: bytes, change: dict[str, bytes | None]) -> bytes:
    """The archive with members replaced (or removed, for None)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            if info.filename in change:
                replacement = change[info.filename]
                if replacement is not None:
                    target.writestr(info.filename, replacement)
            else:
                target.writestr(info, source.read(info))
    return out.getvalue()


def manifest_of(data: bytes) -> dict[str, Any]:
    """The parsed manifest.json of an archive."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        value = json.loads(archive.read("manifest.json"))
    assert isinstance(value, dict)
    return value


def with_manifest(data: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    """The archive with its manifest changed in place by ``change``."""
    manifest = manifest_of(data)
    change(manifest)
    return rezip(data, {"manifest.json": json.dumps(manifest).encode()})


def corrupt_member(data: bytes, member: str) -> bytes:
    """Flips a byte inside the stored data of ``member`` (its CRC no longer matches)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(member)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 40
    raw = bytearray(data)
    raw[start] ^= 0xFF
    return bytes(raw)
