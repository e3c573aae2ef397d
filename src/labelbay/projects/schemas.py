from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from labelbay.labels.schemas import LabelWrite
from labelbay.tasks.schemas import Storage


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=256)
    labels: list[LabelWrite] = Field(default_factory=list)
    owner_id: int | None = None
    assignee_id: int | None = None
    bug_tracker: str = Field(default="", max_length=2000)
    target_storage: Storage | None = None
    source_storage: Storage | None = None


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, min_length=1, max_length=256)
    labels: list[LabelWrite] | None = None
    owner_id: int | None = None
    assignee_id: int | None = None
    bug_tracker: str | None = Field(default=None, max_length=2000)
    target_storage: Storage | None = None
    source_storage: Storage | None = None
