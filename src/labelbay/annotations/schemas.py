"""CVAT's ``LabeledData`` as request models (``*Write``) and response models (``*Read``).

Requests ignore unknown keys: clients echo whole response objects back (``remove_annotations``
sends what ``GET`` returned). Checks that need the database (labels, frames, point counts) live in
the service, which names the offending field. The ``*Read`` models document responses; the
service builds response dicts directly, for speed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ShapeType = Literal[
    "rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton"
]  # fmt: skip
PatchAction = Literal["create", "update", "delete"]

# JSON numbers, finite (Python's json module accepts NaN and Infinity).
Coordinate = Annotated[float, Field(allow_inf_nan=False)]


class AttributeValue(BaseModel):
    model_config = ConfigDict(extra="ignore")

    spec_id: int
    value: str = Field(max_length=4096)


class AnnotationBase(BaseModel):
    """Fields every tag, shape and track has."""

    model_config = ConfigDict(extra="ignore")

    id: int | None = None
    frame: int = Field(ge=0)
    label_id: int = Field(ge=0)
    group: int | None = Field(default=None, ge=0)
    source: str = Field(default="manual", min_length=1, max_length=16)
    attributes: list[AttributeValue] = Field(default_factory=list)


class GeometryBase(BaseModel):
    """Fields every shape, keyframe and skeleton element has."""

    model_config = ConfigDict(extra="ignore")

    type: ShapeType
    occluded: bool = False
    outside: bool = False
    z_order: int = 0
    rotation: Coordinate = Field(default=0.0, ge=0.0, le=360.0)
    points: list[Coordinate] = Field(default_factory=list)


class TagWrite(AnnotationBase):
    pass


class SubShapeWrite(AnnotationBase, GeometryBase):
    """A skeleton element; ``frame`` may be left out (it is the skeleton's)."""

    frame: int | None = Field(default=None, ge=0)  # type: ignore[assignment]
    score: float | None = Field(default=None, ge=0.0, le=1.0)


class ShapeWrite(AnnotationBase, GeometryBase):
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    elements: list[SubShapeWrite] = Field(default_factory=list)


class TrackedShapeWrite(GeometryBase):
    """A keyframe of a track."""

    id: int | None = None
    frame: int = Field(ge=0)
    attributes: list[AttributeValue] = Field(default_factory=list)


class SubTrackWrite(AnnotationBase):
    """A skeleton element's track; ``frame`` may be left out (it is the skeleton track's)."""

    frame: int | None = Field(default=None, ge=0)  # type: ignore[assignment]
    shapes: list[TrackedShapeWrite]


class TrackWrite(AnnotationBase):
    shapes: list[TrackedShapeWrite]
    elements: list[SubTrackWrite] = Field(default_factory=list)


class LabeledDataWrite(BaseModel):
    """``LabeledDataRequest``: every key is optional."""

    model_config = ConfigDict(extra="ignore")

    version: int | None = None
    tags: list[TagWrite] = Field(default_factory=list)
    shapes: list[ShapeWrite] = Field(default_factory=list)
    tracks: list[TrackWrite] = Field(default_factory=list)
    intervals: list[Any] = Field(default_factory=list)


# Responses (documentation only; see the module docstring).


class CommonRead(BaseModel):
    id: int
    frame: int
    label_id: int
    group: int
    source: str
    attributes: list[AttributeValue]


class GeometryRead(BaseModel):
    type: ShapeType
    occluded: bool
    outside: bool
    z_order: int
    rotation: float
    points: list[float]


class TagRead(CommonRead):
    pass


class SubShapeRead(CommonRead, GeometryRead):
    score: float | None = Field(default=None, description="present only when set")


class ShapeRead(SubShapeRead):
    elements: list[SubShapeRead]


class TrackedShapeRead(GeometryRead):
    id: int
    frame: int
    attributes: list[AttributeValue]


class SubTrackRead(CommonRead):
    shapes: list[TrackedShapeRead]


class TrackRead(SubTrackRead):
    elements: list[SubTrackRead]


class LabeledDataRead(BaseModel):
    version: int
    tags: list[TagRead]
    shapes: list[ShapeRead]
    tracks: list[TrackRead]
    intervals: list[Any]
