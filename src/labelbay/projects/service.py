"""Projects: a set of labels shared by the tasks inside them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from labelbay import access, lookups
from labelbay.config import Settings
from labelbay.db import iso, later_than, utcnow
from labelbay.errors import Forbidden
from labelbay.labels import service as labels_service
from labelbay.projects.errors import ProjectNotFound
from labelbay.projects.models import Project
from labelbay.projects.schemas import ProjectCreate, ProjectUpdate
from labelbay.users import service as users_service
from labelbay.users.models import User


def _storage(value: Any) -> dict[str, Any] | None:
    return None if value is None else value.model_dump()


def create_project(session: Session, data: ProjectCreate, *, owner: User) -> Project:
    owner_id = owner.id
    if data.owner_id is not None and data.owner_id != owner.id:
        if not owner.is_superuser:
            raise Forbidden("owner_id: only an administrator may create projects for others")
        owner_id = users_service.get_user(session, data.owner_id).id
    if data.assignee_id is not None:
        users_service.get_user(session, data.assignee_id)
    now = utcnow()
    project = Project(
        name=data.name,
        owner_id=owner_id,
        assignee_id=data.assignee_id,
        bug_tracker=data.bug_tracker,
        source_storage=_storage(data.source_storage),
        target_storage=_storage(data.target_storage),
        created_date=now,
        updated_date=now,
    )
    session.add(project)
    session.flush()  # labels refer to the project id
    labels_service.create_labels(session, data.labels, project_id=project.id)
    return project


def get_project(session: Session, project_id: int, user: User) -> Project:
    project = session.scalar(
        select(Project).where(Project.id == project_id, access.visible_projects(user))
    )
    if project is None:
        raise ProjectNotFound(project_id)
    return project


def touch_project(session: Session, project: Project) -> None:
    """Advances the project and every task in it: their labels changed."""
    from labelbay.tasks.models import Task

    project.updated_date = later_than(project.updated_date)
    for task in session.scalars(select(Task).where(Task.project_id == project.id)):
        task.updated_date = later_than(task.updated_date)


def update_project(session: Session, project: Project, data: ProjectUpdate, *, user: User) -> None:
    fields = data.model_fields_set
    if data.name is not None:
        project.name = data.name
    if data.bug_tracker is not None:
        project.bug_tracker = data.bug_tracker
    if "assignee_id" in fields and data.assignee_id != project.assignee_id:
        if not access.manages_project(project, user):
            raise Forbidden("only the project's owner may change its assignee")
        if data.assignee_id is not None:
            users_service.get_user(session, data.assignee_id)
        project.assignee_id = data.assignee_id
        project.assignee_updated_date = utcnow()
    if "owner_id" in fields and data.owner_id is not None and data.owner_id != project.owner_id:
        if not access.manages_project(project, user):
            raise Forbidden("only the project's owner may hand it over")
        project.owner_id = users_service.get_user(session, data.owner_id).id
    if "target_storage" in fields:
        project.target_storage = _storage(data.target_storage)
    if "source_storage" in fields:
        project.source_storage = _storage(data.source_storage)
    if data.labels:
        labels_service.create_labels(session, data.labels, project_id=project.id)
    touch_project(session, project)


def delete_project(session: Session, project: Project, *, user: User, settings: Settings) -> None:
    from labelbay.media.models import TaskData
    from labelbay.tasks.models import Task
    from labelbay.uploads import service as uploads

    if not access.manages_project(project, user):
        raise Forbidden("only the project's owner may delete it")
    uploads.clear_owned(session, settings, project_id=project.id)
    data_ids = select(Task.data_id).where(Task.project_id == project.id).scalar_subquery()
    datas = list(session.scalars(select(TaskData).where(TaskData.id.in_(data_ids))))
    session.execute(delete(Task).where(Task.project_id == project.id))
    session.delete(project)
    for data in datas:
        session.delete(data)
    session.flush()
    from labelbay.media.delivery import media_storage

    for data in datas:
        media_storage(settings).delete_prefix(data.path)


def render_projects(
    session: Session, projects: Sequence[Project], base: str
) -> list[dict[str, Any]]:
    from labelbay.tasks.models import Task

    if not projects:
        return []
    ids = [p.id for p in projects]
    task_counts = dict(
        session.execute(
            select(Task.project_id, func.count()).where(Task.project_id.in_(ids))
            .group_by(Task.project_id)
        ).all()
    )  # fmt: skip
    subsets: dict[int, list[str]] = {}
    for pid, subset in session.execute(
        select(Task.project_id, Task.subset).where(Task.project_id.in_(ids), Task.subset != "")
        .distinct()
    ):  # fmt: skip
        if pid is not None:
            subsets.setdefault(pid, []).append(subset)
    users = lookups.users_by_id(session, (u for p in projects for u in (p.owner_id, p.assignee_id)))
    out = []
    for p in projects:
        out.append(
            {
                "id": p.id,
                "url": f"{base}/api/projects/{p.id}",
                "name": p.name,
                "owner": users_service.basic_user(users.get(p.owner_id or 0), base),
                "assignee": users_service.basic_user(users.get(p.assignee_id or 0), base),
                "guide_id": None,
                "bug_tracker": p.bug_tracker,
                "task_subsets": sorted(subsets.get(p.id, [])),
                "created_date": iso(p.created_date),
                "updated_date": iso(p.updated_date),
                "assignee_updated_date": iso(p.assignee_updated_date),
                "status": p.status,
                "dimension": "2d" if task_counts.get(p.id) else None,
                "organization": None,
                "organization_id": None,
                "target_storage": lookups.storage_read(p.target_storage, p.id),
                "source_storage": lookups.storage_read(p.source_storage, p.id),
                "tasks": {"count": task_counts.get(p.id, 0),
                          "url": f"{base}/api/tasks?project_id={p.id}"},
                "labels": {"url": f"{base}/api/labels?project_id={p.id}"},
            }
        )  # fmt: skip
    return out
