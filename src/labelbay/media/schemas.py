from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

STEP = re.compile(r"^step\s*=\s*([1-9][0-9]*)$")


class DataParams(BaseModel):
    """The Upload-Finish body: how the uploaded files become frames."""

    model_config = ConfigDict(extra="ignore")

    image_quality: int = Field(default=70, ge=1, le=100)
    chunk_size: int | None = Field(default=None, ge=1, le=1000)
    sorting_method: Literal["lexicographical", "natural", "predefined", "random"] = (
        "lexicographical"
    )
    start_frame: int = Field(default=0, ge=0)
    stop_frame: int | None = Field(default=None, ge=0)
    frame_filter: str = ""
    upload_file_order: list[str] = Field(default_factory=list)
    copy_data: bool = False
    use_cache: bool = True
    use_zip_chunks: bool = True
    storage: Literal["local", "share"] = "local"
    storage_method: Literal["cache", "file_system"] = "cache"
    job_file_mapping: list[list[str]] | None = None
    server_files: list[str] = Field(default_factory=list)
    remote_files: list[str] = Field(default_factory=list)
    cloud_storage_id: int | None = None
    filename_pattern: str | None = None
    validation_params: dict[str, Any] | None = None

    @field_validator("frame_filter")
    @classmethod
    def _step(cls, value: str) -> str:
        value = value.strip()
        if value and not STEP.match(value):
            raise ValueError("use 'step=N' with N >= 1")
        return value

    @property
    def step(self) -> int:
        match = STEP.match(self.frame_filter)
        return int(match.group(1)) if match else 1


class MetaUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    deleted_frames: list[int] = Field(default_factory=list)
