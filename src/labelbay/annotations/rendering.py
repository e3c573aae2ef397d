"""Stored rows (``storage.Objects``) as CVAT's ``LabeledData``, built as plain dicts.

Responses are dicts, not Pydantic models: a task can hold 100k shapes, and orjson serializes
dicts directly. ``schemas.LabeledDataRead`` documents the shape of what is built here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labelbay.annotations.storage import Objects, Row


def _common(row: Row) -> dict[str, Any]:
    object_id, _parent, _kind, frame, label_id, group, source, *_rest, attributes = row
    return {
        "id": object_id,
        "frame": frame,
        "label_id": label_id,
        "group": group or 0,
        "source": source or "manual",
        "attributes": attributes,
    }


def _shape(row: Row, elements: Sequence[Row] | None) -> dict[str, Any]:
    (object_id, _parent, _kind, frame, label_id, group, source, shape_type, occluded, outside,
     z_order, rotation, score, points, attributes) = row  # fmt: skip
    out = {
        "id": object_id,
        "frame": frame,
        "label_id": label_id,
        "group": group or 0,
        "source": source or "manual",
        "attributes": attributes,
        "type": shape_type,
        "occluded": occluded,
        "outside": outside,
        "z_order": z_order,
        "rotation": rotation,
        "points": points,
    }
    if score is not None:
        out["score"] = score
    if elements is not None:
        out["elements"] = [_shape(element, None) for element in elements]
    return out


def _keyframe(row: Row) -> dict[str, Any]:
    (keyframe_id, _track, frame, shape_type, occluded, outside, z_order, rotation, points,
     attributes) = row  # fmt: skip
    return {
        "id": keyframe_id,
        "type": shape_type,
        "frame": frame,
        "occluded": occluded,
        "outside": outside,
        "z_order": z_order,
        "rotation": rotation,
        "points": points,
        "attributes": attributes,
    }


def _track(row: Row, objects: Objects, *, element: bool) -> dict[str, Any]:
    out = _common(row)
    out["shapes"] = [_keyframe(k) for k in objects.keyframes.get(row[0], ())]
    if not element:
        out["elements"] = [
            _track(sub, objects, element=True) for sub in objects.elements.get(row[0], ())
        ]
    return out


def render(objects: Objects, version: int) -> dict[str, Any]:
    """``LabeledData``: tags, shapes (with their elements) and tracks (with their keyframes and
    element tracks), in the order of ``objects.tops``."""
    tags: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    tracks: list[dict[str, Any]] = []
    no_elements: list[Row] = []
    for row in objects.tops:
        kind = row[2]
        if kind == "shape":
            shapes.append(_shape(row, objects.elements.get(row[0], no_elements)))
        elif kind == "tag":
            tags.append(_common(row))
        else:
            tracks.append(_track(row, objects, element=False))
    return {"version": version, "tags": tags, "shapes": shapes, "tracks": tracks, "intervals": []}
