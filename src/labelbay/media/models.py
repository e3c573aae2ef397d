from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from labelbay.db import Base, utcnow


class TaskData(Base):
    """The media of a task: how frames were chosen and how they are served."""

    __tablename__ = "task_data"
    # Ids are never reused (SQLite would reuse the highest after a delete): clients
    # cache by id.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[int] = mapped_column(default=0)
    image_quality: Mapped[int] = mapped_column(default=70)
    chunk_size: Mapped[int]
    start_frame: Mapped[int] = mapped_column(default=0)
    stop_frame: Mapped[int] = mapped_column(default=0)
    frame_step: Mapped[int] = mapped_column(default=1)
    sorting_method: Mapped[str] = mapped_column(String(32), default="lexicographical")
    media_type: Mapped[str] = mapped_column(String(16), default="image")
    original_chunk_type: Mapped[str] = mapped_column(String(16), default="imageset")
    compressed_chunk_type: Mapped[str] = mapped_column(String(16), default="imageset")
    storage: Mapped[str] = mapped_column(String(16), default="local")
    # Folder of this data under the media root, relative ("data/42").
    path: Mapped[str] = mapped_column(String(256))
    deleted_frames: Mapped[list[Any]] = mapped_column(default=list)
    chunks_updated_date: Mapped[datetime] = mapped_column(default=utcnow)


class Frame(Base):
    """One task frame: the file it comes from and its display size."""

    __tablename__ = "frames"

    data_id: Mapped[int] = mapped_column(
        ForeignKey("task_data.id", ondelete="CASCADE"), primary_key=True
    )
    frame: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(1024))
    # File path relative to the data folder's ``raw/``.
    path: Mapped[str] = mapped_column(String(1024))
    width: Mapped[int]
    height: Mapped[int]
    size: Mapped[int]
    mime: Mapped[str] = mapped_column(String(32))
