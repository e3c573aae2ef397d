from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from labelbay.db import Base, utcnow


class Project(Base):
    __tablename__ = "projects"
    # Ids are never reused (SQLite would reuse the highest after a delete): clients
    # cache by id.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    bug_tracker: Mapped[str] = mapped_column(String(2000), default="")
    status: Mapped[str] = mapped_column(String(16), default="annotation")
    source_storage: Mapped[dict[str, Any] | None]
    target_storage: Mapped[dict[str, Any] | None]
    created_date: Mapped[datetime] = mapped_column(default=utcnow)
    updated_date: Mapped[datetime] = mapped_column(default=utcnow)
    assignee_updated_date: Mapped[datetime | None]
