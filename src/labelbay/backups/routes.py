"""Task and project backups over HTTP (section 8.5 of the API spec).

Export: ``POST /api/{tasks,projects}/{id}/backup/export`` → 202 ``{"rq_id"}``; the actor writes
``<data>/exports/<rq_id>/<kind>_<name>_backup_<stamp>.zip``, served by the request's result
URL (and by CVAT's ``.../backup/download?rq_id=``).

``lightweight`` (CVAT: leave out media kept in a cloud storage) is accepted and changes
nothing: a Labelbay task's media are always its own uploaded files, so they are always in it.

Restore: Upload-Start, TUS and Upload-Finish on ``/api/{tasks,projects}/backup/``; the upload
area is per user and every upload gets a unique stored name, so restores may run side by side.

One implementation per flow serves tasks and projects (``_register``); the path's id is loaded
by a dependency per kind, so it keeps its name (``task_id``, ``project_id``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request, Response
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
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _check_location(request: Request) -> None:
    location = request.query_params.get("location") or "local"
    if location != "local":
        raise Invalid(
            "location: only local backups are supported; leave it out or use 'local'",
            field="location",
        )


def _lightweight(request: Request) -> bool:
    """CVAT's ``lightweight``: leave out media that live in a cloud storage. Every Labelbay
    task owns its media (uploaded files only), so a backup always carries them and the flag
    changes nothing; it is accepted, and checked to be a boolean."""
    raw = (request.query_params.get("lightweight") or "").strip().lower()
    if raw in ("", *_TRUE, *_FALSE):
        return raw in _TRUE
    raise Invalid(f"lightweight: expected true or false, not {raw!r}", field="lightweight")


@dataclass(frozen=True)
class Owner:
    """The task or project a backup is made of."""

    kind: str  # "task" or "project"
    object_id: int
    project_id: int | None


def _task(task_id: int, session: DbSession, user: CurrentUser) -> Owner:
    task = tasks_service.get_task(session, task_id, user)
    return Owner("task", task.id, task.project_id)


def _project(project_id: int, session: DbSession, user: CurrentUser) -> Owner:
    project = projects_service.get_project(session, project_id, user)
    return Owner("project", project.id, project.id)


LOADERS: dict[str, Callable[..., Owner]] = {"task": _task, "project": _project}


def _export_query(request: Request) -> None:
    """The export's query is checked before the task or project is looked up."""
    _check_location(request)
    _lightweight(request)


def _export_route(load: Callable[..., Owner]) -> Callable[..., Response]:
    def export(
        session: DbSession, user: CurrentUser, checked: None = Depends(_export_query),
        owner: Owner = Depends(load),
    ) -> Response:  # fmt: skip
        kind, obj_id = owner.kind, owner.object_id
        op = operations.start_operation(
            session, type="export:backup", target=kind, owner=user,
            task_id=obj_id if kind == "task" else None, project_id=owner.project_id,
            dedupe_key=f"export:backup:{kind}:{obj_id}:{user.id}",
        )  # fmt: skip
        params = {f"{kind}_id": obj_id}
        operations.enqueue(session, f"backups.export_{kind}", operation=op, **params)
        return FastJSONResponse({"rq_id": op.id}, status_code=202)

    return export


def _download_route(load: Callable[..., Owner]) -> Callable[..., Response]:
    def download(
        request: Request, session: DbSession, user: CurrentUser, settings: AppSettings,
        owner: Owner = Depends(load),
    ) -> Response:  # fmt: skip
        kind, obj_id = owner.kind, owner.object_id
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

    return download


# -- restore --------------------------------------------------------------------------------


def _area(kind: str, user: User) -> str:
    return f"{kind}-backup/{user.id}"


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


def _restore_routes(collection: str) -> tuple[Callable[..., Any], ...]:
    """The POST (Upload-Start, TUS create, Upload-Finish), PATCH and HEAD routes of a
    restore into ``collection``."""
    kind = KINDS[collection]

    async def restore(
        request: Request, session: DbSession, user: CurrentUser, settings: AppSettings,
        base: BaseUrl,
    ) -> Response:  # fmt: skip
        area = _area(kind, user)
        headers = request.headers
        if "upload-start" in headers and "upload-finish" not in headers:
            # The area is the user's, shared by their restores: only stale uploads go.
            await run_in_threadpool(uploads.forget_stale, session, settings, area)
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
                    session, f"backups.restore_{kind}", operation=op, area=work,
                    shown_as=shown_as,
                )  # fmt: skip
                return op.id

            return FastJSONResponse({"rq_id": await run_in_threadpool(run)}, status_code=202)

        return await protocol.dispatch(
            request, session, settings, user, area=area,
            location_base=f"{base}/api/{collection}/backup", keep_names=False, finish=finish,
        )  # fmt: skip

    async def tus_chunk(
        upload_id: str, request: Request, session: DbSession, user: CurrentUser,
        settings: AppSettings,
    ) -> Response:  # fmt: skip
        return await protocol.tus_patch(
            request, session, settings, user, area=_area(kind, user), upload_id=upload_id
        )

    def tus_offset(upload_id: str, session: DbSession, user: CurrentUser) -> Response:
        return protocol.tus_head(session, user, area=_area(kind, user), upload_id=upload_id)

    return restore, tus_chunk, tus_offset


def _register(collection: str) -> None:
    """The routes of one kind of backup; the names (which make the OpenAPI operation ids) are
    those the routes had as separate functions."""
    kind = KINDS[collection]
    ident = f"/{collection}/{{{kind}_id}}/backup"
    load = LOADERS[kind]
    router.add_api_route(
        f"{ident}/export", _export_route(load), methods=["POST"], name=f"export_{kind}_backup"
    )
    router.add_api_route(
        f"{ident}/download", _download_route(load), methods=["GET"],
        name=f"download_{kind}_backup",
    )  # fmt: skip
    restore, chunk, offset = _restore_routes(collection)
    path = f"/{collection}/backup"
    router.add_api_route(f"{path}/", restore, methods=["POST"], name=f"restore_{kind}_backup")
    router.add_api_route(
        f"{path}/{{upload_id}}", chunk, methods=["PATCH"], name=f"tus_{kind}_backup"
    )
    router.add_api_route(
        f"{path}/{{upload_id}}", offset, methods=["HEAD"], name=f"tus_{kind}_backup_offset"
    )


for _collection in KINDS:
    _register(_collection)
