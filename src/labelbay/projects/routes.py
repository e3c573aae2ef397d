from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from sqlalchemy import select

from labelbay import access
from labelbay.api.deps import AppSettings, BaseUrl, CurrentUser, DbSession, NoOrganization
from labelbay.api.pagination import paginate
from labelbay.api.querying import ListSpec
from labelbay.api.routing import Router
from labelbay.projects import service
from labelbay.projects.models import Project
from labelbay.projects.schemas import ProjectCreate, ProjectUpdate
from labelbay.users.models import User

router = Router(prefix="/projects", tags=["projects"], dependencies=[NoOrganization])

Owner = User.__table__.alias("owner")
Assignee = User.__table__.alias("assignee")

PROJECTS = ListSpec(
    fields={
        "id": Project.id,
        "name": Project.name,
        "owner": Owner.c.username,
        "assignee": Assignee.c.username,
        "status": Project.status,
        "created_date": Project.created_date,
        "updated_date": Project.updated_date,
        "bug_tracker": Project.bug_tracker,
    },
    search=("name", "owner", "assignee", "status"),
    simple=("name", "owner", "assignee", "status"),
)


@router.get("")
def list_projects(
    request: Request, session: DbSession, user: CurrentUser, base: BaseUrl
) -> dict[str, Any]:
    stmt = (
        select(Project)
        .outerjoin(Owner, Owner.c.id == Project.owner_id)
        .outerjoin(Assignee, Assignee.c.id == Project.assignee_id)
        .where(access.visible_projects(user))
    )
    return paginate(
        request, session, stmt, PROJECTS, lambda rows: service.render_projects(session, rows, base)
    )


@router.post("", status_code=201)
def create_project(
    body: ProjectCreate, session: DbSession, user: CurrentUser, base: BaseUrl
) -> dict[str, Any]:
    project = service.create_project(session, body, owner=user)
    return service.render_projects(session, [project], base)[0]


@router.get("/{project_id}")
def get_project(
    project_id: int, session: DbSession, user: CurrentUser, base: BaseUrl
) -> dict[str, Any]:
    project = service.get_project(session, project_id, user)
    return service.render_projects(session, [project], base)[0]


@router.patch("/{project_id}")
def update_project(
    project_id: int, body: ProjectUpdate, session: DbSession, user: CurrentUser, base: BaseUrl
) -> dict[str, Any]:
    project = service.get_project(session, project_id, user)
    service.update_project(session, project, body, user=user)
    session.flush()
    return service.render_projects(session, [project], base)[0]


@router.delete("/{project_id}", status_code=204)
def delete_project(
    project_id: int, session: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    project = service.get_project(session, project_id, user)
    service.delete_project(session, project, user=user, settings=settings)
    return Response(status_code=204)
