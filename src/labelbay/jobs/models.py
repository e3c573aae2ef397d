from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from labelbay.db import Base, utcnow


class Job(Base):
    """A segment of a task's frames (inclusive range) and the work on it."""

    __tablename__ = "jobs"
    # Ids are never reused (SQLite would reuse the highest after a delete): clients
    # cache by id.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    start_frame: Mapped[int]
    stop_frame: Mapped[int]
    stage: Mapped[str] = mapped_column(String(16), default="annotation")
    state: Mapped[str] = mapped_column(String(16), default="new")
    type: Mapped[str] = mapped_column(String(16), default="annotation")
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_date: Mapped[datetime] = mapped_column(default=utcnow)
    updated_date: Mapped[datetime] = mapped_column(default=utcnow)
    assignee_updated_date: Mapped[datetime | None]
