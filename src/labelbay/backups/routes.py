"""Task and project backups over HTTP (section 8.5 of the API spec).

Export: ``POST /api/{tasks,projects}/{id}/backup/export`` → 202 ``{"rq_id"}``; the actor writes
``<data>/exports/<rq_id>/<kind>_<name>_backup_<stamp>.zip``, served by the request's result
URL (and by CVAT's ``.../backup/download?rq_id=``).

Restore: Upload-Start, TUS and Upload-Finish on ``/api/{tasks,projects}/backup/``; the upload
area is per user and every upload gets a unique stored name, so restores may run side by side.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

from fastapi import Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from labelbay.api.deps import AppSettings, BaseUrl, CurrentUser, DbSession, NoOrganization
from labelbay.api.responses import FastJSONResponse
from labelbay.api.routing import Router
from labelbay.backups.actors import ARCHIVE
from labelbay.config import Settings
from labelbay.errors import Invalid, NotFound
from labelbay.operations import service as operations
from labelbay.projects import service as projects_service
from labelbay.tasks import service as tasks_service
from labelbay.uploads import protocol
from labelbay.uploads import service as uploads
from labelbay.users.models import User

router = Router(tags=["backups"], dependencies=[NoOrganization])

KINDS = {"tasks": "task", "projects": "project"}
# Stored TUS names are "<user id>_<32 hex>_<client name>"; messages show the client name.
_STORED_PREFIX = re.compile(r"^\d+_[0-9a-f]{32}_")


def _check_location(request: Request) -> None:
    location = request.query_params.get("location") or "local"
    if location != "local":
        raise Invalid(
            "location: only local backups are supported; leave it out or use 'local'",
            field="location",
        )


def _start_export(
    session: Any, user: User, kind: str, obj_id: int, project_id: int | None
) -> dict[str, str]:
    op = operations.start_operation(
        session, type="export:backup", target=kind, owner=user,
        task_id=obj_id if kind == "task" else None,
        project_id=project_id,
        dedupe_key=f"export:backup:{kind}:{obj_id}:{user.id}",
    )  # fmt: skip
    params = {f"{kind}_id": obj_id}
    operations.enqueue(session, f"backups.export_{kind}", operation=op, **params)
    return {"rq_id": op.id}


@router.post("/tasks/{task_id}/backup/export")
def export_task_backup(
    task_id: int, request: Request, session: DbSession, user: CurrentUser
) -> Response:
    _check_location(request)
    task = tasks_service.get_task(session, task_id, user)
    body = _start_export(session, user, "task", task.id, task.project_id)
    return FastJSONResponse(body, status_code=202)


@router.post("/projects/{project_id}/backup/export")
def export_project_backup(
    project_id: int, request: Request, session: DbSession, user: CurrentUser
) -> Response:
    _check_location(request)
    project = projects_service.get_project(session, project_id, user)
    body = _start_export(session, user, "project", project.id, project.id)
    return FastJSONResponse(body, status_code=202)


def _download(
    session: Any, settings: Settings, user: User, request: Request, kind: str, obj_id: int
) -> Response:
    rq_id = request.query_params.get("rq_id") or ""
    if not rq_id:
        raise Invalid("rq_id: required", field="rq_id")
    op = operations.get_operation(session, rq_id, user)
    owner_id = op.task_id if kind == "task" else op.project_id
    if op.type != "export:backup" or op.target != kind or owner_id != obj_id:
        raise Invalid(f"rq_id: {rq_id} is not a backup of {kind} {obj_id}", field="rq_id")
    if op.status != "finished" or not op.result_file:
        raise Invalid(f"rq_id: the backup is not ready ({op.status})", field="rq_id")
    path = settings.data_dir / op.result_file
    if not path.is_file():
        raise NotFound("backup file of request", rq_id)
    name = os.path.basename(op.result_file)
    return FileResponse(
        path,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/tasks/{task_id}/backup/download")
def download_task_backup(
    task_id: int, request: Request, session: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    tasks_service.get_task(session, task_id, user)
    return _download(session, settings, user, request, "task", task_id)


@router.get("/projects/{project_id}/backup/download")
def download_project_backup(
    project_id: int, request: Request, session: DbSession, user: CurrentUser,
    settings: AppSettings,
) -> Response:  # fmt: skip
    projects_service.get_project(session, project_id, user)
    return _download(session, settings, user, request, "project", project_id)


# -- restore --------------------------------------------------------------------------------


def _area(kind: str, user: User) -> str:
    return f"{kind}-backup/{user.id}"


def _forget_stale(settings: Settings, area: str) -> None:
    """Upload-Start: files of abandoned uploads older than the request TTL go; others stay
    (another restore of the same user may be under way in this area)."""
    folder = uploads.files_dir(settings, area)
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - settings.request_ttl_hours * 3600
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            continue


def _take_upload(settings: Settings, area: str, filename: str, work: str) -> str:
    """Moves the finished upload ``filename`` into the restore's own work area."""
    name = uploads.base_name(filename)
    source = uploads.files_dir(settings, area) / name
    if not source.is_file():
        raise Invalid(
            f"filename: no finished upload named {name!r}; upload the backup first and pass the "
            "Upload-Filename the server answered",
            field="filename",
        )
    target = uploads.area_dir(settings, work)
    target.mkdir(parents=True, exist_ok=True)
    os.replace(source, target / ARCHIVE)
    return _STORED_PREFIX.sub("", name)


async def _restore_upload(
    collection: str, request: Request, session: Any, user: User, settings: Settings, base: str
) -> Response:
    kind = KINDS[collection]
    area = _area(kind, user)
    headers = request.headers
    if "upload-start" in headers and "upload-finish" not in headers:
        await run_in_threadpool(_forget_stale, settings, area)
        return Response(status_code=202)

    async def finish(fields: dict[str, Any]) -> Response:
        filename = request.query_params.get("filename") or ""
        if not filename:
            found = sorted(uploads.files_dir(settings, area).glob("*"))
            if len(found) != 1:
                raise Invalid("filename: required (the Upload-Filename of the upload)")
            filename = found[0].name

        def run() -> str:
            op = operations.start_operation(
                session, type="import:backup", target=kind, owner=user,
                params={"filename": filename},
            )  # fmt: skip
            work = f"backup-restore/{op.id}"
            shown_as = _take_upload(settings, area, filename, work)
            operations.enqueue(
                session, f"backups.restore_{kind}", operation=op, area=work, shown_as=shown_as
            )
            return op.id

        return FastJSONResponse({"rq_id": await run_in_threadpool(run)}, status_code=202)

    return await protocol.dispatch(
        request, session, settings, user, area=area,
        location_base=f"{base}/api/{collection}/backup", keep_names=False, finish=finish,
    )  # fmt: skip


@router.post("/tasks/backup/")
async def restore_task_backup(
    request: Request, session: DbSession, user: CurrentUser, settings: AppSettings, base: BaseUrl
) -> Response:
    return await _restore_upload("tasks", request, session, user, settings, base)


@router.post("/projects/backup/")
async def restore_project_backup(
    request: Request, session: DbSession, user: CurrentUser, settings: AppSettings, base: BaseUrl
) -> Response:
    return await _restore_upload("projects", request, session, user, settings, base)


@router.patch("/tasks/backup/{upload_id}")
async def tus_task_backup(
    upload_id: str, request: Request, session: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    return await protocol.tus_patch(
        request, session, settings, user, area=_area("task", user), upload_id=upload_id
    )


@router.head("/tasks/backup/{upload_id}")
def tus_task_backup_offset(upload_id: str, session: DbSession, user: CurrentUser) -> Response:
    return protocol.tus_head(session, user, area=_area("task", user), upload_id=upload_id)


@router.patch("/projects/backup/{upload_id}")
async def tus_project_backup(
    upload_id: str, request: Request, session: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    return await protocol.tus_patch(
        request, session, settings, user, area=_area("project", user), upload_id=upload_id
    )


@router.head("/projects/backup/{upload_id}")
def tus_project_backup_offset(upload_id: str, session: DbSession, user: CurrentUser) -> Response:
    return protocol.tus_head(session, user, area=_area("project", user), upload_id=upload_id)
