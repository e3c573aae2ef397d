from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from sqlalchemy import case, select

from labelbay import access
from labelbay.api.deps import AppSettings, BaseUrl, CurrentUser, DbSession, NoOrganization
from labelbay.api.pagination import paginate
from labelbay.api.querying import ListSpec
from labelbay.api.routing import Router
from labelbay.media.models import TaskData
from labelbay.projects.models import Project
from labelbay.tasks import service
from labelbay.tasks.models import Task
from labelbay.tasks.schemas import TaskCreate, TaskUpdate
from labelbay.users.models import User

router = Router(prefix="/tasks", tags=["tasks"], dependencies=[NoOrganization])

Owner = User.__table__.alias("owner")
Assignee = User.__table__.alias("assignee")

TASKS = ListSpec(
    fields={
        "id": Task.id,
        "name": Task.name,
        "owner": Owner.c.username,
        "assignee": Assignee.c.username,
        "status": Task.status,
        "mode": case((TaskData.media_type == "video", "interpolation"), else_="annotation"),
        "subset": Task.subset,
        "project_id": Task.project_id,
        "project_name": Project.name,
        "tracker_link": Task.bug_tracker,
        "bug_tracker": Task.bug_tracker,
        "size": TaskData.size,
        "created_date": Task.created_date,
        "updated_date": Task.updated_date,
    },
    search=("name", "owner", "assignee", "status", "subset", "project_name"),
    simple=("name", "owner", "assignee", "status", "subset", "project_id", "project_name",
            "tracker_link", "mode"),
)  # fmt: skip


@router.get("")
def list_tasks(
    request: Request, session: DbSession, user: CurrentUser, base: BaseUrl
) -> dict[str, Any]:
    stmt = (
        select(Task)
        .outerjoin(Owner, Owner.c.id == Task.owner_id)
        .outerjoin(Assignee, Assignee.c.id == Task.assignee_id)
        .outerjoin(Project, Project.id == Task.project_id)
        .outerjoin(TaskData, TaskData.id == Task.data_id)
        .where(access.visible_tasks(user))
    )
    return paginate(
        request, session, stmt, TASKS, lambda rows: service.render_tasks(session, rows, base)
    )


@router.post("", status_code=201)
def create_task(
    body: TaskCreate, session: DbSession, user: CurrentUser, base: BaseUrl
) -> dict[str, Any]:
    task = service.create_task(session, body, owner=user)
    return service.render_tasks(session, [task], base)[0]


@router.get("/{task_id}")
def get_task(task_id: int, session: DbSession, user: CurrentUser, base: BaseUrl) -> dict[str, Any]:
    return service.render_tasks(session, [service.get_task(session, task_id, user)], base)[0]


@router.patch("/{task_id}")
def update_task(
    task_id: int, body: TaskUpdate, session: DbSession, user: CurrentUser, base: BaseUrl
) -> dict[str, Any]:
    task = service.get_task(session, task_id, user)
    service.update_task(session, task, body, user=user)
    session.flush()
    return service.render_tasks(session, [task], base)[0]


@router.delete("/{task_id}", status_code=204)
def delete_task(
    task_id: int, session: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    task = service.get_task(session, task_id, user)
    service.delete_task(session, task, user=user, settings=settings)
    return Response(status_code=204)
