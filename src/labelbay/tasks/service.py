"""Tasks: create, read, change, delete, and the rendering clients expect."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from labelbay import access, lookups
from labelbay.config import Settings
from labelbay.db import iso, later_than, utcnow
from labelbay.errors import Forbidden, Invalid
from labelbay.jobs.models import Job
from labelbay.labels import service as labels_service
from labelbay.media.models import TaskData
from labelbay.projects import service as projects_service
from labelbay.projects.models import Project
from labelbay.tasks.errors import TaskNotFound
from labelbay.tasks.models import Task
from labelbay.tasks.schemas import TaskCreate, TaskUpdate
from labelbay.users import service as users_service
from labelbay.users.models import User


def _storage(value: Any) -> dict[str, Any] | None:
    return None if value is None else value.model_dump()


def create_task(session: Session, data: TaskCreate, *, owner: User) -> Task:
    if data.project_id is not None:
        project = projects_service.get_project(session, data.project_id, owner)
        if data.labels:
            raise Invalid("labels: a task inside a project uses the project's labels")
        project_id: int | None = project.id
    else:
        project_id = None
    owner_id = owner.id
    if data.owner_id is not None and data.owner_id != owner.id:
        if not owner.is_superuser:
            raise Forbidden("owner_id: only an administrator may create tasks for others")
        owner_id = users_service.get_user(session, data.owner_id).id
    if data.assignee_id is not None:
        users_service.get_user(session, data.assignee_id)
    now = utcnow()
    task = Task(
        name=data.name,
        project_id=project_id,
        owner_id=owner_id,
        assignee_id=data.assignee_id,
        bug_tracker=data.bug_tracker,
        overlap=data.overlap,
        segment_size=data.segment_size,
        subset=data.subset,
        source_storage=_storage(data.source_storage),
        target_storage=_storage(data.target_storage),
        created_date=now,
        updated_date=now,
        assignee_updated_date=now if data.assignee_id else None,
    )
    session.add(task)
    session.flush()  # labels refer to the task id
    if project_id is None and data.labels:
        labels_service.create_labels(session, data.labels, task_id=task.id)
    return task


def find_task(session: Session, task_id: int, user: User) -> Task | None:
    return session.scalar(select(Task).where(Task.id == task_id, access.visible_tasks(user)))


def get_task(session: Session, task_id: int, user: User) -> Task:
    task = find_task(session, task_id, user)
    if task is None:
        raise TaskNotFound(task_id)
    return task


def touch_task(session: Session, task: Task) -> None:
    """Advances ``updated_date``: the SDK's dataset cache is keyed on it."""
    task.updated_date = later_than(task.updated_date)
    if task.project_id is not None:
        project = session.get(Project, task.project_id)
        if project is not None:
            project.updated_date = later_than(project.updated_date)


def project_of(session: Session, task: Task) -> Project | None:
    return session.get(Project, task.project_id) if task.project_id else None


def check_manager(session: Session, task: Task, user: User, action: str) -> None:
    if not access.manages_task(task, project_of(session, task), user):
        raise Forbidden(f"only the task's owner may {action}")


def update_task(session: Session, task: Task, data: TaskUpdate, *, user: User) -> Task:
    fields = data.model_fields_set
    if "name" in fields and data.name is not None:
        task.name = data.name
    if "bug_tracker" in fields and data.bug_tracker is not None:
        task.bug_tracker = data.bug_tracker
    if "subset" in fields and data.subset is not None:
        task.subset = data.subset
    if "assignee_id" in fields and data.assignee_id != task.assignee_id:
        check_manager(session, task, user, "change its assignee")
        if data.assignee_id is not None:
            users_service.get_user(session, data.assignee_id)
        task.assignee_id = data.assignee_id
        task.assignee_updated_date = utcnow()
    if "owner_id" in fields and data.owner_id is not None and data.owner_id != task.owner_id:
        check_manager(session, task, user, "hand it over")
        task.owner_id = users_service.get_user(session, data.owner_id).id
    if "target_storage" in fields:
        task.target_storage = _storage(data.target_storage)
    if "source_storage" in fields:
        task.source_storage = _storage(data.source_storage)
    if "project_id" in fields and data.project_id != task.project_id:
        if data.project_id is None:
            raise Invalid("project_id: a task cannot leave its project")
        project = projects_service.get_project(session, data.project_id, user)
        _move_to_project(session, task, project)
    if data.labels:
        if task.project_id is not None:
            raise Invalid("labels: change the labels of the task's project instead")
        labels_service.create_labels(session, data.labels, task_id=task.id)
    touch_task(session, task)
    return task


def _move_to_project(session: Session, task: Task, project: Project) -> None:
    """Moves a task into a project, mapping its labels by name onto the project's."""
    from labelbay.annotations.models import Annotation
    from labelbay.labels.models import Label

    own = list(session.scalars(select(Label).where(Label.task_id == task.id)))
    theirs = {
        (label.parent_id is not None, label.name): label
        for label in session.scalars(select(Label).where(Label.project_id == project.id))
    }
    mapping: dict[int, int] = {}
    for label in own:
        match = theirs.get((label.parent_id is not None, label.name))
        if match is None:
            raise Invalid(f"project_id: the project has no label named {label.name!r}")
        mapping[label.id] = match.id
    for old, new in mapping.items():
        session.execute(
            update(Annotation)
            .where(Annotation.task_id == task.id, Annotation.label_id == old)
            .values(label_id=new)
        )
    session.execute(delete(Label).where(Label.task_id == task.id))
    task.project_id = project.id


def delete_task(session: Session, task: Task, *, user: User, settings: Settings) -> None:
    from labelbay.uploads import service as uploads

    check_manager(session, task, user, "delete it")
    uploads.clear_owned(session, settings, task_id=task.id)
    data = session.get(TaskData, task.data_id) if task.data_id else None
    session.delete(task)
    if data is not None:
        session.delete(data)
        session.flush()
        from labelbay.media.delivery import media_storage

        media_storage(settings).delete_prefix(data.path)


def job_counts(session: Session, task_ids: Sequence[int]) -> dict[int, tuple[int, int, int]]:
    """(count, completed, validation) per task, in one query."""
    if not task_ids:
        return {}
    rows = session.execute(
        select(
            Job.task_id,
            func.count(),
            func.sum(case((Job.state == "completed", 1), else_=0)),
            func.sum(case((Job.stage == "validation", 1), else_=0)),
        )
        .where(Job.task_id.in_(task_ids))
        .group_by(Job.task_id)
    )
    return {tid: (n, int(done or 0), int(val or 0)) for tid, n, done, val in rows}


def _mode(data: TaskData | None) -> str:
    """CVAT's task mode: interpolation for video (tracks), annotation for images."""
    if data is None:
        return ""
    return "interpolation" if data.media_type == "video" else "annotation"


def render_tasks(session: Session, tasks: Sequence[Task], base: str) -> list[dict[str, Any]]:
    """TaskRead objects for many tasks with a fixed number of queries."""
    if not tasks:
        return []
    ids = [t.id for t in tasks]
    counts = job_counts(session, ids)
    users = lookups.users_by_id(session, (u for t in tasks for u in (t.owner_id, t.assignee_id)))
    datas = lookups.task_data_by_id(session, (t.data_id for t in tasks))
    projects = lookups.project_names(session, (t.project_id for t in tasks))
    out = []
    for t in tasks:
        data = datas.get(t.data_id) if t.data_id else None
        n, done, val = counts.get(t.id, (0, 0, 0))
        owner = users.get(t.owner_id) if t.owner_id else None
        assignee = users.get(t.assignee_id) if t.assignee_id else None
        out.append(
            {
                "id": t.id,
                "url": f"{base}/api/tasks/{t.id}",
                "name": t.name,
                "project_id": t.project_id,
                "project_name": projects.get(t.project_id) if t.project_id else None,
                "mode": _mode(data),
                "owner": users_service.basic_user(owner, base),
                "assignee": users_service.basic_user(assignee, base),
                "bug_tracker": t.bug_tracker,
                "created_date": iso(t.created_date),
                "updated_date": iso(t.updated_date),
                "assignee_updated_date": iso(t.assignee_updated_date),
                "overlap": t.overlap if data is None else (t.overlap or 0),
                "segment_size": t.segment_size,
                "status": t.status,
                "data_chunk_size": data.chunk_size if data else None,
                "data_compressed_chunk_type": data.compressed_chunk_type if data else None,
                "data_original_chunk_type": data.original_chunk_type if data else None,
                "guide_id": None,
                "data_cloud_storage_id": None,
                "image_quality": data.image_quality if data else 70,
                "data": data.id if data else None,
                "dimension": "2d",
                "subset": t.subset,
                "organization": None,
                "organization_id": None,
                "target_storage": lookups.storage_read(t.target_storage, t.id),
                "source_storage": lookups.storage_read(t.source_storage, t.id),
                "jobs": {
                    "count": n,
                    "completed": done,
                    "validation": val,
                    "url": f"{base}/api/jobs?task_id={t.id}",
                },
                "labels": {"url": f"{base}/api/labels?task_id={t.id}"},
                "size": data.size if data else 0,
                "media_type": data.media_type if data else "image",
                "validation_mode": None,
                "consensus_enabled": False,
                "initial_replicas": 0,
            }
        )
    return out
