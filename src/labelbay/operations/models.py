from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labelbay.db import Base, utcnow


class Operation(Base):
    """A long operation a client polls as ``/api/requests/{id}``."""

    __tablename__ = "operations"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))  # "create:task", "export:dataset", ...
    target: Mapped[str] = mapped_column(String(16))  # task | project | job
    project_id: Mapped[int | None]
    task_id: Mapped[int | None] = mapped_column(index=True)
    job_id: Mapped[int | None]
    format: Mapped[str | None] = mapped_column(String(64))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    message: Mapped[str] = mapped_column(Text, default="")
    progress: Mapped[float | None]
    dedupe_key: Mapped[str | None] = mapped_column(String(256), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result_file: Mapped[str | None] = mapped_column(String(1024))
    result_id: Mapped[int | None]
    created_date: Mapped[datetime] = mapped_column(default=utcnow)
    started_date: Mapped[datetime | None]
    finished_date: Mapped[datetime | None]
    expiry_date: Mapped[datetime | None]
