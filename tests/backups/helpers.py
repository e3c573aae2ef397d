"""Helpers of the backup tests: labelled tasks with annotations, and comparisons by name."""

from __future__ import annotations

import io
import time
import zipfile
from typing import Any

import httpx

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


def label_shapes(api: httpx.Client, task_id: int) -> list[dict[str, Any]]:
    """The task's labels without ids, for comparing two tasks."""
    response = api.get("/api/labels", params={"task_id": task_id, "page_size": 100})
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
    """A payload with every kind of object: tags, shapes with attributes, a skeleton, a track."""
    n = names.labels
    s = names.specs
    return {
        "tags": [
            {"frame": 1, "label_id": n["car"], "attributes": [
                {"spec_id": s["car.kind"], "value": "truck"}]},
        ],
        "shapes": [
            {"frame": 0, "label_id": n["car"], "type": "rectangle", "points": [1, 2, 30.5, 20.25],
             "rotation": 15.0, "occluded": True, "z_order": 2, "group": 3,
             "attributes": [{"spec_id": s["car.speed"], "value": "55"},
                            {"spec_id": s["car.parked"], "value": "true"}]},
            {"frame": 2, "label_id": n["person"], "type": "polygon",
             "points": [0.1, 1 / 3, 5, 5, 10, 1e-7], "source": "auto",
             "attributes": [{"spec_id": s["person.age"], "value": "41"}]},
            {"frame": 3, "label_id": n["pose"], "type": "skeleton", "points": [], "elements": [
                {"frame": 3, "label_id": n["pose.head"], "type": "points", "points": [3, 4]},
                {"frame": 3, "label_id": n["pose.hand"], "type": "points", "points": [6, 7],
                 "outside": True,
                 "attributes": [{"spec_id": s["pose.hand.side"], "value": "left"}]},
            ]},
        ],
        "tracks": [
            {"frame": 0, "label_id": n["car"], "group": 1, "attributes": [
                {"spec_id": s["car.kind"], "value": "sedan"}],
             "shapes": [
                {"frame": 0, "type": "rectangle", "points": [1, 1, 5, 5],
                 "attributes": [{"spec_id": s["car.speed"], "value": "10"}]},
                {"frame": 4, "type": "rectangle", "points": [2, 2, 6, 6], "outside": True},
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


def corrupt_member(data: bytes, member: str) -> bytes:
    """Flips a byte inside the stored data of ``member`` (its CRC no longer matches)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(member)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 40
    raw = bytearray(data)
    raw[start] ^= 0xFF
    return bytes(raw)
