from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from labelbay.labels.schemas import LabelWrite


class Storage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    location: Literal["local", "cloud_storage"] = "local"
    cloud_storage_id: int | None = None


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=256)
    project_id: int | None = None
    owner_id: int | None = None
    assignee_id: int | None = None
    bug_tracker: str = Field(default="", max_length=2000)
    overlap: int | None = Field(default=None, ge=0)
    segment_size: int = Field(default=0, ge=0)
    labels: list[LabelWrite] = Field(default_factory=list)
    subset: str = Field(default="", max_length=64)
    target_storage: Storage | None = None
    source_storage: Storage | None = None


class TaskUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, min_length=1, max_length=256)
    project_id: int | None = None
    owner_id: int | None = None
    assignee_id: int | None = None
    bug_tracker: str | None = Field(default=None, max_length=2000)
    subset: str | None = Field(default=None, max_length=64)
    labels: list[LabelWrite] | None = None
    target_storage: Storage | None = None
    source_storage: Storage | None = None
