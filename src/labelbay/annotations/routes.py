"""``/tasks/{id}/annotations/`` and ``/jobs/{id}/annotations/``: GET, PUT, PATCH, DELETE.

Responses are built as dicts by the service and serialized by orjson directly (a task can hold
100k shapes). ``ORJSONResponse`` would do the same but is deprecated in the FastAPI we run.
"""

from __future__ import annotations

from typing import Any, get_args

import orjson
from fastapi import Query, Response
from fastapi.responses import JSONResponse

from labelbay.annotations import service
from labelbay.annotations.schemas import LabeledDataRead, LabeledDataWrite, PatchAction
from labelbay.api.deps import CurrentUser, DbSession
from labelbay.api.routing import Router
from labelbay.jobs import service as jobs_service
from labelbay.tasks import service as tasks_service

router = Router(tags=["annotations"])

TASK = "/tasks/{task_id}/annotations/"
JOB = "/jobs/{job_id}/annotations/"
READ: dict[int | str, dict[str, Any]] = {200: {"model": LabeledDataRead}}


class JSONBody(JSONResponse):
    """A JSON response serialized by orjson."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


ACTION = Query(
    default=None,
    description="create, update or delete (required)",
    json_schema_extra={"enum": list(get_args(PatchAction))},
)


@router.get(TASK, response_class=JSONBody, responses=READ)
def get_task_annotations(task_id: int, session: DbSession, user: CurrentUser) -> JSONBody:
    task = tasks_service.get_task(session, task_id, user)
    return JSONBody(service.get_annotations(session, task))


@router.put(TASK, response_class=JSONBody, responses=READ)
def put_task_annotations(
    task_id: int, body: LabeledDataWrite, session: DbSession, user: CurrentUser
) -> JSONBody:
    task = tasks_service.get_task(session, task_id, user)
    return JSONBody(service.replace_annotations(session, task, body))


@router.patch(TASK, response_class=JSONBody, responses=READ)
def patch_task_annotations(
    task_id: int,
    body: LabeledDataWrite,
    session: DbSession,
    user: CurrentUser,
    action: str | None = ACTION,
) -> JSONBody:
    task = tasks_service.get_task(session, task_id, user)
    return JSONBody(service.patch_annotations(session, task, body, action=action))


@router.delete(TASK, status_code=204, response_class=Response)
def delete_task_annotations(task_id: int, session: DbSession, user: CurrentUser) -> Response:
    task = tasks_service.get_task(session, task_id, user)
    service.delete_all(session, task)
    return Response(status_code=204)


@router.get(JOB, response_class=JSONBody, responses=READ)
def get_job_annotations(job_id: int, session: DbSession, user: CurrentUser) -> JSONBody:
    job = jobs_service.get_job(session, job_id, user)
    task = service.task_of_job(session, job)
    return JSONBody(service.get_annotations(session, task, job=job))


@router.put(JOB, response_class=JSONBody, responses=READ)
def put_job_annotations(
    job_id: int, body: LabeledDataWrite, session: DbSession, user: CurrentUser
) -> JSONBody:
    job = jobs_service.get_job(session, job_id, user)
    task = service.task_of_job(session, job)
    return JSONBody(service.replace_annotations(session, task, body, job=job))


@router.patch(JOB, response_class=JSONBody, responses=READ)
def patch_job_annotations(
    job_id: int,
    body: LabeledDataWrite,
    session: DbSession,
    user: CurrentUser,
    action: str | None = ACTION,
) -> JSONBody:
    job = jobs_service.get_job(session, job_id, user)
    task = service.task_of_job(session, job)
    return JSONBody(service.patch_annotations(session, task, body, action=action, job=job))


@router.delete(JOB, status_code=204, response_class=Response)
def delete_job_annotations(job_id: int, session: DbSession, user: CurrentUser) -> Response:
    job = jobs_service.get_job(session, job_id, user)
    task = service.task_of_job(session, job)
    service.delete_all(session, task, job=job)
    return Response(status_code=204)
