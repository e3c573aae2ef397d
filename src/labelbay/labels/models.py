from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labelbay.db import Base


class Label(Base):
    """A label of a project or of a task outside projects; skeleton points have a parent."""

    __tablename__ = "labels"
    # Ids are never reused (SQLite would reuse the highest after a delete): clients
    # cache by id.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("labels.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    color: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(16), default="any")
    svg: Mapped[str] = mapped_column(Text, default="")


class AttributeSpec(Base):
    __tablename__ = "attribute_specs"
    # Ids are never reused (SQLite would reuse the highest after a delete): clients
    # cache by id.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    mutable: Mapped[bool] = mapped_column(default=False)
    input_type: Mapped[str] = mapped_column(String(16))
    default_value: Mapped[str] = mapped_column(String(128), default="")
    values: Mapped[list[Any]]
