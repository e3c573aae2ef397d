from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

JobStage = Literal["annotation", "validation", "acceptance"]
JobState = Literal["new", "in progress", "completed", "rejected"]


class JobUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    stage: JobStage | None = None
    state: JobState | None = None
    assignee: int | None = None
