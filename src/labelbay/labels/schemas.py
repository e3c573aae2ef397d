from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

LabelType = Literal[
    "any", "rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask",
    "skeleton", "tag", "interval",
]  # fmt: skip
InputType = Literal["checkbox", "radio", "number", "text", "select"]


class AttributeWrite(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int | None = None
    name: str = Field(min_length=1, max_length=64)
    mutable: bool = False
    input_type: InputType
    values: list[str] = Field(default_factory=list)
    default_value: str | None = Field(default=None, max_length=128)
    deleted: bool = False


class SublabelWrite(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int | None = None
    name: str = Field(min_length=1, max_length=64)
    color: str | None = None
    type: LabelType = "points"
    attributes: list[AttributeWrite] = Field(default_factory=list)
    has_parent: bool | None = None


class LabelWrite(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int | None = None
    name: str | None = Field(default=None, min_length=1, max_length=64)
    color: str | None = None
    type: LabelType | None = None
    attributes: list[AttributeWrite] = Field(default_factory=list)
    sublabels: list[SublabelWrite] = Field(default_factory=list)
    svg: str | None = None
    deleted: bool = False
