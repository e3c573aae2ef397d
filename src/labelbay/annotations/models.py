from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from labelbay.db import Base


class Annotation(Base):
    """A tag, shape or track of a task; skeleton elements point at their parent."""

    __tablename__ = "annotations"
    # Ids are never reused (SQLite would reuse the highest after a delete): clients
    # cache by id.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("annotations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))  # tag | shape | track
    frame: Mapped[int]
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"), index=True)
    group: Mapped[int | None]
    source: Mapped[str] = mapped_column(String(16), default="manual")
    type: Mapped[str | None] = mapped_column(String(16))
    occluded: Mapped[bool] = mapped_column(default=False)
    outside: Mapped[bool] = mapped_column(default=False)
    z_order: Mapped[int] = mapped_column(default=0)
    rotation: Mapped[float] = mapped_column(default=0.0)
    score: Mapped[float | None]
    points: Mapped[list[Any]] = mapped_column(default=list)
    attributes: Mapped[list[Any]] = mapped_column(default=list)


class TrackedShape(Base):
    """A keyframe of a track."""

    __tablename__ = "tracked_shapes"
    # Ids are never reused (SQLite would reuse the highest after a delete): clients
    # cache by id.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(
        ForeignKey("annotations.id", ondelete="CASCADE"), index=True
    )
    frame: Mapped[int]
    type: Mapped[str] = mapped_column(String(16))
    occluded: Mapped[bool] = mapped_column(default=False)
    outside: Mapped[bool] = mapped_column(default=False)
    z_order: Mapped[int] = mapped_column(default=0)
    rotation: Mapped[float] = mapped_column(default=0.0)
    points: Mapped[list[Any]] = mapped_column(default=list)
    attributes: Mapped[list[Any]] = mapped_column(default=list)
