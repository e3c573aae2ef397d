"""Fixtures for the annotation tests: a fresh database, a task with labels, data and jobs.

Imported by ``test_annotations_*.py`` (``from annotations_world import ...`` works because
pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from conftest import reset_postgres
from labelbay.db import make_engine, upgrade_to_head
from labelbay.jobs.models import Job
from labelbay.jobs.service import create_jobs
from labelbay.labels.models import AttributeSpec, Label
from labelbay.labels.schemas import AttributeWrite, LabelWrite, SublabelWrite
from labelbay.media.models import TaskData
from labelbay.tasks.models import Task
from labelbay.tasks.schemas import TaskCreate
from labelbay.tasks.service import create_task
from labelbay.users.models import User
from labelbay.users.service import create_user

FRAMES = 20
SEGMENT = 5  # four jobs: 0-4, 5-9, 10-14, 15-19


def database_engine(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Engine]:
    """A migrated database of its own: PostgreSQL ``<LABELBAY_TEST_DATABASE_URL>_<name>`` (so
    that a server other tests share on the main database is left alone), else SQLite."""
    url = os.environ.get("LABELBAY_TEST_DATABASE_URL")
    if url:
        url = f"{url}_{name}"
        reset_postgres(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'test.db'}"
    engine = make_engine(url)
    upgrade_to_head(engine)
    yield engine
    engine.dispose()


def rolled_back_session(engine: Engine) -> Iterator[Session]:
    """A session whose commits only release savepoints; everything is rolled back after."""
    with engine.connect() as conn:
        outer = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
            yield session
        outer.rollback()


@dataclass
class World:
    user: User
    task: Task
    jobs: list[Job]
    labels: dict[str, int]  # "car", "person", "body", "body.head", "body.hand", "other.x"
    specs: dict[str, int]  # "car.color", "car.parked", "body.hand.visible", "person.age"


def build_world(session: Session, *, username: str = "annotator") -> World:
    user = create_user(session, username=username, password="secret-pw")
    labels = [
        LabelWrite(
            name="car",
            attributes=[
                AttributeWrite(name="color", input_type="select", values=["red", "blue"]),
                AttributeWrite(
                    name="parked", input_type="checkbox", mutable=True, values=["false"]
                ),
            ],
        ),
        LabelWrite(
            name="person",
            type="rectangle",
            attributes=[AttributeWrite(name="age", input_type="number", values=["0", "99", "1"])],
        ),
        LabelWrite(
            name="body",
            type="skeleton",
            sublabels=[
                SublabelWrite(name="head"),
                SublabelWrite(
                    name="hand",
                    attributes=[
                        AttributeWrite(name="visible", input_type="checkbox", values=["true"])
                    ],
                ),
            ],
        ),
    ]
    task = create_task(
        session, TaskCreate(name="annotated", segment_size=SEGMENT, labels=labels), owner=user
    )
    data = TaskData(size=FRAMES, chunk_size=SEGMENT, path=f"data/{task.id}")
    session.add(data)
    session.flush()  # the task refers to the data
    task.data_id = data.id
    jobs = create_jobs(session, task, FRAMES)
    session.flush()  # job ids

    by_id = {
        label.id: label for label in session.scalars(select(Label).where(Label.task_id == task.id))
    }
    names: dict[str, int] = {}
    for label in by_id.values():
        prefix = f"{by_id[label.parent_id].name}." if label.parent_id else ""
        names[prefix + label.name] = label.id
    specs: dict[str, int] = {}
    for spec in session.scalars(select(AttributeSpec).where(AttributeSpec.label_id.in_(by_id))):
        label = by_id[spec.label_id]
        prefix = f"{by_id[label.parent_id].name}." if label.parent_id else ""
        specs[f"{prefix}{label.name}.{spec.name}"] = spec.id
    return World(
        user=user,
        task=task,
        jobs=sorted(jobs, key=lambda j: j.start_frame),
        labels=names,
        specs=specs,
    )
