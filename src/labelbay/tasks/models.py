from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from labelbay.db import Base, utcnow


class Task(Base):
    __tablename__ = "tasks"
    # Ids are never reused (SQLite would reuse the highest after a delete): clients
    # cache by id.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    bug_tracker: Mapped[str] = mapped_column(String(2000), default="")
    overlap: Mapped[int | None]
    segment_size: Mapped[int] = mapped_column(default=0)
    subset: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="annotation")
    source_storage: Mapped[dict[str, Any] | None]
    target_storage: Mapped[dict[str, Any] | None]
    data_id: Mapped[int | None] = mapped_column(ForeignKey("task_data.id", ondelete="SET NULL"))
    annotations_version: Mapped[int] = mapped_column(default=0)
    created_date: Mapped[datetime] = mapped_column(default=utcnow)
    updated_date: Mapped[datetime] = mapped_column(default=utcnow)
    assignee_updated_date: Mapped[datetime | None]
