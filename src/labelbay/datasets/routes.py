"""Dataset export and annotation import over HTTP (section 8 of the API spec).

Export: ``POST /api/{tasks,jobs,projects}/{id}/dataset/export?format=&save_images=`` queues
``datasets.export`` and answers 202 ``{"rq_id"}``; the same request by the same user while
one runs answers the running one (``dedupe_key``). The result is fetched from the request's
``result_url`` (``/api/requests/{id}/result``, operations/routes.py).

Import: CVAT's upload protocol (``uploads.protocol``) on ``/api/{tasks,jobs}/{id}/annotations/``
with ``?format=&filename=[&import_mode=]``; the finishing request moves the uploaded file to
``<data>/imports/<rq_id>/`` and queues ``datasets.import``. A one-shot multipart POST with an
``annotation_file`` field works too.
"""

from __future__ import annotations

import os
import re
import shutil
from typing import Any

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from labelbay.api.deps import AppSettings, BaseUrl, CurrentUser, DbSession
from labelbay.api.responses import FastJSONResponse
from labelbay.api.routing import Router
from labelbay.config import Settings
from labelbay.datasets import actors, registry
from labelbay.datasets.apply import IMPORT_MODES
from labelbay.errors import Invalid
from labelbay.jobs import service as jobs_service
from labelbay.operations import service as operations
from labelbay.projects import service as projects_service
from labelbay.tasks import service as tasks_service
from labelbay.tasks.models import Task
from labelbay.uploads import protocol
from labelbay.uploads import service as uploads
from labelbay.users.models import User

router = Router(tags=["datasets"])

# A TUS upload is stored as "<owner id>_<32 hex>_<client name>" (uploads.create_tus).
_TUS_PREFIX = re.compile(r"^\d+_[0-9a-f]{32}_")
_TRUE = ("1", "true", "yes", "on")


def _flag(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in _TRUE


def _check_location(request: Request) -> None:
    location = request.query_params.get("location") or "local"
    if location != "local":
        raise Invalid(f"location: only 'local' is supported, not {location!r}", field="location")


def _format(request: Request) -> str:
    name = request.query_params.get("format") or ""
    if not name:
        raise Invalid("format: required (see /api/server/annotation/formats)", field="format")
    return name


# Export ------------------------------------------------------------------------------------


def _start_export(
    session: Any, request: Request, user: User, *, target: str, object_id: int,
    task_id: int | None, project_id: int | None, job_id: int | None,
) -> Response:  # fmt: skip
    fmt = registry.exporter(_format(request))
    _check_location(request)
    save_images = _flag(request, "save_images", False)
    op = operations.start_operation(
        session, type="export:dataset" if save_images else "export:annotations",
        target=target, owner=user, task_id=task_id, project_id=project_id, job_id=job_id,
        format=fmt.name, params={"save_images": save_images},
        dedupe_key=f"export:{target}:{object_id}:{fmt.name}:{int(save_images)}:{user.id}",
    )  # fmt: skip
    session.flush()
    operations.enqueue(
        session, "datasets.export", operation=op, target=target, object_id=object_id,
        format=fmt.name, save_images=save_images,
    )  # fmt: skip
    rq_id = op.id
    session.commit()
    return FastJSONResponse({"rq_id": rq_id}, status_code=202)


@router.post("/tasks/{task_id}/dataset/export")
def export_task(task_id: int, request: Request, session: DbSession, user: CurrentUser) -> Response:
    task = tasks_service.get_task(session, task_id, user)
    return _start_export(
        session, request, user, target="task", object_id=task.id, task_id=task.id,
        project_id=task.project_id, job_id=None,
    )  # fmt: skip


@router.post("/jobs/{job_id}/dataset/export")
def export_job(job_id: int, request: Request, session: DbSession, user: CurrentUser) -> Response:
    job = jobs_service.get_job(session, job_id, user)
    task = session.get_one(Task, job.task_id)
    return _start_export(
        session, request, user, target="job", object_id=job.id, task_id=task.id,
        project_id=task.project_id, job_id=job.id,
    )  # fmt: skip


@router.post("/projects/{project_id}/dataset/export")
def export_project(
    project_id: int, request: Request, session: DbSession, user: CurrentUser
) -> Response:
    project = projects_service.get_project(session, project_id, user)
    return _start_export(
        session, request, user, target="project", object_id=project.id, task_id=None,
        project_id=project.id, job_id=None,
    )  # fmt: skip


# Import ------------------------------------------------------------------------------------


def _display_name(stored: str) -> str:
    return _TUS_PREFIX.sub("", stored, count=1) or stored


def _uploaded_file(settings: Settings, area: str, filename: str | None) -> str:
    """The stored name of the file to import: the one named, or the only one uploaded."""
    folder = uploads.files_dir(settings, area)
    if filename:
        name = uploads.base_name(filename)
        if (folder / name).is_file():
            return name
        raise Invalid(
            f"filename: {filename!r} was not uploaded here (send it first, then Upload-Finish)",
            field="filename",
        )
    present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if len(present) != 1:
        raise Invalid(
            "annotation_file: send one annotation file (or name it with ?filename=)",
            field="annotation_file",
        )
    return present[0]


async def _import_upload(
    request: Request, session: Any, settings: Settings, user: User, base: str, *,
    target: str, task: Task, job_id: int | None,
) -> Response:  # fmt: skip
    object_id = job_id if job_id is not None else task.id
    area = f"{target}-annotations/{object_id}"
    url = f"{base}/api/{target}s/{object_id}/annotations"

    async def finish(fields: dict[str, Any]) -> Response:
        query = request.query_params
        fmt = registry.importer(query.get("format") or fields.get("format") or "")
        mode = query.get("import_mode") or "replace"
        if mode not in IMPORT_MODES:
            raise Invalid(f"import_mode: use one of {', '.join(IMPORT_MODES)}", field="import_mode")

        def run() -> str:
            try:
                stored = _uploaded_file(settings, area, query.get("filename"))
                op = operations.start_operation(
                    session, type="import:annotations", target=target, owner=user,
                    task_id=task.id, project_id=task.project_id, job_id=job_id, format=fmt.name,
                )  # fmt: skip
                session.flush()
                shown = _display_name(stored)
                dest = actors.import_path(settings, op.id, shown)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(uploads.files_dir(settings, area) / stored, dest)
                try:
                    operations.enqueue(
                        session, "datasets.import", operation=op, target=target,
                        object_id=object_id, format=fmt.name, filename=shown, import_mode=mode,
                    )  # fmt: skip
                    session.commit()
                except BaseException:
                    shutil.rmtree(dest.parent, ignore_errors=True)
                    raise
                return op.id
            finally:
                uploads.clear(session, settings, area)
                session.commit()

        rq_id = await run_in_threadpool(run)
        return FastJSONResponse({"rq_id": rq_id}, status_code=202)

    return await protocol.dispatch(
        request, session, settings, user, area=area, location_base=url, keep_names=False,
        finish=finish,
    )  # fmt: skip


@router.post("/tasks/{task_id}/annotations/")
async def import_task_annotations(
    task_id: int, request: Request, session: DbSession, user: CurrentUser,
    settings: AppSettings, base: BaseUrl,
) -> Response:  # fmt: skip
    task = await run_in_threadpool(tasks_service.get_task, session, task_id, user)
    return await _import_upload(
        request, session, settings, user, base, target="task", task=task, job_id=None
    )


@router.post("/jobs/{job_id}/annotations/")
async def import_job_annotations(
    job_id: int, request: Request, session: DbSession, user: CurrentUser,
    settings: AppSettings, base: BaseUrl,
) -> Response:  # fmt: skip
    def load() -> tuple[Task, int]:
        job = jobs_service.get_job(session, job_id, user)
        return session.get_one(Task, job.task_id), job.id

    task, found = await run_in_threadpool(load)
    return await _import_upload(
        request, session, settings, user, base, target="job", task=task, job_id=found
    )


@router.patch("/tasks/{task_id}/annotations/{upload_id}")
async def tus_task_annotations(
    task_id: int, upload_id: str, request: Request, session: DbSession, user: CurrentUser,
    settings: AppSettings,
) -> Response:  # fmt: skip
    task = await run_in_threadpool(tasks_service.get_task, session, task_id, user)
    return await protocol.tus_patch(
        request, session, settings, user, area=f"task-annotations/{task.id}", upload_id=upload_id
    )


@router.head("/tasks/{task_id}/annotations/{upload_id}")
def tus_task_annotations_offset(
    task_id: int, upload_id: str, session: DbSession, user: CurrentUser
) -> Response:
    task = tasks_service.get_task(session, task_id, user)
    return protocol.tus_head(session, user, area=f"task-annotations/{task.id}", upload_id=upload_id)


@router.patch("/jobs/{job_id}/annotations/{upload_id}")
async def tus_job_annotations(
    job_id: int, upload_id: str, request: Request, session: DbSession, user: CurrentUser,
    settings: AppSettings,
) -> Response:  # fmt: skip
    job = await run_in_threadpool(jobs_service.get_job, session, job_id, user)
    return await protocol.tus_patch(
        request, session, settings, user, area=f"job-annotations/{job.id}", upload_id=upload_id
    )


@router.head("/jobs/{job_id}/annotations/{upload_id}")
def tus_job_annotations_offset(
    job_id: int, upload_id: str, session: DbSession, user: CurrentUser
) -> Response:
    job = jobs_service.get_job(session, job_id, user)
    return protocol.tus_head(session, user, area=f"job-annotations/{job.id}", upload_id=upload_id)


# Project dataset import (spec 8.4): a new task in the project per uploaded dataset ----------


def _project_area(project_id: int) -> str:
    return f"project-dataset/{project_id}"


@router.post("/projects/{project_id}/dataset/")
async def import_project_dataset(
    project_id: int, request: Request, session: DbSession, user: CurrentUser,
    settings: AppSettings, base: BaseUrl,
) -> Response:  # fmt: skip
    project = await run_in_threadpool(projects_service.get_project, session, project_id, user)
    area = _project_area(project.id)

    async def finish(fields: dict[str, Any]) -> Response:
        query = request.query_params
        fmt = registry.importer(query.get("format") or fields.get("format") or "")

        def run() -> str:
            try:
                stored = _uploaded_file(settings, area, query.get("filename"))
                op = operations.start_operation(
                    session, type="import:dataset", target="project", owner=user,
                    project_id=project.id, format=fmt.name,
                )  # fmt: skip
                session.flush()
                shown = _display_name(stored)
                dest = actors.import_path(settings, op.id, shown)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(uploads.files_dir(settings, area) / stored, dest)
                try:
                    operations.enqueue(
                        session, "datasets.import_project", operation=op,
                        project_id=project.id, owner_id=user.id, format=fmt.name,
                        filename=shown,
                    )  # fmt: skip
                    session.commit()
                except BaseException:
                    shutil.rmtree(dest.parent, ignore_errors=True)
                    raise
                return op.id
            finally:
                uploads.clear(session, settings, area)
                session.commit()

        rq_id = await run_in_threadpool(run)
        return FastJSONResponse({"rq_id": rq_id}, status_code=202)

    return await protocol.dispatch(
        request, session, settings, user, area=area,
        location_base=f"{base}/api/projects/{project.id}/dataset", keep_names=False,
        finish=finish,
    )  # fmt: skip


@router.patch("/projects/{project_id}/dataset/{upload_id}")
async def tus_project_dataset(
    project_id: int, upload_id: str, request: Request, session: DbSession, user: CurrentUser,
    settings: AppSettings,
) -> Response:  # fmt: skip
    project = await run_in_threadpool(projects_service.get_project, session, project_id, user)
    return await protocol.tus_patch(
        request, session, settings, user, area=_project_area(project.id), upload_id=upload_id
    )


@router.head("/projects/{project_id}/dataset/{upload_id}")
def tus_project_dataset_offset(
    project_id: int, upload_id: str, session: DbSession, user: CurrentUser
) -> Response:
    project = projects_service.get_project(session, project_id, user)
    return protocol.tus_head(session, user, area=_project_area(project.id), upload_id=upload_id)
