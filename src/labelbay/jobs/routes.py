from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import case, select

from labelbay import access
from labelbay.api.deps import BaseUrl, CurrentUser, DbSession, NoOrganization
from labelbay.api.pagination import paginate
from labelbay.api.querying import ListSpec
from labelbay.api.routing import Router
from labelbay.jobs import service
from labelbay.jobs.models import Job
from labelbay.jobs.schemas import JobUpdate
from labelbay.media.models import TaskData
from labelbay.projects.models import Project
from labelbay.tasks.models import Task
from labelbay.users.models import User

router = Router(prefix="/jobs", tags=["jobs"], dependencies=[NoOrganization])

Assignee = User.__table__.alias("assignee")
MODE = case((TaskData.media_type == "video", "interpolation"), else_="annotation")

JOBS = ListSpec(
    fields={
        "id": Job.id,
        "task_id": Job.task_id,
        "task_name": Task.name,
        "project_id": Task.project_id,
        "project_name": Project.name,
        "mode": MODE,
        "stage": Job.stage,
        "state": Job.state,
        "type": Job.type,
        "assignee": Assignee.c.username,
        "start_frame": Job.start_frame,
        "stop_frame": Job.stop_frame,
        "created_date": Job.created_date,
        "updated_date": Job.updated_date,
    },
    search=("task_name", "project_name", "assignee", "stage", "state"),
    simple=("task_id", "task_name", "project_id", "project_name", "stage", "state", "type",
            "assignee", "mode"),
)  # fmt: skip

# Filters every job of Labelbay matches (2D image annotation jobs); other values match none.
FIXED = {"dimension": "2d", "media_type": "image"}


@router.get("")
def list_jobs(
    request: Request, session: DbSession, user: CurrentUser, base: BaseUrl
) -> dict[str, Any]:
    stmt = (
        select(Job)
        .join(Task, Task.id == Job.task_id)
        .outerjoin(Project, Project.id == Task.project_id)
        .outerjoin(TaskData, TaskData.id == Task.data_id)
        .outerjoin(Assignee, Assignee.c.id == Job.assignee_id)
        .where(access.visible_jobs(user))
    )
    for key, value in FIXED.items():
        given = request.query_params.get(key)
        if given and given != value:
            stmt = stmt.where(Job.id < 0)
    return paginate(
        request, session, stmt, JOBS, lambda rows: service.render_jobs(session, rows, base)
    )


@router.get("/{job_id}")
def get_job(job_id: int, session: DbSession, user: CurrentUser, base: BaseUrl) -> dict[str, Any]:
    return service.render_jobs(session, [service.get_job(session, job_id, user)], base)[0]


@router.patch("/{job_id}")
def update_job(
    job_id: int, body: JobUpdate, session: DbSession, user: CurrentUser, base: BaseUrl
) -> dict[str, Any]:
    job = service.get_job(session, job_id, user)
    service.update_job(session, job, body, user=user)
    session.flush()
    return service.render_jobs(session, [job], base)[0]
